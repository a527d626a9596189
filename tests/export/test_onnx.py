"""ONNX extra: packed-ids model via tf2onnx, checked with onnxruntime; the raw-strings graph is blocked."""

import pytest

from keras_bert_zoo.export import onnx as onnx_export
from tests.export.conftest import SAMPLE_TEXTS


@pytest.mark.slow
def test_packed_onnx_matches_keras(tiny_task, tmp_path):
    report = onnx_export.export_onnx_packed(tiny_task, tmp_path / "tiny.onnx", SAMPLE_TEXTS)
    assert (tmp_path / "tiny.onnx").is_file() and not (tmp_path / "tiny.onnx.part").exists()
    assert report["probabilities"]["max_abs_diff"] <= 1e-4
    assert report["label_ids"]["agreement"] == 1.0


@pytest.mark.slow
def test_raw_strings_graph_is_blocked_by_tftext_ops(tiny_export):
    blockers = onnx_export.raw_strings_onnx_blockers(tiny_export.path)
    assert "FastWordpieceTokenizeWithOffsets" in blockers and "FastBertNormalize" in blockers


@pytest.mark.parametrize("module", ["tf2onnx", "onnxruntime"])
def test_missing_extra_names_the_install_command(monkeypatch, module):
    monkeypatch.setitem(__import__("sys").modules, module, None)     # None in sys.modules: import fails
    with pytest.raises(onnx_export.MissingOnnxExtraError, match=r"pip install 'keras_bert_zoo\[onnx\]'") as e:
        onnx_export.raw_strings_onnx_blockers("unused")
    assert isinstance(e.value, ImportError) and module in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(onnx_export.MissingOnnxExtraError):
        onnx_export.export_onnx_packed(None, "unused.onnx", ["unused"])
