"""Every task trains, evaluates and exports from `bert-zoo finetune --export` (subprocesses, tiny checkpoint,
hand-made files; the export's verification samples come from each task's own training file: issue 14 case 7).
`--task=tag` runs with `--crf` (the CRF head saved in the task config and exported).

Classification is in the default run (tests/cli/test_finetune_cli.py); these four are slow (one CLI process
each, ~1-2 minutes on 2 cores) and run with `pytest -m slow`.
"""

import json
from pathlib import Path

import pytest

from tests.cli.runner import bert_zoo
from tests.tasks.tiny_classify import make_preset, write_csv

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return make_preset(tmp_path_factory.mktemp("tasks_cli") / "tiny_preset")


def _regression_file(path):
    rows = ["text,label"] + [f"{'good ' * k}movie,{k / 4:.2f}" for k in range(1, 9)] * 2
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("task,train,eval_file,metric,extra", [
    ("tag", "ner_train.conll", "ner_eval.conll", "entity_f1", ["--crf"]),
    ("qa", "squad_v2.json", "squad_v2.json", "f1", ["--sequence_length=48"]),
    ("choice", "swag_train.csv", "swag_train.csv", "accuracy", []),
    ("regress", None, None, "pearson", []),
    ("classify", "pairs", "pairs", "accuracy", ["--pair_column=text_b"]),
])
def test_task_trains_and_evaluates_from_the_cli(tmp_path, preset, task, train, eval_file, metric, extra):
    if train is None:
        train_path = eval_path = _regression_file(tmp_path / "sts.csv")
    elif train == "pairs":
        train_path = eval_path = write_csv(tmp_path / "pairs.csv", 24, pair=True)
    else:
        train_path, eval_path = FIXTURES / train, FIXTURES / eval_file
    out = tmp_path / task
    args = ["finetune", f"--task={task}", "--train", train_path, "--eval", eval_path, "--preset", preset,
            "--out", out, "--batch_size=4", "--epochs=1", "--export", tmp_path / "exports", "--export_name=m"]
    if not any(a.startswith("--sequence_length") for a in extra):
        args.append("--sequence_length=32")
    r = bert_zoo(*args, *extra, timeout=800)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "eval: {" in r.stdout and metric in r.stdout, r.stdout[-2000:]
    from keras_bert_zoo.tasks import load_task

    loaded = load_task(out / "model.keras")
    assert loaded.task_type == task
    assert "exported SavedModel" in r.stdout and (tmp_path / "exports" / "m" / "1" / "saved_model.pb").exists()
    assert (out / "training_curves.png").exists() and (out / "history.jsonl").exists()
    if "--crf" in extra:                                          # the CRF head is saved in the task config
        assert loaded.crf and loaded.crf_layer is not None
