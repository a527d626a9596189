"""`bert-zoo tune` end to end in subprocesses, on a tiny checkpoint written in the test: a bad search space is
refused in one line; a search killed mid-trial resumes without re-running the finished trial, keeps the trial
with the best validation score as a normal run directory, and its `bert-zoo finetune` command line reproduces
that score."""

import json
import shlex
import signal
import subprocess
import sys
import time

import pytest

from tests.cli.runner import ROOT, bert_zoo, environment
from tests.conftest import require
from tests.tasks.tiny_classify import make_preset, write_csv

require("keras_tuner")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    return root, write_csv(root / "train.csv", 24), write_csv(root / "dev.csv", 12, seed=1)


@pytest.mark.slow
def test_an_unknown_search_space_is_refused_in_one_line(files):
    """(Slow: the refusal comes after TensorFlow's import, ~40 s on 2 busy cores; tests/train/test_tune.py checks
    every refusal of the space in the default run.)"""
    root, train, dev = files
    r = bert_zoo("tune", "--train", train, "--eval", dev, "--out", root / "bad", "--space=learning_rate,momentum")
    assert r.returncode == 1, r.stderr[-2000:]
    assert r.stderr.strip().splitlines() == [
        "bert-zoo tune: error: unknown hyper-parameter(s) 'momentum' in the search space (known: learning_rate, "
        "batch_size, epochs, layer_decay, dropout, class_weight)"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_tune_resumes_after_a_kill_and_writes_the_best_run(files):
    root, train, dev = files
    preset = make_preset(root / "tiny_preset")
    out = root / "search"
    args = ["tune", "--task=classify", "--train", train, "--eval", dev, "--test", dev, "--preset", preset,
            "--out", out, "--sequence_length=16", "--batch_size=8", "--epochs=2", "--learning_rate=3e-3",
            "--trials=3", "--space=dropout,class_weight"]
    r = bert_zoo(*args[:-1], "--space=")
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        "bert-zoo tune: error: the search space is empty: name at least one of learning_rate, batch_size, epochs, "
        "layer_decay, dropout, class_weight"]
    # kill -9 once the second trial is training
    proc = subprocess.Popen([sys.executable, "-m", "keras_bert_zoo.cli.main", *map(str, args)], cwd=ROOT,
                            env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "tuner" / "trial_0" / "result.json"
    deadline = time.time() + 900
    while not (out / "tuner" / "trial_1" / "run" / "logs").exists() and proc.poll() is None:
        assert time.time() < deadline, "the second trial did not start"
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.exists() and not (out / "tuner" / "trial_2").exists()
    finished = first.stat().st_mtime_ns

    r = bert_zoo(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("saved the fine-tuned model") == 2          # trials 1 (again) and 2, not trial 0
    assert first.stat().st_mtime_ns == finished
    summary = json.loads((out / "tuning.json").read_text())
    scores = {t["trial_id"]: t["score"] for t in summary["trials"]}
    assert len(scores) == 3 and summary["best_score"] == max(scores.values())
    assert summary["trials"][0]["values"] == {"dropout": 0.1, "class_weight": "none"}     # the defaults first
    best = out / "best"
    for name in ("model.keras", "history.jsonl", "eval/report.json", "test/report.json", "finetune_command.txt"):
        assert (best / name).exists(), name
    assert json.loads((best / "eval" / "report.json").read_text())["macro_f1"] == summary["best_score"]
    others = [t for t in summary["trials"] if t["trial_id"] != summary["best_trial_id"]]
    assert not any((root / t["dir"] / "run" / "model.keras").exists() for t in others)

    # the command line reproduces the best trial's validation score
    command = shlex.split((best / "finetune_command.txt").read_text())
    assert command[:2] == ["bert-zoo", "finetune"] and "--early_stopping=1" in command
    r = bert_zoo(*command[1:])
    assert r.returncode == 0, r.stderr[-3000:]
    rerun = json.loads((out / "best_rerun" / "eval" / "report.json").read_text())
    assert rerun["macro_f1"] == pytest.approx(summary["best_score"], abs=1e-6)


def _tune_config(argv):
    from absl import flags

    from keras_bert_zoo.cli import tune

    flags.FLAGS.unparse_flags()
    flags.FLAGS(["tune", *map(str, argv)])
    try:
        return tune, tune.config_from_flags()
    finally:
        flags.FLAGS.unparse_flags()


def test_the_flags_fix_what_they_set_and_the_command_line_reproduces_a_trial(files):
    """In-process (no training): the finetune flags are the fixed part; a hyper-parameter flag leaves the
    default space, and naming it in --space too is one line; the command line of a trial."""
    from keras_bert_zoo.cli.errors import UsageError

    root, train, dev = files
    base = ["--train", train, "--eval", dev, "--out", root / "cfg", "--sequence_length=16"]
    tune, config = _tune_config(base + ["--learning_rate=3e-3", "--epochs=2", "--trials=4"])
    assert config.space == ("batch_size", "layer_decay", "dropout", "class_weight") and config.trials == 4
    assert config.base.fit.learning_rate == 3e-3 and config.patience == 1
    command = tune.finetune_command(config, {"batch_size": 16, "dropout": 0.2, "class_weight": "balanced"}, "again")
    assert command == (f"bert-zoo finetune --sequence_length=16 --train={train} --eval={dev} --epochs=2 "
                       f"--learning_rate=0.003 --out=again --batch_size=16 --dropout=0.2 --class_weight=balanced "
                       f"--early_stopping=1")
    trial = tune._trial_config(config, {"learning_rate": 3e-3, "batch_size": 16, "epochs": 2, "layer_decay": 0.8,
                                        "dropout": 0.2, "class_weight": "none"}, root / "t")
    assert (trial.batch_size, trial.fit.batch_size, trial.fit.layer_decay, trial.fit.early_stopping_patience) == \
        (16, 16, 0.8, 1)
    assert trial.task_args["dropout"] == 0.2 and trial.class_weight is None and trial.test is None
    with pytest.raises(UsageError, match=r"^--learning_rate set\(s\) a searched hyper-parameter: drop it, or leave"):
        _tune_config(base + ["--learning_rate=3e-3", "--space=learning_rate,epochs"])
    with pytest.raises(UsageError, match="^--eval is required"):
        _tune_config(["--train", train, "--out", root / "cfg"])
