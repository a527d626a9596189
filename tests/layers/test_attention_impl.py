"""The fused attention path (keras.ops.dot_product_attention) computes what the explicit one does.

Runs on the TF backend in the default suite and on JAX through tests/test_backends.py (where "auto" takes the
fused kernel)."""

import keras
import numpy as np
import pytest

from keras_bert_zoo.layers.attention import MultiHeadSelfAttention


def _pair(dropout=0.1, dtype=None):
    explicit = MultiHeadSelfAttention(32, 4, dropout=dropout, implementation="explicit", dtype=dtype)
    fused = MultiHeadSelfAttention(32, 4, dropout=dropout, implementation="fused", dtype=dtype)
    x = np.random.default_rng(0).normal(size=(3, 7, 32)).astype("float32")
    explicit(x)
    fused(x)
    fused.set_weights(explicit.get_weights())
    mask = np.ones((3, 7), "int32")
    mask[1, 4:] = 0
    mask[2, 1:] = 0
    return explicit, fused, x, mask


def test_fused_equals_explicit_at_inference():
    explicit, fused, x, mask = _pair()
    assert fused.uses_fused(training=False) and not explicit.uses_fused(training=False)
    for m in (mask, None):
        want = keras.ops.convert_to_numpy(explicit(x, padding_mask=m, training=False))
        got = keras.ops.convert_to_numpy(fused(x, padding_mask=m, training=False))
        np.testing.assert_allclose(got, want, atol=2e-6, rtol=1e-5)


def test_fused_gradients_equal_explicit_without_dropout():
    explicit, fused, x, mask = _pair(dropout=0.0)
    assert fused.uses_fused(training=True)
    want = keras.ops.convert_to_numpy(explicit(x, padding_mask=mask, training=True))
    got = keras.ops.convert_to_numpy(fused(x, padding_mask=mask, training=True))
    np.testing.assert_allclose(got, want, atol=2e-6, rtol=1e-5)


def test_dropout_or_scores_take_the_explicit_path():
    _, fused, x, mask = _pair(dropout=0.1)
    assert not fused.uses_fused(training=True)             # dropout on the probabilities needs them
    assert not fused.uses_fused(training=False, return_scores=True)
    out, probs = fused(x, padding_mask=mask, return_scores=True)
    assert tuple(probs.shape) == (3, 4, 7, 7)


def test_auto_is_explicit_on_tensorflow_fused_elsewhere():
    layer = MultiHeadSelfAttention(32, 4)
    assert layer.uses_fused(training=False) == (keras.backend.backend() in ("jax", "torch"))


def test_bfloat16_fused_close_to_explicit():
    explicit, fused, x, mask = _pair(dtype="mixed_bfloat16")
    want = keras.ops.convert_to_numpy(keras.ops.cast(explicit(x, padding_mask=mask), "float32"))
    got = keras.ops.convert_to_numpy(keras.ops.cast(fused(x, padding_mask=mask), "float32"))
    np.testing.assert_allclose(got, want, atol=3e-2)


def test_implementation_is_validated_and_serialised():
    with pytest.raises(ValueError, match="implementation"):
        MultiHeadSelfAttention(32, 4, implementation="flash")
    layer = MultiHeadSelfAttention(32, 4, implementation="explicit")
    assert MultiHeadSelfAttention.from_config(layer.get_config()).implementation == "explicit"


def test_precomputed_projection_is_used_inside_the_block_only():
    layer, _, x, mask = _pair(dropout=0.0)
    want = keras.ops.convert_to_numpy(layer(x, padding_mask=mask))
    kernel, bias = (keras.ops.convert_to_numpy(t) for t in layer.fused_projection())
    assert kernel.shape == (32, 96) and bias.shape == (96,)
    np.testing.assert_array_equal(kernel[:, 32:64], keras.ops.convert_to_numpy(layer.key.kernel))
    with layer.precomputed_projection(kernel, bias):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, padding_mask=mask)), want)
        with layer.precomputed_projection(np.zeros_like(kernel), np.zeros_like(bias)):   # the pair is what runs
            assert not np.allclose(keras.ops.convert_to_numpy(layer(x, padding_mask=mask)), want)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, padding_mask=mask)), want)
    # outside the block the layer follows its Dense variables again (a training step changes them)
    layer.query.kernel.assign(layer.query.kernel * 2.0)
    assert not np.allclose(keras.ops.convert_to_numpy(layer(x, padding_mask=mask)), want)
    with pytest.raises(ValueError, match=r"expected kernel \(32, 96\) and bias \(96,\), got \(32, 64\)"):
        with layer.precomputed_projection(kernel[:, :64], bias):
            pass
