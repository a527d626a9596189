"""Entities of raw texts from token logits: the words' tags chunked as seqeval does, with character offsets.

:func:`decode_entities` is the one decoder of the tagger's serving graph (SavedModel, TFLite, ``predict``).
Words are the tokens that are not ``##`` continuations (a row's first token always starts a word; punctuation and
each CJK character are words, as in the basic tokenizer); a word's tag is the argmax at its first sub-word; the
chunks come from :func:`keras_bert_zoo.metrics.entities.chunk_entities`. An entity runs from its first word's
first byte to its last word's last sub-word's last byte, extended to the end of the grapheme cluster that byte
is in (a combining accent, a variation selector, a ZWJ sequence: :mod:`~keras_bert_zoo.tasks.decoding.graphemes`).

Outputs (``E`` = most entities in the batch): ``entity_types`` string [B, E] (padding ""), ``entity_type_ids``
int32 [B, E] (index into the scheme's sorted types; padding -1), ``entity_starts`` / ``entity_ends`` int64
[B, E] (code points into the original string, end exclusive; padding -1), ``entity_starts_utf16`` /
``entity_ends_utf16`` (UTF-16 code units, for Java / Kotlin strings), ``entity_scores`` float32 [B, E] (mean
probability of the entity's word tags; padding 0), ``num_entities`` int32 [B], and ``entity_texts`` string
[B, E] (the text of each span; the one output sliced from the strings: ``SLICED_TEXT_OUTPUTS``).

Example::

    >>> import tensorflow as tf
    >>> from keras_bert_zoo.metrics.entities import LabelScheme
    >>> from keras_bert_zoo.tasks.decoding.entities import decode_entities
    >>> from keras_bert_zoo.tasks.preprocessing.windows import tokenize_with_offsets
    >>> from keras_bert_zoo.text import WordPieceTokenizer
    >>> from keras_bert_zoo.text.tokenizer import continuation_mask
    >>> tokenizer = WordPieceTokenizer("vocab.txt", lowercase=True)
    >>> texts = tf.constant(["Peter Blackburn visited São Paulo."])
    >>> ids, starts, ends = tokenize_with_offsets(tokenizer, texts)      # peter blackburn visited sao paulo .
    >>> labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    >>> logits = tf.one_hot(tf.ragged.constant([[3, 4, 0, 1, 2, 0]]), len(labels)) * 4.0   # ragged [1, (6), 5]
    >>> out = decode_entities(texts, ids, starts, ends, logits, LabelScheme(labels),
    ...                       continuation_mask(tokenizer.vocabulary))
    >>> out["entity_texts"].numpy()[0, 1].decode(), out["entity_types"].numpy(), out["num_entities"].numpy()
    ('São Paulo', array([[b'PER', b'LOC']], dtype=object), array([2], dtype=int32))
    >>> out["entity_starts"].numpy(), out["entity_ends"].numpy()      # code points of the original text
    (array([[ 0, 24]]), array([[15, 33]]))
    >>> out["entity_scores"].numpy()                                   # mean softmax probability of the tags
    array([[0.93..., 0.93...]], dtype=float32)
"""

from __future__ import annotations

import tensorflow as tf

from keras_bert_zoo.metrics.entities import LabelScheme, chunk_entities
from keras_bert_zoo.tasks.decoding import crf as crf_decoding
from keras_bert_zoo.tasks.decoding.graphemes import cluster_ends
from keras_bert_zoo.tasks.preprocessing import windows as W
from keras_bert_zoo.tasks.preprocessing.token_windows import word_token_alignment
from keras_bert_zoo.text.offsets import char_offsets

__all__ = ["decode_entities", "word_tag_ids", "pad_rows", "SLICED_TEXT_OUTPUTS"]

#: outputs cut from the input strings (no TFLite builtin can): the TFLite export leaves them out
SLICED_TEXT_OUTPUTS = ("entity_texts",)


def pad_rows(counts, values, default):
    """Flat per-entity values (rows in order, ``counts`` [B] per row) -> [B, max(counts)] padded with ``default``
    (``tensor_scatter_nd_update``: a TFLite builtin; ragged ``to_tensor`` is not, for every dtype)."""
    counts = tf.cast(counts, tf.int32)
    b = tf.shape(counts)[0]
    width = tf.maximum(tf.reduce_max(tf.concat([counts, [0]], 0)), 0)
    rows = tf.repeat(tf.range(b), counts)
    cols = W.ragged_range(0, counts).flat_values
    base = tf.fill(tf.stack([b, width]), tf.constant(default, values.dtype))
    return tf.tensor_scatter_nd_update(base, tf.stack([rows, cols], axis=1), values)


def _words(ids, ends, logits, continuation, crf):
    """Per word of the batch: word-start mask (ragged [B, (N)]), tags and tag probabilities (flat over the words)
    and byte ends (flat)."""
    flat = logits.flat_values                                                      # [tokens, C]
    cont = tf.gather(continuation, ids.flat_values)
    is_first_in_row = tf.equal(W.ragged_range(0, ids.row_lengths()).flat_values, 0)
    word_start = tf.logical_or(tf.logical_not(cont), is_first_in_row)
    gword = tf.cumsum(tf.cast(word_start, tf.int32)) - 1                               # global word id
    num_words = tf.reduce_sum(tf.cast(word_start, tf.int32))
    # int32 segment max (TFLite has no int64 one); byte offsets fit
    word_end = tf.cast(tf.math.unsorted_segment_max(tf.cast(ends.flat_values, tf.int32), gword, num_words),
                       tf.int64)
    mask = ids.with_flat_values(word_start)
    tags, tag_prob = _tags(W.ragged_mask(logits, mask), crf)
    return mask, tags, tag_prob, word_end


def _tags(word_logits, crf):
    """Ragged word logits [B, (M), C] -> (tags, their softmax probabilities), flat over the words: the argmax,
    or the CRF's Viterbi path (:mod:`~keras_bert_zoo.tasks.decoding.crf`)."""
    flat = word_logits.flat_values
    probs = tf.nn.softmax(flat, axis=-1)
    if crf is None:
        return tf.argmax(flat, axis=-1, output_type=tf.int32), tf.reduce_max(probs, axis=-1)
    tags = crf_decoding.word_tags(crf, word_logits)
    return tags, tf.reduce_sum(probs * tf.one_hot(tags, tf.shape(flat)[1], dtype=probs.dtype), axis=-1)


def _span_means(values, starts, lengths):
    """Mean of ``values[starts[i] : starts[i] + lengths[i]]`` for each span i (lengths >= 1), summed over the span's
    own few values. (A difference of two cumulative sums over the whole batch would carry the rounding of the
    cumulative sum — about 1e-5 once it passes a thousand words — and that rounding depends on how the runtime
    vectorises the scan, so an entity's score would depend on the other texts of its batch.)"""
    lengths = tf.cast(lengths, tf.int32)
    span = W.ragged_range(starts, lengths)
    segment = tf.repeat(tf.range(tf.shape(lengths)[0], dtype=tf.int32), lengths)
    sums = tf.math.unsorted_segment_sum(tf.gather(values, span.flat_values), segment, tf.shape(lengths)[0])
    return sums / tf.cast(lengths, values.dtype)


def decode_entities(texts, ids, starts, ends, logits, scheme: LabelScheme, continuation, crf=None) -> dict:
    """Token logits (ragged [B, (N), C]) of raw ``texts`` [B], with the tokens' ids and byte offsets (ragged
    [B, (N)]) -> the padded entity outputs of the module docstring. ``continuation``: bool [V] (is the token a
    ``##`` piece); ``crf``: a :class:`~keras_bert_zoo.layers.crf.CRF` whose Viterbi path over the words gives
    their tags (None: each word's argmax)."""
    mask, tags, tag_prob, word_end = _words(ids, ends, logits, tf.convert_to_tensor(continuation, tf.bool), crf)
    w_start = W.ragged_mask(starts, mask)
    w_tags = w_start.with_flat_values(tags)
    w_prob = w_start.with_flat_values(tag_prob)
    types, b, e = chunk_entities(w_tags, scheme.prefix, scheme.type_ids, scheme.sep_type)
    row_word0 = tf.cast(w_tags.row_starts(), tf.int32)
    erow = tf.cast(types.value_rowids(), tf.int32)
    gb = b.flat_values + tf.gather(row_word0, erow)
    ge = e.flat_values + tf.gather(row_word0, erow)
    byte_start = tf.gather(w_start.flat_values, gb)
    byte_end = cluster_ends(texts, erow, tf.gather(word_end, ge))        # never inside a grapheme cluster
    score = _span_means(w_prob.flat_values, gb, ge - gb + 1)
    cstart, ustart = char_offsets(texts, erow, byte_start)
    cend, uend = char_offsets(texts, erow, byte_end)
    counts = tf.cast(types.row_lengths(), tf.int32)
    n_types = len(scheme.types)
    type_ids = pad_rows(counts, types.flat_values, n_types)                        # padding: n_types
    sliced = tf.strings.substr(tf.gather(texts, erow), byte_start, byte_end - byte_start, unit="BYTE")
    return {
        "entity_types": tf.gather(tf.constant(list(scheme.types) + [""]), type_ids),
        "entity_type_ids": tf.where(type_ids == n_types, -1, type_ids),
        "entity_starts": pad_rows(counts, cstart, -1),
        "entity_ends": pad_rows(counts, cend, -1),
        "entity_starts_utf16": pad_rows(counts, ustart, -1),
        "entity_ends_utf16": pad_rows(counts, uend, -1),
        "entity_scores": pad_rows(counts, score, 0.0),
        "num_entities": counts,
        "entity_texts": pad_rows(counts, sliced, ""),
    }


def word_tag_ids(word_starts, starts, logits, o_id: int, crf=None):
    """Predicted label id of every given word (ragged [B, (M)], from the words' byte starts and the tokens'):
    the argmax at its first sub-word (``crf``: the Viterbi path over the words' first sub-words); words without
    any token (e.g. only control characters) get ``o_id``."""
    widx, first = word_token_alignment(word_starts, starts)
    if crf is None:
        tags = logits.with_flat_values(tf.argmax(logits.flat_values, axis=-1, output_type=tf.int32))
    else:
        at = tf.cast(tf.reshape(tf.where(first.flat_values), [-1]), tf.int32)
        tags = tf.tensor_scatter_nd_update(tf.zeros(tf.shape(first.flat_values), tf.int32), at[:, None],
                                           crf_decoding.word_tags(crf, W.ragged_mask(logits, first)))
        tags = logits.with_flat_values(tags)
    word_starts = tf.cast(word_starts, tf.int64)
    row_start = tf.cast(word_starts.row_starts(), tf.int32)
    gidx = widx.flat_values + tf.gather(row_start, tf.cast(widx.value_rowids(), tf.int32))
    sel = first.flat_values
    total = tf.cast(tf.shape(word_starts.flat_values)[0], tf.int32)
    out = tf.tensor_scatter_nd_update(tf.fill([total], o_id), tf.boolean_mask(gidx, sel)[:, None],
                                      tf.boolean_mask(tags.flat_values, sel))
    return word_starts.with_flat_values(out)
