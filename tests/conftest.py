"""Shared test fixtures: tiny odd-shaped configs catch transposes that square shapes hide."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from keras_bert_zoo.config import BertConfig

TINY = BertConfig(vocab_size=99, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=37,
                  max_position_embeddings=16, type_vocab_size=2)


@pytest.fixture
def tiny_config():
    return TINY


def packed_inputs(batch=3, seq=7, vocab=99, seed=0, pad_from=None):
    """Random valid packed inputs; row 1 is padded from ``pad_from`` when given."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(batch, seq)).astype("int32")
    segments = np.zeros((batch, seq), "int32")
    segments[:, seq // 2:] = 1
    mask = np.ones((batch, seq), "int32")
    if pad_from is not None:
        ids[1, pad_from:] = 0
        segments[1, pad_from:] = 0
        mask[1, pad_from:] = 0
    return {"token_ids": ids, "segment_ids": segments, "padding_mask": mask}
