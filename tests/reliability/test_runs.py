"""Catalogue: runs and exports never lose or mix a user's results (issue 14 cases 2, 3, 4, 6; issue 27 case 3
and SIGTERM), in process (the rival run or the signalled command in a subprocess).

Two real processes racing for one export version: tests/export/test_concurrent_export.py; export permissions
(0755/0644): tests/export/test_concurrent_export.py::test_export_is_readable_by_others; `finetune --export` of
every task type with samples from its own training file: tests/cli/test_finetune_tasks_cli.py (slow)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keras_bert_zoo.cli.errors import UsageError
from keras_bert_zoo.cli.finetune import FinetuneConfig, prepare_out_dir, run_finetune
from keras_bert_zoo.data.task_files import FileOptions
from keras_bert_zoo.tasks import TaskError, TextClassifier
from keras_bert_zoo.train.loop import FitConfig
from tests.tasks.tiny_classify import make_preset, write_csv


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return root, make_preset(root / "tiny_preset"), write_csv(root / "train.csv", 24)


def _config(setup, out, epochs=1, **kw):
    root, preset, train = setup
    return FinetuneConfig(task="classify", train=str(train), out=str(out), preset=str(preset), sequence_length=16,
                          batch_size=8, fit=FitConfig(epochs=epochs, batch_size=8, learning_rate=1e-3,
                                                      tensorboard=False),
                          file_options=FileOptions(),
                          task_args={"dropout": 0.1, **kw.pop("task_args", {})}, **kw)


def _history(out):
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


def test_finished_run_is_not_replaced_and_overwrite_never_mixes_histories(setup):
    root = setup[0]
    out = root / "run"
    run_finetune(_config(setup, out, epochs=2))
    assert [h["epoch"] for h in _history(out)] == [0, 1]
    model_bytes = (out / "model.keras").read_bytes()
    with pytest.raises(UsageError, match="holds a finished run .*--overwrite"):
        run_finetune(_config(setup, out, epochs=1))
    assert (out / "model.keras").read_bytes() == model_bytes and len(_history(out)) == 2   # nothing touched
    run_finetune(_config(setup, out, epochs=1, overwrite=True, mixed_precision="mixed_bfloat16"))
    assert [h["epoch"] for h in _history(out)] == [0]          # the new run's epochs only
    # the run's dtype policy was its own: the caller's (a test worker's, a notebook's) is float32 again (it leaked
    # once: `auto` on an AMX machine left every later test of the worker in bf16)
    import keras

    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.slow
def test_finetune_export_takes_the_next_free_version_never_replaces(setup):
    """A served model's version 1 already there (TF Serving's layout): the run exports version 2 and leaves
    version 1 byte for byte."""
    root = setup[0]
    exports = root / "exports"
    (exports / "m" / "1").mkdir(parents=True)
    (exports / "m" / "1" / "saved_model.pb").write_bytes(b"the version being served")
    run_finetune(_config(setup, root / "e1", export=str(exports), export_name="m"))
    assert (exports / "m" / "1" / "saved_model.pb").read_bytes() == b"the version being served"
    assert (exports / "m" / "2" / "saved_model.pb").stat().st_size > 1000
    assert sorted(p.name for p in (exports / "m").iterdir()) == ["1", "2"]            # no temporary left


def test_duplicate_label_names_are_refused(setup):
    from keras_bert_zoo import BertBackbone

    backbone = BertBackbone("bert_uncased_L-2_H-128")
    with pytest.raises(TaskError, match=r"duplicate label names \['pos'\]"):
        TextClassifier(backbone, labels=["pos", "neg", "pos"])


def test_a_labels_class_without_training_examples_is_warned(setup, capsys):
    root = setup[0]
    run_finetune(_config(setup, root / "warn", task_args={"labels": ["negative", "neutral", "positive", "mixed"]}))
    assert "label(s) ['mixed'] have no training example in" in capsys.readouterr().err


def test_prepare_out_dir_clears_what_the_old_run_wrote(setup, tmp_path):
    (tmp_path / "model.keras").write_bytes(b"old")
    written = ("history.jsonl", "steps.jsonl", "training_curves.png", "lora.safetensors", "attention.json",
               "report.html")
    for name in written:
        (tmp_path / name).write_text("old")
    (tmp_path / "mine.txt").write_text("a user's own file")
    prepare_out_dir(_config(setup, tmp_path, overwrite=True))
    assert not any((tmp_path / name).exists() for name in written)
    assert (tmp_path / "mine.txt").exists()                    # only the run's own outputs go


# --------------------------------------------------------------- issue 27 case 3: one process per run directory
ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT), **kw)


def _holder(out):
    """A live process holding ``out`` as `bert-zoo finetune` does, until killed."""
    proc = _python(f"""
        import sys, time
        from keras_bert_zoo.train.run_dir import claim_run_dir
        with claim_run_dir({str(out)!r}, owner="bert-zoo finetune", flag="--out"):
            print("held", flush=True)
            time.sleep(600)
        """)
    assert proc.stdout.readline().strip() == "held", proc.stderr.read()
    return proc


def _listing(path):
    return sorted((str(p.relative_to(path)), p.stat().st_size) for p in Path(path).rglob("*"))


def test_a_second_run_into_a_claimed_out_refuses_in_one_line_and_writes_nothing(setup, capsys):
    """Two runs into one --out: the second names the directory and the holder's pid, exits 1, writes nothing;
    once the holder is gone (SIGKILL: its marker stays, stale) the next run takes the directory over."""
    from keras_bert_zoo.cli.errors import run_command
    from keras_bert_zoo.train.run_dir import LOCK_NAME, RunDirBusyError, read_claim

    out = setup[0] / "contended"
    holder = _holder(out)
    try:
        before = _listing(out)
        assert read_claim(out)["pid"] == holder.pid
        config = _config(setup, out, epochs=1)
        with pytest.raises(RunDirBusyError, match=rf"--out {out}: in use by another run \(pid {holder.pid}, "
                                                  rf"bert-zoo finetune, "):
            run_finetune(config)
        with pytest.raises(SystemExit) as exit_:
            run_command("finetune", lambda: run_finetune(config))
        err = capsys.readouterr().err.strip()
        assert exit_.value.code == 1 and len(err.splitlines()) == 1, err
        assert err.startswith(f"bert-zoo finetune: error: --out {out}: in use by another run (pid {holder.pid}")
        assert _listing(out) == before                              # nothing written, replaced or removed
    finally:
        holder.kill()
        holder.wait()
    assert (out / LOCK_NAME).exists()                                # kill -9 leaves the marker: stale now
    run_finetune(config)
    assert (out / "model.keras").exists() and not (out / LOCK_NAME).exists()


def test_fit_task_claims_its_out_dir_too(setup):
    """The Python API's run (fit_task) into a directory a CLI run holds refuses before training."""
    from keras_bert_zoo.train.loop import fit_task
    from keras_bert_zoo.train.run_dir import RunDirBusyError

    out = setup[0] / "fit_contended"
    holder = _holder(out)
    try:
        with pytest.raises(RunDirBusyError, match=rf"run directory {out}: in use by another run \(pid {holder.pid}"):
            fit_task(None, None, None, out, FitConfig(epochs=1), train_size=1)
        assert [p.name for p in out.iterdir()] == [".bert-zoo-run.lock"]
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow   # two `bert-zoo` processes (each imports Keras for the claim)
def test_distill_and_pretrain_into_a_claimed_out_refuse_in_one_line(setup):
    """The issue names finetune, pretrain and distill: each claims its --out for the whole run."""
    from tests.cli import runner

    root, _, train = setup
    out = root / "shared_out"
    teacher = root / "teacher.keras"
    teacher.write_bytes(b"never opened: the claim comes first")
    holder = _holder(out)
    try:
        before = _listing(out)
        for args in (("distill", "--teacher", str(teacher), "--train", str(train), "--out", str(out)),
                     ("pretrain", "--corpus", str(train), "--out", str(out))):
            r = runner.bert_zoo(*args, as_user=True, timeout=300)
            err = r.stderr.strip()
            assert r.returncode == 1 and len(err.splitlines()) == 1, err[-2000:]
            assert f"error: --out {out}: in use by another run (pid {holder.pid}, bert-zoo finetune" in err
        assert _listing(out) == before
    finally:
        holder.kill()
        holder.wait()


def test_sigterm_cleans_up_prints_one_line_and_exits_143(tmp_path):
    """SIGTERM in the middle of a command's atomic write, holding its run directory: the temporary file and the
    claim are removed, stderr is one line, the exit status is 143."""
    out = tmp_path / "run"
    proc = _python(f"""
        import time
        from keras_bert_zoo import cache
        from keras_bert_zoo.cli.errors import run_command
        from keras_bert_zoo.train.run_dir import claim_run_dir

        def work():
            with claim_run_dir({str(out)!r}, owner="bert-zoo finetune", flag="--out"):
                with cache.atomic_write({str(out / "model.keras")!r}) as f:
                    f.write(b"half a model")
                    print("writing", flush=True)
                    time.sleep(600)

        run_command("finetune", work)
        """)
    assert proc.stdout.readline().strip() == "writing", proc.stderr.read()
    assert len(list(out.iterdir())) == 2                          # the marker and the temporary file
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == ["bert-zoo finetune: terminated (SIGTERM); temporary files removed, nothing "
                                        "half-written left"]
    assert list(out.iterdir()) == []


@pytest.mark.slow   # TensorFlow starts in a subprocess, then a tiny fine-tuning run is stopped
def test_sigterm_during_finetune_leaves_no_claim_and_no_temporary_file(setup):
    from tests.cli import runner

    root, preset, train = setup
    out = root / "sigterm"
    cmd = [sys.executable, "-m", "keras_bert_zoo.cli.main", "finetune", "--train", str(train), "--preset",
           str(preset), "--out", str(out), "--epochs", "200", "--sequence_length", "16", "--batch_size", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=runner.environment(as_user=True), cwd=str(ROOT))
    for line in proc.stdout:                       # the throughput line of the first epoch: training is on
        if "examples/s" in line or "Epoch 2/" in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("bert-zoo finetune: terminated (SIGTERM)")
    assert "Traceback" not in err
    left = [p.name for p in out.rglob("*") if p.name.startswith(".")]
    assert left == [], left                      # no marker, no .model.*.keras, no .part file
