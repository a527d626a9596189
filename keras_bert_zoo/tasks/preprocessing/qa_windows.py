"""The question answerer's preprocessor: question / context (/ answer) -> windows + span labels, in the graph.

:class:`QAWindowPreprocessor` is a :class:`~keras_bert_zoo.text.BertPreprocessor` (the same tokenizer, packer
and saved vocabulary asset; called on strings it packs them as its parent does) that windows the context:

    pre.windows(questions, contexts)           -> :class:`PairWindows` (prediction: packed windows, layout, the
                                               context tokens' byte offsets)
    pre.answer_bytes(contexts, texts, char_starts)
                                               -> UTF-8 byte span [start, end) of each answer (-1: no answer)
    pre.samples(questions, contexts, answer_starts, answer_ends, sample_weight=None)
                                               -> (packed [W, T], {"start_logits": [W], "end_logits": [W]}
                                               (, weights [W])) over all windows of the batch

Windows: the question keeps ``query_length`` tokens; the context is split into windows of
``sequence_length - 3 - len(question)`` tokens, starts ``window_stride`` apart, each packed
``[CLS] question [SEP] window [SEP]``. Labels: the answer's byte span becomes a token span through the offsets
(first token that ends after the answer's start, last token that starts before its end); windows that do not
hold the whole answer, and unanswerable questions, point at ``[CLS]`` (position 0). Pure TF on a batch, so it
runs inside ``tf.data.Dataset.map``.

Example::

    >>> from keras_bert_zoo.tasks.preprocessing import QAWindowPreprocessor
    >>> from keras_bert_zoo.text import WordPieceTokenizer
    >>> tokenizer = WordPieceTokenizer("vocab.txt", lowercase=True)
    >>> pre = QAWindowPreprocessor(tokenizer, sequence_length=16, stride=4, max_query_length=4)
    >>> questions = ["Who won?"]
    >>> contexts = ["The game was won by the Denver Broncos, who defeated the Carolina Panthers 24 to 10."]
    >>> a0, a1 = pre.answer_bytes(contexts, ["Denver Broncos"], [24])      # character 24 -> bytes [24, 38)
    >>> a0.numpy(), a1.numpy()
    (array([24]), array([38]))
    >>> packed, targets = pre.samples(questions, contexts, a0, a1)
    >>> packed["token_ids"].shape          # 18 context tokens -> 3 windows of 10 (16 - [CLS] who won ? [SEP] [SEP])
    TensorShape([3, 16])
    >>> targets["start_logits"].numpy(), targets["end_logits"].numpy()    # the last window lacks the answer
    (array([11,  7,  0], dtype=int32), array([12,  8,  0], dtype=int32))
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf

from keras_bert_zoo.tasks.preprocessing import windows as W
from keras_bert_zoo.tasks.base.errors import TaskError
from keras_bert_zoo.text.preprocessor import BertPreprocessor

__all__ = ["QAWindowPreprocessor", "PairWindows"]

_no_autograph = tf.autograph.experimental.do_not_convert


class PairWindows(NamedTuple):
    """Question / context pairs as windows: ``packed`` int32 [W, T], ``windows`` (the context's layout),
    ``b_offset`` int32 [W] (packed position of each window's first context token), ``context_starts`` /
    ``context_ends`` ragged int64 [B, (N)] (byte offsets of the context tokens)."""
    packed: dict
    windows: W.Windows
    b_offset: tf.Tensor
    context_starts: tf.RaggedTensor
    context_ends: tf.RaggedTensor


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class QAWindowPreprocessor(BertPreprocessor):
    """Tokenizer + packer + context windows for extractive QA (see the module docstring).

    Args:
        tokenizer: a :class:`~keras_bert_zoo.text.WordPieceTokenizer`.
        sequence_length: packed length ``T`` of every window.
        truncate: the parent's truncation rule (used when called on strings).
        stride: tokens between window starts (None: min(128, half the context window)).
        max_query_length: question tokens kept (None: min(64, (sequence_length - 3) // 2)).
    ``stride`` and ``max_query_length`` are stored as given; None is derived from the sequence length when used
    (:attr:`window_stride`, :attr:`query_length`).
    """

    def __init__(self, tokenizer, sequence_length=128, truncate="longest_first", stride=None, max_query_length=None,
                 **kwargs):
        super().__init__(tokenizer, sequence_length=sequence_length, truncate=truncate, **kwargs)
        for arg, value in (("stride", stride), ("max_query_length", max_query_length)):
            if value is not None and int(value) < 1:
                raise TaskError(f"{arg} must be a positive number of tokens, got {value}")
        self.stride = None if stride is None else int(stride)
        self.max_query_length = None if max_query_length is None else int(max_query_length)
        _ = self.window_stride          # validates the lengths against the sequence length now

    @classmethod
    def from_preprocessor(cls, preprocessor: BertPreprocessor, stride=None, max_query_length=None):
        """This preprocessor with ``preprocessor``'s tokenizer (shared), length and truncation."""
        return cls(preprocessor.tokenizer, sequence_length=preprocessor.sequence_length,
                   truncate=preprocessor.truncate, stride=stride, max_query_length=max_query_length)

    def get_config(self):
        return {**super().get_config(), "stride": self.stride, "max_query_length": self.max_query_length}

    @property
    def query_length(self) -> int:
        """Question tokens kept: ``max_query_length`` or min(64, (sequence_length - 3) // 2)."""
        L = self.sequence_length
        q = self.max_query_length if self.max_query_length is not None else min(64, (L - 3) // 2)
        if L - 3 - q < 1:
            raise TaskError(f"sequence_length {L} leaves no room for context after a {q}-token question")
        return q

    @property
    def window_stride(self) -> int:
        """Window stride in use: ``stride`` or min(128, half the context window)."""
        q = self.query_length
        if self.stride is not None:
            return self.stride
        return min(128, max(1, (self.sequence_length - 3 - q) // 2))

    # ------------------------------------------------------------------ graph pieces (pure TF)
    @_no_autograph
    def windows(self, questions, contexts) -> PairWindows:
        """Question / context strings [B] -> :class:`PairWindows`."""
        q_ids, _, _ = W.tokenize_with_offsets(self.tokenizer, questions)
        q_ids = W.ragged_truncate(q_ids, self.query_length)
        c_ids, c_starts, c_ends = W.tokenize_with_offsets(self.tokenizer, contexts)
        budget = self.sequence_length - 3 - tf.cast(q_ids.row_lengths(), tf.int32)
        windows = W.make_windows(tf.cast(c_ids.row_lengths(), tf.int32), budget, self.window_stride)
        packed, b_offset = W.pack_windows(self, W.window_values(c_ids, windows),
                                          segment_a=W.ragged_gather_rows(q_ids, windows.example_index))
        return PairWindows(packed, windows, b_offset, c_starts, c_ends)

    @staticmethod
    def answer_bytes(contexts, texts, char_starts):
        """Answers as (text, character start) -> UTF-8 byte span [start, end) into the contexts; -1, -1 where the
        text is empty or the start negative (no answer). Texts must sit at their starts (checked by the callers
        that read answers, with messages naming the example)."""
        contexts = tf.convert_to_tensor(contexts, tf.string)
        texts = tf.convert_to_tensor(texts, tf.string)
        char_starts = tf.cast(char_starts, tf.int32)
        has = (tf.strings.length(texts) > 0) & (char_starts >= 0)
        before = tf.strings.substr(contexts, tf.zeros_like(char_starts), tf.maximum(char_starts, 0), unit="UTF8_CHAR")
        a0 = tf.cast(tf.strings.length(before, unit="BYTE"), tf.int64)
        a1 = a0 + tf.cast(tf.strings.length(texts, unit="BYTE"), tf.int64)
        return tf.where(has, a0, -1), tf.where(has, a1, -1)

    @_no_autograph
    def samples(self, questions, contexts, answer_starts, answer_ends, sample_weight=None):
        """Training features of a batch: answer byte spans [start, end) (start -1: no answer) -> (packed [W, T],
        {"start_logits": [W], "end_logits": [W]}(, weights [W])) over all windows."""
        packed, windows, b_offset, cs, ce = self.windows(questions, contexts)
        a0 = tf.cast(answer_starts, tf.int64)[:, None]
        a1 = tf.cast(answer_ends, tf.int64)[:, None]
        tok_start = tf.reduce_sum(tf.cast(ce <= a0, tf.int32), axis=1)          # first token ending after a0
        tok_end = tf.reduce_sum(tf.cast(cs < a1, tf.int32), axis=1) - 1          # last token starting before a1
        has = tf.logical_and(tf.cast(answer_starts, tf.int64) >= 0, tok_start <= tok_end)
        ex = windows.example_index
        s = tf.gather(tok_start, ex) - windows.start
        e = tf.gather(tok_end, ex) - windows.start
        inside = tf.gather(has, ex) & (s >= 0) & (e < windows.length)
        targets = {"start_logits": tf.where(inside, s + b_offset, 0), "end_logits": tf.where(inside, e + b_offset, 0)}
        if sample_weight is None:
            return packed, targets
        return packed, targets, tf.gather(tf.cast(sample_weight, tf.float32), ex)
