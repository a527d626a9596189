"""The Chinese demo's fine-tuning: sentiment and NER, both arms (pretrained, random init). Each arm's learning rate
is chosen on the validation sample by a KerasTuner grid search over the task's ``--lr_grid`` / ``--ner_lr_grid``
(:func:`keras_bert_zoo.train.tuning.search`; the first value is trial 0) of short probe runs; then the arm gets
ONE long run at that learning rate (several epochs, the validation score measured ``evaluations_per_run`` times,
early stopping after ``early_stopping_patience`` evaluations without progress, the best weights restored). Both
arms get the same steps, sized from a measured step time so that the probes and the long runs fit their shares
of the budget (:func:`keras_bert_zoo.apps.demo_zh.config.budget_split`)."""

from __future__ import annotations

import math
import random
from pathlib import Path

from keras_bert_zoo.apps.demo_zh.config import ARMS, NER_LABELS, SENTIMENT_LABELS, ZhDemoConfig

__all__ = ["sample", "finetune_splits", "selection_sample", "ner_sentences", "make_task", "validation_score",
           "training_dataset", "finetune_run", "finetune_task", "best_validation"]


def sample(items, n, seed):
    """``items`` or a seeded random subset of ``n`` of them (order kept)."""
    if not n or n >= len(items):
        return list(items)
    idx = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in idx]


def finetune_splits(cfg, sent, ner) -> dict:
    """The demo's fine-tuning data, capped as ``cfg`` says (seeded subsets): ``{"sentiment": (train, val, test)}``
    each ``[texts, labels]``, and ``{"ner": (train, val, test)}`` each a list of ``(text, tags)`` paragraphs."""
    caps = (("train", cfg.max_train_examples), ("val", cfg.max_eval_examples), ("test", cfg.max_eval_examples))
    sentiment = tuple([list(c) for c in zip(*sample(list(zip(*sent[k])), cap, cfg.seed))] for k, cap in caps)
    return {"sentiment": sentiment, "ner": tuple(sample(ner[k], cap, cfg.seed) for k, cap in caps)}


def selection_sample(kind, val, cfg):
    """The validation sample every fine-tuning run of ``kind`` is scored on (``cfg.selection_examples`` of
    ``val``: ``[texts, labels]`` for sentiment, NER sentences for ner)."""
    if kind == "sentiment":
        return [list(c) for c in zip(*sample(list(zip(*val)), cfg.selection_examples, cfg.seed + 1))]
    return sample(val, cfg.selection_examples, cfg.seed + 1)


def ner_sentences(pairs):
    """``(text, tags)`` paragraphs as character-level :class:`~keras_bert_zoo.data.conll.Sentence` rows."""
    from keras_bert_zoo.data.conll import Sentence

    return [Sentence(tuple(text), tuple(tags), line=i + 1, source="peoples_daily") for i, (text, tags) in
            enumerate(pairs)]


def make_task(kind, backbone, tokenizer, cfg):
    from keras_bert_zoo.tasks import TextClassifier, TokenClassifier
    from keras_bert_zoo.text import BertPreprocessor

    pre = BertPreprocessor(tokenizer, sequence_length=cfg.sequence_length)
    if kind == "sentiment":
        # a review longer than one window is read as overlapping windows (half a window apart) whose logits are
        # averaged, in predict, the SavedModel and the TFLite model alike (builtin ops): none is truncated
        stride = {"window_stride": (cfg.sequence_length - 2) // 2} if cfg.sentiment_windows else {}
        return TextClassifier(backbone, preprocessor=pre, labels=SENTIMENT_LABELS, **stride)
    crf = {"crf": True} if cfg.ner_crf else {}         # the CRF head (tasks/token_classifier.py)
    return TokenClassifier(backbone, preprocessor=pre, labels=NER_LABELS, **crf)


def validation_score(kind, task, val, batch_size=64):
    """Accuracy (sentiment) or entity F1 (ner) of ``task`` on the selection sample ``val``."""
    import numpy as np

    from keras_bert_zoo.metrics.entities import entity_scores

    if kind == "sentiment":
        out = task.predict(val[0], batch_size=batch_size, verbose=0)
        return float(np.mean(np.asarray(task.encode_targets(val[1])) == np.asarray(out["label_ids"])))
    pred = task.predict_word_tags(val, batch_size=batch_size)
    return float(entity_scores([list(s.tags) for s in val], pred)["f1"])


def _measure_step_seconds(task, train_ds, steps=24):
    """(seconds per training step, seconds of the first step) of ``task`` on ``train_ds`` (Keras ``fit`` for
    ``steps`` steps; the first step traces the train function). The task is a throw-away probe: the
    fine-tuning runs are sized from this rate, not from the pretraining throughput (the heads, the sequence
    lengths and the optimizer differ), and every run pays the first step again."""
    from keras_bert_zoo.train.clocks import StepClock

    clock = StepClock(skip=1)
    task.compile(learning_rate=1e-4, total_steps=steps)
    task.fit(train_ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
    return clock.seconds / max(clock.timed_steps, 1), clock.first_step_seconds


def training_dataset(kind, task, train, cfg):
    """The endless, shuffled, length-grouped training batches of a task (sentiment: (texts, labels); ner:
    Sentences)."""
    if kind == "sentiment":
        return task.make_dataset(train[0], train[1], batch_size=cfg.batch_size, training=True,
                                 seed=cfg.seed).repeat()
    return task.make_dataset(train, batch_size=cfg.batch_size, training=True, seed=cfg.seed).repeat()


def best_validation(score, patience, steps_per_epoch):
    """A Keras callback for a long run: at every epoch end the task's validation score (``score(model)``, higher
    is better) is recorded in ``.evaluations``; the best weights are kept and restored when training ends;
    training stops after ``patience`` evaluations without a better score (``.stopped_early``)."""
    import keras

    class BestValidation(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.evaluations, self.best, self.best_weights, self.stopped_early = [], None, None, False

        def on_epoch_end(self, epoch, logs=None):
            value = float(score(self.model))
            self.evaluations.append({"steps": (epoch + 1) * int(steps_per_epoch), "validation": value,
                                     "train_loss": float((logs or {}).get("loss", float("nan")))})
            if self.best is None or value > self.best["validation"]:
                self.best, self.best_weights = self.evaluations[-1], self.model.get_weights()
            elif len(self.evaluations) - 1 - self.evaluations.index(self.best) >= int(patience):
                self.model.stop_training, self.stopped_early = True, True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return BestValidation()


def finetune_run(kind, cfg, backbone, tokenizer, train_ds, val, lr, steps, run_s, run_dir, evaluations=1):
    """One fine-tuning run (one arm, one learning rate): ``steps`` steps of warm-up + linear decay from ``lr``
    -> (task, {"learning_rate", "validation", "fit_seconds", ...}), scored on ``val`` (a sample of the validation
    split). ``evaluations`` > 1 (a long run): the steps are cut into that many epochs, the validation score is
    measured after each, training stops after ``cfg.early_stopping_patience`` without progress and the best
    weights are kept (:func:`best_validation`)."""
    from keras_bert_zoo.train.clocks import RunClock, TimeBudget
    from keras_bert_zoo.train.loop import FitConfig, fit_task

    task = make_task(kind, backbone, tokenizer, cfg)
    evaluations = max(1, min(int(evaluations), steps))
    per_epoch = -(-steps // evaluations)
    fit = FitConfig(epochs=evaluations, batch_size=cfg.batch_size, learning_rate=lr, warmup_ratio=0.1,
                    weight_decay=0.01, clipnorm=1.0, steps_per_epoch=per_epoch, backup=False, tensorboard=False,
                    verbose=0)
    budget = TimeBudget(run_s * 1.5)     # a safety net: the steps were sized to run_s
    best = best_validation(lambda model: validation_score(kind, task, val), cfg.early_stopping_patience, per_epoch)
    extra = [budget] + ([best] if evaluations > 1 else [])
    clock = RunClock(include_startup=False)
    with clock.phase("fit"):
        result = fit_task(task, train_ds, None, run_dir, fit, train_size=per_epoch * cfg.batch_size,
                          extra_callbacks=extra)
    last = result.history[-1] if result.history else {}
    row = {"learning_rate": lr, "fit_seconds": round(clock.phases["fit"], 1),
           "stopped_by_time_budget": budget.stopped_early, "steps_planned": per_epoch * evaluations,
           "train_loss": float(last.get("loss", float("nan")))}
    if evaluations > 1:
        row.update(validation=best.best["validation"] if best.best else validation_score(kind, task, val),
                   best_steps=best.best["steps"] if best.best else 0, evaluations=best.evaluations,
                   stopped_early=best.stopped_early)
    else:
        row["validation"] = validation_score(kind, task, val)
    return task, row


def _fitting_steps(seconds, fixed_s, step_s):
    return int((seconds - fixed_s) / step_s)


def _run_steps(kind, probe, train_ds, val, n_train, n_probes, budget, cfg):
    """(probe steps, long-run steps, info): what fits a probe's and a long run's budget (``budget``: {"probe",
    "run"} seconds) after their fixed costs (first step, validations, their share of this measurement), measured
    on the throw-away ``probe`` task."""
    from keras_bert_zoo.train.clocks import RunClock

    clock = RunClock(include_startup=False)
    with clock.phase("probe"):
        step_s, first_s = _measure_step_seconds(probe, train_ds)
        with clock.phase("validation"):
            validation_score(kind, probe, val)
    val_s = clock.phases["validation"]
    share = clock.phases["probe"] / (n_probes + len(ARMS))
    probe_steps = _fitting_steps(budget["probe"], share + first_s + val_s, step_s) if n_probes else 0
    long_steps = _fitting_steps(budget["run"], share + first_s + cfg.evaluations_per_run * val_s, step_s)
    if min(probe_steps if n_probes else 2, long_steps) < 2:
        print(f"  {kind}: a probe's ({budget['probe']:.0f} s) or a long run's ({budget['run']:.0f} s) budget does "
              f"not cover its fixed costs (first step {first_s:.0f} s, validation {val_s:.0f} s each): it takes the "
              f"minimum of 2 steps and the demo will exceed --time_budget_min", flush=True)
    probe_steps, long_steps = (max(2, probe_steps) if n_probes else 0), max(2, long_steps)
    batches = -(-n_train // cfg.batch_size)
    print(f"  {kind}: {n_train} training examples ({batches} batches of {cfg.batch_size}); {step_s * 1000:.0f} ms "
          f"per step, first step {first_s:.0f} s, validation {val_s:.0f} s -> " + (f"learning-rate probes of "
          f"{probe_steps} steps ({n_probes}: {len(ARMS)} arms x the grid), then " if n_probes else "") +
          f"one long run per arm of "
          f"{long_steps} steps ({long_steps / batches:.2f} epochs, {cfg.evaluations_per_run} validations, "
          f"early stopping)", flush=True)
    return probe_steps, long_steps, {
        "steps_per_run": long_steps, "probe_steps": probe_steps, "step_seconds_measured": round(step_s, 4),
        "first_step_seconds": round(first_s, 1), "validation_seconds": round(val_s, 1),
        "batches_per_epoch": batches, "epochs_per_run": round(long_steps / batches, 3),
        "epochs_per_probe": round(probe_steps / batches, 3), "evaluations_per_run": cfg.evaluations_per_run,
        "early_stopping_patience": cfg.early_stopping_patience}


def finetune_task(kind, cfg: ZhDemoConfig, pretrained, tokenizer, train, val, budget, out: Path):
    """Both arms: each arm's learning rate tuned over the task's grid by short probe runs (:func:`_tune_arm`),
    then one long run of the arm at that learning rate, early-stopped on validation with its best weights ->
    ({arm: {"task", "learning_rate", "validation", "grid": [probe rows], "long_run": row}}, steps info).
    ``budget``: {"probe": seconds of one probe, "run": seconds of one long run} (see ``budget_split``); every
    probe has the same steps, and so has every long run."""
    import warnings

    from keras_bert_zoo.apps.from_scratch import backbone_factory

    # the tagger does not use the pooler: Keras says so at every step of the first call
    warnings.filterwarnings("ignore", message=r".*Gradients do not exist for variables \['pooler.*")
    val = selection_sample(kind, val, cfg)
    probe = make_task(kind, backbone_factory(pretrained, "random_init", cfg.seed)(), tokenizer, cfg)
    train_ds = training_dataset(kind, probe, train, cfg)
    n_train = len(train[0]) if kind == "sentiment" else len(train)
    grid_lrs = cfg.lr_grid if kind == "sentiment" else cfg.ner_lr_grid
    n_probes = len(ARMS) * len(grid_lrs) if len(grid_lrs) > 1 else 0     # one learning rate: nothing to probe
    probe_steps, long_steps, info = _run_steps(kind, probe, train_ds, val, n_train, n_probes, budget, cfg)
    metric = "accuracy" if kind == "sentiment" else "entity F1"

    def run(arm, backbone, lr, seed):
        task, row = finetune_run(kind, cfg, backbone, tokenizer, train_ds, val, lr, probe_steps, budget["probe"],
                                 out / kind / arm / f"probe_lr{lr:g}")
        print(f"  {kind} {arm:11s} probe lr {lr:g}: validation {metric} {row['validation']:.4f}  "
              f"({row['fit_seconds']:.0f} s)", flush=True)
        return None, row                     # a probe's task is not kept: the long run replaces it

    arms = {}
    for arm in ARMS:
        make = backbone_factory(pretrained, arm, cfg.seed)
        tuned = (_tune_arm(kind, arm, make, grid_lrs, run, out, cfg.seed) if n_probes
                 else {"learning_rate": grid_lrs[0], "grid": []})
        lr = tuned["learning_rate"]
        task, row = finetune_run(kind, cfg, make(None), tokenizer, train_ds, val, lr, long_steps, budget["run"],
                                 out / kind / arm / f"lr{lr:g}", evaluations=cfg.evaluations_per_run)
        print(f"  {kind} {arm:11s} long run lr {lr:g}: validation {metric} {row['validation']:.4f} (best after "
              f"{row['best_steps']} of {row['steps_planned']} steps{', stopped early' if row['stopped_early'] else ''}"
              f"; {row['fit_seconds']:.0f} s)", flush=True)
        arms[arm] = {"learning_rate": lr, "validation": row["validation"], "grid": tuned["grid"], "long_run": row,
                     "task": task}
    return arms, info


def _tune_arm(kind, arm, make, grid_lrs, run, out: Path, seed):
    """One arm's learning rate: a KerasTuner grid search over ``grid_lrs`` (trial 0 the first), each trial
    ``run(arm, fresh backbone, lr, None) -> (task, row)`` scored by ``row["validation"]`` -> ``{"learning_rate",
    "validation", "grid": [row per trial], "task": the best trial's task}``. Ties on the validation score (4
    decimals) go to the lower training loss: a probe too short to find any entity scores F1 0 at every rate (the
    40-minute run: all four NER probes), and the first rate of the grid is not the better guess then."""
    from keras_bert_zoo.train import tuning

    tasks, rows = {}, []

    def trial(values, trial_dir):
        lr = values["learning_rate"]
        task, row = run(arm, make(None), lr, None)
        rows.append(row)
        tasks[lr] = task
        return {"validation": row["validation"], "selection": probe_selection_score(row)}

    result = tuning.search(trial, tuning.search_space({"learning_rate": list(grid_lrs)}), out / kind / arm / "tuner",
                           objective="selection", max_trials=len(grid_lrs), algorithm="grid", seed=seed,
                           overwrite=True, verbose=0)
    best = result.best_values["learning_rate"]
    validation = next(r["validation"] for r in rows if r["learning_rate"] == best)
    return {"learning_rate": best, "validation": validation, "grid": rows, "task": tasks.pop(best)}


def probe_selection_score(row) -> float:
    """A probe's score for choosing the learning rate: its validation score to 4 decimals, ties broken by the
    lower final training loss (a difference below 1e-4 of the validation score never outweighs a loss)."""
    loss = row.get("train_loss")
    tie_break = 1e-6 * math.tanh(loss) if loss is not None and math.isfinite(loss) else 1e-6
    return round(float(row["validation"]), 4) - tie_break
