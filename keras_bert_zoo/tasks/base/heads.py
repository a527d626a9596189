"""Graph pieces every task head shares: packed symbolic inputs, the head initializer, the dense classifier head."""

from __future__ import annotations

import keras

from keras_bert_zoo.models.backbone import INPUT_KEYS

__all__ = ["packed_inputs", "head_initializer", "classifier_head"]


def head_initializer(backbone):
    """The initializer of a new head: truncated normal with the backbone's ``initializer_range``."""
    return keras.initializers.TruncatedNormal(stddev=backbone.config.initializer_range)


def classifier_head(backbone, features, units: int, dropout: float):
    """``dense(dropout(features))`` as float32 logits, with layers named as the HF heads' weights map to
    (``classifier_dropout``, ``classifier``) and computing in the backbone's dtype policy; returns
    ``(logits, dense layer)``. The head of the sequence, token and multiple-choice classifiers."""
    head_dropout = keras.layers.Dropout(dropout, name="classifier_dropout", dtype=backbone.dtype_policy)
    head = keras.layers.Dense(units, kernel_initializer=head_initializer(backbone), name="classifier",
                              dtype=backbone.dtype_policy)
    return keras.ops.cast(head(head_dropout(features)), "float32"), head


def packed_inputs(extra=(), shape=(None,)):
    """Symbolic packed inputs of a task graph: int32 ``[B, *shape]`` for each backbone key (+ ``extra``)."""
    return {k: keras.Input(shape=shape, dtype="int32", name=k) for k in INPUT_KEYS + tuple(extra)}
