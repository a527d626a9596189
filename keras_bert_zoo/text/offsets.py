"""UTF-8 byte offsets -> character offsets, in the graph with TFLite builtins (+ the tf-text ByteSplitter kernel).

The tokenizer's offsets are UTF-8 BYTE offsets into the original strings. Clients want character offsets:
Python slices strings by Unicode code point, Java / Kotlin / JavaScript by UTF-16 code unit (a code point
above U+FFFF, e.g. most emoji, is two UTF-16 units). Both are counts over the bytes before the offset:

* code points: bytes that are not UTF-8 continuation bytes (``0b10xxxxxx``, i.e. ``0x80 <= b < 0xC0``);
* UTF-16 units: the same, plus one more for every 4-byte lead byte (``b >= 0xF0``).

:func:`char_offsets` computes both with a cumulative sum over the bytes of the batch (comparisons, ``CUMSUM``,
``GATHER``: TFLite builtins; the bytes come from ``tf_text.ByteSplitter``, whose kernel LiteRT's tf-text
registrar provides). Offsets must lie on character boundaries (the tokenizer's always do).

Example::

    >>> import tensorflow as tf
    >>> cp, u16 = char_offsets(tf.constant(["é😀x"]), rows=tf.constant([0]), byte_offsets=tf.constant([6]))
    >>> int(cp[0]), int(u16[0])      # Python: "é😀x"[:2] == "é😀"; Kotlin: "é😀x".substring(0, 3)
    (2, 3)
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

__all__ = ["char_offsets"]


def char_offsets(strings, rows, byte_offsets):
    """Code point and UTF-16 offsets of UTF-8 ``byte_offsets`` into ``strings[rows]``.

    Args:
        strings: string [B].
        rows: int [K]: the string each offset points into.
        byte_offsets: int [K]: byte offsets, each in ``[0, len(strings[row])]`` on a character boundary.
    Returns:
        (code point offsets, UTF-16 offsets), both int64 [K].
    """
    strings = tf.convert_to_tensor(strings, tf.string)
    byte_rows = tf_text.ByteSplitter().split(strings)                     # ragged uint8 [B, (bytes)]
    b = tf.cast(byte_rows.flat_values, tf.int32)
    lead = tf.cast(tf.logical_or(b < 0x80, b >= 0xC0), tf.int64)          # first byte of a code point
    units = lead + tf.cast(b >= 0xF0, tf.int64)                           # 4-byte sequences: 2 UTF-16 units
    zero = tf.zeros([1], tf.int64)
    cp_before = tf.concat([zero, tf.cumsum(lead)], axis=0)                # [total bytes + 1]
    u16_before = tf.concat([zero, tf.cumsum(units)], axis=0)
    base = tf.gather(tf.cast(byte_rows.row_splits, tf.int64), tf.cast(rows, tf.int32))
    at = base + tf.cast(byte_offsets, tf.int64)
    return (tf.gather(cp_before, at) - tf.gather(cp_before, base),
            tf.gather(u16_before, at) - tf.gather(u16_before, base))
