"""Span ends moved to the end of their grapheme cluster, in the graph with TFLite builtins (+ tf-text ByteSplitter).

A tokenizer offset can fall inside what a reader sees as one character: "José" written with a combining acute
(``e`` + U+0301), "✌️" (a variation selector after the emoji), "👍🏽" (a skin-tone modifier), "👩‍💻" (a zero-width
joiner sequence). A span ending there would cut the accent off the name, or half an emoji. :func:`cluster_ends`
extends a UTF-8 byte end offset over the code points that continue the cluster before it:

* combining marks (general category Mn, Mc, Me: accents, Indic vowel signs, enclosing keycaps) and the
  variation selectors among them (U+FE00-FE0F, U+E0100-E01EF);
* U+200D ZERO WIDTH JOINER and the code point right after it (the next emoji of a ZWJ sequence);
* the emoji modifiers U+1F3FB-1F3FF and the tag characters U+E0000-E0FFF (subdivision flags).

This is the "extend" part of UAX #29's extended grapheme clusters, which is what a span end can fall into;
regional-indicator pairs and Hangul jamo sequences are not joined (a tokenizer does not split them in practice:
they are neither punctuation nor CJK ideographs). The category table is Python's ``unicodedata`` when the graph
is traced, stored in the graph as a 32 KB bit set (code points below U+20000; above, only U+E0000-E0FFF
extend), so the Python ``predict``, the SavedModel and the TFLite model give the same ends.

Example::

    >>> import tensorflow as tf
    >>> text = "Jose\u0301 ok"                        # "José" with a combining accent: 6 bytes
    >>> int(cluster_ends(tf.constant([text]), rows=tf.constant([0]), byte_ends=tf.constant([4]))[0])
    6
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

__all__ = ["cluster_ends", "extends_cluster", "TABLE_LIMIT"]

#: code points below this are looked up in the bit set; above it only U+E0000-E0FFF extend a cluster
TABLE_LIMIT = 0x20000
ZWJ = 0x200D


def extends_cluster(code_point: int) -> bool:
    """Whether ``code_point`` continues the grapheme cluster before it (the module docstring's list; the code
    point after a ZWJ is the graph's own rule)."""
    if 0xE0000 <= code_point <= 0xE0FFF or 0x1F3FB <= code_point <= 0x1F3FF or code_point == ZWJ:
        return True
    return unicodedata.category(chr(code_point)) in ("Mn", "Mc", "Me")


@functools.lru_cache(maxsize=1)
def _bit_set() -> np.ndarray:
    """int32 [TABLE_LIMIT / 16]: bit ``cp % 16`` of word ``cp // 16`` is set when ``cp`` extends a cluster
    (16 bits a word: the lookup divides by powers of two up to 2**15, FLOOR_DIV in int32)."""
    flags = np.fromiter((extends_cluster(cp) for cp in range(TABLE_LIMIT)), dtype=bool, count=TABLE_LIMIT)
    weights = (1 << np.arange(16, dtype=np.int64))
    return (flags.reshape(-1, 16) * weights).sum(axis=1).astype(np.int32)


def _code_points(b):
    """int32 [n]: the code point that starts at each byte of the flat UTF-8 bytes ``b`` (junk at continuation
    bytes; arithmetic only: ``b & 0x3f`` of a continuation byte is ``b - 0x80``)."""
    n = tf.shape(b)[0]
    padded = tf.concat([b, tf.fill([3], 0x80)], 0)
    c1 = tf.slice(padded, [1], [n]) - 0x80
    c2 = tf.slice(padded, [2], [n]) - 0x80
    c3 = tf.slice(padded, [3], [n]) - 0x80
    two = (b - 0xC0) * 64 + c1
    three = (b - 0xE0) * 4096 + c1 * 64 + c2
    four = (b - 0xF0) * 262144 + c1 * 4096 + c2 * 64 + c3
    return tf.where(b < 0x80, b, tf.where(b < 0xE0, two, tf.where(b < 0xF0, three, four)))


def _extends(cp):
    """bool [n]: the code point extends the cluster before it (the bit set, or U+E0000-E0FFF)."""
    table = tf.constant(_bit_set())
    safe = tf.clip_by_value(cp, 0, TABLE_LIMIT - 1)
    word = tf.gather(table, safe // 16)
    bit = tf.math.floormod(tf.math.floordiv(word, tf.gather(tf.constant(1 << np.arange(16), tf.int32), safe % 16)),
                           2)
    in_table = (cp >= 0) & (cp < TABLE_LIMIT) & tf.equal(bit, 1)
    return in_table | ((cp >= 0xE0000) & (cp <= 0xE0FFF))


def cluster_ends(strings, rows, byte_ends):
    """UTF-8 ``byte_ends`` (int [K], each on a character boundary of ``strings[rows]``) moved forward to the end
    of the grapheme cluster they fall in (unchanged when they are already at a cluster boundary); int64 [K]."""
    strings = tf.convert_to_tensor(strings, tf.string)
    byte_rows = tf_text.ByteSplitter().split(strings)                      # ragged uint8 [B, (bytes)]
    b = tf.cast(byte_rows.flat_values, tf.int32)
    n = tf.shape(b)[0]
    splits = tf.cast(byte_rows.row_splits, tf.int32)
    lead = (b < 0x80) | (b >= 0xC0)
    cp = _code_points(b)
    zwj_at = tf.cast(tf.equal(cp, ZWJ) & lead, tf.int32)                  # ZWJ is 3 bytes: its follower is 3 on
    after_zwj = tf.concat([tf.zeros([3], tf.int32), zwj_at], 0)[:n] > 0
    row_start = tf.scatter_nd(tf.expand_dims(splits[:-1], 1), tf.ones_like(splits[:-1]), tf.expand_dims(n + 1, 0))
    row_start = tf.slice(row_start, [0], [n]) > 0
    boundary = lead & ((~_extends(cp) & ~after_zwj) | row_start)
    positions = tf.concat([tf.cast(tf.reshape(tf.where(boundary), [-1]), tf.int32), tf.expand_dims(n, 0)], 0)
    before = tf.concat([tf.zeros([1], tf.int32), tf.cumsum(tf.cast(boundary, tf.int32))], 0)   # [n + 1]
    base = tf.gather(splits, tf.cast(rows, tf.int32))
    at = base + tf.cast(byte_ends, tf.int32)
    return tf.cast(tf.gather(positions, tf.gather(before, at)) - base, tf.int64)
