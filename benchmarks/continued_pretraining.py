"""Continued (domain) pretraining on the tweets, then fine-tuning — with vs without, same fine-tuning, paired
seeds (issue 12, item 3).

    python benchmarks/continued_pretraining.py --pretrain_steps 400 --train_examples 5000 --seeds 0,1 \\
        --save_dir runs/cpt --out benchmarks/results/continued_pretraining.json

1. The unlabelled domain text: every *training* tweet of the demo's deterministic split (seed 0), one tweet
   per paragraph — never a validation or test tweet.
2. ``bert-zoo pretrain --init_from PRESET --corpus tweets.txt --corpus_format plain`` (the CLI, end to end:
   dynamic masking, MLM + NSP, the output directory is a checkpoint) for ``--pretrain_steps`` steps.
3. For every seed: fine-tune ``PRESET`` (without) and the pretraining output directory (with) on the same
   stratified ``--train_examples`` labelled tweets, the demo's recipe (1 epoch, lr 8e-5, warm-up 10 % + linear
   decay, balanced class weights, T = 64, batch 32), and score the whole test split (3,816 tweets).

The seed sets the fine-tuning initialisation (head), dropout and (through the global seed) the batch order; the
split and the labelled subset stay those of seed 0 (so no test tweet is ever in the pretraining corpus).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import load_average, machine, timed, write_json  # noqa: E402  (the script's directory)
from small_models import balanced_weights, scores  # noqa: E402


def pretrain(args, texts, out_dir: Path) -> dict:
    """Run ``bert-zoo pretrain`` on ``texts`` (one per paragraph); its summary.json plus the wall time."""
    corpus = Path(tempfile.mkdtemp(prefix="kbz-cpt-")) / "tweets.txt"
    corpus.write_text("\n\n".join(" ".join(t.split()) for t in texts) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "keras_bert_zoo.cli.main", "pretrain", f"--init_from={args.preset}",
           f"--corpus={corpus}", "--corpus_format=plain", f"--out={out_dir}",
           f"--sequence_length={args.sequence_length}", f"--max_predictions_per_seq={args.max_predictions}",
           f"--batch_size={args.batch_size}", f"--steps_per_epoch={args.pretrain_steps // args.pretrain_epochs}",
           f"--epochs={args.pretrain_epochs}", f"--learning_rate={args.pretrain_learning_rate}",
           f"--warmup_steps={max(1, args.pretrain_steps // 10)}", f"--seed={args.seeds[0]}"]
    print(" ".join(cmd), flush=True)
    seconds, _ = timed(subprocess.run, cmd, check=True)
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    return {"wall_seconds": round(seconds, 1), "command": " ".join(cmd[2:]),
            "final": summary.get("final"), "tokens_per_second": summary.get("tokens_per_second")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="minilm_l6_h384_uncased")
    parser.add_argument("--pretrain_steps", type=int, default=400)
    parser.add_argument("--pretrain_epochs", type=int, default=4, help="checkpoint intervals of the pretraining")
    parser.add_argument("--pretrain_learning_rate", type=float, default=5e-5)
    parser.add_argument("--max_predictions", type=int, default=10)
    parser.add_argument("--train_examples", type=int, default=5000, help="labelled tweets (0: all)")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning_rate", type=float, default=8e-5)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--sequence_length", type=int, default=64)
    parser.add_argument("--arms", default="without,with", help="'with' alone re-uses nothing: give the "
                        "'without' numbers of an earlier run with the same seeds to compare")
    parser.add_argument("--save_dir", required=True, help="the pretraining output directory goes here (reused "
                        "when it already holds a finished run)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import keras

    from keras_bert_zoo.apps.common import stratified_subset as _subset
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits
    from keras_bert_zoo.tasks import TextClassifier

    load_before = load_average()
    splits = tweet_sentiment_splits(None, seed=0)
    corpus_texts = list(splits["train"][0])
    train = _subset(splits["train"], args.train_examples, 0)
    test_texts, test_labels = list(splits["test"][0]), list(splits["test"][1])
    labels = sorted(set(splits["train"][1]))
    weights = balanced_weights(train[1], labels)

    cpt_dir = Path(args.save_dir) / "cpt"
    if (cpt_dir / "model.safetensors").exists():
        pretraining = {"reused": str(cpt_dir)}
    else:
        pretraining = pretrain(args, corpus_texts, cpt_dir)
    print(f"pretraining: {json.dumps(pretraining)}", flush=True)

    runs = []
    for seed in args.seeds:
        for arm, source in (("without", args.preset), ("with", str(cpt_dir))):
            if arm not in args.arms.split(","):
                continue
            keras.utils.set_random_seed(seed)
            task = TextClassifier.from_preset(source, labels=labels, sequence_length=args.sequence_length)
            task.compile(learning_rate=args.learning_rate)
            fit_s, _ = timed(task.fit, train[0], train[1], sample_weight=weights, epochs=args.epochs,
                             batch_size=args.batch_size, verbose=2)
            row = {"arm": arm, "seed": seed, "fit_seconds": round(fit_s, 1),
                   **scores(task, test_texts, test_labels)}
            print(json.dumps(row), flush=True)
            runs.append(row)

    summary = {}
    for arm in ("without", "with"):
        rows = [r for r in runs if r["arm"] == arm]
        if rows:
            summary[arm] = {m: {"mean": round(statistics.mean(r[m] for r in rows), 4),
                                "per_seed": [round(r[m], 4) for r in rows]} for m in ("accuracy", "macro_f1")}
    if len(summary) == 2:
        summary["paired_macro_f1_gain"] = [round(w - o, 4) for o, w in zip(summary["without"]["macro_f1"]["per_seed"],
                                                                           summary["with"]["macro_f1"]["per_seed"])]
    out = {"args": vars(args), "corpus_tweets": len(corpus_texts), "train_examples": len(train[0]),
           "test_examples": len(test_texts), "pretraining": pretraining, "runs": runs, "summary": summary,
           "machine": machine(affinity=len(os.sched_getaffinity(0)), load_average_before=load_before,
                              load_average_after=load_average())}
    print(json.dumps(summary, indent=1))
    if args.out:
        write_json(args.out, out, indent=1)


if __name__ == "__main__":
    main()
