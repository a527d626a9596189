"""Catalogue: runs and exports never lose or mix a user's results (issue 14 cases 2, 3, 4, 6), in process.

Two real processes racing for one export version: tests/export/test_concurrent_export.py; export permissions
(0755/0644): tests/export/test_concurrent_export.py::test_export_is_readable_by_others; `finetune --export` of
every task type with samples from its own training file: tests/cli/test_finetune_tasks_cli.py (slow)."""

import json

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
    run_finetune(_config(setup, out, epochs=1, overwrite=True))
    assert [h["epoch"] for h in _history(out)] == [0]          # the new run's epochs only


@pytest.mark.slow
def test_finetune_export_takes_the_next_free_version_never_replaces(setup):
    root = setup[0]
    exports = root / "exports"
    for i, out in enumerate((root / "e1", root / "e2"), start=1):
        run_finetune(_config(setup, out, export=str(exports), export_name="m"))
        assert (exports / "m" / str(i) / "saved_model.pb").exists()
    first = (exports / "m" / "1" / "saved_model.pb").read_bytes()
    assert first and sorted(p.name for p in (exports / "m").iterdir() if p.is_dir()) == ["1", "2"]


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
    for name in ("history.jsonl", "training_curves.png", "lora.safetensors"):
        (tmp_path / name).write_text("old")
    (tmp_path / "mine.txt").write_text("a user's own file")
    prepare_out_dir(_config(setup, tmp_path, overwrite=True))
    assert not (tmp_path / "history.jsonl").exists() and not (tmp_path / "lora.safetensors").exists()
    assert (tmp_path / "mine.txt").exists()                    # only the run's own outputs go
