"""This machine's dense matmul throughput (GFLOP/s), fp32 and bf16, in TensorFlow and torch — the CPU limit a
fine-tuning step is compared with (see benchmarks/finetune.py, which reports its step as a fraction of it).

    python benchmarks/matmul.py --threads 2 --out benchmarks/results/matmul.json

Shapes: square 1024/2048/4096 and the matmuls of a MiniLM-L6-H384 / BERT-base layer at 2,048 tokens (a batch of
32 x 64): QKV [2048, H] x [H, 3H], FFN [2048, H] x [H, 4H] and back. Each (framework, dtype, shape) is timed in
--rounds rounds, the frameworks alternating, each round the median of --calls calls after a warm-up; reported:
the median over rounds. 2·M·N·K FLOPs per matmul.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import cpu_flags, cpu_model, interleaved, load_average, machine, median, timed, write_json  # noqa: E402

SHAPES = {"square 1024": (1024, 1024, 1024), "square 2048": (2048, 2048, 2048), "square 4096": (4096, 4096, 4096),
          "H384 QKV": (2048, 384, 1152), "H384 FFN up": (2048, 384, 1536), "H384 FFN down": (2048, 1536, 384),
          "H768 QKV": (2048, 768, 2304), "H768 FFN up": (2048, 768, 3072),
          # one tweet at batch 1 (~32 tokens): the serving shapes of a MiniLM-L6-H384 layer
          "b1 H384 QKV": (32, 384, 1152), "b1 H384 out": (32, 384, 384), "b1 H384 FFN up": (32, 384, 1536),
          "b1 H384 FFN down": (32, 1536, 384)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--bf16_shapes", default="square 1024,H384 QKV,H384 FFN up,H768 FFN up",
                        help="shapes timed in bfloat16 (torch's CPU bf16 matmul without AVX512-BF16 runs at a "
                             "few GFLOP/s: the big squares would take minutes)")
    parser.add_argument("--per_call", type=int, default=1,
                        help="matmuls per timed call, each with its own right-hand matrix (for small shapes, "
                             "where one call's dispatch would be timed more than its matmul)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    torch.set_num_threads(args.threads)
    load_before = load_average()

    def tf_runner(m, k, n, dtype):
        a = tf.cast(tf.random.normal([m, k], dtype=tf.float32), dtype)
        bs = [tf.cast(tf.random.normal([k, n], dtype=tf.float32), dtype) for _ in range(args.per_call)]
        fn = tf.function(lambda: [tf.matmul(a, b) for b in bs])
        return lambda: [c.numpy() for c in fn()]

    def torch_runner(m, k, n, dtype):
        dt = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
        a, bs = torch.randn(m, k).to(dt), [torch.randn(k, n).to(dt) for _ in range(args.per_call)]
        return lambda: [torch.mm(a, b) for b in bs]

    frameworks = {"tensorflow": tf_runner, "torch": torch_runner}
    results = []
    for shape_name in args.shapes.split(","):
        m, k, n = SHAPES[shape_name]
        flops = 2.0 * m * k * n * args.per_call
        for dtype in args.dtypes.split(","):
            if dtype == "bfloat16" and shape_name not in args.bf16_shapes.split(","):
                continue
            runners = {name: make(m, k, n, dtype) for name, make in frameworks.items()}
            for fn in runners.values():
                fn()

            def gflops(fn, flops=flops):       # one round: GFLOP/s at the median of --calls calls
                return lambda _: flops / median([timed(fn)[0] for _ in range(args.calls)]) / 1e9

            per_round = interleaved({name: gflops(fn) for name, fn in runners.items()}, args.rounds)
            for name, values in per_round.items():
                row = {"framework": name, "dtype": dtype, "shape": shape_name, "mkn": [m, k, n],
                       "gflops": round(median(values), 1), "rounds": [round(v, 1) for v in values]}
                results.append(row)
                print(json.dumps(row), flush=True)

    load_after = load_average()
    lines = [f"load average before/after {load_before[0]:.2f}/{load_after[0]:.2f}; {os.cpu_count()} cores, "
             f"{args.threads} threads; {cpu_model()}; CPU flags {' '.join(cpu_flags())}; "
             f"TF {tf.__version__}, torch {torch.__version__}", "",
             "| shape (M, K, N) | " + " | ".join(f"{f} {d}" for d in args.dtypes.split(",") for f in frameworks)
             + " |", "|---|" + "---|" * (len(frameworks) * len(args.dtypes.split(",")))]
    for shape_name in args.shapes.split(","):
        cells = []
        for d in args.dtypes.split(","):
            for f in frameworks:
                row = [r for r in results if r["shape"] == shape_name and r["dtype"] == d and r["framework"] == f]
                cells.append(f"{row[0]['gflops']:.1f}" if row else "–")
        lines.append(f"| {shape_name} {tuple(SHAPES[shape_name])} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        write_json(args.out, {"args": vars(args), "load_average": [load_before, load_after], "cpu_flags": cpu_flags(),
                              "machine": machine(threads=args.threads), "numpy": np.__version__, "results": results,
                              "table": table}, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
