"""Fine-tuning step time of MiniLM-L6 on tweets, float32 vs mixed_bfloat16 (issue 12's bf16 recipe): the same
batches (batch 32, the demo's length-grouped batches, T <= 64), the two models alternating step by step, median
after 3 warm-up steps each. Worth it where oneDNN has bf16 dot products (AVX512-BF16, AMX); elsewhere bf16 is
converted to fp32 inside the kernels and is no faster (issue-16 note).

    python benchmarks/precision_step.py --steps 20 --out benchmarks/results/precision_step.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_flags, load_average, machine, ratio, write_json  # noqa: E402  (the script's directory)
from small_models import interleaved_step_times  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="minilm_l6_h384_uncased")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--train_examples", type=int, default=5000, help="tweets the batches are drawn from")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits

    texts, labels = tweet_sentiment_splits(None, seed=0)["train"]
    texts, labels = texts[:args.train_examples], labels[:args.train_examples]
    times = interleaved_step_times(args.preset, sorted(set(labels)), texts, labels,
                                   {"float32": {}, "mixed_bfloat16": {"policy": "mixed_bfloat16"}},
                                   sequence_length=64, steps=args.steps)
    result = {"args": vars(args), "step_seconds": times,
              "speedup_bf16": ratio(times["float32"], times["mixed_bfloat16"]),
              "cpu_flags": cpu_flags(("avx512", "amx")), "load_average": load_average(), "machine": machine()}
    print(json.dumps(result, indent=2))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
