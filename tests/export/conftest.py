"""Fixtures for the export tests: tiny task objects (odd shapes: vocab 99, hidden 32, 4 heads, inter 37, T 7)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

SAMPLE_TEXTS = ["The quick brown fox jumps over the lazy dog.", "hello world", "", "UNKNOWNWORD zzz",
                "Hello, World! the the the the the the the the the", "über café naïve", "中文 测试 the dog",
                "a"]
SAMPLE_PAIRS = ["the dog", "", "world hello", "fox", "x y z", "café", "中文", "the quick brown fox"]


def _vocab():
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = ["the", "quick", "brown", "fox", "jump", "##s", "over", "lazy", "dog", ".", ",", "!", "hello",
             "world", "a", "cafe", "uber", "naive", "中", "文", "测", "试", "x", "y", "z", "##e", "##z"]
    vocab = special + words
    vocab += [f"tok{i}" for i in range(99 - len(vocab))]
    assert len(vocab) == 99
    return vocab


@pytest.fixture(scope="session")
def vocab():
    return _vocab()


def make_task(vocab, pair=False, num_classes=3, seed=0):
    """A real classification task object from the project's components, tiny config."""
    import keras

    from keras_bert_zoo.config import BertConfig
    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.models.tasks import BertClassifier
    from tests.export import standin

    keras.utils.set_random_seed(seed)
    config = BertConfig(vocab_size=99, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=37,
                        max_position_embeddings=64)
    model = BertClassifier(BertBackbone(config), num_classes=num_classes)
    labels = [f"label_{i}" for i in range(num_classes)]
    return standin.make_classifier_task(model, vocab, labels, sequence_length=7, pair=pair)


@pytest.fixture(scope="session")
def tiny_task(vocab):
    return make_task(vocab)


@pytest.fixture(scope="session")
def tiny_pair_task(vocab):
    return make_task(vocab, pair=True, num_classes=2, seed=1)
