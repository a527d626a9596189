"""Small models for limited compute, on the tweet corpus (issue 12): a fine-tuned teacher, a student distilled
from it, the same student trained on the labels only, and LoRA fine-tuning — scored on the same test split,
with parameters, training time, TFLite (dynamic int8) size and batch-1 latency, all in one run.

    bert-zoo demo --train_examples 0 --epochs 1 --out runs/teacher --export ''     # the teacher (MiniLM-L6)
    python benchmarks/small_models.py --teacher runs/teacher/model.keras --arms teacher,distilled,labels_only \\
        --out benchmarks/results/small_models.json
    python benchmarks/small_models.py --arms lora --lora_rank 8 --out benchmarks/results/lora.json

Data: the demo's deterministic split (``tweet_sentiment_splits``, seed 0): every training tweet, the whole test
split (3,816 tweets); the validation subset is not used (no early stopping, no selection).

Arms (each one ``fit`` of ``--epochs`` over all training tweets, batch 32, balanced class weights as the demo,
the package's recipe: AdamW, warm-up 10 % + linear decay, clip-norm 1.0):
- ``teacher``: the model given by ``--teacher`` (scored only);
- ``distilled``: ``student_from_teacher(teacher, --student_layers)`` (the teacher's embeddings, those encoder
  blocks, pooler and head), trained by ``Distiller`` on ``alpha * CE(labels) + (1 - alpha) * T^2 * KL``;
- ``labels_only``: the same architecture made of the *pretrained* MiniLM's blocks ``--student_layers`` (what a
  user without a teacher would start from), trained on the labels;
- ``lora``: MiniLM-L6 with LoRA (rank ``--lora_rank``, query/value) + the head trainable, the rest frozen.

Latency: each arm's TFLite (dynamic int8, the export a phone gets) runs ``--latency_calls`` batch-1 tweets per
round, arms interleaved over ``--rounds`` rounds, median of all calls, ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from _common import interleaved, load_average, machine, median, timed, write_json


def scores(task, texts, labels):
    from sklearn.metrics import accuracy_score, f1_score

    pred = task.predict(texts, batch_size=64, verbose=0)
    names = [task.labels[int(i)] for i in np.asarray(pred["label_ids"])]
    return {"accuracy": float(accuracy_score(labels, names)),
            "macro_f1": float(f1_score(labels, names, average="macro"))}


def count(variables):
    return int(sum(np.prod(v.shape) for v in variables))


def balanced_weights(train_labels, labels):
    """Per-example weights of the demo's balanced class weights (so every arm trains as the teacher did)."""
    from keras_bert_zoo.metrics.classification import class_weights

    ids = np.asarray([labels.index(y) for y in train_labels])
    table = class_weights(ids, len(labels), "balanced")
    return np.asarray([table[int(c)] for c in ids], "float32")


def step_time_probe(preset, labels, texts, targets, *, lora_rank, sequence_length, steps, seed=0):
    """Seconds per training step of full fine-tuning vs LoRA on the same batches, interleaved step by step
    (after 3 untimed warm-up steps each): ``{"full": median_s, "lora": median_s}``."""
    return interleaved_step_times(preset, labels, texts, targets, {"full": {}, "lora": {"lora_rank": lora_rank}},
                                  sequence_length=sequence_length, steps=steps, seed=seed)


def interleaved_step_times(preset, labels, texts, targets, variants, *, sequence_length, steps, seed=0):
    """Median seconds per training step (batch 32) of each variant ``{name: {"policy": dtype policy,
    "lora_rank": r}}`` (both optional) on the same batches, the variants' order alternating step by step, after
    3 untimed warm-up steps each: ``{name: median_s}``."""
    import keras

    from keras_bert_zoo.tasks import TextClassifier

    models = {}
    for name, variant in variants.items():
        keras.config.set_dtype_policy(variant.get("policy", "float32"))
        try:
            task = TextClassifier.from_preset(preset, labels=labels, sequence_length=sequence_length)
        finally:
            keras.config.set_dtype_policy("float32")
        if variant.get("lora_rank"):
            task.enable_lora(variant["lora_rank"])
        task.compile(total_steps=steps + 3)
        models[name] = task
    first = next(iter(models.values()))
    batches = list(first.make_dataset(texts, targets, batch_size=32, training=True, seed=seed)
                   .repeat().take(steps + 3))
    times = interleaved({name: (lambda i, m=m: timed(m.train_on_batch, *batches[i])[0]) for name, m in models.items()},
                        steps, warmup=3)
    return {name: round(median(v), 4) for name, v in times.items()}


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", help="the fine-tuned teacher's model.keras (arms teacher, distilled)")
    parser.add_argument("--arms", default="teacher,distilled,labels_only")
    parser.add_argument("--preset", default="minilm_l6_h384_uncased")
    parser.add_argument("--student_layers", default="0,3", help="encoder blocks the student keeps")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--student_learning_rate", type=float, default=1e-4)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--lora_rank", type=int, default=8)
    parser.add_argument("--lora_learning_rate", type=float, default=5e-4)
    parser.add_argument("--train_examples", type=int, default=0, help="stratified subset (0: all)")
    parser.add_argument("--sequence_length", type=int, default=64)
    parser.add_argument("--probe_steps", type=int, default=0, help="with the lora arm: also time this many "
                        "training steps of full fine-tuning vs LoRA, interleaved (a quiet machine)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency_calls", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save_dir", default=None, help="save each trained arm's model.keras here")
    parser.add_argument("--reuse", action="store_true", help="load the arms saved in --save_dir by an earlier run "
                        "instead of training them (re-measure sizes and latency on a quiet machine)")
    parser.add_argument("--out", default=None)
    return parser.parse_args(argv)


def train_arm(arm, args, teacher, train, weights, labels, layers, saved):
    """One arm's task, trained (or the teacher, or reloaded with --reuse) -> (task, fit seconds, trainable)."""
    from keras_bert_zoo.tasks import TextClassifier, load_task
    from keras_bert_zoo.tasks.distiller import Distiller, student_from_teacher

    if arm == "teacher":
        return teacher, None, None
    if args.reuse:
        return load_task(saved), None, None
    if arm == "distilled":
        task = student_from_teacher(teacher, layers)
        distiller = Distiller(teacher, task, temperature=args.temperature, alpha=args.alpha)
        distiller.compile(learning_rate=args.student_learning_rate)
        trainable = count(task.trainable_weights)
        fit_s = timed(distiller.fit, train[0], train[1], sample_weight=weights, epochs=args.epochs,
                      batch_size=32, verbose=2)[0]
        return task, fit_s, trainable
    if arm == "labels_only":
        base = TextClassifier.from_preset(args.preset, labels=labels, sequence_length=args.sequence_length)
        task = student_from_teacher(base, layers)          # pretrained blocks, the preset's fresh head
        task.compile(learning_rate=args.student_learning_rate)
    elif arm == "lora":
        task = TextClassifier.from_preset(args.preset, labels=labels, sequence_length=args.sequence_length)
        task.enable_lora(args.lora_rank)
        task.compile(learning_rate=args.lora_learning_rate)
    else:
        sys.exit(f"unknown arm {arm!r}")
    trainable = count(task.trainable_weights)
    fit_s = timed(task.fit, train[0], train[1], sample_weight=weights, epochs=args.epochs, batch_size=32,
                  verbose=2)[0]
    return task, fit_s, trainable


def tflite_latency(args, models, results, test_texts):
    """TFLite (dynamic int8) of every arm, then interleaved batch-1 latency, into ``results``."""
    from keras_bert_zoo.export.tflite import TFLiteRunner

    root = Path(tempfile.mkdtemp(prefix="kbz-small-"))
    runners = {}
    for arm, task in models.items():
        path = task.export(root / f"{arm}.tflite", format="tflite", quantize="int8",
                           sample_inputs=test_texts[:8]).path
        results[arm]["tflite_int8_bytes"] = path.stat().st_size
        runners[arm] = TFLiteRunner(path, num_threads=args.threads)
    rng = np.random.default_rng(args.seed)
    timing = [test_texts[i] for i in rng.permutation(len(test_texts))[:args.latency_calls]]
    for arm, r in runners.items():                # warm-up
        r("serving_default", text=[timing[0]])
    rounds = interleaved({arm: (lambda _, r=r: [timed(r, "serving_default", text=[text])[0] for text in timing])
                          for arm, r in runners.items()}, args.rounds)
    for arm in runners:
        results[arm]["tflite_int8_b1_p50_ms"] = round(1000 * median([t for rnd in rounds[arm] for t in rnd]), 3)
    if "teacher" in results:
        base = results["teacher"]["tflite_int8_b1_p50_ms"]
        for arm in results:
            results[arm]["speedup_vs_teacher_b1"] = round(base / results[arm]["tflite_int8_b1_p50_ms"], 2)


def main(argv=None):
    args = parse(argv)
    import keras
    import tensorflow as tf

    from keras_bert_zoo.apps.common import stratified_subset as _subset
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits
    from keras_bert_zoo.tasks import load_task

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    load_before = load_average()
    keras.utils.set_random_seed(args.seed)
    splits = tweet_sentiment_splits(None, seed=args.seed)
    train = _subset(splits["train"], args.train_examples, args.seed)
    test_texts, test_labels = list(splits["test"][0]), list(splits["test"][1])
    labels = sorted(set(splits["train"][1]))
    layers = [int(i) for i in args.student_layers.split(",")]
    weights = balanced_weights(train[1], labels)
    arms = [a for a in args.arms.split(",") if a]
    teacher = load_task(args.teacher) if {"teacher", "distilled"} & set(arms) else None
    print(f"train {len(train[0])} tweets, test {len(test_texts)}; arms {arms}", flush=True)

    results, models = {}, {}
    for arm in arms:
        keras.utils.set_random_seed(args.seed)
        saved = Path(args.save_dir or ".") / arm / "model.keras"
        task, fit_s, trainable = train_arm(arm, args, teacher, train, weights, labels, layers, saved)
        row = {"parameters": int(task.count_params()), "trainable_parameters": trainable,
               "encoder_layers": task.backbone.config.num_layers}
        if fit_s is not None:
            row.update({"fit_seconds": round(fit_s, 1),
                        "train_examples_per_second": round(args.epochs * len(train[0]) / fit_s, 1)})
        row.update(scores(task, test_texts, test_labels))
        if args.save_dir and not args.reuse:
            path = saved
            path.parent.mkdir(parents=True, exist_ok=True)
            task.save(str(path))
            if arm == "lora":
                task.save_lora_weights(path.parent / "lora.safetensors")
                row["adapter_file_bytes"] = (path.parent / "lora.safetensors").stat().st_size
        print(f"{arm}: {json.dumps(row)}", flush=True)
        results[arm], models[arm] = row, task

    tflite_latency(args, models, results, test_texts)
    probe = None
    if args.probe_steps and "lora" in arms:
        probe = step_time_probe(args.preset, labels, train[0], train[1], lora_rank=args.lora_rank,
                                sequence_length=args.sequence_length, steps=args.probe_steps, seed=args.seed)
        print(f"step time (median of {args.probe_steps}, interleaved): {probe}", flush=True)
    out = {"args": vars(args), "step_seconds_full_vs_lora": probe, "train_examples": len(train[0]),
           "test_examples": len(test_texts),
           "machine": machine(threads=args.threads, load_average_before=load_before,
                              load_average_after=load_average()),
           "results": results}
    print(json.dumps(results, indent=1))
    if args.out:
        write_json(args.out, out, indent=1)


if __name__ == "__main__":
    main()
