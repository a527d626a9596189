"""Every public layer through the shared harness (tests/layers/harness.py: shapes, config and .keras round trips,
mixed-precision training steps, weight counts), then each layer's own behaviour.

Shapes from TINY (tests/conftest.py): odd sizes catch transposes that square shapes hide. Backend-agnostic: also
run under KERAS_BACKEND=jax by tests/test_backends.py.
"""

import keras
import numpy as np
import pytest

from keras_bert_zoo.layers import (BertEmbeddings, MaskedLMHead, MultiHeadSelfAttention, Pooler,
                                   TransformerEncoderBlock)
from keras_bert_zoo.layers.norm import float32_layer_norm
from tests.conftest import TINY
from tests.layers.harness import run_layer_test

B, T = 3, 7
D, N, I, V = TINY.hidden_size, TINY.num_heads, TINY.intermediate_size, TINY.vocab_size


def _ids(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, V, (B, T)).astype("int32"), (rng.random((B, T)) > 0.5).astype("int32")


def _hidden(seed=0):
    return np.random.default_rng(seed).normal(size=(B, T, D)).astype("float32")


def _mask():
    m = np.ones((B, T), "int32")
    m[1, 4:] = 0
    return m


def test_embeddings_harness():
    ids, seg = _ids()
    run_layer_test(BertEmbeddings, dict(vocab_size=V, hidden_size=D, dropout=0.1,
                                        max_position_embeddings=TINY.max_position_embeddings,
                                        type_vocab_size=TINY.type_vocab_size),
                   {"token_ids": ids, "segment_ids": seg}, (B, T, D),
                   expected_num_trainable_weights=5)  # token, segment, position, LayerNorm gamma + beta


@pytest.mark.parametrize("return_scores", [False, True])
def test_attention_harness(return_scores):
    run_layer_test(MultiHeadSelfAttention, dict(hidden_size=D, num_heads=N, dropout=0.1),
                   {"x": _hidden(), "padding_mask": _mask()},
                   ((B, T, D), (B, N, T, T)) if return_scores else (B, T, D),
                   call_kwargs={"return_scores": return_scores},
                   float32_outputs=[False, True] if return_scores else False,  # the probabilities stay float32
                   expected_num_trainable_weights=8)  # q, k, v, output: kernel + bias


def test_encoder_block_harness():
    run_layer_test(TransformerEncoderBlock, dict(hidden_size=D, num_heads=N, intermediate_size=I, dropout=0.1,
                                                 attention_dropout=0.1),
                   {"x": _hidden(), "padding_mask": _mask()}, (B, T, D),
                   expected_num_trainable_weights=16)  # attention 8, 2 LayerNorms 4, two dense 4 (XLA: the backbone's)


def test_pooler_harness():
    run_layer_test(Pooler, dict(hidden_size=D), {"sequence": _hidden()}, (B, D), expected_num_trainable_weights=2)


@pytest.mark.parametrize("positions", [False, True])
def test_masked_lm_head_harness(positions):
    data = {"sequence": _hidden()}
    if positions:
        data["mask_positions"] = np.array([[1, 3], [0, 2], [6, 6]], "int32")
    run_layer_test(MaskedLMHead, dict(vocab_size=V, hidden_size=D), data, (B, 2 if positions else T, V),
                   float32_outputs=True,  # logits
                   expected_num_trainable_weights=6)  # transform 2, LayerNorm 2, output kernel + bias


def test_float32_layer_norm_harness():
    # a factory, not a class: the harness round-trips the LayerNormalization it returns; its mixed-precision
    # contract (float32 whatever the policy) is the next test
    run_layer_test(float32_layer_norm, dict(epsilon=TINY.layer_norm_eps, name="layer_norm"), {"x": _hidden()},
                   (B, T, D), expected_num_trainable_weights=2, run_mixed_precision=False)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_float32_layer_norm_ignores_the_mixed_policy(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        norm = float32_layer_norm(1e-12, name="layer_norm")
        out = norm(keras.ops.cast(_hidden(), policy.split("_")[1]))
    finally:
        keras.config.set_dtype_policy(previous)
    assert norm.compute_dtype == "float32" and all(w.dtype == "float32" for w in norm.weights)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_masked_lm_head_shares_the_tied_embedding():
    embeddings = BertEmbeddings(V, D, max_position_embeddings=TINY.max_position_embeddings)
    ids, seg = _ids()
    sequence = embeddings(ids, seg)
    head = MaskedLMHead(V, D, token_embedding=embeddings.token_embedding)
    head(sequence)
    assert [w.name for w in head.trainable_weights if w.name == "output_kernel"] == []
    assert any(w is embeddings.token_embedding.embeddings for w in head.trainable_weights)


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
