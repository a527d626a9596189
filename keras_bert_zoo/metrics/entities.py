"""Entities of tag sequences, as seqeval chunks them, and entity-level precision / recall / F1.

:class:`LabelScheme` parses tag names (``O``, ``B-PER``, ``I-LOC``, ``E-X``, ``S-X``; seqeval's default,
non-strict mode reads IOB1, IOB2, IOE and IOBES alike). :func:`chunk_entities` is the one implementation of the
chunking, in TensorFlow with TFLite builtin ops only: the tagger's serving graph
(:mod:`keras_bert_zoo.tasks.decoding.entities`) runs it, and :func:`get_entities` / :func:`entity_scores` (micro
P/R/F1 and per type, as ``seqeval.metrics.classification_report``) use it on Python lists.

Example::

    >>> from keras_bert_zoo.metrics.entities import entity_scores, get_entities
    >>> get_entities([["B-PER", "I-PER", "O", "S-LOC"]])             # (type, first word, last word)
    [[('PER', 0, 1), ('LOC', 3, 3)]]
    >>> entity_scores([["B-PER", "I-PER"]], [["B-PER", "O"]])["f1"]  # a cut entity is a miss
    0.0
    >>> scores = entity_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])
    >>> scores["precision"], scores["recall"], scores["per_type"]["PER"]["f1"], sorted(scores["per_type"])
    (0.5, 0.5, 1.0, ['LOC', 'ORG', 'PER'])
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.conll import TAG_PATTERN
from keras_bert_zoo.metrics import MetricError

__all__ = ["LabelScheme", "chunk_entities", "get_entities", "entity_scores"]

_PREFIX = {"O": 0, "B": 1, "I": 2, "E": 3, "S": 4}


class LabelScheme:
    """Prefix code (O=0, B=1, I=2, E=3, S=4) and entity-type id of every label, as seqeval parses them
    (``B-PER`` -> B, "PER"; ``O`` and untyped tags get the type "_")."""

    def __init__(self, labels):
        self.labels = list(labels)
        bad = [t for t in self.labels if not isinstance(t, str) or not TAG_PATTERN.match(t)]
        if bad:
            raise MetricError(f"tags {bad} are not 'O' or B-/I-/E-/S-TYPE")
        types = [t[1:].split("-", 1)[-1] or "_" for t in self.labels]
        self.types = sorted(set(types))
        self.prefix = np.array([_PREFIX[t[0]] for t in self.labels], np.int32)
        self.type_ids = np.array([self.types.index(t) for t in types], np.int32)
        self.o_id = self.labels.index("O") if "O" in self.labels else 0
        self.sep_type = self.types.index("_") if "_" in self.types else len(self.types)


def _boundaries(p, t):
    """seqeval's end-of-chunk (before position i) and start-of-chunk (at i) rules on prefix / type codes."""
    prev_p = tf.concat([[0], p[:-1]], 0)
    prev_t = tf.concat([[-2], t[:-1]], 0)                          # seqeval starts with prev_type ""
    O, B, I, E, S = 0, 1, 2, 3, 4
    diff_type = tf.not_equal(prev_t, t)
    cur_in = lambda *xs: tf.reduce_any(tf.stack([tf.equal(p, x) for x in xs]), 0)   # noqa: E731
    prev_in = lambda *xs: tf.reduce_any(tf.stack([tf.equal(prev_p, x) for x in xs]), 0)  # noqa: E731
    end = (prev_in(E, S)
           | (prev_in(B, I) & cur_in(B, S, O))
           | (tf.not_equal(prev_p, O) & diff_type))
    start = (cur_in(B, S)
             | (prev_in(E, S, O) & cur_in(E, I))
             | (tf.not_equal(p, O) & diff_type))
    return end, start, prev_t


def chunk_entities(tag_ids, prefix_table, type_table, sep_type):
    """seqeval chunking in TensorFlow (TFLite builtins only: no ragged concat / ``from_value_rowids``).

    Args:
        tag_ids: ragged int [B, (n)] label ids.
        prefix_table / type_table: int [num_labels] (see :class:`LabelScheme`).
        sep_type: the type id of "O" (rows are separated by an "O", as seqeval does for nested lists).
    Returns:
        ragged int32 [B, (E)] each for ``types``, ``begins`` and ``ends`` (inclusive, positions in the row).
    """
    tag_ids = tf.cast(tag_ids, tf.int32)
    nrows = tf.cast(tag_ids.nrows(), tf.int32)
    lengths = tf.cast(tag_ids.row_lengths(), tf.int32)
    # an "O" after every row: row r's values move r places right, its "O" lands after them
    rows = tf.repeat(tf.range(nrows), lengths + 1)
    row_starts = tf.cast(tag_ids.row_starts(), tf.int32) + tf.range(nrows)
    n = tf.reduce_sum(lengths + 1)
    old_rows = tf.repeat(tf.range(nrows), lengths)
    at = (tf.range(tf.shape(tag_ids.flat_values)[0]) + old_rows)[:, None]
    p = tf.tensor_scatter_nd_update(tf.zeros([n], tf.int32), at,
                                    tf.gather(tf.constant(prefix_table, tf.int32), tag_ids.flat_values))
    t = tf.tensor_scatter_nd_update(tf.fill([n], tf.constant(sep_type, tf.int32)), at,
                                    tf.gather(tf.constant(type_table, tf.int32), tag_ids.flat_values))
    end, start, prev_t = _boundaries(p, t)
    idx = tf.range(n, dtype=tf.int32)
    g = tf.cumsum(tf.cast(start, tf.int32))                         # starts seen up to i
    first_of_group = tf.math.unsorted_segment_min(idx, g, n + 1)    # position of the k-th start
    g_prev = tf.concat([[0], g[:-1]], 0)
    begin_all = tf.where(g_prev > 0, tf.gather(first_of_group, g_prev), 0)
    where = tf.cast(tf.reshape(tf.where(end), [-1]), tf.int32)     # a chunk ends at where - 1
    begins = tf.gather(begin_all, where)
    ends = where - 1
    types = tf.gather(prev_t, where)
    row = tf.gather(rows, begins)
    rs = tf.gather(row_starts, row)
    # chunks per row (rows are non-decreasing): an int32 segment sum, not bincount (no TFLite kernel)
    row_lengths = tf.cast(tf.math.unsorted_segment_sum(tf.ones_like(row), row, nrows), tf.int64)

    def _ragged(v):
        return tf.RaggedTensor.from_row_lengths(v, row_lengths, validate=False)

    return _ragged(types), _ragged(begins - rs), _ragged(ends - rs)


def get_entities(tag_sequences):
    """Lists of tag strings -> list (per sequence) of (type, begin, end) tuples (inclusive word indices)."""
    tag_sequences = [list(seq) for seq in tag_sequences]
    if not tag_sequences:
        return []
    labels = sorted({t for seq in tag_sequences for t in seq} | {"O"})
    scheme = LabelScheme(labels)
    index = {t: i for i, t in enumerate(labels)}
    flat = [index[t] for seq in tag_sequences for t in seq]
    ids = tf.RaggedTensor.from_row_lengths(tf.constant(flat, tf.int32, shape=[len(flat)]),
                                           tf.constant([len(s) for s in tag_sequences], tf.int64))
    types, begins, ends = chunk_entities(ids, scheme.prefix, scheme.type_ids, scheme.sep_type)
    out = []
    for ty, b, e in zip(types.to_list(), begins.to_list(), ends.to_list()):
        out.append([(scheme.types[a], int(c), int(d)) for a, c, d in zip(ty, b, e)])
    return out


def _prf(tp, n_pred, n_true):
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def entity_scores(true_tags, pred_tags) -> dict:
    """Entity-level micro precision / recall / F1 (seqeval semantics) and a per-type report.

    Args: lists (one per sentence) of tag strings, same lengths.
    Returns: {"precision", "recall", "f1", "support", "per_type": {type: {precision, recall, f1, support}}}.
    """
    if len(true_tags) != len(pred_tags):
        raise MetricError(f"entity_scores: {len(true_tags)} true sequences but {len(pred_tags)} predicted")
    for i, (a, b) in enumerate(zip(true_tags, pred_tags)):
        if len(a) != len(b):
            raise MetricError(f"entity_scores: sequence {i}: {len(a)} true tags but {len(b)} predicted")
    ents = get_entities(list(true_tags) + list(pred_tags))
    n = len(true_tags)
    gold = {(i, *e) for i, es in enumerate(ents[:n]) for e in es}
    pred = {(i, *e) for i, es in enumerate(ents[n:]) for e in es}
    tp = len(gold & pred)
    p, r, f = _prf(tp, len(pred), len(gold))
    per_type = {}
    for ty in sorted({e[1] for e in gold | pred}):
        g = {e for e in gold if e[1] == ty}
        q = {e for e in pred if e[1] == ty}
        pt, rt, ft = _prf(len(g & q), len(q), len(g))
        per_type[ty] = {"precision": pt, "recall": rt, "f1": ft, "support": len(g)}
    return {"precision": p, "recall": r, "f1": f, "support": len(gold), "per_type": per_type}
