"""Time from process start to the first trained batch: ours vs Hugging Face transformers (torch), fresh processes.

    python benchmarks/first_batch.py --hf_dir /path/to/minilm_hf_dir --rounds 3 --out benchmarks/results/first_batch.json
    python benchmarks/first_batch.py --hf_dir ... --also base=/path/to/another/checkout   # A/B two trees of ours

Each round starts one fresh Python process per implementation (order alternating between rounds) that does what
a user's first script does: import, build the classifier from the same MiniLM-L6-H384 checkpoint, and train on
64 real tweets, batch 32 (two steps). The process reports wall-clock marks; the parent measures from just
before it spawns the process, so interpreter start and imports count. Ours: ``TextClassifier.from_preset`` and
``fit`` on raw strings (the recipe's AdamW + schedule); HF: ``BertTokenizerFast`` + ``BertForSequenceClassification``
+ ``torch.optim.AdamW`` with the same linear schedule, eager. Both sides use --threads threads. Reported per
implementation: medians over rounds of import, build, first step (fit start to the end of batch 1, tracing
included), second step, and the total (spawn to the end of batch 1); ratios ours / HF.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _common import interleaved, load_average, machine, median, ratio, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

OURS = r"""
import json, sys, time
marks = {}
import keras_bert_zoo, keras, tensorflow as tf
from keras_bert_zoo import TextClassifier
marks["imported"] = time.time()
tf.config.threading.set_intra_op_parallelism_threads(THREADS)
tf.config.threading.set_inter_op_parallelism_threads(THREADS)
texts, labels = json.load(open(DATA))
task = TextClassifier.from_preset(PRESET, labels=sorted(set(labels)), sequence_length=SEQ_LEN)
marks["built"] = time.time()

class Marks(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        marks["fit_begin"] = time.time()
    def on_train_batch_end(self, batch, logs=None):
        marks[f"batch_{batch}"] = time.time()

task.fit(texts, labels, batch_size=32, epochs=1, verbose=0, callbacks=[Marks()])
marks["module"] = keras_bert_zoo.__file__
print("MARKS " + json.dumps(marks))
"""

HF = r"""
import json, sys, time
marks = {}
import torch, transformers
marks["imported"] = time.time()
torch.set_num_threads(THREADS)
torch.manual_seed(0)
texts, labels = json.load(open(DATA))
names = sorted(set(labels))
tok = transformers.BertTokenizerFast.from_pretrained(HF_DIR)
model = transformers.BertForSequenceClassification.from_pretrained(HF_DIR, num_labels=len(names))
no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=5e-5, eps=1e-6)
steps = len(texts) // 32
sched = transformers.get_linear_schedule_with_warmup(opt, max(1, int(0.1 * steps)), steps)
marks["built"] = time.time()
marks["fit_begin"] = time.time()
model.train()
for b in range(steps):
    batch = tok(texts[b * 32:(b + 1) * 32], padding="longest", truncation=True, max_length=SEQ_LEN,
                return_tensors="pt")
    y = torch.tensor([names.index(l) for l in labels[b * 32:(b + 1) * 32]])
    loss = model(**batch, labels=y).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step(); sched.step(); opt.zero_grad()
    marks[f"batch_{b}"] = time.time()
print("MARKS " + json.dumps(marks))
"""


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="minilm_l6_h384_uncased")
    parser.add_argument("--hf_dir", required=True, help="HF directory of the same checkpoint")
    parser.add_argument("--seq_len", type=int, default=64)
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", default=None, help="tweet corpus CSV (default: the cached one)")
    parser.add_argument("--also", action="append", default=[],
                        help="NAME=CHECKOUT: also time ours from another checkout of this project (A/B)")
    parser.add_argument("--no_hf", action="store_true", help="only ours (and --also)")
    parser.add_argument("--out", default=None)
    return parser.parse_args(argv)


def child(code: str, pythonpath: str | None, timeout=900) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    start = time.time()
    # cwd: `python -c` puts the working directory first on sys.path, before PYTHONPATH — run in the tree itself
    # (an --also checkout run from this one's directory imported this one: the A/B compared a tree with itself)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=pythonpath or tempfile.gettempdir())
    line = next((x for x in proc.stdout.splitlines() if x.startswith("MARKS ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"child failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    m = json.loads(line[6:])
    return {"import": m["imported"] - start, "build": m["built"] - m["imported"],
            "first_step": m["batch_0"] - m["fit_begin"], "second_step": m["batch_1"] - m["batch_0"],
            "total": m["batch_0"] - start, "module": m.get("module")}


def main(argv=None):
    args = parse(argv)
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits

    texts, labels = tweet_sentiment_splits(args.corpus, seed=args.seed)["train"]
    data = os.path.abspath(f"first_batch_data_{os.getpid()}.json")
    with open(data, "w", encoding="utf-8") as f:
        json.dump([list(texts[:args.examples]), list(labels[:args.examples])], f)
    subs = dict(THREADS=str(args.threads), DATA=repr(data), PRESET=repr(args.preset), SEQ_LEN=str(args.seq_len),
                HF_DIR=repr(args.hf_dir))

    def fill(code):
        for key, value in subs.items():
            code = code.replace(key, value)
        return code

    impls = {"ours": (fill(OURS), ROOT)}
    for spec in args.also:
        name, _, tree = spec.partition("=")
        impls[name] = (fill(OURS), os.path.abspath(tree))
    if not args.no_hf:
        impls["hf_torch"] = (fill(HF), None)
    load_before = load_average()
    runs = {name: [] for name in impls}

    def run(name):
        def once(r):
            got = child(*impls[name])
            runs[name].append(got)
            print(f"round {r} {name}: " + ", ".join(f"{k} {v:.2f}s" for k, v in got.items() if k != "module"),
                  flush=True)
            return got["total"]
        return once

    try:
        interleaved({name: run(name) for name in impls}, args.rounds)
    finally:
        os.remove(data)
    keys = ("import", "build", "first_step", "second_step", "total")
    medians = {name: {k: round(median([r[k] for r in rs]), 3) for k in keys} for name, rs in runs.items()}
    result = {"args": vars(args), "rounds": runs, "median_s": medians,
              "load_average": [load_before, load_average()], "machine": machine(threads=args.threads)}
    if "hf_torch" in medians:
        result["ratio_vs_hf"] = {name: {k: ratio(m[k], medians["hf_torch"][k]) for k in keys}
                                 for name, m in medians.items() if name != "hf_torch"}
    print(f"\nmedians over {args.rounds} rounds (s); load average {load_before} -> {load_average()}")
    print(f"{'':10s}" + "".join(f"{k:>13s}" for k in keys))
    for name, m in medians.items():
        print(f"{name:10s}" + "".join(f"{m[k]:13.2f}" for k in keys))
    for name, r in result.get("ratio_vs_hf", {}).items():
        print(f"{name + '/hf':10s}" + "".join(f"{r[k]:13.2f}" for k in keys))
    if args.out:
        write_json(args.out, result, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
