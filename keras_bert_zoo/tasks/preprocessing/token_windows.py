"""The token classifier's preprocessor: words + tags -> sliding windows + labels aligned to sub-words, in the graph.

:class:`TokenWindowPreprocessor` is a :class:`~keras_bert_zoo.text.BertPreprocessor` (the same tokenizer, packer
and saved vocabulary asset; called on strings it packs them as its parent does) that also windows long texts:

    pre.join_words(words)                      ragged string [B, (M)] -> (texts string [B], word byte starts
                                               ragged int64 [B, (M)]): the words joined by single spaces
    pre.samples(texts, word_starts, tag_ids, sample_weight=None)
                                               -> (packed int32 [W, T], labels int32 [W, T], weights float32
                                               [W, T]) over all windows of the batch (training / evaluation)
    pre.windows(texts)                         -> :class:`TextWindows` (prediction: tokens with byte offsets,
                                               the window layout and the packed windows)

Alignment: each token belongs to the word whose byte range holds its start; only a word's first sub-word carries
the word's label (every other position, [CLS], [SEP] and padding get label 0 and weight 0; a sample weight
scales every weight of its sentence). Windows (:mod:`~keras_bert_zoo.tasks.preprocessing.windows`): at most
``sequence_length - 2`` tokens, starts ``stride`` tokens apart (None: half the window), each packed
``[CLS] window [SEP]``. Everything is TF ops on a batch, so it runs inside ``tf.data.Dataset.map``.

Example::

    >>> import tensorflow as tf
    >>> from keras_bert_zoo.tasks.preprocessing import TokenWindowPreprocessor
    >>> from keras_bert_zoo.text import WordPieceTokenizer
    >>> tokenizer = WordPieceTokenizer("vocab.txt", lowercase=True)
    >>> pre = TokenWindowPreprocessor(tokenizer, sequence_length=6, stride=2)   # windows of 4 tokens, 2 apart
    >>> words = tf.ragged.constant([["Peter", "Blackburn", "visited", "São", "Paulo", "."], ["Paris"]])
    >>> texts, starts = pre.join_words(words)
    >>> texts[0].numpy().decode(), starts.to_list()                # byte starts of the words
    ('Peter Blackburn visited São Paulo .', [[0, 6, 16, 24, 29, 35], [0]])
    >>> tags = tf.ragged.constant([[3, 4, 0, 1, 2, 0], [1]])       # 0 O, 1 B-LOC, 2 I-LOC, 3 B-PER, 4 I-PER
    >>> packed, labels, weights = pre.samples(texts, starts, tags)
    >>> packed["token_ids"].numpy()                   # 6 tokens -> 2 windows (tokens 0-3, 2-5); "Paris" -> 1
    array([[  101,  2848, 13934,  4716,  7509,   102],
           [  101,  4716,  7509,  9094,  1012,   102],
           [  101,  3000,   102,     0,     0,     0]], dtype=int32)
    >>> labels.numpy()
    array([[0, 3, 4, 0, 1, 0],
           [0, 0, 1, 2, 0, 0],
           [0, 1, 0, 0, 0, 0]], dtype=int32)
    >>> weights.numpy()                               # 0 on [CLS], [SEP], padding (and later sub-words)
    array([[0., 1., 1., 1., 1., 0.],
           [0., 1., 1., 1., 1., 0.],
           [0., 1., 0., 0., 0., 0.]], dtype=float32)
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.tasks.preprocessing import windows as W
from keras_bert_zoo.tasks.base.errors import TaskError
from keras_bert_zoo.text.preprocessor import BertPreprocessor

__all__ = ["TokenWindowPreprocessor", "TextWindows", "word_token_alignment"]

_no_autograph = tf.autograph.experimental.do_not_convert


class TextWindows(NamedTuple):
    """Raw texts as windows: ``ids`` / ``starts`` / ``ends`` ragged [B, (N)] (token ids, UTF-8 byte offsets),
    ``windows`` (:class:`~keras_bert_zoo.tasks.preprocessing.windows.Windows`), ``packed`` int32 [W, T] and
    ``b_offset`` int32 [W] (packed position of each window's first token)."""
    ids: tf.RaggedTensor
    starts: tf.RaggedTensor
    ends: tf.RaggedTensor
    windows: W.Windows
    packed: dict
    b_offset: tf.Tensor


def word_token_alignment(word_starts, starts):
    """Word index of each token (ragged int32 [B, (N)]; -1 before the first word) and whether the token is its
    word's first (ragged bool), from the words' and the tokens' byte starts."""
    ws = tf.cast(word_starts, tf.int64).to_tensor(default_value=np.iinfo(np.int64).max)
    st = tf.cast(starts, tf.int64).to_tensor(default_value=0)
    widx = tf.searchsorted(ws, st, side="right", out_type=tf.int32) - 1          # [B, Nmax]
    widx = tf.RaggedTensor.from_tensor(widx, lengths=starts.row_lengths())
    prev = tf.concat([tf.fill([tf.cast(widx.nrows(), tf.int32), 1], -1), widx[:, :-1]], axis=1)
    first = tf.logical_and(tf.not_equal(widx, prev), widx >= 0)
    return widx, first


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TokenWindowPreprocessor(BertPreprocessor):
    """Tokenizer + packer + sliding windows for token classification (see the module docstring).

    Args:
        tokenizer: a :class:`~keras_bert_zoo.text.WordPieceTokenizer`.
        sequence_length: packed length ``T`` of every window.
        truncate: the parent's truncation rule (used when called on strings).
        stride: tokens between window starts (None: half of the ``sequence_length - 2``-token window).
    """

    def __init__(self, tokenizer, sequence_length=128, truncate="longest_first", stride=None, **kwargs):
        super().__init__(tokenizer, sequence_length=sequence_length, truncate=truncate, **kwargs)
        if stride is not None and int(stride) < 1:
            raise TaskError(f"stride must be a positive number of tokens, got {stride}")
        self.stride = None if stride is None else int(stride)

    @classmethod
    def from_preprocessor(cls, preprocessor: BertPreprocessor, stride=None):
        """This preprocessor with ``preprocessor``'s tokenizer (shared), length and truncation."""
        return cls(preprocessor.tokenizer, sequence_length=preprocessor.sequence_length,
                   truncate=preprocessor.truncate, stride=stride)

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}

    @property
    def window_stride(self) -> int:
        """The stride in use: ``stride`` or half the window (``sequence_length - 2`` tokens)."""
        return self.stride if self.stride is not None else max(1, (self.sequence_length - 2) // 2)

    # ------------------------------------------------------------------ graph pieces (pure TF)
    @staticmethod
    def join_words(words):
        """Ragged string [B, (M)] words -> (texts [B]: joined by single spaces, word byte starts ragged int64)."""
        texts = tf.strings.reduce_join(words, axis=-1, separator=" ")
        sizes = tf.cast(tf.strings.length(words.flat_values, unit="BYTE"), tf.int64) + 1
        before = tf.cumsum(sizes, exclusive=True)                               # over the whole batch
        row_base = tf.gather(tf.concat([before, [0]], 0), words.row_starts())  # (guard: empty batches)
        starts = before - tf.repeat(row_base, words.row_lengths())
        return texts, words.with_flat_values(starts)

    @_no_autograph
    def windows(self, texts) -> TextWindows:
        """Raw strings [B] -> :class:`TextWindows` (tokens with offsets, layout, packed windows)."""
        ids, starts, ends = W.tokenize_with_offsets(self.tokenizer, texts)
        windows = W.make_windows(tf.cast(ids.row_lengths(), tf.int32), self.sequence_length - 2, self.window_stride)
        packed, b_offset = W.pack_windows(self, W.window_values(ids, windows))
        return TextWindows(ids, starts, ends, windows, packed, b_offset)

    @_no_autograph
    def samples(self, texts, word_starts, tag_ids, sample_weight=None):
        """Training features of a batch: texts [b], word byte starts ragged int [b, (M)], word tag ids ragged int
        [b, (M)] (and optional sample weights [b]) -> (packed [W, T], labels [W, T], weights [W, T])."""
        T = self.sequence_length
        ids, starts, _ = W.tokenize_with_offsets(self.tokenizer, texts)
        widx, first = word_token_alignment(word_starts, starts)
        safe = tf.maximum(widx, 0)
        tok_labels = tf.where(first, tf.gather(tf.cast(tag_ids, tf.int32), safe, batch_dims=1), -1)
        windows = W.make_windows(tf.cast(ids.row_lengths(), tf.int32), T - 2, self.window_stride)
        packed, _ = W.pack_windows(self, W.window_values(ids, windows))
        wl = W.window_values(tok_labels, windows)
        edge = tf.fill([tf.shape(windows.length)[0], 1], -1)
        labels = tf.concat([edge, wl, edge], axis=1).to_tensor(default_value=-1, shape=[None, T])
        weights = tf.cast(labels >= 0, tf.float32)
        if sample_weight is not None:
            weights = weights * tf.gather(tf.cast(sample_weight, tf.float32), windows.example_index)[:, None]
        return packed, tf.maximum(labels, 0), weights
