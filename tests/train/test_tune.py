"""The KerasTuner search of keras_bert_zoo.train.tuning: its space (refusals in one line), the engine (trial 0 is
the recipe's defaults, the best trial is chosen by the objective's direction, a search resumes without re-running
finished trials) and `keras_bert_zoo.tune` on a tiny classifier."""

import json
import math

import pytest

from tests.conftest import require

kt = require("keras_tuner")

from keras_bert_zoo.train import tuning  # noqa: E402
from keras_bert_zoo.train.loop import FitConfig  # noqa: E402
from keras_bert_zoo.train.recipe import Recipe  # noqa: E402


def test_the_default_space_starts_from_the_recipe():
    hp = tuning.search_space()
    assert [p.name for p in hp.space] == list(tuning.SEARCHABLE)
    defaults = {p.name: p.default for p in hp.space}
    assert defaults["learning_rate"] == Recipe().learning_rate and defaults["layer_decay"] == Recipe().layer_decay
    assert defaults["batch_size"] == FitConfig().batch_size and defaults["epochs"] == FitConfig().epochs
    assert defaults["class_weight"] == "none" and defaults["dropout"] == 0.1
    # a listed value set: its first value is trial 0's; the run's applicable names limit the default space
    hp = tuning.search_space({"learning_rate": [1e-4, 3e-5], "epochs": None}, applicable=("learning_rate", "epochs"))
    assert {p.name: p.default for p in hp.space} == {"learning_rate": 1e-4, "epochs": 3}
    assert [p.name for p in tuning.search_space(applicable=("epochs", "dropout")).space] == ["epochs", "dropout"]


@pytest.mark.parametrize("space, message", [
    ([], "the search space is empty: name at least one of learning_rate, batch_size, epochs"),
    ({}, "the search space is empty"),
    ("", "the search space is empty"),
    (["learning_rate", "momentum"], "unknown hyper-parameter(s) 'momentum' in the search space (known: "),
    ({"warmup": [0.1]}, "unknown hyper-parameter(s) 'warmup'"),
    ({"batch_size": [16, 2.5]}, "batch_size values must be whole numbers >= 1"),
    ({"learning_rate": []}, "learning_rate has no values to try"),
    ({"class_weight": ["balanced", "inverse"]}, "class_weight values must be 'none' or 'balanced'"),
])
def test_a_bad_space_is_refused_in_one_line(space, message):
    with pytest.raises(tuning.TuneError) as err:
        tuning.search_space(space)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_space_the_run_cannot_use_is_refused():
    with pytest.raises(tuning.TuneError, match=r"^this run cannot search dropout \(it can search: learning_rate"):
        tuning.search_space(["dropout"], applicable=("learning_rate", "epochs"))


def _score(values):
    """A smooth objective with its maximum at lr 1e-4, batch 16 (a stand-in for a validation score)."""
    return -abs(math.log10(values["learning_rate"]) + 4.0) - (values["batch_size"] != 16)


def test_search_starts_with_the_defaults_picks_the_best_and_resumes(tmp_path):
    space = tuning.search_space(["learning_rate", "batch_size"])
    seen = []

    def run(values, trial_dir, stop_at=None):
        if stop_at is not None and len(seen) == stop_at:
            raise KeyboardInterrupt               # a kill in the middle of a trial
        seen.append(dict(values))
        (trial_dir / "ran.txt").write_text(json.dumps(values))
        return {"score": _score(values)}

    with pytest.raises(KeyboardInterrupt):
        tuning.search(lambda v, d: run(v, d, stop_at=2), space, tmp_path, objective="score", max_trials=4,
                      verbose=0)
    assert seen[0] == {"learning_rate": Recipe().learning_rate, "batch_size": FitConfig().batch_size}
    finished = list(seen)
    result = tuning.search(run, space, tmp_path, objective="score", max_trials=4, verbose=0)
    assert seen[:2] == finished and len(seen) == 4       # 2 finished trials not re-run; the killed one + 1 more
    assert [t["status"] for t in result.trials] == ["COMPLETED"] * 4
    assert [t["values"] for t in result.trials] == seen
    best = max(result.trials, key=lambda t: t["score"])
    assert result.best_trial_id == best["trial_id"] and result.best_values == best["values"]
    assert result.best_score == pytest.approx(_score(best["values"]))
    assert json.loads((result.best_dir / "result.json").read_text())["values"] == best["values"]
    # more trials on the same directory continue the search; another space there is refused in one line
    assert len(tuning.search(run, space, tmp_path, objective="score", max_trials=5, verbose=0).trials) == 5
    assert len(seen) == 5
    with pytest.raises(tuning.TuneError, match=r"holds another search \(its space differ\)"):
        tuning.search(run, tuning.search_space(["epochs"]), tmp_path, objective="score", max_trials=5, verbose=0)


def test_a_loss_objective_is_minimised_and_a_bug_keeps_its_type(tmp_path):
    space = tuning.search_space({"epochs": [1, 2, 3]})
    result = tuning.search(lambda v, d: {"val_loss": float(v["epochs"])}, space, tmp_path / "a",
                           objective="val_loss", max_trials=3, verbose=0)
    assert result.direction == "min" and result.best_values == {"epochs": 1}

    def broken(values, trial_dir):
        return {"val_loss": values["no_such_name"]}

    with pytest.raises(KeyError, match="no_such_name"):
        tuning.search(broken, space, tmp_path / "b", objective="val_loss", max_trials=2, verbose=0)


def test_a_grid_search_runs_every_combination_once_from_the_first_values(tmp_path):
    space = tuning.search_space({"learning_rate": [3e-4, 1e-4], "batch_size": [16, 32]})
    result = tuning.search(lambda v, d: {"score": _score(v)}, space, tmp_path, objective="score", max_trials=10,
                           algorithm="grid", verbose=0)
    got = [(t["values"]["learning_rate"], t["values"]["batch_size"]) for t in result.trials]
    assert got[0] == (3e-4, 16) and sorted(got) == sorted([(3e-4, 16), (3e-4, 32), (1e-4, 16), (1e-4, 32)])
    assert result.best_values == {"learning_rate": 1e-4, "batch_size": 16}
    with pytest.raises(tuning.TuneError, match="a grid search needs listed values"):
        tuning.search(lambda v, d: {"score": 0.0}, tuning.search_space(["learning_rate"]), tmp_path / "b",
                      objective="score", max_trials=2, algorithm="grid", verbose=0)


def _tiny_task(values):
    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.text import BertPreprocessor
    from tests.tasks.tiny_classify import tiny_backbone_and_tokenizer

    backbone, tokenizer = tiny_backbone_and_tokenizer()
    return TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=16),
                          labels=["negative", "neutral", "positive"], dropout=values["dropout"])


def _data(n, seed):
    import random

    from tests.tasks.tiny_classify import sentence

    rng = random.Random(seed)
    labels = [("positive", "negative", "neutral")[i % 3] for i in range(n)]
    return [sentence(rng, y) for y in labels], labels


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_tune_a_tiny_classifier_keeps_the_best_validation_trial(tmp_path):
    """3 trials of the public API, interrupted in trial 2 and resumed: the best trial by validation loss, its
    saved model scores what the search recorded. (Slow: each trial traces a new train step, ~25 s on 2 busy
    cores; the engine's own tests above are the default run's.)"""
    import keras_bert_zoo

    x, y = _data(24, 0)
    val = _data(12, 1)
    built = []

    def build(values, stop=False):
        if stop:
            raise KeyboardInterrupt
        built.append(values)
        return _tiny_task(values)

    kwargs = dict(validation_data=val, directory=tmp_path, max_trials=3, objective="val_loss", verbose=0,
                  space={"learning_rate": [3e-3, 1e-5, 1e-3], "class_weight": None},
                  fit=FitConfig(epochs=2, batch_size=8, tensorboard=False, verbose=0))
    with pytest.raises(KeyboardInterrupt):
        keras_bert_zoo.tune(lambda v: build(v, stop=len(built) == 1), x, y, **kwargs)
    result = keras_bert_zoo.tune(build, x, y, **kwargs)
    assert len(built) == 3 and built[0]["learning_rate"] == 3e-3 and built[0]["class_weight"] == "none"
    assert built[0]["batch_size"] == 8 and built[0]["epochs"] == 2       # not searched: the FitConfig's
    scores = {t["trial_id"]: t["score"] for t in result.trials}
    assert len(scores) == 3 and result.best_score == min(scores.values())
    assert scores[result.best_trial_id] == result.best_score
    task = result.load_best()
    val_ds = task.make_dataset(*val, batch_size=8)
    task.compile()
    assert task.evaluate(val_ds, return_dict=True, verbose=0)["loss"] == pytest.approx(result.best_score, rel=1e-4)
    assert (result.best_dir / "run" / "history.jsonl").exists()
