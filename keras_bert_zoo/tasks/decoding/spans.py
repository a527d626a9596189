"""Answer spans of extractive QA from start / end logits over context windows: the n best, with offsets.

:func:`decode_answers` is the one decoder of the question answerer's serving graph (SavedModel, TFLite,
``predict``). For every window the scores ``start_logit[i] + end_logit[j]`` over context tokens with
``i <= j < i + max_answer_length`` and ``i`` in the window where it has maximum context; the ``n_best`` best
spans over all of an example's windows; the null score is the smallest ``start_logit[0] + end_logit[0]`` over
its windows. With ``version_2`` the answer is empty when ``null_score - best_span_score > null_threshold``.
A span runs from its first token's start to its last token's end offset in the original context, extended to
the end of the grapheme cluster there (:mod:`~keras_bert_zoo.tasks.decoding.graphemes`).

Outputs: ``answer_start`` / ``answer_end`` int64 [B] (code points into the context, end exclusive, -1 when
empty), ``answer_start_utf16`` / ``answer_end_utf16`` (UTF-16 code units), ``score`` float32 [B] (best span
logit sum), ``null_score_diff`` [B], ``nbest_starts`` / ``nbest_ends`` (+ ``_utf16``) / ``nbest_scores``
[B, n_best] (``nbest_scores`` = -1e9 marks fewer than ``n_best`` candidates), and the texts sliced from the
contexts (``SLICED_TEXT_OUTPUTS``): ``answer_text`` string [B], ``nbest_texts`` [B, n_best].
:func:`best_packed_spans` is the argmax span of packed windows (one window per row).

Example::

    >>> import tensorflow as tf
    >>> from keras_bert_zoo.tasks.decoding.spans import decode_answers
    >>> from keras_bert_zoo.tasks.preprocessing import QAWindowPreprocessor
    >>> from keras_bert_zoo.text import WordPieceTokenizer
    >>> pre = QAWindowPreprocessor(WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=16, stride=4,
    ...                            max_query_length=4)
    >>> questions = tf.constant(["Who won?"])
    >>> contexts = tf.constant(["The game was won by the Denver Broncos, who defeated the Carolina Panthers."])
    >>> pair_windows = pre.windows(questions, contexts)                 # 3 windows of 10 context tokens
    >>> pair_windows.packed["token_ids"].shape
    TensorShape([3, 16])
    >>> start_logits = tf.one_hot([11, 7, 0], 16) * 5.0    # each window's logits peak on "denver" ...
    >>> end_logits = tf.one_hot([12, 8, 0], 16) * 5.0      # ... and "broncos" (the last window: on [CLS])
    >>> out = decode_answers(start_logits, end_logits, pair_windows, contexts, n_best=3, max_answer_length=8,
    ...                      version_2=True)
    >>> out["answer_text"].numpy()[0].decode(), out["answer_start"].numpy(), out["answer_end"].numpy()
    ('Denver Broncos', array([24]), array([38]))
    >>> out["score"].numpy(), out["null_score_diff"].numpy(), out["nbest_scores"].numpy()
    (array([10.], dtype=float32), array([-10.], dtype=float32), array([[10.,  5.,  5.]], dtype=float32))
"""

from __future__ import annotations

import tensorflow as tf

from keras_bert_zoo.tasks.decoding.graphemes import cluster_ends
from keras_bert_zoo.tasks.preprocessing import windows as W
from keras_bert_zoo.text.offsets import char_offsets

__all__ = ["decode_answers", "best_packed_spans", "NEG", "SLICED_TEXT_OUTPUTS"]

#: the score of "no candidate"
NEG = -1e9
#: outputs cut from the input strings (no TFLite builtin can): the TFLite export leaves them out
SLICED_TEXT_OUTPUTS = ("answer_text", "nbest_texts")


def _span_mask(length, max_answer_length: int):
    """int32 [L(i), L(j)]: 1 where ``i <= j < i + max_answer_length``."""
    i = tf.range(length)
    return tf.cast((i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + max_answer_length), tf.int32)


def _window_candidates(start_logits, end_logits, windows, b_offset, n_best, max_answer_length):
    """The ``k`` best spans of every window: (scores [W, k], start / end positions [W, k], k)."""
    L = tf.shape(start_logits)[1]
    nw = tf.shape(windows.length)[0]
    # valid context positions (start: also max context) as dense [W, L] masks (int32: TFLite slices no bool)
    rows = tf.repeat(tf.range(nw), windows.length)
    pos = W.add_per_row(W.ragged_range(0, windows.length), b_offset).flat_values
    idx = tf.stack([rows, pos], axis=1)
    in_ctx = tf.scatter_nd(idx, tf.ones_like(pos, tf.int32), [nw, L])
    maxc = tf.scatter_nd(idx, tf.cast(W.max_context_mask(windows).flat_values, tf.int32), [nw, L])
    # expand_dims, not [:, :, None]: TFLite's STRIDED_SLICE takes no new axis on a 2-D dynamic tensor
    ok = (tf.expand_dims(maxc, 2) * tf.expand_dims(in_ctx, 1) * tf.expand_dims(_span_mask(L, max_answer_length),
                                                                                   0)) > 0
    score = tf.where(ok, tf.expand_dims(start_logits, 2) + tf.expand_dims(end_logits, 1), NEG)
    k = tf.minimum(n_best, L * L)
    top, flat = tf.math.top_k(tf.reshape(score, [nw, -1]), k=k)                 # [W, k]
    return top, flat // L, flat % L, k


def _best_per_example(top, si, ei, windows, n_best, k):
    """The ``n_best`` best candidates of each example over its windows: (scores [B, n], window, start, end)."""
    nw = tf.shape(windows.length)[0]
    B = windows.num_examples
    ex = windows.example_index
    per_example = tf.cast(W.sorted_row_lengths(ex, B), tf.int32)                  # windows per example
    first_window = tf.cumsum(per_example, exclusive=True)
    width = tf.maximum(tf.reduce_max(tf.concat([per_example, [0]], 0)) * k, n_best)
    # each example's candidates in window order: [B, width]
    col = tf.expand_dims(tf.range(nw) - tf.gather(first_window, ex), 1) * k + tf.expand_dims(tf.range(k), 0)
    at = tf.reshape(tf.stack([tf.broadcast_to(tf.expand_dims(ex, 1), tf.shape(col)), col], axis=-1), [-1, 2])

    def spread(values, default):
        base = tf.fill(tf.stack([B, width]), tf.constant(default, values.dtype))
        return tf.tensor_scatter_nd_update(base, at, tf.reshape(values, [-1]))

    best, order = tf.math.top_k(spread(top, NEG), k=n_best)                        # [B, n]
    pick_at = order + tf.expand_dims(tf.range(B), 1) * width

    def pick(values):
        return tf.gather(tf.reshape(spread(values, 0), [-1]), pick_at)

    return best, pick(tf.tile(tf.expand_dims(tf.range(nw), 1), [1, k])), pick(si), pick(ei)


def _byte_spans(best, bw, bsi, bei, windows, b_offset, c_starts, c_ends):
    """Packed positions of the picked spans -> (valid [B, n], byte starts, byte ends into the contexts)."""
    n = tf.shape(best)[1]
    valid = best > NEG / 2
    tok_s = bsi - tf.gather(b_offset, bw) + tf.gather(windows.start, bw)             # token index in the example
    tok_e = bei - tf.gather(b_offset, bw) + tf.gather(windows.start, bw)
    tok_s, tok_e = tf.where(valid, tok_s, 0), tf.where(valid, tok_e, 0)
    row = tf.tile(tf.expand_dims(tf.range(windows.num_examples), 1), [1, n])
    safe = tf.maximum(tf.gather(tf.cast(c_starts.row_lengths(), tf.int32), row) - 1, 0)
    base = tf.cast(tf.gather(c_starts.row_starts(), row), tf.int32)
    flat_s = tf.concat([c_starts.flat_values, tf.zeros([1], tf.int64)], 0)     # (guard for empty batches)
    flat_e = tf.concat([c_ends.flat_values, tf.zeros([1], tf.int64)], 0)
    byte_s = tf.where(valid, tf.gather(flat_s, base + tf.minimum(tok_s, safe)), 0)
    byte_e = tf.where(valid, tf.gather(flat_e, base + tf.minimum(tok_e, safe)), 0)
    return valid, row, byte_s, byte_e


def _cluster_ends(contexts, row, byte_e):
    """``byte_e`` [B, n] moved to the end of its grapheme cluster (a combining mark after the last token ...)."""
    return tf.reshape(cluster_ends(contexts, tf.reshape(row, [-1]), tf.reshape(byte_e, [-1])), tf.shape(byte_e))


def decode_answers(start_logits, end_logits, pair_windows, contexts, *, n_best: int, max_answer_length: int,
                   version_2: bool = False, null_threshold: float = 0.0) -> dict:
    """Start / end logits of the packed windows ([W, L]) of :class:`~keras_bert_zoo.tasks.preprocessing.
    qa_windows.PairWindows` over ``contexts`` [B] -> the outputs of the module docstring."""
    _, windows, b_offset, c_starts, c_ends = pair_windows
    start_logits = tf.cast(start_logits, tf.float32)
    end_logits = tf.cast(end_logits, tf.float32)
    top, si, ei, k = _window_candidates(start_logits, end_logits, windows, b_offset, n_best, max_answer_length)
    best, bw, bsi, bei = _best_per_example(top, si, ei, windows, n_best, k)
    valid, row, byte_s, byte_e = _byte_spans(best, bw, bsi, bei, windows, b_offset, c_starts, c_ends)
    byte_e = _cluster_ends(contexts, row, byte_e)
    flat_row = tf.reshape(row, [-1])
    cs, us = char_offsets(contexts, flat_row, tf.reshape(byte_s, [-1]))
    ce, ue = char_offsets(contexts, flat_row, tf.reshape(byte_e, [-1]))
    none = tf.constant(-1, tf.int64)

    def offsets(v):
        return tf.where(valid, tf.reshape(v, tf.shape(row)), none)

    char_s, char_e, u16_s, u16_e = offsets(cs), offsets(ce), offsets(us), offsets(ue)
    null = tf.math.unsorted_segment_min(start_logits[:, 0] + end_logits[:, 0], windows.example_index,
                                        windows.num_examples)
    diff = null - best[:, 0]
    answer = {"answer_start": char_s[:, 0], "answer_end": char_e[:, 0],
              "answer_start_utf16": u16_s[:, 0], "answer_end_utf16": u16_e[:, 0]}
    texts = tf.strings.substr(tf.gather(contexts, row), byte_s, byte_e - byte_s, unit="BYTE")
    answer_text = texts[:, 0]
    if version_2:
        empty = diff > null_threshold
        answer = {key: tf.where(empty, none, v) for key, v in answer.items()}
        answer_text = tf.where(answer["answer_start"] < 0, "", answer_text)
    return {**answer, "score": best[:, 0], "null_score_diff": diff, "nbest_starts": char_s, "nbest_ends": char_e,
            "nbest_starts_utf16": u16_s, "nbest_ends_utf16": u16_e, "nbest_scores": best,
            "answer_text": answer_text, "nbest_texts": tf.where(valid, texts, "")}


def best_packed_spans(start_logits, end_logits, max_answer_length: int) -> dict:
    """Packed windows (one per row): the logits and the argmax span (``start_index <= end_index``)."""
    s = tf.cast(start_logits, tf.float32)
    e = tf.cast(end_logits, tf.float32)
    L = tf.shape(s)[1]
    ok = _span_mask(L, max_answer_length) > 0
    score = tf.where(ok[None], s[:, :, None] + e[:, None, :], NEG)
    flat = tf.argmax(tf.reshape(score, [tf.shape(s)[0], -1]), axis=-1, output_type=tf.int32)
    return {"start_logits": s, "end_logits": e, "start_index": flat // L, "end_index": flat % L}
