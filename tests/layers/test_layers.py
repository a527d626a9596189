"""Every public layer serialises (get_config/from_config and a .keras file) with identical outputs.

Backend-agnostic: also run under KERAS_BACKEND=jax by tests/test_backends.py.
"""

import keras
import numpy as np
import pytest

from keras_bert_zoo.layers import (BertEmbeddings, MaskedLMHead, MultiHeadSelfAttention, Pooler,
                                   TransformerEncoderBlock)

B, T, D, N, I, V = 3, 7, 32, 4, 37, 99


def _ids(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, V, (B, T)).astype("int32"), (rng.random((B, T)) > 0.5).astype("int32")


def _hidden(seed=0):
    return np.random.default_rng(seed).normal(size=(B, T, D)).astype("float32")


def _mask():
    m = np.ones((B, T), "int32")
    m[1, 4:] = 0
    return m


def _cases():
    ids, seg = _ids()
    return [
        ("embeddings", lambda: BertEmbeddings(V, D, max_position_embeddings=16, type_vocab_size=2, dropout=0.1),
         [keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")], [ids, seg], {}),
        ("attention", lambda: MultiHeadSelfAttention(D, N, dropout=0.1),
         [keras.Input((None, D)), keras.Input((None,), dtype="int32")], [_hidden(), _mask()], "mask"),
        ("block", lambda: TransformerEncoderBlock(D, N, I, dropout=0.1, attention_dropout=0.1),
         [keras.Input((None, D)), keras.Input((None,), dtype="int32")], [_hidden(), _mask()], "mask"),
        ("pooler", lambda: Pooler(D), [keras.Input((None, D))], [_hidden()], {}),
        ("mlm_head", lambda: MaskedLMHead(V, D), [keras.Input((None, D))], [_hidden()], {}),
    ]


def _wrap(layer, inputs, mode):
    if mode == "mask":
        out = layer(inputs[0], padding_mask=inputs[1])
    else:
        out = layer(*inputs)
    return keras.Model(inputs, out)


@pytest.mark.parametrize("name,make,inputs,values,mode", _cases(), ids=[c[0] for c in _cases()])
def test_layer_round_trips_through_keras_file(tmp_path, name, make, inputs, values, mode):
    layer = make()
    model = _wrap(layer, inputs, mode)
    expected = keras.ops.convert_to_numpy(model(values))
    # get_config carries every constructor argument.
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    got = keras.ops.convert_to_numpy(restored(values))
    np.testing.assert_array_equal(got, expected)


def test_attention_masks_padded_keys_and_returns_scores():
    layer = MultiHeadSelfAttention(D, N, dropout=0.0)
    x, mask = _hidden(), _mask()
    out, scores = layer(x, padding_mask=mask, return_scores=True)
    scores = keras.ops.convert_to_numpy(scores)
    assert scores.shape == (B, N, T, T)
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-5)
    assert np.all(scores[1, :, :, 4:] == 0.0)
    # Changing what sits at padded positions changes nothing at real positions.
    x2 = x.copy()
    x2[1, 4:] = 123.0
    out2 = layer(x2, padding_mask=mask)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out2)[1, :4], keras.ops.convert_to_numpy(out)[1, :4],
                               atol=1e-5)


def test_attention_dropout_only_in_training():
    layer = MultiHeadSelfAttention(D, N, dropout=0.5)
    x = _hidden()
    a = keras.ops.convert_to_numpy(layer(x, training=False))
    b = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_array_equal(a, b)
    c = keras.ops.convert_to_numpy(layer(x, training=True))
    assert not np.allclose(a, c)


def test_gelu_is_exact_erf():
    from keras_bert_zoo.layers.encoder_block import activation_fn
    from math import erf, sqrt

    xs = np.linspace(-4, 4, 17).astype("float32")
    got = keras.ops.convert_to_numpy(activation_fn("gelu")(xs))
    want = np.array([x * 0.5 * (1 + erf(x / sqrt(2))) for x in xs], "float32")
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_bad_head_count():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(30, 4)
