"""The Chinese demo's fine-tuning: sentiment and NER, both arms (pretrained, random init), each arm's learning rate
chosen on the validation sample by a KerasTuner grid search over the task's ``--lr_grid`` / ``--ner_lr_grid``
(:func:`keras_bert_zoo.train.tuning.search`; the first value is trial 0), every run the same number of steps,
sized from a measured step time so that a run fits its share of the budget."""

from __future__ import annotations

import random
from pathlib import Path

from keras_bert_zoo.apps.demo_zh.config import ARMS, NER_LABELS, SENTIMENT_LABELS, ZhDemoConfig

__all__ = ["sample", "finetune_splits", "selection_sample", "ner_sentences", "make_task", "validation_score",
           "training_dataset", "finetune_run", "finetune_task"]


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
        # no sliding windows for reviews: their averaging needs ops TFLite lacks (Flex), and the phone export is
        # part of the deliverable; a review longer than the window is truncated (the report counts them)
        return TextClassifier(backbone, preprocessor=pre, labels=SENTIMENT_LABELS)
    return TokenClassifier(backbone, preprocessor=pre, labels=NER_LABELS)


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


def finetune_run(kind, cfg, backbone, tokenizer, train_ds, val, lr, steps, run_s, run_dir):
    """One fine-tuning run (one arm, one learning rate): ``steps`` steps of warm-up + linear decay from ``lr``
    -> (task, {"learning_rate", "validation", "fit_seconds", ...}). ``val`` chooses the LR (a sample of the
    validation split)."""
    from keras_bert_zoo.train.clocks import RunClock, TimeBudget
    from keras_bert_zoo.train.loop import FitConfig, fit_task

    task = make_task(kind, backbone, tokenizer, cfg)
    fit = FitConfig(epochs=1, batch_size=cfg.batch_size, learning_rate=lr, warmup_ratio=0.1, weight_decay=0.01,
                    clipnorm=1.0, steps_per_epoch=steps, backup=False, tensorboard=False, verbose=0)
    budget = TimeBudget(run_s * 1.5)     # a safety net: the steps were sized to run_s
    clock = RunClock(include_startup=False)
    with clock.phase("fit"):
        result = fit_task(task, train_ds, None, run_dir, fit, train_size=steps * cfg.batch_size,
                          extra_callbacks=[budget])
    last = result.history[-1] if result.history else {}
    return task, {"learning_rate": lr, "validation": validation_score(kind, task, val),
                  "fit_seconds": round(clock.phases["fit"], 1), "stopped_by_time_budget": budget.stopped_early,
                  "steps_planned": steps, "train_loss": float(last.get("loss", float("nan")))}


def _steps_per_run(kind, probe, train_ds, val, n_train, n_lrs, run_s, cfg):
    """Steps of every run of ``kind``: what fits ``run_s`` after its fixed costs (first step, validation, its
    share of this probe), measured on the throw-away ``probe`` task."""
    from keras_bert_zoo.train.clocks import RunClock

    clock = RunClock(include_startup=False)
    with clock.phase("probe"):
        step_s, first_s = _measure_step_seconds(probe, train_ds)
        with clock.phase("validation"):
            validation_score(kind, probe, val)
    val_s = clock.phases["validation"]
    probe_share = clock.phases["probe"] / (len(ARMS) * n_lrs)
    fitting = int((run_s - probe_share - first_s - val_s) / step_s)
    steps = max(2, fitting)
    if fitting < 2:
        fixed = probe_share + first_s + val_s
        print(f"  {kind}: a run's budget ({run_s:.0f} s) does not cover its fixed costs ({fixed:.0f} s: first "
              f"step, validation, probe share): every run takes the minimum of 2 steps and the demo will exceed "
              f"--time_budget_min", flush=True)
    batches = -(-n_train // cfg.batch_size)
    print(f"  {kind}: {n_train} training examples ({batches} batches of {cfg.batch_size}); {step_s * 1000:.0f} ms "
          f"per step, {first_s + val_s:.0f} s first step + validation measured -> {steps} steps per run "
          f"({steps / batches:.2f} epochs; budget {run_s:.0f} s per run, {len(ARMS)} arms x {n_lrs} learning "
          f"rates)", flush=True)
    return steps, {"steps_per_run": steps, "step_seconds_measured": round(step_s, 4),
                   "first_step_seconds": round(first_s, 1), "validation_seconds": round(val_s, 1),
                   "batches_per_epoch": batches, "epochs_per_run": round(steps / batches, 3)}


def finetune_task(kind, cfg: ZhDemoConfig, pretrained, tokenizer, train, val, run_s, out: Path):
    """Both arms, each with its learning rate tuned over the task's grid (:func:`_tune_arm`) -> ({arm: {"task",
    "learning_rate", "validation", "grid": [...]}}, steps info) (the best run kept). Every run has the same
    number of steps, sized so that a run *with* its fixed costs (first step, validation) and its share of the
    probe that measures them takes ``run_s``."""
    import warnings

    from keras_bert_zoo.apps.from_scratch import backbone_factory

    # the tagger does not use the pooler: Keras says so at every step of the first call
    warnings.filterwarnings("ignore", message=r".*Gradients do not exist for variables \['pooler.*")
    val = selection_sample(kind, val, cfg)
    probe = make_task(kind, backbone_factory(pretrained, "random_init", cfg.seed)(), tokenizer, cfg)
    train_ds = training_dataset(kind, probe, train, cfg)
    n_train = len(train[0]) if kind == "sentiment" else len(train)
    grid_lrs = cfg.lr_grid if kind == "sentiment" else cfg.ner_lr_grid
    steps, info = _steps_per_run(kind, probe, train_ds, val, n_train, len(grid_lrs), run_s, cfg)

    def run(arm, backbone, lr, seed):
        task, row = finetune_run(kind, cfg, backbone, tokenizer, train_ds, val, lr, steps, run_s,
                                 out / kind / arm / f"lr{lr:g}")
        print(f"  {kind} {arm:11s} lr {lr:g}: validation {'accuracy' if kind == 'sentiment' else 'entity F1'} "
              f"{row['validation']:.4f}  ({row['fit_seconds']:.0f} s)", flush=True)
        return task, row

    arms = {arm: _tune_arm(kind, arm, backbone_factory(pretrained, arm, cfg.seed), grid_lrs, run, out, cfg.seed)
            for arm in ARMS}
    return arms, info


def _tune_arm(kind, arm, make, grid_lrs, run, out: Path, seed):
    """One arm's learning rate: a KerasTuner grid search over ``grid_lrs`` (trial 0 the first), each trial
    ``run(arm, fresh backbone, lr, None) -> (task, row)`` scored by ``row["validation"]`` -> ``{"learning_rate",
    "validation", "grid": [row per trial], "task": the best trial's task}`` (the first on ties)."""
    from keras_bert_zoo.train import tuning

    tasks, rows = {}, []

    def trial(values, trial_dir):
        lr = values["learning_rate"]
        task, row = run(arm, make(None), lr, None)
        rows.append(row)
        tasks[lr] = task
        return {"validation": row["validation"]}

    result = tuning.search(trial, tuning.search_space({"learning_rate": list(grid_lrs)}), out / kind / arm / "tuner",
                           objective="validation", max_trials=len(grid_lrs), algorithm="grid", seed=seed,
                           overwrite=True, verbose=0)
    best = result.best_values["learning_rate"]
    return {"learning_rate": best, "validation": result.best_score, "grid": rows, "task": tasks.pop(best)}
