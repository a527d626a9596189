"""CoNLL reader: sentences, -DOCSTART-, columns, label list, errors naming file and line."""

import pytest

from keras_bert_zoo.data.conll import ConllError, Sentence, join_words, label_list, read_conll, write_conll

FIX = __import__("pathlib").Path(__file__).resolve().parent / "fixtures"


def test_read_fixture():
    sents = read_conll(FIX / "ner_train.conll")
    assert len(sents) == 6
    assert sents[0].words[:3] == ("EU", "rejects", "German") and sents[0].tags[:3] == ("B-ORG", "O", "B-MISC")
    assert sents[0].line == 3                                   # first line of the sentence, after -DOCSTART-
    assert sents[3].words == ("李", "明", "住", "在", "北", "京", "。")
    assert label_list(sents) == ["O", "B-LOC", "I-LOC", "B-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    # another column as the tag (the chunk column)
    chunks = read_conll(FIX / "ner_train.conll", tag_column=2)
    assert chunks[0].tags[:2] == ("B-NP", "B-VP")


def test_join_words_and_round_trip(tmp_path):
    text, starts = join_words(["São", "Paulo", "北京"])
    assert text == "São Paulo 北京" and [text[s:s + 2] for s in starts] == ["Sã", "Pa", "北京"]
    sents = [Sentence(("a", "b"), ("B-X", "O")), Sentence(("c",), ("S-Y",))]
    write_conll(tmp_path / "x.conll", sents)
    assert [(s.words, s.tags) for s in read_conll(tmp_path / "x.conll")] == [(s.words, s.tags) for s in sents]


@pytest.mark.parametrize("content, message", [
    ("", r"no sentences"),
    ("Peter\n", r"bad.conll:1: expected at least 2 columns"),
    ("Peter B-PER\nParis LOC\n", r"bad.conll:2: tag 'LOC' is not"),
])
def test_errors(tmp_path, content, message):
    path = tmp_path / "bad.conll"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConllError, match=message):
        read_conll(path)
    with pytest.raises(ConllError, match="no such file"):
        read_conll(tmp_path / "missing.conll")
