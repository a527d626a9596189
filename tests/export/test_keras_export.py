"""``task.export(filepath, format=...)`` as a Keras user expects (issue 26): exactly at ``filepath``, Keras's
format names, never over an existing target unless ``overwrite=True``; TF Serving's layout by next_version_dir.
``ner.export("ner.tflite", format="tflite")`` is tests/export/test_tflite_spans.py's tagger fixture."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo import export
from keras_bert_zoo.export import tflite
from keras_bert_zoo.export.saved_model import ExportError
from tests.export.conftest import SAMPLE_TEXTS, keras_outputs


def test_export_my_model_is_a_saved_model_directory_there(tiny_task, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = tiny_task.export("my_model", fresh_process_check=False)         # clf.export("my_model")
    assert result.path.resolve() == tmp_path / "my_model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_model"]
    assert (tmp_path / "my_model" / "saved_model.pb").is_file()
    served = tf.saved_model.load("my_model").signatures["serving_default"](text=tf.constant(SAMPLE_TEXTS))
    np.testing.assert_allclose(served["probabilities"].numpy(), keras_outputs(tiny_task, SAMPLE_TEXTS)["probabilities"],
                               atol=1e-5)
    info = json.loads((tmp_path / "my_model" / "assets.extra" / "export_info.json").read_text())
    assert (info["name"], info["version"]) == ("my_model", None)
    # an existing target is an error naming it; nothing is replaced
    before = (tmp_path / "my_model" / "saved_model.pb").stat().st_mtime_ns
    with pytest.raises(ExportError, match=r"my_model already exists.*overwrite=True"):
        tiny_task.export("my_model", format="tf_saved_model", fresh_process_check=False)
    assert (tmp_path / "my_model" / "saved_model.pb").stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_model"]


def test_tflite_is_one_file_at_the_path_and_keras_names_work(tiny_task, tmp_path):
    path = tmp_path / "clf.tflite"
    result = tiny_task.export(path, format="litert", quantize="int8")          # Keras's name for TFLite
    assert result.path == path and sorted(p.name for p in tmp_path.iterdir()) == ["clf.tflite"]
    out = tflite.TFLiteRunner(path)("serving_default", text=SAMPLE_TEXTS[:3])
    assert out["label_names"].tolist() == keras_outputs(tiny_task, SAMPLE_TEXTS[:3])["label_names"].tolist()
    with pytest.raises(ExportError, match=f"{path} already exists"):
        tiny_task.export(path, format="tflite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clf.tflite"]          # no temporary files left


def test_path_without_the_file_suffix_is_refused_before_any_work(tiny_task, tmp_path):
    # ner.export("out/ner/1", format="tflite"): Keras's LiteRT export requires a .tflite path; so do we, and
    # nothing is written (formerly this wrote out/ner-tflite-fp32/1/model.tflite)
    with pytest.raises(ExportError, match=r"out/ner/1: format='tflite' writes one file, and its path must end "
                                          r"with '\.tflite' \(e\.g\. .*out/ner/1\.tflite\)") as err:
        tiny_task.export(tmp_path / "out" / "ner" / "1", format="tflite")
    assert "\n" not in str(err.value) and list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError, match=r"must end with '\.onnx'"):
        tiny_task.export(tmp_path / "model", format="onnx")
    with pytest.raises(ExportError, match=r"writes a SavedModel directory; for a \.tflite file pass "
                                          r"format='tflite'"):
        tiny_task.export(tmp_path / "ner.tflite")
    with pytest.raises(ExportError, match=r"format must be one of \['litert', 'onnx', 'saved_model', "
                                          r"'tf_saved_model', 'tflite'\], got 'h5'"):
        tiny_task.export(tmp_path / "m", format="h5")
    with pytest.raises(ExportError, match=r"quantize='int8' applies to format='tflite' \(or 'litert'\) only"):
        tiny_task.export(tmp_path / "m", quantize="int8")
    assert list(tmp_path.iterdir()) == []


def test_export_format_names():
    assert [export.export_format(f) for f in ("tf_saved_model", "saved_model", "litert", "tflite", "onnx")] == [
        "saved_model", "saved_model", "tflite", "tflite", "onnx"]


def test_next_version_dir_is_the_tf_serving_layout(tmp_path):
    assert export.next_version_dir(tmp_path, "sentiment") == tmp_path / "sentiment" / "1"
    (tmp_path / "sentiment" / "1").mkdir(parents=True)
    (tmp_path / "sentiment" / "7").mkdir()
    (tmp_path / "sentiment" / ".7.tmp").mkdir()                # a temporary directory is not a version
    assert export.next_version_dir(tmp_path, "sentiment") == tmp_path / "sentiment" / "8"
    with pytest.raises(ExportError, match="bad model name"):
        export.next_version_dir(tmp_path, "a/b")


def test_a_version_directory_names_the_warmup_requests(tiny_export):
    # <root>/<name>/<version>: the warm-up requests carry TF Serving's model name and version
    from keras_bert_zoo.export import warmup

    assert {(r.model_spec.name, r.model_spec.version.value) for r in warmup.read_warmup_requests(tiny_export.path)} \
        == {("tiny", 3)}


@pytest.mark.slow
def test_onnx_and_overwrite(tiny_task, tmp_path):
    path = tmp_path / "clf.onnx"
    result = tiny_task.export(path, format="onnx")
    assert result.path == path and result.verification["probabilities"]["max_abs_diff"] <= 1e-4
    with pytest.raises(ExportError, match="already exists"):
        tiny_task.export(path, format="onnx")
    first = path.stat().st_ino
    tiny_task.export(path, format="onnx", overwrite=True)
    assert path.stat().st_ino != first and sorted(p.name for p in tmp_path.iterdir()) == ["clf.onnx"]


@pytest.fixture(scope="module")
def keras_int8_task(vocab):
    from tests.export.conftest import make_task

    task = make_task(vocab, seed=4)
    task.quantize("int8", filters=lambda layer: layer.built)     # the preprocessor is never "built": filtered out
    return task


def test_keras_quantize_needs_a_filter_and_tflite_refuses_its_result(vocab, keras_int8_task, tmp_path):
    """Keras's quantize("int8") on our task (docs/notes/issue-26.md): without a filter it stops at the tokenizer
    (after quantizing some layers); with one it quantizes every Dense and Embedding; TFLite refuses the result in
    one line, before converting (the converter has no kernel for its int8 activations)."""
    from tests.export.conftest import make_task

    with pytest.raises(ValueError, match="Cannot quantize a layer that isn't yet built.*word_piece_tokenizer"):
        make_task(vocab, seed=4).quantize("int8")
    assert any(str(v.dtype) == "int8" for v in keras_int8_task.weights)
    with pytest.raises(ExportError, match=r"quantized with Keras's quantize\(\) \(\d+ int8 weights, e\.g\. .*\), "
                                          r"which TFLite cannot convert: export the float task with "
                                          r"format='tflite', quantize='int8'") as err:
        keras_int8_task.export(tmp_path / "q.tflite", format="tflite")
    assert "\n" not in str(err.value) and list(tmp_path.iterdir()) == []


@pytest.mark.slow      # a SavedModel export (~30 s on 2 shared cores)
def test_a_keras_quantized_task_serves_as_a_saved_model(keras_int8_task, tmp_path):
    result = keras_int8_task.export(tmp_path / "sm", fresh_process_check=False)
    assert result.verification["in_process"]["serving_default"]["label_names"]["agreement"] == 1.0
