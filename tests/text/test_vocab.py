"""Vocabulary training: uncased / cased / Chinese vocab.txt with the special tokens, usable by the tokenizer;
and the `bert-zoo make-vocab` command."""

import subprocess
import sys

import pytest
import tensorflow as tf

from keras_bert_zoo.text import WordPieceTokenizer, load_vocabulary
from keras_bert_zoo.text.vocab import count_words, train_vocabulary, write_vocabulary
from text_samples import MULTILINGUAL, seed_lines


def unk_rate(tok, texts):
    ids = tok(tf.constant(texts)).flat_values.numpy()
    return float((ids == tok.unk_id).mean()) if ids.size else 0.0


def test_count_words_uses_the_reference_normaliser():
    counts = count_words(["Straße ﬁne ＡＢＣ，Ünïcödé 中文!", "a\u200bb"], lowercase=True)
    # ß and ﬁ kept (no case folding / NFKC), full-width letters kept, accents stripped, CJK split, ZWSP removed
    for word in ["straße", "ﬁne", "ａｂｃ", "，", "unicode", "中", "文", "!", "ab"]:
        assert counts[word] >= 1, (word, counts)


@pytest.mark.parametrize("n", [pytest.param(300, id="300"), pytest.param(3000, id="3000", marks=pytest.mark.slow)])
def test_uncased_vocab_from_tweets(tweets, tmp_path, n):
    texts = tweets[:n]
    tokens = train_vocabulary(texts, vocab_size=1500 if n > 1000 else 400, lowercase=True)
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(tokens) == len(set(tokens)) and len(tokens) < 2500
    assert all(t == t.lower() for t in tokens[5:])
    path = write_vocabulary(tokens, tmp_path / "vocab.txt")
    assert load_vocabulary(path) == tokens
    tok = WordPieceTokenizer(str(path), lowercase=True)
    assert unk_rate(tok, texts) < 0.02


def test_cased_and_chinese_vocab():
    # CI lays shared/ beside the checkout; elsewhere fall back to a few lines in the seed's style.
    lines = seed_lines() or ["BERT模型：自然语言处理是人工智能的一个分支，Bert很重要。"] * 5
    texts = lines * 2 + MULTILINGUAL * 2
    tokens = train_vocabulary(texts, vocab_size=3000, lowercase=False, max_unique_chars=4000, lower_thresh=1)
    assert "BERT" in tokens or "Bert" in tokens
    assert "模" in tokens and "型" in tokens and "，" in tokens
    tok = WordPieceTokenizer(tokens, lowercase=False)
    assert unk_rate(tok, lines) < 0.01


@pytest.mark.slow
def test_make_vocab_cli(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(MULTILINGUAL * 3), encoding="utf-8")
    out = tmp_path / "v.txt"
    proc = subprocess.run([sys.executable, "-m", "keras_bert_zoo.cli.main", "make-vocab", f"--input={corpus}",
                           f"--output={out}", "--vocab_size=3000", "--nolowercase", "--min_count=1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    tokens = load_vocabulary(out)
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert any(len(t.replace("##", "")) > 1 for t in tokens[5:])  # sub-words were learned, not only chars
    assert WordPieceTokenizer(str(out), lowercase=False).vocab_size == len(tokens)
