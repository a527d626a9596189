"""Sliding windows: layout vs the reference loop, max-context choice vs the reference rule, aggregation."""

import random

import numpy as np
import pytest
import tensorflow as tf

from tests.tasks import tiny5b
from keras_bert_zoo.tasks.preprocessing import windows as W


def reference_windows(n, max_tokens, stride):
    """google-research/bert run_squad.py's doc-span loop."""
    spans, start = [], 0
    while start < n:
        length = min(n - start, max_tokens)
        spans.append((start, length))
        if start + length == n:
            break
        start += min(length, stride)
    return spans or [(0, 0)]


def reference_is_max_context(spans, span_index, position):
    best_score, best = None, None
    for i, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best = score, i
    return best == span_index


def test_layout_and_max_context_match_reference():
    rng = random.Random(0)
    for _ in range(15):
        lengths = [rng.randint(0, 40) for _ in range(rng.randint(1, 4))]
        max_tokens, stride = rng.randint(1, 12), rng.randint(1, 14)
        w = W.make_windows(tf.constant(lengths), max_tokens, stride)
        got = list(zip(w.example_index.numpy(), w.start.numpy(), w.length.numpy()))
        want = [(b, s, l) for b, n in enumerate(lengths) for s, l in reference_windows(n, max_tokens, stride)]
        assert got == want, (lengths, max_tokens, stride)
        mask = W.max_context_mask(w).to_list()
        for k, (b, s, l) in enumerate(want):
            spans = reference_windows(lengths[b], max_tokens, stride)
            idx = [i for i, x in enumerate(spans) if x == (s, l)][0]
            assert mask[k] == [reference_is_max_context(spans, idx, s + p) for p in range(l)]


def test_per_example_budget_and_tokens_round_trip():
    lengths = tf.constant([10, 3, 0, 7])
    w = W.make_windows(lengths, tf.constant([4, 5, 2, 3]), 2)
    # every token comes back exactly once, from some window holding it
    T = 8
    b_offset = tf.fill(tf.shape(w.length), 2)
    pos = W.packed_token_index(w, b_offset, T)
    back = W.tokens_from_windows(tf.cast(pos, tf.float32)[..., None], w, b_offset)
    assert [[int(v[0]) for v in row] for row in back.to_list()] == [list(range(n)) for n in [10, 3, 0, 7]]
    logits = tf.random.stateless_normal([int(tf.shape(w.length)[0]), 3], seed=[1, 2])
    mean = W.mean_over_windows(logits, w).numpy()
    ex = w.example_index.numpy()
    for b in range(4):
        np.testing.assert_allclose(mean[b], logits.numpy()[ex == b].mean(0), atol=1e-6)


def test_windowed_pack_with_the_real_preprocessor():
    from keras_bert_zoo.text import BertPreprocessor

    tok = tiny5b.tokenizer()
    pre = BertPreprocessor(tok, sequence_length=9)
    texts = ["the quick brown fox jumps over the lazy dog .", "李明住在北京。", ""]
    packed, w, b_offset = W.windowed_pack(pre, tf.constant(texts), stride=3)
    ids = tok.tokenize(tf.constant(texts)).to_list()
    tokens = packed["token_ids"].numpy()
    index = W.packed_token_index(w, b_offset, 9).numpy()
    assert (tokens[:, 0] == tok.cls_id).all()
    for k, (b, s, l) in enumerate(zip(w.example_index.numpy(), w.start.numpy(), w.length.numpy())):
        assert tokens[k, 1 + l] == tok.sep_id and packed["padding_mask"].numpy()[k].sum() == l + 2
        got = [tokens[k, p] for p in range(9) if index[k, p] >= 0]
        assert got == ids[b][s:s + l]
    covered = {(b, s + p) for b, s, l in zip(w.example_index.numpy(), w.start.numpy(), w.length.numpy())
               for p in range(l)}
    assert covered == {(b, i) for b, row in enumerate(ids) for i in range(len(row))}
    # pairs: first segment kept whole, windows after it
    first = tok.tokenize(tf.constant(["the cat"])).to_list()[0]
    assert len(first) == 2
    packed, w, b_offset = W.windowed_pack(pre, tf.constant(texts[:1]), stride=2, pairs=tf.constant(["the cat"]))
    assert (packed["token_ids"].numpy()[:, 1:3] == first).all() and (packed["token_ids"].numpy()[:, 3] == tok.sep_id).all()
    assert (b_offset.numpy() == 4).all() and (packed["segment_ids"].numpy()[:, 4] == 1).all()
    assert (w.length.numpy() <= 9 - 3 - 2).all() and len(w.length) > 1


def test_window_needs_room():
    with pytest.raises(tf.errors.InvalidArgumentError):
        W.make_windows(tf.constant([5]), 0, 1)


def test_builtin_ragged_helpers_match_tf_ragged_ops():
    """The TFLite-friendly building blocks equal the tf.ragged ops they replace (random rows, empty rows too)."""
    rng = np.random.default_rng(7)
    lengths = rng.integers(0, 5, size=9)
    lengths[[0, 4]] = 0
    rt = tf.RaggedTensor.from_row_lengths(tf.constant(rng.integers(0, 50, size=int(lengths.sum())), tf.int32),
                                          tf.constant(lengths, tf.int64))
    starts = tf.constant(rng.integers(-3, 9, size=9), tf.int32)
    assert W.ragged_range(starts, lengths).to_list() == tf.ragged.range(starts, starts + lengths).to_list()
    assert W.ragged_range(0, lengths).to_list() == tf.ragged.range(lengths).to_list()
    idx = tf.constant([3, 0, 3, 8, 4, 1], tf.int32)
    assert W.ragged_gather_rows(rt, idx).to_list() == tf.gather(rt, idx).to_list()
    assert W.ragged_truncate(rt, 2).to_list() == rt[:, :2].to_list()
    mask = rt.with_flat_values(rt.flat_values % 3 == 0)
    assert W.ragged_mask(rt, mask).to_list() == tf.ragged.boolean_mask(rt, mask).to_list()
    rowids = tf.constant([0, 0, 2, 2, 2, 5], tf.int32)
    assert W.sorted_row_lengths(rowids, 7).numpy().tolist() == tf.RaggedTensor.from_value_rowids(
        rowids, rowids, nrows=7).row_lengths().numpy().tolist()
    empty = tf.zeros([0], tf.int32)
    assert W.ragged_range(empty, empty).to_list() == [] and W.sorted_row_lengths(empty, 2).numpy().tolist() == [0, 0]
