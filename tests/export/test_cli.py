"""`bert-zoo export` on a saved task directory."""

import json

import pytest

from tests.cli.runner import bert_zoo
from tests.export.conftest import SAMPLE_TEXTS


@pytest.fixture(scope="module")
def saved_task(tiny_task, tmp_path_factory):
    path = tmp_path_factory.mktemp("task") / "tiny_task.keras"
    tiny_task.save(path)
    return path


def _run(args, cwd):
    return bert_zoo("export", *args, cwd=cwd)


@pytest.mark.slow   # ~80 s on 2 shared cores: a subprocess import + save + convert + verify
def test_cli_tflite_int8(saved_task, tmp_path):
    samples = tmp_path / "samples.txt"
    samples.write_text("\n".join(SAMPLE_TEXTS), encoding="utf-8")
    out = _run(["--model", str(saved_task), "--format", "tflite", "--quantize", "int8", "--name", "tiny",
                "--version", "2", "--out", str(tmp_path / "exports"), "--samples_file", str(samples)], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    assert summary["path"].endswith("tiny-tflite-int8/2/model.tflite")
    info = json.loads((tmp_path / "exports" / "tiny-tflite-int8" / "2" / "export_info.json").read_text())
    assert info["quantize"] == "int8" and info["size_bytes"] == summary["size_bytes"]
    assert summary["verification"]["batch_1"]["preprocess"]["token_ids"]["agreement"] == 1.0
    # the same version again is refused, and nothing is replaced
    again = _run(["--model", str(saved_task), "--format", "tflite", "--quantize", "int8", "--name", "tiny",
                  "--version", "2", "--root", str(tmp_path / "exports")], tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr


@pytest.mark.slow
def test_cli_tolerance_override_is_applied_and_reported(saved_task, tmp_path):
    out = _run(["--model", str(saved_task), "--format", "tflite", "--quantize", "int8", "--name", "tiny",
                "--out", str(tmp_path / "exports"), "--float_atol", "0", "--min_agreement", "1"], tmp_path)
    assert out.returncode != 0
    assert "tolerance overridden: Tolerance(float_atol=0.0, min_agreement=1.0" in out.stderr
    assert "probabilities: max abs diff" in out.stderr and "> 0" in out.stderr
    assert not (tmp_path / "exports" / "tiny-tflite-int8").exists()       # nothing left, not even a version


@pytest.mark.slow
def test_cli_saved_model(saved_task, tmp_path):
    out = _run(["--model", str(saved_task), "--format", "saved_model", "--name", "tiny", "--version", "1",
                "--out", str(tmp_path)], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    assert (tmp_path / "tiny" / "1" / "saved_model.pb").is_file()
    assert "fresh_process" in summary["verification"]


@pytest.mark.slow
def test_cli_requires_model_and_name(tmp_path):
    out = _run(["--format", "tflite"], tmp_path)
    assert out.returncode != 0
