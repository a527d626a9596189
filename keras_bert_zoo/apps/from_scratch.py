"""The pretrain-vs-random-init experiment, once: pretrain a small BERT within a time budget (with a held-out
MLM curve), then fine-tune two arms with the same architecture and the same steps — the pretrained backbone
and a random initialisation — each arm keeping the learning rate of its grid that scores best on validation.

Used by `bert-zoo demo --lang zh` (:mod:`keras_bert_zoo.apps.demo_zh`), ``examples/from_scratch.py`` (English
tweets) and ``benchmarks/zh_curve.py`` (fine-tuning from the pretraining snapshots).

* :func:`pretrain_within_budget` — ``fit`` a compiled pretrainer for ``budget_s`` seconds of training; the
  :class:`BudgetLinearDecay` schedule is stretched to the steps the budget allows (re-estimated from the
  measured step rate); :class:`PretrainCurve` measures held-out accuracy at a few points outside the clock;
* :func:`heldout_evaluator` — held-out MLM / NSP accuracy on fixed batches;
* :func:`backbone_factory` — an arm's fresh backbone (pretrained weights copied, or the initialisation);
* :func:`compare_arms` — every arm over a learning-rate grid (and seeds), the best learning rate per arm.
"""

from __future__ import annotations

import statistics

import keras
from keras import ops

from keras_bert_zoo.train.clocks import StepClock

__all__ = ["ARMS", "BudgetLinearDecay", "PretrainCurve", "heldout_evaluator", "pretrain_within_budget",
           "backbone_factory", "compare_arms"]

#: the two arms: the pretrained backbone and the same architecture without pretraining
ARMS = ("pretrained", "random_init")


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BudgetLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Warm-up (``warmup_fraction`` of the steps) then linear decay to 0 at ``total_steps``, a variable that
    :class:`PretrainCurve` re-estimates from the measured step rate so the decay ends with the budget."""

    def __init__(self, peak_learning_rate, warmup_fraction=0.05, initial_total_steps=1000):
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_fraction = float(warmup_fraction)
        self.total_steps = keras.Variable(float(initial_total_steps), trainable=False, dtype="float32",
                                          name="budget_total_steps")

    def __call__(self, step):
        step = ops.cast(step, "float32")
        total = ops.maximum(ops.convert_to_tensor(self.total_steps), 2.0)
        warm = ops.maximum(total * self.warmup_fraction, 1.0)
        up = step / warm
        down = ops.clip((total - step) / ops.maximum(total - warm, 1.0), 0.0, 1.0)
        return self.peak_learning_rate * ops.minimum(up, down)

    def get_config(self):
        return {"peak_learning_rate": self.peak_learning_rate, "warmup_fraction": self.warmup_fraction,
                "initial_total_steps": float(ops.convert_to_numpy(self.total_steps))}


class PretrainCurve(StepClock):
    """A :class:`~keras_bert_zoo.train.clocks.StepClock` (training time from the end of the first batch, the
    held-out evaluations left out) that stops at ``budget_s``, re-estimates the schedule's total steps from the
    measured step rate, and measures held-out accuracy (``evaluate()``) every ``budget_s / points`` seconds of
    training. ``snapshot_dir``: the backbone's weights are saved at each point (``benchmarks/zh_curve.py``)."""

    def __init__(self, budget_s, schedule, evaluate, points, tokens_per_step, snapshot_dir=None):
        super().__init__(skip=1, tokens_per_step=tokens_per_step)
        self.snapshot_dir = snapshot_dir
        self.budget_s, self.schedule, self.evaluate = budget_s, schedule, evaluate
        self.every = budget_s / max(points, 1)
        self.next_eval = self.every
        self.curve = []

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.timed_steps >= 5 and self.timed_steps % 10 == 0:
            self.schedule.total_steps.assign(float(max(self.steps + 1, int(self.steps_per_second * self.budget_s))))
        if self.seconds >= self.next_eval or self.seconds >= self.budget_s:
            with self.paused():                          # the evaluation is not training time
                self.point(logs)
            self.next_eval += self.every
        if self.seconds >= self.budget_s:
            self.model.stop_training = True

    def point(self, logs=None):
        held = self.evaluate()
        row = {"train_seconds": round(self.seconds, 1), "steps": self.steps,
               "tokens_seen": self.steps * self.tokens_per_step, **held}
        if logs:
            row.update({f"train_{k}": float(v) for k, v in logs.items()
                        if k in ("mlm_logits_accuracy", "loss", "nsp_logits_accuracy")})
        if self.snapshot_dir is not None:
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
            path = self.snapshot_dir / f"step{self.steps:07d}.weights.h5"
            self.model.backbone.save_weights(str(path))
            row["snapshot"] = path.name
        self.curve.append(row)
        print(f"  pretraining {row['train_seconds']:7.1f} s  step {row['steps']:6d}  held-out MLM accuracy "
              f"{held['heldout_mlm_accuracy']:.4f}  NSP accuracy {held['heldout_nsp_accuracy']:.4f}", flush=True)


def heldout_evaluator(model, batches):
    """() -> held-out MLM / NSP accuracy of ``model`` on fixed ``(x, y, sample_weight)`` batches (forward passes,
    no Keras evaluate, so the training metrics are left alone)."""
    import numpy as np

    def evaluate():
        hit = total = nsp_hit = nsp_n = 0.0
        for x, y, w in batches:
            out = model(x, training=False)
            pred = np.argmax(np.asarray(out["mlm_logits"]), axis=-1)
            weight = np.asarray(w["mlm_logits"])
            hit += float(((pred == np.asarray(y["mlm_logits"])) * weight).sum())
            total += float(weight.sum())
            nsp = np.argmax(np.asarray(out["nsp_logits"]), axis=-1)
            nsp_hit += float((nsp == np.asarray(y["nsp_logits"])).sum())
            nsp_n += len(nsp)
        return {"heldout_mlm_accuracy": hit / max(total, 1.0), "heldout_nsp_accuracy": nsp_hit / max(nsp_n, 1.0)}

    return evaluate


def pretrain_within_budget(model, dataset, schedule, budget_s, evaluate, points, tokens_per_step,
                           snapshot_dir=None):
    """``fit`` the compiled pretrainer ``model`` (its optimizer on ``schedule``, a :class:`BudgetLinearDecay`) on
    the endless ``dataset`` (or a function making it, called after the first curve point) for ``budget_s``
    seconds of training -> (curve callback, fit info). The curve starts with the point before training and
    ends with the last step."""
    from keras_bert_zoo.train.pretraining import fit_pretrainer

    curve = PretrainCurve(budget_s, schedule, evaluate, points, tokens_per_step, snapshot_dir)
    curve.curve.append({"train_seconds": 0.0, "steps": 0, "tokens_seen": 0, **evaluate()})
    dataset = dataset() if callable(dataset) else dataset
    _, info = fit_pretrainer(model, dataset, steps_per_epoch=10 ** 9, epochs=1, callbacks=[curve],
                             tokens_per_step=tokens_per_step, verbose=0)
    if not curve.curve or curve.curve[-1]["steps"] != curve.steps:
        curve.point()
    return curve, info


def backbone_factory(source, arm, seed):
    """``make(run_seed)`` -> a fresh backbone of ``source``'s architecture: for ``arm == "pretrained"``
    ``source``'s weights are copied, otherwise it keeps the initialisation drawn after
    ``keras.utils.set_random_seed(seed)``. ``source``: a backbone, or ``(config, weights)``."""
    from keras_bert_zoo.models.backbone import BertBackbone

    config, weights = (source.config, None) if hasattr(source, "config") else source

    def make(run_seed=None):
        keras.utils.set_random_seed(seed)
        backbone = BertBackbone(config)
        if arm == "pretrained":
            backbone.set_weights(source.get_weights() if weights is None else weights)
        elif weights is not None:
            backbone.set_weights(weights)
        return backbone

    return make


def compare_arms(arms, learning_rates, run, seeds=(None,)):
    """Every arm over every learning rate (and seed): ``run(arm, backbone, lr, seed) -> (task, row)`` with
    ``row["validation"]`` a score (higher is better); ``arms``: ``{name: make(seed) -> fresh backbone}``.

    Returns ``{arm: {"learning_rate", "validation", "grid", "task"}}``: per arm, the learning rate with the best
    mean validation score over the seeds (the first on ties), that mean, every run's row, and the task of the
    first seed at that learning rate (the other tasks are dropped as the grid runs)."""
    results = {}
    for arm, make in arms.items():
        grid, best = [], None
        for lr in learning_rates:
            scores, kept = [], None
            for seed in seeds:
                task, row = run(arm, make(seed), lr, seed)
                grid.append(row)
                scores.append(row["validation"])
                kept = task if kept is None else kept
                del task
            score = statistics.fmean(scores)
            if best is None or score > best[0]:
                best = (score, lr, kept)
        results[arm] = {"learning_rate": best[1], "validation": best[0], "grid": grid, "task": best[2]}
    return results
