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


def make_task(vocab, pair=False, num_classes=3, seed=0, multi_label=False, **options):
    """The project's real TextClassifier (WordPieceTokenizer + BertPreprocessor, T=7) on a tiny backbone;
    ``options``: more TextClassifier arguments (window_stride, max_windows)."""
    import keras

    from tests.conftest import TINY
    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer

    keras.utils.set_random_seed(seed)
    config = TINY.replace(max_position_embeddings=64)
    labels = [f"label_{i}" for i in range(num_classes)]
    preprocessor = BertPreprocessor(WordPieceTokenizer(vocab, lowercase=True), sequence_length=7)
    return TextClassifier(BertBackbone(config), preprocessor=preprocessor, labels=labels, pairs=pair,
                          multi_label=multi_label, **options)


@pytest.fixture(scope="session")
def tiny_task(vocab):
    return make_task(vocab)


@pytest.fixture(scope="session")
def tiny_pair_task(vocab):
    return make_task(vocab, pair=True, num_classes=2, seed=1)


def keras_outputs(task, texts, pairs=None):
    """The Keras task's serving outputs (eager) as numpy, for comparisons."""
    import tensorflow as tf

    names = list(task.serving_input_spec())
    inputs = {names[0]: tf.constant(texts)}
    if pairs is not None:
        inputs[names[1]] = tf.constant(pairs)
    return {k: np.asarray(v) for k, v in task.serving_fn(inputs).items()}


@pytest.fixture(scope="session")
def tiny_export(tiny_task, tmp_path_factory):
    """One SavedModel export of the tiny task (fresh-process check included), shared by the test modules."""
    from keras_bert_zoo.export import saved_model as sm

    root = tmp_path_factory.mktemp("saved_models")
    return sm.export_saved_model(tiny_task, root / "tiny" / "3", SAMPLE_TEXTS)
