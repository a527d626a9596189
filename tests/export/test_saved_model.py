"""SavedModel export: TF Serving layout, signatures, warm-up, verification, fresh-process load, atomicity."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.export import ops as ops_lib
from keras_bert_zoo.export import saved_model as sm
from keras_bert_zoo.export import serving_requests as sr
from keras_bert_zoo.export import verify, warmup
from tests.export.conftest import SAMPLE_PAIRS, SAMPLE_TEXTS, keras_outputs


@pytest.fixture(scope="module")
def exported(tiny_export):
    return tiny_export


def test_layout_and_verification_report(exported):
    path = exported.path
    assert path.name == "3" and path.parent.name == "tiny"
    assert (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    assert (path / warmup.WARMUP_FILE).is_file()
    # nothing else left next to the version (no temporary directories)
    assert sorted(p.name for p in path.parent.iterdir()) == ["3"]
    for where in ("in_process", "fresh_process"):
        report = exported.verification[where]
        assert report["preprocess"]["token_ids"]["agreement"] == 1.0
        assert report["serving_default"]["probabilities"]["max_abs_diff"] <= verify.TOLERANCES["saved_model"].float_atol
        assert report["serving_packed"]["label_names"]["agreement"] == 1.0
    info = json.loads((path / "assets.extra" / "export_info.json").read_text())
    assert {"FastBertNormalize", "FastWordpieceTokenizeWithOffsets"} <= set(info["tftext_ops"])
    assert set(info["signatures"]) == {"serving_default", "serving_packed", "preprocess"}


def test_signatures_match_keras(exported, tiny_task):
    loaded = tf.saved_model.load(str(exported.path))
    out = loaded.signatures["serving_default"](text=tf.constant(SAMPLE_TEXTS))
    ref = keras_outputs(tiny_task, SAMPLE_TEXTS)
    assert set(out) == set(ref) == {"logits", "probabilities", "label_ids", "label_names", "score"}
    assert ref["label_names"].tolist() == out["label_names"].numpy().tolist()
    np.testing.assert_allclose(ref["probabilities"], out["probabilities"].numpy(), atol=1e-5)
    # other batch sizes than the samples'
    one = loaded.signatures["serving_default"](text=tf.constant(["the dog"]))
    assert one["probabilities"].shape == (1, 3)
    packed = loaded.signatures["preprocess"](text=tf.constant(["the dog", "fox"]))
    assert packed["token_ids"].numpy()[0, :4].tolist() == [2, 5, 13, 3]


def test_saved_model_cli_lists_signatures(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    out = subprocess.run([cli, "show", "--dir", str(exported.path), "--all"], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    for sig in ("signature_def['serving_default']", "signature_def['serving_packed']", "signature_def['preprocess']"):
        assert sig in text
    assert "inputs['text'] tensor_info:" in text and "dtype: DT_STRING" in text
    assert "outputs['label_names'] tensor_info:" in text
    assert "inputs['token_ids'] tensor_info:" in text


def test_warmup_requests_are_valid_and_run(exported):
    requests = warmup.read_warmup_requests(exported.path)
    assert [r.inputs["text"].tensor_shape.dim[0].size for r in requests] == [1, 8]
    spec = sr.signature_spec(exported.path, "serving_default")
    loaded = tf.saved_model.load(str(exported.path))
    for r in requests:
        assert r.model_spec.name == "tiny" and r.model_spec.version.value == 3
        arrays = sr.request_to_tensors(spec, r)
        out = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in arrays.items()})
        assert out["label_ids"].shape[0] == len(arrays["text"])


def test_existing_version_is_refused(exported, tiny_task):
    with pytest.raises(sm.ExportError, match="already exists"):
        sm.export_saved_model(tiny_task, exported.path, SAMPLE_TEXTS)
    with pytest.raises(sm.ExportError, match="positive integer"):
        sm.version_dir("/tmp", "tiny", 0)
    with pytest.raises(sm.ExportError, match="bad model name"):
        sm.version_dir("/tmp", "a/b", 1)


def test_failed_op_check_leaves_no_version_dir(tiny_task, tmp_path):
    # A TF Serving build without tf-text ops (e.g. a custom server that dropped ops_lib).
    no_text = ops_lib.Target(name="a server without tf-text", custom_ops=frozenset(), any_tf_op=True)
    with pytest.raises(ops_lib.OpCompatibilityError, match="FastWordpieceTokenizeWithOffsets"):
        sm.export_saved_model(tiny_task, tmp_path / "tiny" / "1", SAMPLE_TEXTS, target=no_text,
                              fresh_process_check=False)
    assert list((tmp_path / "tiny").iterdir()) == []


def test_failed_verification_leaves_no_version_dir(tiny_task, tmp_path):
    # An impossible tolerance: verification must fail, and the half-made export must disappear.
    with pytest.raises(verify.VerificationError, match="probabilities"):
        sm.export_saved_model(tiny_task, tmp_path / "tiny" / "1", SAMPLE_TEXTS, tolerance=verify.Tolerance(-1.0),
                              fresh_process_check=False)
    assert list((tmp_path / "tiny").iterdir()) == []


def test_sample_feed_errors(tiny_task, tiny_pair_task):
    with pytest.raises(sm.ExportError, match="single string"):
        sm.sample_feed(tiny_task, "one text")
    with pytest.raises(sm.ExportError, match=r"takes inputs \['text', 'text_pair'\]; give the sample inputs as a dict"):
        sm.sample_feed(tiny_pair_task, SAMPLE_TEXTS)
    with pytest.raises(sm.ExportError, match="do not match the task's inputs"):
        sm.sample_feed(tiny_pair_task, {"text": SAMPLE_TEXTS})
    feed = sm.sample_feed(tiny_pair_task, {"text": SAMPLE_TEXTS, "text_pair": SAMPLE_PAIRS})
    assert feed == {"text": SAMPLE_TEXTS, "text_pair": SAMPLE_PAIRS}
    with pytest.raises(sm.ExportError, match="single text input"):
        sm.sample_feed(tiny_task, SAMPLE_TEXTS, SAMPLE_PAIRS)


@pytest.mark.slow
def test_pair_task_export(tiny_pair_task, tmp_path):
    result = sm.export_saved_model(tiny_pair_task, tmp_path / "pair", SAMPLE_TEXTS, SAMPLE_PAIRS)
    spec = sr.signature_spec(result.path, "serving_default")
    assert sorted(spec.inputs) == ["text", "text_pair"]
    assert result.verification["fresh_process"]["preprocess"]["segment_ids"]["agreement"] == 1.0


def test_fresh_process_check_with_a_relative_path(exported, monkeypatch):
    """`bert-zoo demo` exports under the relative ``saved_models/``; the fresh process runs in a temporary
    directory, so the path handed to it must not stay relative (this failed the README's main command)."""
    monkeypatch.chdir(exported.path.parent.parent)
    relative = os.path.join(exported.path.parent.name, exported.path.name)
    out = verify.run_in_fresh_process(relative, {verify.PREPROCESS_SIGNATURE: {"text": SAMPLE_TEXTS[:2]}})
    assert out[verify.PREPROCESS_SIGNATURE]["token_ids"].shape[0] == 2


def test_serving_graph_holds_the_fused_projection_and_does_not_concatenate_per_request(tiny_task):
    """The exported graphs capture one [D, 3D] query/key/value kernel per layer (computed at export), not the
    three Dense kernels concatenated on every request; the task itself is left as it was."""
    module = sm.ServingModule(tiny_task)
    hidden = tiny_task.backbone.config.hidden_size
    layers = tiny_task.backbone.config.num_layers
    for name in ("serving_default", "serving_packed"):
        fn = module.signatures[name]
        shapes = [tuple(v.shape) for v in fn.variables]
        assert shapes.count((hidden, 3 * hidden)) == layers, name
        assert not [v.name for v in fn.variables if "query/" in v.name or "key/" in v.name], name
        concats = [op for op in fn.graph.get_operations() if op.type == "ConcatV2"]
        assert not [op.name for op in concats if any(t.op.type == "ReadVariableOp" for t in op.inputs)], name
    from keras_bert_zoo.layers.attention import MultiHeadSelfAttention

    attention = [layer for layer in tiny_task._flatten_layers() if isinstance(layer, MultiHeadSelfAttention)]
    assert len(attention) == layers and all(layer._precomputed_projection is None for layer in attention)
