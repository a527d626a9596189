"""`bert-zoo finetune / evaluate / predict` end to end in subprocesses, on a tiny checkpoint written in the test."""

import json
import re

import pytest

from tests.cli.runner import bert_zoo
from tests.tasks.tiny_classify import make_preset, write_csv


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    preset = make_preset(root / "tiny_preset")
    return root, preset, write_csv(root / "train.csv", 24), write_csv(root / "dev.csv", 12, seed=1)


@pytest.mark.timeout(900)
def test_finetune_then_predict_and_evaluate(files):
    root, preset, train, dev = files
    out = root / "run"
    r = bert_zoo("finetune", "--task=classify", "--train", train, "--eval", dev, "--test", dev, "--preset", preset,
                 "--out", out, "--sequence_length=16", "--batch_size=8", "--epochs=2", "--learning_rate=1e-3",
                 "--class_weight=balanced", "--attention_text=the movie was good", "--attention_layer=0")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Epoch 2/2" in r.stdout                      # Keras progress bars
    assert "saved the fine-tuned model" in r.stdout and "test: {" in r.stdout
    for name in ("model.keras", "history.jsonl",
                 "training_curves.png", "attention.png", "eval/predictions.csv", "eval/confusion_matrix.png",
                 "test/report.json", "checkpoints/last_good.weights.h5", "steps.jsonl", "attention.json",
                 "report.html"):
        assert (out / name).exists(), name
    assert list((out / "logs").rglob("events.out.tfevents*"))
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [0, 1] and "val_loss" in history[0]
    # the run's phases (issue 16: the fixed overhead around the epochs is a number)
    timings = json.loads((out / "timings.json").read_text())
    for phase in ("start-up", "build model", "first step", "training steps", "validation", "fit other", "save",
                  "eval report", "test report"):
        assert timings[phase] > 0, phase
    assert re.search(r"^run \d+ s: start-up [\d.]+, .*overhead beyond training steps", r.stdout, re.M)
    # report.html: the attention explorer starts with --attention_text, then inputs of the eval report
    attention = json.loads((out / "attention.json").read_text(encoding="utf-8"))
    assert attention["examples"][0]["text"] == "the movie was good" and len(attention["examples"]) == 4
    assert "report: " in r.stdout and timings["html report"] > 0
    # bert-zoo report --model: the attention recomputed from the saved model, the given text first
    r = bert_zoo("report", out, "--model", out / "model.keras", "--attention_text=the plot was awful")
    assert r.returncode == 0, r.stderr[-3000:]
    attention = json.loads((out / "attention.json").read_text(encoding="utf-8"))
    assert attention["examples"][0]["text"] == "the plot was awful" and len(attention["examples"]) == 4

    # predict: plain lines and JSON lines from stdin -> JSON lines with label + probabilities, one per line
    r = bert_zoo("predict", "--model", out / "model.keras", stdin='the film was great\n{"text": "awful and bad"}\n\n')
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3 and rows[0]["text"] == "the film was great"
    assert rows[2] == {"text": "", "empty": True}       # the blank line 3 keeps its place
    assert rows[0]["label"] in ("negative", "neutral", "positive")
    assert sum(rows[1]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)

    # evaluate: metrics table; an unknown label is a clear error naming the file and line
    r = bert_zoo("evaluate", "--model", out / "model.keras", "--data", dev, "--out", root / "ev")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "accuracy:" in r.stdout and "macro_f1:" in r.stdout and (root / "ev" / "predictions.csv").exists()
    assert (root / "ev" / "report.html").exists() and (root / "ev" / "attention.json").exists()
    bad = root / "bad.csv"
    bad.write_text("text,label\nthe film was good,positive\nthe plot was fine,excellent\n")
    r = bert_zoo("evaluate", "--model", out / "model.keras", "--data", bad)
    assert r.returncode == 1
    assert "unknown label 'excellent'" in r.stderr and "Traceback" not in r.stderr

    # a finished run is not replaced without --overwrite; an inapplicable flag is refused by name
    r = bert_zoo("finetune", "--task=classify", "--train", train, "--preset", preset, "--out", out)
    assert r.returncode == 1 and "holds a finished run" in r.stderr and "Traceback" not in r.stderr
    r = bert_zoo("finetune", "--task=qa", "--train", train, "--preset", preset, "--out", root / "q",
                 "--class_weight=balanced")
    assert r.returncode == 1 and "--class_weight do not apply to --task=qa" in r.stderr


@pytest.mark.slow   # three more CLI processes; the same errors are tested in-process in tests/tasks
@pytest.mark.timeout(600)
def test_finetune_bad_inputs_fail_clearly(files):
    root, preset, train, _ = files
    missing = root / "missing.csv"
    missing.write_text("sentence,label\nhello,positive\n")
    r = bert_zoo("finetune", "--train", missing, "--preset", preset, "--out", root / "x")
    assert r.returncode == 1
    assert "missing.csv:1: missing column(s) ['text'] in the header" in r.stderr
    empty = root / "empty.csv"
    empty.write_text("")
    r = bert_zoo("finetune", "--train", empty, "--preset", preset, "--out", root / "y")
    assert r.returncode == 1 and "empty.csv: the file is empty" in r.stderr
    r = bert_zoo("finetune", "--task=nope", "--train", train, "--preset", preset, "--out", root / "z")
    assert r.returncode == 1 and "unknown task 'nope'" in r.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_finetune_lora_writes_adapters_and_exports_merged(files):
    """--lora_rank: adapters + head train (loss falls), lora.safetensors beside model.keras, the export merges
    them and serves what the saved model predicts; examples/s printed per epoch."""
    import numpy as np
    import tensorflow as tf

    from keras_bert_zoo.tasks import load_task

    root, preset, train, dev = files
    out = root / "lora_run"
    r = bert_zoo("finetune", "--task=classify", "--train", train, "--preset", preset, "--out", out,
                 "--sequence_length=16", "--batch_size=8", "--epochs=3", "--learning_rate=5e-3", "--lora_rank=4",
                 # float32 on every CPU (`auto` is bf16 on AMX ones, whose model.keras then predicts in bf16 and
                 # its float32 export differs by more than 1e-5: tests/tasks/test_mixed_precision_export.py)
                 "--mixed_precision=float32",
                 "--export", root / "exports", "--export_name=lora")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "examples/s)" in r.stdout and (out / "lora.safetensors").exists()
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert history[-1]["loss"] < history[0]["loss"] and history[0]["examples_per_s"] > 0
    task = load_task(out / "model.keras")
    assert task.backbone.lora == {"rank": 4, "alpha": 4.0, "targets": ["query", "value"]}
    texts = ["the film was great", "awful and bad", "ok"]
    want = task.predict(texts, verbose=0)["probabilities"]
    served = tf.saved_model.load(str(root / "exports" / "lora" / "1")).signatures["serving_default"]
    np.testing.assert_allclose(served(text=tf.constant(texts))["probabilities"].numpy(), want, atol=1e-5)
    assert (out / "lora.safetensors").stat().st_size < (out / "model.keras").stat().st_size
    r = bert_zoo("finetune", "--task=classify", "--train", train, "--preset", preset, "--out", root / "l2",
                 "--lora_rank=4", "--trainable=2")
    assert r.returncode != 0 and "--lora_rank" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_distill_a_finetuned_teacher_into_its_own_layers(files):
    root, preset, train, dev = files
    teacher = root / "teacher"
    r = bert_zoo("finetune", "--task=classify", "--train", train, "--preset", preset, "--out", teacher,
                 "--sequence_length=16", "--batch_size=8", "--epochs=2", "--learning_rate=1e-3")
    assert r.returncode == 0, r.stderr[-3000:]
    unlabelled = root / "more.txt"
    unlabelled.write_text("the movie was great\nawful plot\n\nok film\n", encoding="utf-8")
    out = root / "student"
    r = bert_zoo("distill", "--teacher", teacher / "model.keras", "--student", "layers:1", "--train", train,
                 "--unlabelled", unlabelled, "--eval", dev, "--test", dev, "--out", out, "--epochs=2",
                 "--batch_size=8", "--learning_rate=1e-3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "3 unlabelled texts" in r.stdout and "saved the student" in r.stdout and "test: {" in r.stdout
    assert (out / "model.keras").exists() and (out / "test" / "report.json").exists()
    r = bert_zoo("predict", "--model", out / "model.keras", stdin="the film was great\n")
    assert r.returncode == 0 and json.loads(r.stdout)["label"] in ("negative", "neutral", "positive")
    # a finished student is not replaced; a wrong --student is one line
    r = bert_zoo("distill", "--teacher", teacher / "model.keras", "--train", train, "--out", out)
    assert r.returncode != 0 and "finished run" in r.stderr and "Traceback" not in r.stderr
    r = bert_zoo("distill", "--teacher", teacher / "model.keras", "--student", "layers:5", "--train", train,
                 "--out", root / "s2")
    assert r.returncode == 1 and "layers must be" in r.stderr and "Traceback" not in r.stderr
