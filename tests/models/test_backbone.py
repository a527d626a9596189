"""BertBackbone: dict contract, serialisation, padding, parameter counts, mixed precision, XLA.

Backend-agnostic (keras.ops and numpy only): tests/test_backends.py also runs this file under
KERAS_BACKEND=jax.
"""

import keras
import numpy as np
import pytest

from keras_bert_zoo import BertBackbone, BertConfig
from keras_bert_zoo.cli.info import count_params
from tests.conftest import TINY, packed_inputs


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_output_contract():
    model = BertBackbone(TINY)
    out = model(packed_inputs())
    assert set(out) == {"sequence_output", "pooled_output"}
    assert tuple(out["sequence_output"].shape) == (3, 7, 32)
    assert tuple(out["pooled_output"].shape) == (3, 32)
    assert keras.backend.standardize_dtype(out["sequence_output"].dtype) == "float32"


def test_attention_scores_option():
    model = BertBackbone(TINY, return_attention_scores=True)
    out = model(packed_inputs(pad_from=4))
    scores = _np(out["attention_scores"])
    assert scores.shape == (3, TINY.num_layers, TINY.num_heads, 7, 7)
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-5)
    assert np.all(scores[1, :, :, :, 4:] == 0.0)


@pytest.mark.parametrize("seq", [1, 5, 16])
def test_any_sequence_length_up_to_max(seq):
    out = BertBackbone(TINY)(packed_inputs(batch=2, seq=seq))
    assert tuple(out["sequence_output"].shape) == (2, seq, 32)


def test_round_trip_keras_file(tmp_path):
    model = BertBackbone(TINY, return_attention_scores=True)
    x = packed_inputs(pad_from=3)
    expected = model(x)
    path = tmp_path / "backbone.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert restored.config == TINY and restored.return_attention_scores
    got = restored(x)
    for key in expected:
        np.testing.assert_array_equal(_np(got[key]), _np(expected[key]))


def test_padding_never_leaks():
    model = BertBackbone(TINY)
    x = packed_inputs(batch=2, seq=5)
    base = model(x)
    padded = {k: np.concatenate([v, np.zeros((2, 6), "int32")], axis=1) for k, v in x.items()}
    # Garbage ids at padded positions must not matter either.
    padded["token_ids"][:, 5:] = 42
    padded["segment_ids"][:, 5:] = 1
    more = model(padded)
    np.testing.assert_allclose(_np(more["sequence_output"])[:, :5], _np(base["sequence_output"]), atol=1e-5)
    np.testing.assert_allclose(_np(more["pooled_output"]), _np(base["pooled_output"]), atol=1e-5)


def test_bert_base_parameter_count_matches_hf():
    # HF BertModel(bert-base-uncased) has 109,482,240 parameters (pooler included).
    assert BertBackbone("bert_base_uncased").count_params() == 109_482_240


@pytest.mark.parametrize("hidden", [128, 256, 512])
def test_small_bert_built_count_matches_formula(hidden):
    config = BertConfig.from_name(f"bert_uncased_L-2_H-{hidden}")
    assert BertBackbone(config).count_params() == count_params(config)


def test_published_small_bert_sizes():
    # Parameter counts of google/bert_uncased_L-*_H-* as loaded by HF BertModel (Tiny, Mini, Small, Medium).
    published = {"bert_uncased_L-2_H-128": 4_385_920, "bert_uncased_L-4_H-256": 11_170_560,
                 "bert_uncased_L-4_H-512": 28_763_648, "bert_uncased_L-8_H-512": 41_373_184}
    for name, n in published.items():
        assert count_params(BertConfig.from_name(name)) == n, name


def _fit_one_step(policy, jit_compile=False):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        backbone = BertBackbone(TINY)
        inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in ("token_ids", "segment_ids",
                                                                           "padding_mask")}
        pooled = backbone(inputs)["pooled_output"]
        logits = keras.layers.Dense(2, dtype="float32")(pooled)
        model = keras.Model(inputs, logits)
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit_compile)
        x = packed_inputs(batch=8, seq=7, pad_from=5)
        y = np.arange(8) % 2
        before = [_np(w).copy() for w in backbone.trainable_weights]
        history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        after = [_np(w) for w in backbone.trainable_weights]
        assert np.isfinite(history.history["loss"][-1])
        assert any(not np.array_equal(a, b) for a, b in zip(before, after))
        out = backbone(x)
        assert keras.backend.standardize_dtype(out["sequence_output"].dtype) == "float32"
        assert np.all(np.isfinite(_np(out["sequence_output"])))
        if policy != "float32":
            block = backbone.encoder_blocks[0]
            assert block.compute_dtype == policy.split("_")[1]
            assert block.attention_layer_norm.compute_dtype == "float32"
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_fit_step_under_mixed_precision(policy):
    _fit_one_step(policy)


def test_fit_with_jit_compile():
    _fit_one_step("float32", jit_compile=True)


def test_config_variants():
    assert BertBackbone("minilm_l6_h384_uncased").config.hidden_size == 384
    assert BertBackbone(TINY.to_dict()).config == TINY
    with pytest.raises(TypeError):
        BertBackbone(3)
