"""Hyper-parameter search for fine-tuning with KerasTuner (the ``tune`` extra: ``pip install keras_bert_zoo[tune]``).

The validation-and-tuning step of fine-tuning: learning rate, batch size, epochs (the most, with early stopping
on the validation loss), layer-wise learning-rate decay, dropout before the head and class weighting, scored on
the validation split. The first trial is always the recipe's defaults (:class:`~keras_bert_zoo.train.recipe.Recipe`
and :class:`~keras_bert_zoo.train.loop.FitConfig`), so the default recipe is always one of the trials compared. The tuner's directory is resumable: a search killed mid-way and started again with
the same arguments re-runs only the trial it was in (from its last completed epoch), never a finished one.

    import keras_bert_zoo as kbz

    def build(hp):                    # hp: this trial's values, every hyper-parameter of SEARCHABLE
        return kbz.TextClassifier.from_preset("minilm_l6_h384_uncased", labels=labels, dropout=hp["dropout"])

    result = kbz.tune(build, texts, labels, validation_data=(val_texts, val_labels), directory="runs/tune",
                      max_trials=6, objective="val_accuracy")
    result.best_values, result.best_score     # {"learning_rate": ..., "batch_size": 32, ...}, 0.81
    task = result.load_best()                 # the best trial's model (its run directory holds history, logs)

``bert-zoo tune`` is the same search over files (each trial one ``bert-zoo finetune`` run directory); it writes
the best trial as a normal run directory and the ``bert-zoo finetune`` command line that reproduces it.

:func:`search` is the engine under both (and under the Chinese demo's per-arm learning-rate choice): a KerasTuner
oracle (random search or Bayesian optimisation) whose first trial is the space's defaults, and a tuner whose
trials call ``run(values, trial_dir) -> {metric: value}``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

from keras_bert_zoo.train.loop import FitConfig

__all__ = ["SEARCHABLE", "ALGORITHMS", "TuneError", "SearchResult", "TuneResult", "search_space", "search", "tune",
           "trial_values", "objective_direction"]

#: the hyper-parameters a search may name: how each is searched when the space just names it, and its default
#: (trial 0's value: the recipe's and FitConfig's defaults, the task heads' dropout). Floats on a log scale are
#: sampled from [low, high]; the others are choices.
SEARCHABLE = {
    "learning_rate": {"log_range": (1e-5, 2e-4), "default": FitConfig.learning_rate},
    "batch_size": {"choices": (16, 32, 64), "default": FitConfig.batch_size},
    "epochs": {"choices": (1, 2, 3, 4, 5), "default": FitConfig.epochs},       # the most: early stopping
    "layer_decay": {"choices": (0.7, 0.8, 0.9, 1.0), "default": FitConfig.layer_decay},
    "dropout": {"choices": (0.0, 0.1, 0.2, 0.3), "default": 0.1},           # the task heads' default
    "class_weight": {"choices": ("none", "balanced"), "default": "none"},   # --class_weight off / balanced
}
#: the hyper-parameters that are FitConfig fields (the others are task options)
FIT_FIELDS = ("learning_rate", "batch_size", "epochs", "layer_decay")
#: KerasTuner oracles: random search, Bayesian optimisation, every combination of listed values in order
ALGORITHMS = ("random", "bayesian", "grid")


class TuneError(ValueError):
    """A search that cannot run as asked: an empty or unknown search space, a value of the wrong kind, a tuner
    directory that holds another search, no finished trial. One line naming the argument."""


def _keras_tuner():
    """The ``keras_tuner`` module, or a one-line TuneError naming the extra that installs it."""
    try:
        import keras_tuner
    except ImportError as err:
        raise TuneError(f"KerasTuner is not installed ({err}): pip install 'keras_bert_zoo[tune]'") from None
    return keras_tuner


def _known() -> str:
    return ", ".join(SEARCHABLE)


def _choice_values(name, values):
    values = list(values)
    if not values:
        raise TuneError(f"search space: {name} has no values to try")
    if name == "class_weight":
        bad = [v for v in values if v not in ("none", "balanced")]
        if bad:
            raise TuneError(f"search space: class_weight values must be 'none' or 'balanced', got {bad}")
        return values
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TuneError(f"search space: {name} values must be numbers, got {values}") from None
    if name in ("batch_size", "epochs"):
        if any(v != int(v) or v < 1 for v in out):
            raise TuneError(f"search space: {name} values must be whole numbers >= 1, got {values}")
        out = [int(v) for v in out]
    low_ok = (lambda v: 0 <= v < 1) if name == "dropout" else (lambda v: 0 < v <= 1) if name == "layer_decay" \
        else (lambda v: v > 0)
    if not all(low_ok(v) for v in out):
        raise TuneError(f"search space: {name} values out of range, got {values}")
    return list(dict.fromkeys(out))


def search_space(space=None, applicable=None):
    """The KerasTuner ``HyperParameters`` of a search.

    ``space``: None (every hyper-parameter of :data:`SEARCHABLE` in ``applicable``, on its built-in range), a
    sequence of names (those on their built-in ranges), or a dict ``{name: None | [values]}`` (a list: the
    values to try, the FIRST one trial 0's). A name not listed keeps its fixed value. ``applicable``: the names
    the run can use (a task without a dropout option cannot search it); None: all. An empty space, an unknown
    name or one the run cannot use is a :class:`TuneError` (one line)."""
    kt = _keras_tuner()

    usable = list(SEARCHABLE) if applicable is None else [n for n in SEARCHABLE if n in applicable]
    if space is None:
        space = {name: None for name in usable}
    elif isinstance(space, str):
        space = {name.strip(): None for name in space.split(",") if name.strip()}
    elif not isinstance(space, dict):
        space = {name: None for name in space}
    if not space:
        raise TuneError(f"the search space is empty: name at least one of {_known()}")
    unknown = [name for name in space if name not in SEARCHABLE]
    if unknown:
        raise TuneError(f"unknown hyper-parameter(s) {', '.join(map(repr, unknown))} in the search space "
                        f"(known: {_known()})")
    unusable = [name for name in space if name not in usable]
    if unusable:
        raise TuneError(f"this run cannot search {', '.join(unusable)} (it can search: {', '.join(usable)})")
    hp = kt.HyperParameters()
    for name, values in space.items():
        how = SEARCHABLE[name]
        if values is not None:
            values = _choice_values(name, values)
            hp.Choice(name, values, default=values[0])
        elif "log_range" in how:
            low, high = how["log_range"]
            hp.Float(name, low, high, sampling="log", default=how["default"])
        else:
            hp.Choice(name, list(how["choices"]), default=how["default"])
    return hp


def objective_direction(name: str) -> str:
    """``"min"`` for a loss or an error (``val_loss``, ``mse``, ``mae``), ``"max"`` for the rest (accuracy,
    F1, correlation)."""
    low = name.lower()
    return "min" if low.endswith(("loss", "mse", "mae", "error")) else "max"


@dataclasses.dataclass
class SearchResult:
    """A finished search: the best trial and every trial (``{"trial_id", "status", "values", "score",
    "seconds", "dir"}``, in start order); ``directory``: the search's (its trials are in ``directory/tuner``)."""

    objective: str
    direction: str
    best_trial_id: str
    best_values: dict
    best_score: float
    best_dir: Path
    trials: list
    directory: Path

    def to_json(self) -> dict:
        return {"objective": self.objective, "direction": self.direction, "best_trial_id": self.best_trial_id,
                "best_values": self.best_values, "best_score": self.best_score, "best_dir": str(self.best_dir),
                "trials": self.trials}


def _make_oracle(algorithm, hp, objective, max_trials, seed):
    """The KerasTuner oracle of ``algorithm`` whose first trial is the space's defaults."""
    kt = _keras_tuner()

    bases = {"random": kt.oracles.RandomSearchOracle, "bayesian": kt.oracles.BayesianOptimizationOracle,
             "grid": kt.oracles.GridSearchOracle}
    if algorithm not in bases:
        raise TuneError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    if algorithm == "grid" and any(p.__class__.__name__ == "Float" for p in hp.space):
        raise TuneError("a grid search needs listed values for every hyper-parameter (a range cannot be a grid)")

    class DefaultsFirst(bases[algorithm]):
        def populate_space(self, trial_id):
            if not self.trials:              # trial 0: the defaults (the recipe's, or the first listed values)
                return {"status": "RUNNING", "values": {p.name: p.default for p in self.hyperparameters.space}}
            return super().populate_space(trial_id)

    extra = {"num_initial_points": 2} if algorithm == "bayesian" else {}
    # the grid oracle starts from the defaults itself (and keeps its own order of the combinations)
    oracle_class = bases[algorithm] if algorithm == "grid" else DefaultsFirst
    return oracle_class(objective=kt.Objective(objective, objective_direction(objective)), max_trials=max_trials,
                        hyperparameters=hp, allow_new_entries=False, seed=seed + 1, **extra)


def _make_tuner(oracle, run, directory, overwrite, verbose):
    kt = _keras_tuner()

    from keras_bert_zoo.train.callbacks import NanLossError

    class TrialRunner(kt.engine.base_tuner.BaseTuner):
        """Each trial: ``run(values, trial_dir)``; a NaN loss fails the trial (the search goes on); any other
        error stops the search and is raised as it was (KerasTuner would count it as a failed trial)."""

        error = None

        def run_trial(self, trial, *args, **kwargs):
            trial_dir = Path(self.get_trial_dir(trial.trial_id))
            start = time.perf_counter()
            try:
                metrics = dict(run(dict(trial.hyperparameters.values), trial_dir))
            except NanLossError as err:
                raise kt.errors.FailedTrialError(f"NaN loss: {err}") from err
            except Exception as err:
                self.error = err
                raise kt.errors.FatalError(f"trial {trial.trial_id} failed: {err}") from err
            record = {"values": dict(trial.hyperparameters.values), "metrics": metrics,
                      "seconds": round(time.perf_counter() - start, 2)}
            _write_json(trial_dir / "result.json", record)
            return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}

    tuner = TrialRunner(oracle, directory=str(directory), project_name="tuner", overwrite=overwrite)
    tuner.oracle.verbose = verbose
    return tuner


def _write_json(path, data):
    from keras_bert_zoo import cache

    with cache.atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, default=str)


def _claim_directory(directory: Path, description: dict, overwrite: bool):
    """``directory/search.json`` names the search it holds; resuming it with another space is an error."""
    path = directory / "search.json"
    if path.exists() and not overwrite:
        held = json.loads(path.read_text(encoding="utf-8"))
        if held != description:
            changed = sorted(k for k in description if held.get(k) != description[k])
            raise TuneError(f"{directory} holds another search (its {', '.join(changed)} differ): resume it with "
                            f"the same arguments, or choose another directory")
        return
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(path, description)


def search(run, space, directory, *, objective, max_trials, algorithm="random", seed=0, overwrite=False,
           verbose=1) -> SearchResult:
    """Run (or resume) a search: ``run(values, trial_dir) -> {metric: value}`` once per trial, at most
    ``max_trials`` trials in all (those already finished in ``directory`` count). ``space``: a KerasTuner
    ``HyperParameters`` (:func:`search_space`); ``objective``: the metric ``run`` returns that chooses the best
    (direction by :func:`objective_direction`). ``overwrite``: start afresh. Each trial's ``result.json`` (its
    values, metrics and seconds) is written in its directory."""
    kt = _keras_tuner()

    if int(max_trials) < 1:
        raise TuneError(f"max_trials must be >= 1, got {max_trials}")
    directory = Path(directory)
    description = {"space": json.loads(json.dumps(space.get_config())), "objective": objective,
                   "algorithm": algorithm, "seed": seed}
    _claim_directory(directory, description, overwrite)
    oracle = _make_oracle(algorithm, space, objective, int(max_trials), seed)
    tuner = _make_tuner(oracle, run, directory, overwrite, verbose)
    tuner.oracle.max_trials = int(max_trials)        # a resumed search may be given more trials
    try:
        tuner.search()
    except kt.errors.FatalError:
        if tuner.error is not None:
            raise tuner.error from None
        raise
    return _result(tuner, objective)


def _result(tuner, objective) -> SearchResult:
    oracle = tuner.oracle
    trials = []
    for trial_id in oracle.start_order:
        trial = oracle.trials[trial_id]
        score = trial.score if trial.status == "COMPLETED" else None
        path = Path(tuner.get_trial_dir(trial_id)) / "result.json"
        seconds = json.loads(path.read_text(encoding="utf-8"))["seconds"] if path.exists() else None
        trials.append({"trial_id": trial_id, "status": trial.status, "values": dict(trial.hyperparameters.values),
                       "score": None if score is None else float(score), "seconds": seconds,
                       "dir": str(path.parent)})
    best = oracle.get_best_trials(1)
    if not best or best[0].score is None or not math.isfinite(best[0].score):
        raise TuneError(f"no trial of the search in {tuner.directory} finished with a {objective} "
                        f"({len(trials)} started: {[t['status'] for t in trials]})")
    best = best[0]
    return SearchResult(objective=objective, direction=objective_direction(objective),
                        best_trial_id=best.trial_id, best_values=dict(best.hyperparameters.values),
                        best_score=float(best.score), best_dir=Path(tuner.get_trial_dir(best.trial_id)),
                        trials=trials, directory=Path(tuner.directory))


def trial_values(searched: dict, fixed: dict | None = None) -> dict:
    """Every hyper-parameter of :data:`SEARCHABLE` for one trial: ``searched`` (the trial's), else ``fixed``,
    else the default."""
    values = {name: how["default"] for name, how in SEARCHABLE.items()}
    values.update(fixed or {})
    values.update(searched)
    return values


def _class_weights(task, y, base_weights):
    """Per-example balanced class weights (times ``base_weights``) of a single-label classifier's targets."""
    import numpy as np

    from keras_bert_zoo.metrics.classification import class_weights

    if not getattr(task, "labels", None) or getattr(task, "multi_label", False):
        raise TuneError("class_weight is searched for single-label classifiers only; leave it out of the space")
    ids = np.asarray(task.encode_targets(y))
    table = class_weights(ids, len(task.labels), "balanced")
    weights = np.asarray([table[int(c)] for c in ids], "float32")
    return weights if base_weights is None else weights * np.asarray(base_weights, "float32")


def _in_memory_run(build_task, x, y, validation_data, sample_weight, fit, objective, seed):
    """The ``run`` of :func:`tune`: build, fit (``fit_task``), score on the validation data, save model.keras."""
    import keras

    from keras_bert_zoo.train.loop import fit_task

    val_x, val_y = validation_data

    def run(searched, trial_dir):
        v = trial_values(searched, {name: getattr(fit, name) for name in FIT_FIELDS})
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        task = build_task(v)
        weights = _class_weights(task, y, sample_weight) if v["class_weight"] == "balanced" else sample_weight
        config = dataclasses.replace(fit, learning_rate=v["learning_rate"], batch_size=v["batch_size"],
                                     epochs=v["epochs"], layer_decay=v["layer_decay"])
        train_ds = task.make_dataset(x, y, weights, batch_size=config.batch_size, training=True, seed=seed)
        val_ds = task.make_dataset(val_x, val_y, batch_size=config.batch_size, training=False)
        fit_task(task, train_ds, val_ds, trial_dir / "run", config, train_size=len(y))
        metrics = {f"val_{k}": float(v) for k, v in task.evaluate(val_ds, return_dict=True, verbose=0).items()}
        if objective not in metrics:
            raise TuneError(f"objective {objective!r} is not a validation metric of this task "
                            f"(it has: {', '.join(sorted(metrics))})")
        task.save(str(trial_dir / "run" / "model.keras"))
        return metrics

    return run


@dataclasses.dataclass
class TuneResult(SearchResult):
    """:class:`SearchResult` of :func:`tune`; the best trial's run directory holds its ``model.keras``."""

    def load_best(self):
        """The best trial's fine-tuned task model."""
        import keras

        return keras.saving.load_model(str(self.best_dir / "run" / "model.keras"))


def tune(build_task, x, y, *, validation_data, directory, max_trials=10, space=None, objective="val_loss",
         sample_weight=None, fit=None, early_stopping=1, algorithm="random", seed=0, overwrite=False,
         verbose=1) -> TuneResult:
    """Search fine-tuning hyper-parameters of a task on in-memory data (see the module docstring).

    ``build_task(values) -> task``: a fresh task model per trial (``values``: every hyper-parameter of
    :data:`SEARCHABLE`, e.g. ``values["dropout"]`` for the head). ``x, y``: the training data as ``task.fit``
    takes it; ``validation_data``: ``(x, y)`` that every trial is scored on. ``space``: see
    :func:`search_space` (default: all six). ``objective``: a validation metric of the task (``val_loss``,
    ``val_accuracy``, ...). ``fit``: a :class:`~keras_bert_zoo.train.loop.FitConfig` for the fixed part of each
    run (the recipe's other fields; its learning rate, batch size, epochs and layer decay are the values of the
    hyper-parameters not searched); ``early_stopping``: patience in epochs on the validation loss (the best
    epoch's weights kept; 0: off). ``directory``: the tuner's; an interrupted search resumes there."""
    fit = fit or FitConfig()
    fit = dataclasses.replace(fit, early_stopping_patience=int(early_stopping), monitor="val_loss")
    hp = search_space(space)
    run = _in_memory_run(build_task, x, y, validation_data, sample_weight, fit, objective, seed)
    result = search(run, hp, directory, objective=objective, max_trials=max_trials, algorithm=algorithm, seed=seed,
                    overwrite=overwrite, verbose=verbose)
    return TuneResult(**dataclasses.asdict(result))
