"""The token classifier's CRF plumbing: tag rules from the label names, and Viterbi over words in the serving graph.

``TokenClassifier(..., crf=True)`` puts a :class:`~keras_bert_zoo.layers.crf.CRF` on its logits (the emissions).
The chain runs over the positions that carry tags, each word's first sub-word, and nothing else:

* training: each window's positions with weight > 0 (:class:`~keras_bert_zoo.tasks.preprocessing.
  TokenWindowPreprocessor` puts the tags and weights there), so [CLS], [SEP], ``##`` continuations and padding
  neither break a B/I chain nor get a tag;
* prediction (SavedModel, TFLite, ``predict``, ``predict_word_tags``): a long text's tokens first take the
  emissions of their max-context window (as the softmax head's logits do), then ONE Viterbi pass runs over the
  whole text's words (:func:`word_tags`): the path is consistent across window borders, and a text of one
  window decodes exactly as that window would;
* packed inputs (the SavedModel's ``serving_packed``, one window per row): ``label_ids`` are the Viterbi path
  over each row's word-first positions (not [CLS], [SEP], padding or ``##`` pieces) and the argmax elsewhere
  (:func:`packed_tags`).

:func:`bio_rules` forbids, when decoding, the tag sequences seqeval would repair: ``I-X`` / ``E-X`` first, or
after anything but ``B-X`` / ``I-X`` (``O``, another type, ``E-``/``S-``).

Example::

    >>> from keras_bert_zoo.metrics.entities import LabelScheme
    >>> from keras_bert_zoo.tasks.decoding.crf import bio_rules
    >>> rules = bio_rules(LabelScheme(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]))
    >>> rules["forbidden_starts"], [p for p in rules["forbidden_transitions"] if p[1] == 2]   # I-PER
    ([2, 4], [[0, 2], [3, 2], [4, 2]])
"""

from __future__ import annotations

import tensorflow as tf

from keras_bert_zoo.metrics.entities import LabelScheme

__all__ = ["bio_rules", "word_tags", "packed_tags"]

_B, _I, _E = 1, 2, 3


def bio_rules(scheme: LabelScheme) -> dict:
    """``forbidden_transitions`` / ``forbidden_starts`` (the :class:`~keras_bert_zoo.layers.crf.CRF` arguments):
    an ``I-X`` or ``E-X`` tag only after ``B-X`` or ``I-X``, never first."""
    inside = [j for j, p in enumerate(scheme.prefix) if p in (_I, _E)]
    pairs = [[i, j] for j in inside for i in range(len(scheme.labels))
             if not (scheme.prefix[i] in (_B, _I) and scheme.type_ids[i] == scheme.type_ids[j])]
    return {"forbidden_transitions": pairs, "forbidden_starts": inside}


def _dense(values, row_lengths):
    """Flat rows ``values`` [n, C] (row lengths [B]) -> ([B, M, C] zero-padded, bool mask [B, M], scatter index
    [n, 2]); ``tensor_scatter_nd_update`` (a TFLite builtin; ragged ``to_tensor`` is not for every dtype)."""
    lengths = tf.cast(row_lengths, tf.int32)
    b = tf.shape(lengths)[0]
    width = tf.reduce_max(tf.concat([lengths, [0]], 0))
    rows = tf.repeat(tf.range(b), lengths)
    cols = tf.range(tf.shape(rows)[0]) - tf.gather(tf.cumsum(lengths, exclusive=True), rows)
    index = tf.stack([rows, cols], axis=1)
    c = tf.shape(values)[1]
    dense = tf.tensor_scatter_nd_update(tf.zeros(tf.stack([b, width, c]), values.dtype), index, values)
    mask = tf.tensor_scatter_nd_update(tf.zeros(tf.stack([b, width]), tf.bool), index,
                                       tf.ones(tf.shape(rows), tf.bool))
    return dense, mask, index


def word_tags(crf, word_logits):
    """The Viterbi tags (int32, flat over the batch's words, in order) of ragged word emissions [B, (M), C]."""
    values = tf.cast(word_logits.flat_values, tf.float32)
    dense, mask, index = _dense(values, word_logits.row_lengths())
    return tf.gather_nd(tf.cast(crf.decode(dense, mask), tf.int32), index)


def packed_tags(crf, logits, packed, continuation=None):
    """Packed rows (one window each) -> int32 [B, T] tags: the Viterbi path over the word-first positions (real
    tokens between [CLS] and [SEP] that are not ``##`` pieces; ``continuation`` bool [V], None: every real
    token), each row's argmax elsewhere."""
    logits = tf.cast(logits, tf.float32)
    ids = tf.cast(packed["token_ids"], tf.int32)
    real = tf.cast(packed["padding_mask"], tf.int32)
    pos = tf.range(tf.shape(ids)[1])[None, :]
    mask = (real > 0) & (pos > 0) & (pos < tf.reduce_sum(real, axis=1, keepdims=True) - 1)
    if continuation is not None:
        mask &= tf.logical_not(tf.gather(tf.convert_to_tensor(continuation, tf.bool), ids))
    return tf.where(mask, tf.cast(crf.decode(logits, mask), tf.int32),
                    tf.argmax(logits, axis=-1, output_type=tf.int32))
