"""UTF-8 byte offsets -> code point and UTF-16 offsets in the graph (the TFLite span outputs' units)."""

import numpy as np
import tensorflow as tf

from keras_bert_zoo.text.offsets import char_offsets


def test_char_offsets_count_code_points_and_utf16_units():
    texts = ["é😀x", "", "李明 ok 😀😀", "e\u0301"]
    rows, offsets, want_cp, want_16 = [], [], [], []
    for r, t in enumerate(texts):
        for cp in range(len(t) + 1):
            rows.append(r)
            offsets.append(len(t[:cp].encode("utf-8")))
            want_cp.append(cp)
            want_16.append(len(t[:cp].encode("utf-16-le")) // 2)
    cp, u16 = char_offsets(tf.constant(texts), tf.constant(rows), tf.constant(offsets))
    assert cp.dtype == tf.int64 and cp.numpy().tolist() == want_cp and u16.numpy().tolist() == want_16
    none = char_offsets(tf.constant(texts), tf.zeros([0], tf.int32), tf.zeros([0], tf.int64))
    assert [np.asarray(v).shape for v in none] == [(0,), (0,)]
