"""TensorFlow's CPU allocator: malloc/free (TF's default) vs its BFC pool (``TF_CPU_ALLOCATOR_USE_BFC=true``, which
importing keras_bert_zoo sets unless the variable is set; each variant here sets it explicitly). Per step of three
workloads — the zh demo's pretraining step (L-2 H-128, T128, batch 32, 40 % masking, XLA), a MiniLM-L6 fine-tuning step on tweets (batch 32, T64; one ``fit`` timed batch
by batch) and a MiniLM predict batch (64 tweets) — the wall time (median of the steps), the page faults, and the
user and system CPU seconds. The allocator is chosen when TF makes its first CPU tensor, so each measurement is a
child process; the two variants alternate round by round.

    python benchmarks/cpu_allocator.py --rounds 3 --steps 10 --out benchmarks/results/cpu_allocator.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import interleaved, machine, median, ratio, write_json  # noqa: E402  (the script's directory)

VARIANTS = {"malloc": "false", "bfc": "true"}
WORKLOADS = ("pretrain", "finetune", "predict")


def _pretrain_steps(steps):
    """(run one step, number of batches) for the zh demo's pretrainer on random whitespace-separated words."""
    import keras
    import numpy as np

    from keras_bert_zoo.config import BertConfig
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.tasks.pretrainer import build_pretrainer, compile_pretrainer
    from keras_bert_zoo.text import WordPieceTokenizer
    from keras_bert_zoo.train.optimizers import BertAdamW

    size = 6367                                          # the zh demo's vocabulary size
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(size - 5)]
    ids = P.TokenIds.from_vocabulary(vocab)
    rng = np.random.default_rng(0)
    docs = [[" ".join(f"w{j}" for j in rng.integers(0, size - 5, size=rng.integers(8, 50))) for _ in range(6)]
            for _ in range(400)]
    docs = list(P.tokenize_documents(docs, WordPieceTokenizer(vocab, lowercase=True), ids,
                                     word_boundaries="whitespace"))
    data = P.PretrainingDataConfig(max_seq_length=128, max_predictions_per_seq=52, masked_lm_prob=0.4,
                                   whole_word_masking=False)
    batches = list(P.dynamic_dataset(docs, ids, data, 32, seed=1, epochs=None).take(steps))
    keras.utils.set_random_seed(0)
    config = BertConfig.from_name("bert_uncased_L-2_H-128").replace(vocab_size=size)
    model = compile_pretrainer(build_pretrainer(config), BertAdamW(learning_rate=1e-3, weight_decay=0.01,
                                                                   global_clipnorm=1.0),
                               nsp_weight=0.0, jit_compile=True)
    return lambda i: model.train_on_batch(*batches[i][:2], sample_weight=batches[i][2])


def _minilm(steps, batch):
    import keras_bert_zoo as kbz
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits

    texts, labels = tweet_sentiment_splits(None, seed=0)["train"]
    texts, labels = texts[:steps * batch], labels[:steps * batch]
    clf = kbz.TextClassifier.from_preset("minilm_l6_h384_uncased", labels=sorted(set(labels)), sequence_length=64)
    return clf, texts, labels


def child(workload, steps, warmup):
    import resource
    import time

    import keras_bert_zoo  # noqa: F401  (the package's import-time defaults, as a user gets them)

    n = steps + warmup
    if workload == "pretrain":
        step = _pretrain_steps(n)
    elif workload == "finetune":            # one fit over all the batches, timed batch by batch
        import keras

        clf, texts, labels = _minilm(n, 32)
        marks = []

        class Marks(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                marks.append((resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()))

            def on_train_end(self, logs=None):
                marks.append((resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()))

        clf.fit(x=texts, y=labels, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[Marks()])
        (r0, _), (r1, _) = marks[warmup], marks[-1]
        walls = [b[1] - a[1] for a, b in zip(marks[warmup:-1], marks[warmup + 1:])]
        return _report(walls, r0, r1, steps)
    else:
        clf, texts, _ = _minilm(n, 64)
        step = lambda i: clf.predict(texts[64 * i:64 * (i + 1)], batch_size=64, verbose=0)  # noqa: E731
    for i in range(warmup):
        step(i)
    r0, walls = resource.getrusage(resource.RUSAGE_SELF), []
    for i in range(warmup, n):
        t = time.perf_counter()
        step(i)
        walls.append(time.perf_counter() - t)
    _report(walls, r0, resource.getrusage(resource.RUSAGE_SELF), steps)


def _report(walls, r0, r1, steps):
    print(json.dumps({"wall_s": median(walls), "faults": (r1.ru_minflt - r0.ru_minflt) / steps,
                      "user_s": (r1.ru_utime - r0.ru_utime) / steps, "sys_s": (r1.ru_stime - r0.ru_stime) / steps,
                      "max_rss_mb": r1.ru_maxrss / 1024}))


def measure(workload, variant, steps, warmup):
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC=VARIANTS[variant], TF_CPP_MIN_LOG_LEVEL="3",
               CUDA_VISIBLE_DEVICES="")
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", workload, "--steps", str(steps),
                        "--warmup", str(warmup)], capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{workload} / {variant} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="steps run first and not timed (tracing)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.steps, args.warmup)
    result = {"args": vars(args), "machine": machine(), "workloads": {}}
    for workload in args.workloads.split(","):
        runs = interleaved({v: (lambda r, v=v: measure(workload, v, args.steps, args.warmup)) for v in VARIANTS},
                           rounds=args.rounds,
                           on_round=lambda i, vals: print(workload, i, json.dumps(vals), flush=True))
        summary = {v: {k: round(median([run[k] for run in runs[v]]), 4) for k in runs[v][0]} for v in VARIANTS}
        summary["wall_ratio_bfc_over_malloc"] = ratio(summary["bfc"]["wall_s"], summary["malloc"]["wall_s"])
        summary["rounds"] = runs
        result["workloads"][workload] = summary
        print(workload, json.dumps({k: v for k, v in summary.items() if k != "rounds"}), flush=True)
    result["machine_after"] = machine()
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
