"""Long texts: sliding windows with a stride, packing of windows, and aggregation back to examples.

Pure TensorFlow (ragged tensors), so the same code runs in ``tf.data`` for training, in ``serving_fn`` for
SavedModel and TFLite export, and in Python ``predict``. Used by the NER and QA preprocessor layers
(:mod:`~keras_bert_zoo.tasks.preprocessing`), the span decoders (:mod:`~keras_bert_zoo.tasks.decoding`) and the
text classifier for texts longer than the sequence length.

Window semantics (google-research/bert ``run_squad.py``): an example of ``N`` tokens is covered by windows of at
most ``max_tokens`` tokens starting at ``0, stride, 2*stride, ...``; the last window is the first one that reaches
the end. ``stride`` is the step between window starts (so consecutive windows overlap by ``max_tokens - stride``
tokens); it is clipped to ``max_tokens``. An example with ``N <= max_tokens`` gets one window; an empty example
gets one empty window.

Aggregation:
    * classification: the mean of the window logits (:func:`mean_over_windows`);
    * tokens: each token takes the values of the window where it has the most context, i.e. the largest
      ``min(tokens to its left, tokens to its right) + 0.01 * window length`` (first window on ties), as in the
      reference's ``_check_is_max_context`` (:func:`max_context_mask`, :func:`tokens_from_windows`).

Public API:
    tokenize_with_offsets(tokenizer, strings) -> (ids, starts, ends)   ragged [B, (N)]; byte offsets
    special_token_ids(tokenizer) -> {"cls", "sep", "pad", "unk", "mask"}
    Windows                             named tuple of the window layout (see :func:`make_windows`)
    make_windows(lengths, max_tokens, stride) -> Windows
    window_values(ragged, windows)      ragged [B, (N), ...] -> ragged [W, (n), ...]
    pack_windows(preprocessor, windows_b, segment_a=None) -> (packed, b_offset)
    windowed_pack(preprocessor, texts, stride, pairs=None, max_windows=None) -> (packed, windows, b_offset)
    covered_tokens(max_tokens, stride, max_windows) -> int | None   most tokens ``max_windows`` windows cover
    mean_over_windows(values, windows)  [W, ...] -> [B, ...]
    max_context_mask(windows)           ragged [W, (n)] bool
    tokens_from_windows(values, windows, b_offset) [W, T, ...] -> ragged [B, (N), ...]
    add_per_row(ragged, row_values)     ragged + row_values[:, None] on the flat values (fast to trace)
    ragged_range / ragged_gather_rows / ragged_truncate / ragged_mask / sorted_row_lengths
                                        ragged building blocks with TFLite builtins only (see below)

Everything the serving graphs use is written with TFLite builtin ops (plus the tf-text kernels of the
tokenizer): no ``RaggedRange``, ``RaggedGather``, ``DenseBincount`` (``RaggedTensor.from_value_rowids``) or
int64 segment reductions, so the tagger and QA models convert to TFLite without Flex.

Example (a classifier on texts longer than its preprocessor's ``sequence_length``, a window every 64 tokens)::

    packed, windows, b_offset = windowed_pack(preprocessor, tf.constant(long_texts), stride=64)
    logits = mean_over_windows(classifier(packed), windows)     # [W, K] logits of the windows -> [B, K]
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

__all__ = ["tokenize_with_offsets", "special_token_ids", "Windows", "make_windows", "window_values",
           "pack_windows", "windowed_pack", "covered_tokens", "mean_over_windows", "max_context_mask", "tokens_from_windows",
           "packed_token_index", "add_per_row", "ragged_range",
           "ragged_gather_rows", "ragged_truncate", "ragged_mask", "sorted_row_lengths"]


# ---------------------------------------------------------------------------------------------- tokenizer glue
def tokenize_with_offsets(tokenizer, strings):
    """Token ids and UTF-8 byte offsets ``[start, end)`` into the original strings, all ragged ``[B, (N)]``."""
    strings = tf.convert_to_tensor(strings, tf.string)
    ids, starts, ends = tokenizer.tokenize_with_offsets(strings)
    return tf.cast(ids, tf.int32), tf.cast(starts, tf.int64), tf.cast(ends, tf.int64)


def special_token_ids(tokenizer) -> dict:
    """Ids of ``[CLS] [SEP] [PAD] [UNK] [MASK]`` read from the tokenizer's vocabulary (None when absent)."""
    vocab = tokenizer.get_vocabulary() if hasattr(tokenizer, "get_vocabulary") else tokenizer.vocabulary
    index = {(t.decode("utf-8") if isinstance(t, bytes) else t): i for i, t in enumerate(vocab)}
    out = {k: index.get(f"[{k.upper()}]") for k in ("cls", "sep", "pad", "unk", "mask")}
    for k in ("cls", "sep"):
        if out[k] is None:
            raise ValueError(f"the vocabulary has no [{k.upper()}] token")
    if out["pad"] is None:
        out["pad"] = 0
    return out


# ---------------------------------------------------------------------------------------------- windows
class Windows(NamedTuple):
    """Layout of the windows of a batch of ``B`` examples (``W`` windows in all).

    example_index  int32 [W]   which example each window belongs to (non-decreasing)
    start          int32 [W]   index of the window's first token in its example
    length         int32 [W]   number of tokens in the window
    lengths        int32 [B]   number of tokens of each example
    """
    example_index: tf.Tensor
    start: tf.Tensor
    length: tf.Tensor
    lengths: tf.Tensor

    @property
    def num_examples(self):
        return tf.shape(self.lengths)[0]

    @property
    def positions(self):
        """Ragged ``[W, (n)]``: the index in its example of every token of every window."""
        return ragged_range(self.start, self.length)

    @property
    def global_positions(self):
        """Ragged ``[W, (n)]``: index into the flattened tokens of the whole batch."""
        row_starts = tf.cumsum(self.lengths, exclusive=True)
        return add_per_row(self.positions, tf.gather(row_starts, self.example_index))


def ragged_range(starts, lengths):
    """``tf.ragged.range(starts, starts + lengths)`` (int32 values, int64 row splits) with builtin ops
    (``RaggedRange`` has no TFLite kernel). ``lengths`` must be >= 0 (not clamped here: the converter fuses
    ``max(min(x, 6), 0)`` on int32 into a RELU6 that LiteRT has no int32 kernel for)."""
    lengths = tf.cast(lengths, tf.int32)
    starts = tf.broadcast_to(tf.cast(starts, tf.int32), tf.shape(lengths))
    rows = tf.repeat(tf.range(tf.shape(lengths)[0], dtype=tf.int32), lengths)
    offset = tf.cumsum(lengths, exclusive=True) - starts                     # [R]
    values = tf.range(tf.reduce_sum(lengths), dtype=tf.int32) - tf.gather(offset, rows)
    return tf.RaggedTensor.from_row_lengths(values, tf.cast(lengths, tf.int64), validate=False)


def ragged_gather_rows(ragged, indices):
    """``tf.gather(ragged, indices)`` for a ragged ``[R, (n)]`` (ragged rank 1) with builtin ops."""
    indices = tf.cast(indices, tf.int32)
    lengths = tf.gather(tf.cast(ragged.row_lengths(), tf.int32), indices)
    starts = tf.gather(tf.cast(ragged.row_starts(), tf.int32), indices)
    where = ragged_range(starts, lengths)
    return where.with_flat_values(tf.gather(ragged.flat_values, where.flat_values))


def ragged_truncate(ragged, limit):
    """``ragged[:, :limit]`` for a ragged ``[R, (n)]`` with builtin ops (``limit``: an int, or int32 ``[R]``
    for a limit per row)."""
    lengths = tf.minimum(tf.cast(ragged.row_lengths(), tf.int32), limit)
    where = ragged_range(tf.cast(ragged.row_starts(), tf.int32), lengths)
    return where.with_flat_values(tf.gather(ragged.flat_values, where.flat_values))


def ragged_mask(ragged, mask):
    """``tf.ragged.boolean_mask(ragged, mask)`` (``mask`` ragged bool of the same row lengths) with builtin ops
    (the tf version sums int64 segments)."""
    keep = tf.cast(mask.flat_values, tf.int64)
    kept_before = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(keep)], axis=0)
    index = tf.reshape(tf.where(mask.flat_values), [-1])
    return tf.RaggedTensor.from_row_splits(tf.gather(ragged.flat_values, index),
                                           tf.gather(kept_before, tf.cast(ragged.row_splits, tf.int64)),
                                           validate=False)


def sorted_row_lengths(value_rowids, nrows):
    """Row lengths (int64 [nrows]) of non-decreasing ``value_rowids``: what ``RaggedTensor.from_value_rowids``
    computes with ``bincount`` (no TFLite kernel), here an int32 segment sum. Use
    ``tf.RaggedTensor.from_row_lengths(values, sorted_row_lengths(rowids, nrows))``."""
    rowids = tf.cast(value_rowids, tf.int32)
    ones = tf.ones_like(rowids)
    return tf.cast(tf.math.unsorted_segment_sum(ones, rowids, tf.cast(nrows, tf.int32)), tf.int64)


def add_per_row(ragged, row_values):
    """``ragged [R, (n)] + row_values[:, None]`` on the flat values (the same result as ragged broadcasting,
    whose graph is many times larger and slow to trace)."""
    lengths = tf.cast(ragged.row_lengths(), tf.int32)
    return ragged.with_flat_values(ragged.flat_values + tf.repeat(tf.cast(row_values, ragged.dtype), lengths))


def make_windows(lengths, max_tokens, stride) -> Windows:
    """Window layout for examples of ``lengths`` tokens.

    Args:
        lengths: int [B] token counts.
        max_tokens: int scalar or [B]: most tokens per window (e.g. sequence length - 2, or minus the question).
        stride: int scalar: step between window starts.
    """
    lengths = tf.cast(lengths, tf.int32)
    max_tokens = tf.broadcast_to(tf.cast(max_tokens, tf.int32), tf.shape(lengths))
    tf.debugging.assert_positive(max_tokens, message="a window must hold at least one token (sequence too short)")
    stride = tf.minimum(tf.cast(stride, tf.int32), max_tokens)
    stride = tf.maximum(stride, 1)
    over = tf.maximum(lengths - max_tokens, 0)
    num = 1 + (over + stride - 1) // stride                                      # [B]
    example_index = tf.repeat(tf.range(tf.shape(lengths)[0], dtype=tf.int32), num)
    k = ragged_range(0, num).flat_values                                         # window number in its example
    start = k * tf.gather(stride, example_index)
    length = tf.minimum(tf.gather(max_tokens, example_index), tf.gather(lengths, example_index) - start)
    return Windows(example_index, start, tf.maximum(length, 0), lengths)


def window_values(ragged, windows: Windows):
    """Ragged ``[B, (N), ...]`` per-token values -> ragged ``[W, (n), ...]`` per window."""
    flat = ragged.flat_values if ragged.ragged_rank == 1 else ragged.values
    gp = windows.global_positions
    return gp.with_flat_values(tf.gather(flat, gp.flat_values))


def pack_windows(preprocessor, windows_b, segment_a=None):
    """``[CLS] A [SEP] B [SEP]`` (or ``[CLS] B [SEP]``) for every window, through the task's
    :class:`~keras_bert_zoo.text.BertPreprocessor` (``pack_ids``: the package's one packer), padded to its
    ``sequence_length``. Windows are sized so that nothing is truncated.

    Args:
        preprocessor: a BertPreprocessor.
        windows_b: ragged int [W, (n)] token ids of each window (segment B, or the only segment).
        segment_a: optional ragged int [W, (q)] first segment (e.g. the question) for each window.
    Returns:
        (packed dict of int32 [W, sequence_length], b_offset int32 [W]: position of the window's first token).
    """
    windows_b = tf.cast(windows_b, tf.int32)
    if segment_a is not None:
        segment_a = tf.cast(segment_a, tf.int32)
        packed = preprocessor.pack_ids(segment_a, windows_b)
        b_offset = tf.cast(segment_a.row_lengths(), tf.int32) + 2
    else:
        packed = preprocessor.pack_ids(windows_b)
        b_offset = tf.ones([tf.cast(windows_b.nrows(), tf.int32)], tf.int32)
    return packed, b_offset


def packed_token_index(windows: Windows, b_offset, sequence_length: int):
    """int32 [W, T]: for each packed position, the index of the example token there (-1 for [CLS], [SEP],
    the first segment and padding)."""
    pos = add_per_row(ragged_range(0, windows.length), b_offset)                 # packed positions of B tokens
    tok = windows.positions
    w = tf.shape(windows.length)[0]
    rows = tf.repeat(tf.range(w), windows.length)
    idx = tf.stack([rows, pos.flat_values], axis=1)
    return tf.tensor_scatter_nd_update(tf.fill([w, sequence_length], -1), idx, tok.flat_values)


def covered_tokens(max_tokens: int, stride: int, max_windows: int | None) -> int | None:
    """The most tokens of an example that at most ``max_windows`` windows (of ``max_tokens`` tokens, starts
    ``stride`` apart, as :func:`make_windows` lays them out) cover; None when ``max_windows`` is None (any
    length). A longer example loses its tail beyond that (:func:`windowed_pack` cuts it)."""
    if max_windows is None:
        return None
    step = max(1, min(int(stride), int(max_tokens)))
    return (int(max_windows) - 1) * step + int(max_tokens)


def windowed_pack(preprocessor, texts, stride: int, pairs=None, max_first_tokens=None, max_windows=None):
    """Tokenize, window and pack raw strings; every example yields one or more windows.

    With ``pairs`` (a first segment, e.g. a question), ``texts`` is windowed and each window is packed after the
    first segment, which is cut to ``max_first_tokens`` (default: half the sequence). With ``max_windows``, an
    example gets at most that many windows: its tokens past what they cover (:func:`covered_tokens`) are cut
    first, so the layout of the windows it keeps is the one it would have had without the cap.
    Returns (packed dict [W, T], Windows, b_offset [W]).
    """
    sequence_length = preprocessor.sequence_length
    ids, _, _ = tokenize_with_offsets(preprocessor.tokenizer, texts)
    first = None
    budget = sequence_length - 2
    if pairs is not None:
        first_ids, _, _ = tokenize_with_offsets(preprocessor.tokenizer, pairs)
        limit = max_first_tokens if max_first_tokens is not None else (sequence_length - 3) // 2
        first_full = first_ids[:, :limit]
        budget = sequence_length - 3 - tf.cast(first_full.row_lengths(), tf.int32)
    if max_windows is not None:
        step = tf.maximum(tf.minimum(tf.cast(stride, tf.int32), budget), 1)
        ids = ragged_truncate(ids, (int(max_windows) - 1) * step + budget)
    windows = make_windows(tf.cast(ids.row_lengths(), tf.int32), budget, stride)
    if pairs is not None:
        first = tf.gather(first_full, windows.example_index)
    packed, b_offset = pack_windows(preprocessor, window_values(ids, windows), segment_a=first)
    return packed, windows, b_offset


# ---------------------------------------------------------------------------------------------- aggregation
def mean_over_windows(values, windows: Windows):
    """[W, ...] -> [B, ...]: the mean over each example's windows (classification logits)."""
    return tf.math.unsorted_segment_mean(values, windows.example_index, windows.num_examples)


def _context_key(windows: Windows):
    """(score, window) per token occurrence: score = min(left, right) * 4096 + window length (int32, i.e.
    min(left, right) + 0.01 * n for n < 4096 in the same order), ties -> the first window."""
    pos = ragged_range(0, windows.length)                                        # position in window
    n = tf.repeat(tf.cast(windows.length, tf.int32), windows.length)             # per token (flat)
    p = pos.flat_values
    context = tf.minimum(p, n - 1 - p)
    w = tf.repeat(tf.range(tf.shape(windows.length)[0], dtype=tf.int32), windows.length)
    return pos, context * 4096 + n, w


def max_context_mask(windows: Windows):
    """Ragged bool [W, (n)]: True where this window is the token's max-context window."""
    pos, score, w = _context_key(windows)
    gp = windows.global_positions.flat_values
    total = tf.reduce_sum(windows.lengths)
    # two int32 segment reductions (TFLite has no int64 ones): the best score, then the first window with it
    best = tf.math.unsorted_segment_max(score, gp, total)
    best_here = tf.equal(score, tf.gather(best, gp))
    first = tf.math.unsorted_segment_min(tf.where(best_here, w, tf.int32.max), gp, total)
    return pos.with_flat_values(tf.logical_and(best_here, tf.equal(w, tf.gather(first, gp))))


def tokens_from_windows(values, windows: Windows, b_offset):
    """Per-position values of the packed windows ``[W, T, ...]`` -> ragged ``[B, (N), ...]`` per example
    token, each token taken from its max-context window."""
    values = tf.convert_to_tensor(values)
    t = tf.shape(values)[1]
    flat_values = tf.reshape(values, tf.concat([[-1], tf.shape(values)[2:]], 0))
    w_rows = tf.cast(tf.range(tf.shape(windows.length)[0]), tf.int32)
    flat_index = add_per_row(ragged_range(0, windows.length), b_offset + w_rows * t).flat_values
    occ = tf.gather(flat_values, flat_index)                                     # [occurrences, ...]
    mask = max_context_mask(windows).flat_values
    gp = windows.global_positions.flat_values
    total = tf.reduce_sum(windows.lengths)
    chosen = tf.boolean_mask(occ, mask)
    where = tf.boolean_mask(gp, mask)
    out_shape = tf.concat([[total], tf.shape(values)[2:]], 0)
    out = tf.scatter_nd(where[:, None], chosen, tf.cast(out_shape, tf.int32))
    return tf.RaggedTensor.from_row_lengths(out, tf.cast(windows.lengths, tf.int64))
