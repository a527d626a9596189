"""BertBackbone: the shared layer harness (shapes, config and .keras round trips, mixed precision, XLA), then
the dict contract's promises (masking, padding, any length), parameter counts against HF and the configs.

Backend-agnostic (keras.ops and numpy only): tests/test_backends.py also runs this file under
KERAS_BACKEND=jax.
"""

import keras
import numpy as np
import pytest

from keras_bert_zoo import BertBackbone, BertConfig
from keras_bert_zoo.cli.info import count_params
from tests.conftest import TINY, packed_inputs
from tests.layers.harness import run_layer_test


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_backbone_harness():
    L, N, D = TINY.num_layers, TINY.num_heads, TINY.hidden_size
    run_layer_test(BertBackbone, dict(config=TINY, return_attention_scores=True), packed_inputs(pad_from=4),
                   {"sequence_output": (3, 7, D), "pooled_output": (3, D), "attention_scores": (3, L, N, 7, 7)},
                   float32_outputs=True,  # the dict contract: float32 outputs under any policy
                   expected_num_trainable_weights=5 + 16 * L + 2,  # embeddings, L blocks, pooler
                   run_jit_compile=True)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_policy_is_the_backbones_and_survives_a_keras_file(tmp_path, policy):
    # Keras's functional Model.__init__ drops ``dtype``; the backbone used to report float32 (and reload as
    # float32) while its layers computed in float16, so heads copying ``backbone.dtype_policy`` ran in float32
    backbone = BertBackbone(TINY, dtype=policy)
    assert backbone.dtype_policy.name == policy
    backbone.save(tmp_path / "backbone.keras")
    restored = keras.saving.load_model(tmp_path / "backbone.keras", safe_mode=True)
    assert restored.dtype_policy.name == policy
    assert restored.encoder_blocks[0].compute_dtype == policy.split("_")[1]
    x = packed_inputs()
    np.testing.assert_array_equal(_np(restored(x)["sequence_output"]), _np(backbone(x)["sequence_output"]))
    assert BertBackbone(TINY).dtype_policy.name == keras.config.dtype_policy().name


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


def test_config_variants():
    assert BertBackbone("minilm_l6_h384_uncased").config.hidden_size == 384
    assert BertBackbone(TINY.to_dict()).config == TINY
    with pytest.raises(TypeError):
        BertBackbone(3)
