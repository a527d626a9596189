"""TFLite export: raw strings in, tf-text kernels via LiteRT, any batch size, quantizations, Flex check."""

import json

import numpy as np
import pytest

from keras_bert_zoo.export import ops as ops_lib
from keras_bert_zoo.export import tflite, verify
from tests.export.conftest import SAMPLE_PAIRS, SAMPLE_TEXTS, keras_outputs, make_task


@pytest.fixture(scope="module")
def fp32(tiny_task, tmp_path_factory):
    return tflite.export_tflite(tiny_task, tmp_path_factory.mktemp("tfl") / "tiny.tflite", SAMPLE_TEXTS)


def test_fp32_export_is_the_one_file_at_the_path_and_report(fp32):
    assert fp32.path.name == "tiny.tflite" and fp32.path.is_file()
    assert sorted(p.name for p in fp32.path.parent.iterdir()) == ["tiny.tflite"]   # no temporary files left
    assert fp32.size_bytes == fp32.path.stat().st_size
    assert {"FastBertNormalize", "FastWordpieceTokenizeWithOffsets"} <= set(fp32.custom_ops)
    assert set(fp32.custom_ops) <= ops_lib.TFLITE_TFTEXT_KERNELS           # no Flex, nothing unresolved
    info = json.loads(json.dumps(fp32.info, default=str))
    assert not info["flex"] and set(info["signatures"]) == {"serving_default", "preprocess"}
    for batch in ("batch_all", "batch_1"):
        assert info["verification"][batch]["preprocess"]["token_ids"]["agreement"] == 1.0
        assert info["verification"][batch]["serving_default"]["probabilities"]["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("batch", [1, 3, 17])
def test_any_batch_size_matches_keras(fp32, tiny_task, batch):
    texts = [SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)] + " dog" * (i % 4) for i in range(batch)]
    runner = tflite.TFLiteRunner(fp32.path)
    out = runner("serving_default", text=texts)
    ref = keras_outputs(tiny_task, texts)
    assert set(out) == set(ref)
    assert out["label_ids"].tolist() == ref["label_ids"].tolist()
    assert out["label_names"].tolist() == ref["label_names"].tolist()
    np.testing.assert_allclose(out["probabilities"], ref["probabilities"], atol=1e-4)
    ids = runner("preprocess", text=texts)
    ref_ids = verify.reference_outputs(tiny_task, {"text": texts})["preprocess"]
    for k in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(ids[k], ref_ids[k])


def test_tokenizer_needs_the_tftext_kernels(fp32):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(fp32.path))
    with pytest.raises(RuntimeError, match="FastBertNormalize|FastWordpiece|unresolved custom op"):
        interp.get_signature_runner("serving_default")(text=np.array([b"the dog"]))


@pytest.mark.parametrize("quantize", [pytest.param("full_int8", marks=pytest.mark.slow), pytest.param("fp16", marks=pytest.mark.slow),
                                      pytest.param("int8", marks=pytest.mark.slow)])
def test_quantized_exports_verify(tiny_task, tmp_path, quantize, fp32):
    result = tflite.export_tflite(tiny_task, tmp_path / f"tiny-{quantize}.tflite", SAMPLE_TEXTS, quantize=quantize,
                                  representative_texts=SAMPLE_TEXTS * 2)
    assert result.info["quantize"] == quantize
    rep = result.verification["batch_all"]
    assert rep["preprocess"]["token_ids"]["agreement"] == 1.0            # tokenization is never quantized
    assert rep["serving_default"]["probabilities"]["max_abs_diff"] <= verify.TOLERANCES[quantize].float_atol
    builtins, _ = ops_lib.tflite_model_ops(result.path.read_bytes())
    if quantize == "full_int8":
        assert "QUANTIZE" in builtins or "DEQUANTIZE" in builtins


def _op_output_dtypes(model_bytes, op_name):
    """Output tensor types of every ``op_name`` operator in any subgraph of the flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    m = schema.Model.GetRootAsModel(model_bytes, 0)
    code = getattr(schema.BuiltinOperator, op_name)
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    out = set()
    for g in range(m.SubgraphsLength()):
        sub = m.Subgraphs(g)
        for o in range(sub.OperatorsLength()):
            op = sub.Operators(o)
            oc = m.OperatorCodes(op.OpcodeIndex())
            if max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()) == code:
                out.update(types[sub.Tensors(op.Outputs(i)).Type()] for i in range(op.OutputsLength()))
    return out


@pytest.mark.slow
def test_full_int8_keeps_layernorm_and_residual_float_unless_asked(tiny_task, tmp_path):
    # 11 calibration texts: not a multiple of the calibration batch (8) — the last batch must be filled up
    default = tflite.export_tflite(tiny_task, tmp_path / "a.tflite", SAMPLE_TEXTS, quantize="full_int8",
                                   representative_texts=SAMPLE_TEXTS + SAMPLE_TEXTS[:3])
    assert default.info["full_int8_float_ops"] == list(tflite.FULL_INT8_FLOAT_OPS)
    model = default.path.read_bytes()
    assert _op_output_dtypes(model, "RSQRT") == {"float32"}             # LayerNorm stays float
    assert "int8" in _op_output_dtypes(model, "FULLY_CONNECTED")        # the matmuls are int8
    everything = tflite.export_tflite(tiny_task, tmp_path / "b.tflite", SAMPLE_TEXTS, quantize="full_int8",
                                      representative_texts=SAMPLE_TEXTS * 2, full_int8_float_ops=(),
                                      tolerance=verify.Tolerance(1.0, 0.0))
    assert "int8" in _op_output_dtypes(everything.path.read_bytes(), "RSQRT")


def test_full_int8_rejects_unknown_float_op_names(tiny_task, tmp_path):
    with pytest.raises(tflite.ExportError, match="LAYER_NORM.*not TFLite builtin op names"):
        tflite.export_tflite(tiny_task, tmp_path / "tiny.tflite", SAMPLE_TEXTS, quantize="full_int8",
                             full_int8_float_ops=("MEAN", "LAYER_NORM"))
    assert list(tmp_path.iterdir()) == []


def test_missing_litert_is_one_line_before_converting(tiny_task, tmp_path, monkeypatch):
    # a fresh `pip install -e '.[demo]'` lacked ai-edge-litert: the demo converted for a minute, then recorded
    # "ModuleNotFoundError: No module named 'ai_edge_litert'"; now the export says what to install, at once
    import sys

    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(tflite.ExportError, match=r"ai-edge-litert is not installed: pip install "
                                                 r"'keras_bert_zoo\[litert\]'") as err:
        tflite.export_tflite(tiny_task, tmp_path / "tiny.tflite", SAMPLE_TEXTS)
    assert "\n" not in str(err.value) and list(tmp_path.iterdir()) == []          # nothing written


def test_the_demo_extra_brings_litert():
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert "litert" in extras["demo"][0] and "ai-edge-litert" in extras["litert"]


@pytest.mark.slow   # the default run covers atomic failure through the SavedModel tests
def test_failed_tflite_verification_leaves_nothing(tiny_task, tmp_path):
    with pytest.raises(verify.VerificationError, match="probabilities"):
        tflite.export_tflite(tiny_task, tmp_path / "tiny.tflite", SAMPLE_TEXTS, quantize="int8",
                             tolerance=verify.Tolerance(0.0, 1.0))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_pair_task_tflite(vocab, tmp_path):
    task = make_task(vocab, pair=True, num_classes=2, seed=1)
    result = tflite.export_tflite(task, tmp_path / "pair.tflite", SAMPLE_TEXTS, SAMPLE_PAIRS)
    out = tflite.TFLiteRunner(result.path)("serving_default", text=SAMPLE_TEXTS[:2], text_pair=SAMPLE_PAIRS[:2])
    ref = keras_outputs(task, SAMPLE_TEXTS[:2], SAMPLE_PAIRS[:2])
    np.testing.assert_allclose(out["probabilities"], ref["probabilities"], atol=1e-4)


@pytest.mark.slow
def test_multi_label_needs_flex(vocab, tmp_path):
    """Multi-label names are joined with tf.strings.reduce_join: no TFLite kernel. The check says so before
    anything is written. With flex=True the conversion works, but no Python interpreter here has the Flex
    delegate, so the export cannot be verified and is refused (nothing written)."""
    from keras_bert_zoo.export.saved_model import ExportError

    task = make_task(vocab, multi_label=True, seed=2)
    with pytest.raises(ops_lib.OpCompatibilityError, match="UnsortedSegmentJoin"):
        tflite.export_tflite(task, tmp_path / "ml.tflite", SAMPLE_TEXTS)
    with pytest.raises(ExportError, match="no Flex delegate"):
        tflite.export_tflite(task, tmp_path / "ml.tflite", SAMPLE_TEXTS, flex=True)
    with pytest.raises(ops_lib.OpCompatibilityError):         # the directories it would have made are not left
        tflite.export_tflite(task, tmp_path / "ml-tflite-fp32" / "1" / "model.tflite", SAMPLE_TEXTS)
    assert not any(tmp_path.iterdir())
