"""Packing of one or two segments into the backbone's inputs, in the graph.

``BertPreprocessor(tokenizer, sequence_length=128, truncate="longest_first")`` is a Keras layer:

    pre(strings)              string [B]            -> dict of int32 [B, T]
    pre((strings_a, strings_b))  two string [B]     -> same, packed as [CLS] A [SEP] B [SEP]
    pre.pack_ids(ids_a, ids_b=None)  ragged int ids -> same (already tokenized input)
    pre.call_with_offsets(inputs) -> (packed dict, starts int64 [B, T], ends int64 [B, T])

Output dict (the backbone contract): ``token_ids`` (``[PAD]`` id after the end), ``segment_ids`` (0 for
``[CLS] A [SEP]``, 1 for ``B [SEP]``, 0 on padding), ``padding_mask`` (1 on real tokens, 0 on padding).
``call_with_offsets`` also gives, per packed position, the UTF-8 byte offsets ``[start, end)`` of the token in
its ORIGINAL string (segment A's string for segment-0 positions, B's for segment-1 positions) and -1 for
``[CLS]``, ``[SEP]`` and padding — what QA and NER need to map predictions back to text.

Truncation (``budget = T - 2`` for one segment, ``T - 3`` for pairs; single segments are cut at the end):

* ``longest_first`` — HF ``tokenizer(a, b, truncation="longest_first")`` (tokenizers' Rust rule): the shorter
  segment (A on ties) keeps ``min(len, budget // 2)``, the longer one the rest. google-research/bert's
  ``_truncate_seq_pair`` (pop from the longer, B on ties) gives the same lengths except when both segments
  exceed half of an odd budget: there it keeps ``ceil(budget/2)`` for A. (Verified against HF in the tests.)
* ``round_robin`` — give one token at a time to A, then B, ... until the budget is spent (tf-text's
  ``RoundRobinTrimmer``): ``a = min(la, max(ceil(budget/2), budget - lb))``, ``b = min(lb, budget - a)`` —
  which is also google-research/bert's ``_truncate_seq_pair`` result.
* ``waterfall`` — A keeps as much as fits, B gets the rest (tf-text's ``WaterfallTrimmer``).

Only dense ops (gather/where/cumsum) after ``RaggedTensorToTensor``, so the packer converts to TFLite builtins.

Example::

    >>> import tensorflow as tf
    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> pre = BertPreprocessor(WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=16)
    >>> packed = pre(tf.constant(["is this a question?"]))
    >>> packed["token_ids"].shape
    TensorShape([1, 16])
    >>> pairs = pre((tf.constant(["a question?"]), tf.constant(["an answer."])))
    >>> pairs["segment_ids"].numpy()[0, :9]                 # [CLS] a question ? [SEP] an answer . [SEP]
    array([0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=int32)
"""

import keras
import tensorflow as tf

from keras_bert_zoo.text.tokenizer import WordPieceTokenizer

TRUNCATE_STRATEGIES = ("longest_first", "round_robin", "waterfall")


def truncated_lengths(len_a, len_b, budget, truncate):
    """Lengths kept of two segments (int32 [B] each) for ``budget`` non-special positions."""
    if truncate == "longest_first":
        # HF tokenizers' rule: the shorter segment (A on ties) keeps min(len, budget // 2), the other the rest.
        a_is_short = len_a <= len_b
        short = tf.where(a_is_short, len_a, len_b)
        keep_short = tf.minimum(short, budget // 2)
        keep_a = tf.where(a_is_short, keep_short, tf.minimum(len_a, budget - keep_short))
    elif truncate == "round_robin":
        half_up = (budget + 1) // 2
        keep_a = tf.minimum(len_a, tf.maximum(half_up, budget - len_b))
    elif truncate == "waterfall":
        keep_a = tf.minimum(len_a, budget)
    else:
        raise ValueError(f"truncate must be one of {TRUNCATE_STRATEGIES}, got {truncate!r}")
    keep_b = tf.minimum(len_b, budget - keep_a)
    return keep_a, keep_b


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertPreprocessor(keras.layers.Layer):
    """Tokenize (strings) and pack into ``token_ids`` / ``segment_ids`` / ``padding_mask`` (see the module
    docstring).

    Args:
        tokenizer: a :class:`WordPieceTokenizer` (its vocabulary must have ``[CLS]`` and ``[SEP]``).
        sequence_length: packed length ``T`` (>= 3).
        truncate: ``"longest_first"`` (reference), ``"round_robin"`` or ``"waterfall"``.
    """

    def __init__(self, tokenizer, sequence_length=128, truncate="longest_first", **kwargs):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if truncate not in TRUNCATE_STRATEGIES:
            raise ValueError(f"truncate must be one of {TRUNCATE_STRATEGIES}, got {truncate!r}")
        if int(sequence_length) < 3:
            raise ValueError(f"sequence_length must be >= 3 ([CLS] A [SEP] B [SEP] needs 3), got {sequence_length}")
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.truncate = truncate

    def get_config(self):
        config = super().get_config()
        config.update({
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "sequence_length": self.sequence_length,
            "truncate": self.truncate,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)

    def build(self, input_shape=None):
        self.built = True

    def compute_output_spec(self, inputs):
        first = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
        batch = first.shape[0] if first.shape else None
        shape = (batch, self.sequence_length)
        return {k: keras.KerasTensor(shape, dtype="int32") for k in ("token_ids", "segment_ids", "padding_mask")}

    # ------------------------------------------------------------------ special ids
    def _ids(self):
        tok = self.tokenizer
        cls_id, sep_id = tok.special_ids("[CLS]", "[SEP]", purpose="needed to pack segments")
        pad = tok.pad_id if tok.pad_id is not None else 0
        return cls_id, sep_id, pad

    # ------------------------------------------------------------------ entry points
    def __call__(self, inputs, *args, **kwargs):
        def is_strings(x):
            return isinstance(x, (str, bytes)) or (
                isinstance(x, list) and all(isinstance(v, (str, bytes)) for v in x))

        if is_strings(inputs):
            inputs = tf.constant(inputs, dtype=tf.string)
        elif isinstance(inputs, (tuple, list)):  # segments (Keras passes a list when rebuilding a model)
            inputs = tuple(tf.constant(x, dtype=tf.string) if is_strings(x) else x for x in inputs)
        return super().__call__(inputs, *args, **kwargs)

    @tf.autograph.experimental.do_not_convert   # pure TF graph code, also when called directly in a tf.function
    def call(self, inputs):
        packed, _, _ = self._run(inputs, want_offsets=False)
        return packed

    def call_with_offsets(self, inputs):
        """-> (packed dict, starts int64 [B, T], ends int64 [B, T]): byte offsets of every packed token into
        its original string (A's or B's by segment); -1 at [CLS] / [SEP] / padding."""
        return self._run(inputs, want_offsets=True)

    def pack_ids(self, ids_a, ids_b=None):
        """Pack already-tokenized ragged ids [B, (N)] (one or two segments)."""
        segments = [(ids_a, None, None)] + ([] if ids_b is None else [(ids_b, None, None)])
        packed, _, _ = self._pack(segments, want_offsets=False)
        return packed

    def _run(self, inputs, want_offsets):
        if isinstance(inputs, dict):
            raise TypeError("BertPreprocessor takes a string tensor or a tuple (texts, text_pairs), not a dict")
        if isinstance(inputs, (tuple, list)):
            if len(inputs) not in (1, 2):
                raise ValueError(f"BertPreprocessor packs 1 or 2 segments, got {len(inputs)}")
            parts = list(inputs)
        else:
            parts = [inputs]
        segments = []
        for part in parts:
            part = tf.convert_to_tensor(part)
            if part.shape.rank == 2 and part.shape[-1] == 1:  # [B, 1] from keras.Input(shape=(1,))
                part = tf.squeeze(part, -1)
            if want_offsets:
                segments.append(self.tokenizer.tokenize_with_offsets(part))
            else:
                segments.append((self.tokenizer.tokenize(part), None, None))
        return self._pack(segments, want_offsets)

    # ------------------------------------------------------------------ packing (dense ops)
    def _pack(self, segments, want_offsets):
        cls_id, sep_id, pad_id = self._ids()
        T = self.sequence_length
        pair = len(segments) == 2
        budget = T - 3 if pair else T - 2
        dense = []
        for ids, starts, ends in segments:
            ids = tf.cast(ids, tf.int32)
            length = tf.cast(ids.row_lengths(), tf.int32)
            width = max(budget, 1)  # never more than `budget` tokens of one segment are kept
            d_ids = ids.to_tensor(default_value=0, shape=[None, width])
            d_st = d_en = None
            if want_offsets:
                d_st = tf.cast(starts, tf.int64).to_tensor(default_value=-1, shape=[None, width])
                d_en = tf.cast(ends, tf.int64).to_tensor(default_value=-1, shape=[None, width])
            dense.append((d_ids, d_st, d_en, length))

        batch = tf.shape(dense[0][0])[0]
        pos = tf.range(T, dtype=tf.int32)[tf.newaxis, :]  # [1, T]
        if pair:
            len_a, len_b = truncated_lengths(dense[0][3], dense[1][3], budget, self.truncate)
        else:
            len_a = tf.minimum(dense[0][3], budget)
            len_b = tf.zeros_like(len_a)
        sep_a = (len_a + 1)[:, tf.newaxis]             # position of the first [SEP]
        sep_b = (len_a + len_b + 2)[:, tf.newaxis]     # position of the second [SEP] (pairs)
        index_a = tf.broadcast_to(tf.maximum(tf.minimum(pos - 1, max(budget, 1) - 1), 0), [batch, T])
        in_a = (pos >= 1) & (pos < sep_a)
        if pair:
            index_b = tf.broadcast_to(tf.maximum(tf.minimum(pos - sep_a - 1, max(budget, 1) - 1), 0), [batch, T])
            in_b = (pos > sep_a) & (pos < sep_b)
            end = sep_b
        else:
            in_b = tf.zeros_like(in_a)
            end = sep_a

        def gather(values, index):
            return tf.gather(values, index, batch_dims=1)

        is_sep = (pos == sep_a) | ((pos == sep_b) if pair else tf.zeros_like(in_a))
        token_ids = tf.where(in_a, gather(dense[0][0], index_a), pad_id)
        if pair:
            token_ids = tf.where(in_b, gather(dense[1][0], index_b), token_ids)
        token_ids = tf.where(is_sep, sep_id, token_ids)
        token_ids = tf.where(pos == 0, cls_id, token_ids)
        padding_mask = tf.where(pos <= end, 1, 0)
        segment_ids = tf.where((pos > sep_a) & (pos <= end), 1, 0) if pair else tf.zeros_like(token_ids)
        packed = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        if not want_offsets:
            return packed, None, None
        minus1 = tf.constant(-1, tf.int64)
        starts = tf.where(in_a, gather(dense[0][1], index_a), minus1)
        ends = tf.where(in_a, gather(dense[0][2], index_a), minus1)
        if pair:
            starts = tf.where(in_b, gather(dense[1][1], index_b), starts)
            ends = tf.where(in_b, gather(dense[1][2], index_b), ends)
        return packed, starts, ends


__all__ = ["BertPreprocessor", "TRUNCATE_STRATEGIES", "truncated_lengths", "WordPieceTokenizer"]
