"""WordPieceTokenizer API: vocabulary helpers, special ids, detokenize, edge inputs, .keras round trip,
vocab as an asset, long-word rule, and the normaliser table itself."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.text import WordPieceTokenizer, load_vocabulary
from keras_bert_zoo.text import charmap

TINY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "un", "##aff", "##able", ",", "!",
        "中", "文", "ß", "a", "##a", "é"]


@pytest.fixture(scope="module")
def tiny():
    return WordPieceTokenizer(TINY, lowercase=True)


def test_vocabulary_helpers(tiny):
    assert tiny.vocabulary == TINY and tiny.vocab_size == len(TINY)
    assert (tiny.pad_id, tiny.unk_id, tiny.cls_id, tiny.sep_id, tiny.mask_id) == (0, 1, 2, 3, 4)
    assert tiny.token_to_id("world") == 6 and tiny.id_to_token(6) == "world"
    with pytest.raises(KeyError):
        tiny.token_to_id("nope")
    with pytest.raises(KeyError):
        tiny.id_to_token(len(TINY))


def test_tokenize_and_detokenize(tiny):
    ids = tiny(["Hello worlds, unaffable!", "中文 ß É", "", "   ", "xyz"])
    assert ids.dtype == tf.int32
    got = ids.to_list()
    assert got[0] == [5, 6, 7, 11, 8, 9, 10, 12]
    assert got[1] == [13, 14, 15, 1]  # É -> e (accent stripped), which this vocab lacks -> [UNK]
    assert got[2] == [] and got[3] == [] and got[4] == [1]
    text = tiny.detokenize(tf.ragged.constant([[5, 6, 7], [8, 9, 10]]))
    assert [t.decode() for t in text.numpy()] == ["hello worlds", "unaffable"]


def test_scalar_and_type_errors(tiny):
    assert tiny.tokenize(tf.constant("hello")).numpy().tolist() == [5]
    with pytest.raises(TypeError):
        tiny.tokenize(tf.constant([1, 2]))


def test_long_words_are_unknown_by_characters_not_bytes():
    tok = WordPieceTokenizer(TINY, max_chars_per_word=5)
    # 5 characters (10 bytes): tokenized; 6 characters: one [UNK] covering the whole word
    ids, starts, ends = tok.tokenize_with_offsets(["ééééé ééééé", "aaaaaa !"])
    # "ééééé" -> "eeeee" (uncased): 5 characters, tokenized piece by piece ("e" is absent -> [UNK] word)
    assert ids.to_list() == [[1, 1], [1, 12]]
    assert (starts.to_list()[1], ends.to_list()[1]) == ([0, 7], [6, 8])


def test_vocab_file_and_asset_round_trip(tmp_path, tiny):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(TINY) + "\n", encoding="utf-8")
    assert load_vocabulary(path) == TINY
    from_file = WordPieceTokenizer(str(path))
    assert from_file.vocabulary == TINY
    config = from_file.get_config()
    assert config["vocabulary"] is None and config["lowercase"] is True
    inp = keras.Input(shape=(), dtype="string")
    model = keras.Model(inp, from_file(inp))
    texts = tf.constant(["hello worlds", "unaffable 中文"])
    before = model(texts)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    after = loaded(texts)
    assert before.to_list() == after.to_list()
    restored = [l for l in loaded.layers if isinstance(l, WordPieceTokenizer)][0]
    assert restored.vocabulary == TINY


def test_missing_unk_and_bad_file(tmp_path):
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        WordPieceTokenizer(["a", "b"])
    bad = tmp_path / "v.txt"
    bad.write_bytes(b"[UNK]\n\xff\n")
    with pytest.raises(ValueError, match="UTF-8"):
        WordPieceTokenizer(str(bad))
    with pytest.raises(ValueError, match="tokenize_chinese_chars"):
        WordPieceTokenizer(TINY, tokenize_chinese_chars=False)


def test_normalize_char_rules():
    n = charmap.normalize_char
    assert n("ß", True, True) == "ß"          # str.lower, not casefold
    assert n("ﬁ", True, True) == "ﬁ"          # no NFKC
    assert n("™", True, True) == "™"
    assert n("É", True, True) == "e" and n("É", False, False) == "É" and n("É", False, True) == "E"
    assert n("\u200d", False, False) == "" and n("\ufe0f", True, True) == ""   # Cf removed; VS is Mn
    assert n("\t", False, False) == " " and n("\u3000", False, False) == " "
    assert n("\ue000", False, False) == "" and n("\x00", True, True) == ""
    assert n("，", True, True) == "，"           # full-width punctuation kept (split later)
    assert n("한", True, True) == "\u1112\u1161\u11ab"  # NFD -> conjoining jamo (Lo, kept), like HF
    assert n("한", False, False) == "한"


def test_raw_invalid_utf8_is_not_fatal(tiny):
    ids = tiny(tf.constant([b"hello \xff\xfe world", b"\xc3"]))
    assert ids.to_list()[0][0] == 5 and ids.to_list()[0][-1] == 6


def test_duplicate_and_empty_vocab_lines_follow_the_reference(tmp_path):
    """A repeated token maps to its LAST line (the reference fills a dict line by line); empty lines keep
    their id but never match."""
    from transformers import BertTokenizerFast

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "", "hello", "##s", "!"]
    path = tmp_path / "dup.txt"
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    tok = WordPieceTokenizer(str(path))
    hf = BertTokenizerFast(vocab=str(path))
    texts = ["hello worlds!", "Hello hello", "nothing"]
    assert tok(texts).to_list() == hf(texts, add_special_tokens=False)["input_ids"]
    assert tok.vocab_size == len(tokens) and tok.token_to_id("hello") == 8
    assert [t.decode() for t in tok.detokenize(tf.ragged.constant([[8, 6, 9]])).numpy()] == ["hello worlds"]
