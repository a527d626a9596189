"""A new task type in ONE file, through every command: the task table is open (issue 25, "Done when").

This module defines a toy task — polarity of a text, read from its own file format (``+ text`` / ``- text``
lines), with its own evaluator and report file — and registers it with its own :class:`TaskSpec`; nothing else in
the package or the tests knows about it. The test runs it through `bert-zoo finetune`, `evaluate`, `predict` and
`export`, each process importing this module with ``--task_module``.
"""

import json

import keras
import pytest

from keras_bert_zoo.data.task_files import TaskFile, TaskFileError
from keras_bert_zoo.tasks.registry import TaskSpec, register_task
from keras_bert_zoo.tasks.text_classifier import TextClassifier
from tests.cli.runner import bert_zoo
from tests.tasks.tiny_classify import make_preset, sentence

MODULE = __name__          # what --task_module imports


@keras.saving.register_keras_serializable(package="keras_bert_zoo_toy")
class ToyPolarity(TextClassifier):
    """Two classes, ``neg`` and ``pos``: a classifier with its own file format and report."""


def read_toy_file(path, options, require_targets=True):
    """``+ text`` or ``- text`` per line (``? text`` without a target when ``require_targets`` is False)."""
    texts, labels, lines = [], [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            sign, _, text = line.rstrip("\n").partition(" ")
            if sign not in ("+", "-") and (require_targets or sign != "?"):
                raise TaskFileError(f"{path}:{number}: a toy line starts with '+ ' or '- ', got {line[:20]!r}")
            texts.append(text)
            labels.append({"+": "pos", "-": "neg"}.get(sign))
            lines.append(number)
    return TaskFile(None, str(path), {"text": texts}, labels if require_targets else None, lines)


def evaluate_toy(task, data, out_dir, batch_size):
    """``toy_accuracy``; with ``out_dir``, ``toy_report.json``."""
    predicted = task.predict(data.x, batch_size=batch_size, verbose=0)["label_names"]
    right = sum(str(p.decode() if isinstance(p, bytes) else p) == y for p, y in zip(predicted, data.y))
    report = {"toy_accuracy": right / len(data), "toy_examples": len(data)}
    if out_dir is not None:
        from keras_bert_zoo import cache

        with cache.atomic_write(f"{out_dir}/toy_report.json", "w", encoding="utf-8") as f:
            json.dump(report, f)
    return report


register_task(TaskSpec(
    name="toy_polarity", task_class=ToyPolarity, reader=read_toy_file, evaluator=evaluate_toy,
    task_flags=("dropout",), args_from_data=lambda train, args: {"labels": ["neg", "pos"]}))


def write_toy(path, n, seed=0):
    import random

    rng = random.Random(seed)
    rows = [("+ " if i % 2 else "- ") + sentence(rng, "positive" if i % 2 else "negative") for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_the_spec_is_in_the_table():
    from keras_bert_zoo.tasks import get_task_class, registry, task_names

    assert "toy_polarity" in task_names() and get_task_class("toy_polarity") is ToyPolarity
    assert ToyPolarity.task_type == "toy_polarity" and TextClassifier.task_type == "classify"
    assert registry.spec_of(ToyPolarity).name == "toy_polarity" and registry.spec_of(TextClassifier).name == "classify"


@pytest.mark.timeout(1500)
def test_a_toy_task_in_one_file_runs_through_every_command(tmp_path):
    preset = make_preset(tmp_path / "preset")
    train, dev = write_toy(tmp_path / "train.toy", 24), write_toy(tmp_path / "dev.toy", 8, seed=1)
    out = tmp_path / "run"
    r = bert_zoo("finetune", "--task_module", MODULE, "--task=toy_polarity", "--train", train, "--eval", dev,
                 "--preset", preset, "--out", out, "--sequence_length=16", "--batch_size=8", "--epochs=1",
                 "--learning_rate=1e-3", "--dropout=0.2", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "eval: {" in r.stdout and "toy_accuracy" in r.stdout and (out / "eval" / "toy_report.json").exists()
    # a flag the toy's spec does not read is refused by name (before any work)
    r = bert_zoo("finetune", "--task_module", MODULE, "--task=toy_polarity", "--train", train, "--preset", preset,
                 "--out", tmp_path / "other", "--multi_label")
    assert r.returncode == 1 and "--multi_label do not apply to --task=toy_polarity" in r.stderr

    model = out / "model.keras"
    r = bert_zoo("evaluate", "--task_module", MODULE, "--model", model, "--data", dev, "--out", tmp_path / "ev")
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((tmp_path / "ev" / "toy_report.json").read_text())
    assert report["toy_examples"] == 8 and 0 <= report["toy_accuracy"] <= 1

    r = bert_zoo("predict", "--task_module", MODULE, "--model", model, stdin="the film was great\n")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["label"] in ("neg", "pos")

    r = bert_zoo("export", "--task_module", MODULE, "--model", model, "--name", "toy", "--out", tmp_path / "exp",
                 "--samples_file", dev, "--nofresh_process_check")
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout[r.stdout.index("{"):])
    assert summary["path"].endswith("toy/1") and (tmp_path / "exp" / "toy" / "1" / "saved_model.pb").exists()
    # without the module, the saved toy names a class nobody registered: one line, nothing run
    r = bert_zoo("predict", "--model", model, stdin="the film was great\n")
    assert r.returncode == 1 and "ToyPolarity" in r.stderr and "Traceback" not in r.stderr
