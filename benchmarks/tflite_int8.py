"""Why full-int8 TFLite is slower than dynamic-int8 on x86: latency and op profile of each quantization, with and
without LiteRT's default delegate (XNNPACK), batch 1, real tweets, same run.

    python benchmarks/tflite_int8.py --out benchmarks/results/tflite_int8.json

Models: a MiniLM-L6-H384 classifier (the cached checkpoint, untrained 3-class head: latency and ops do not
depend on the head's values) exported with the package's ServingModule and converted by
``export.tflite.convert_saved_model``: fp32, dynamic int8, full int8 with the default float ops
(``FULL_INT8_FLOAT_OPS``) and full int8 with every op that has an int8 kernel quantized (``()``). For each:
the op types of the graph (how many QUANTIZE / DEQUANTIZE, which ops run in int8), the nodes the delegate took
over, and the batch-1 latency p50 in interleaved rounds for: default (XNNPACK applied), XNNPACK with its latest
features, and built-in kernels only (no delegate).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from _common import cpu_model, interleaved, load_average, machine, median, timed, write_json


def op_profile(content: bytes) -> dict:
    """Counts of builtin op types in the main subgraph, split by the type of their first input (int8 / float)."""
    from ai_edge_litert import schema_py_generated as schema

    m = schema.Model.GetRootAsModel(content, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    counts = collections.Counter()
    for g in range(m.SubgraphsLength()):
        sg = m.Subgraphs(g)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            oc = m.OperatorCodes(op.OpcodeIndex())
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            name = oc.CustomCode().decode() if code == schema.BuiltinOperator.CUSTOM else names.get(code, str(code))
            first = op.Inputs(0) if op.InputsLength() else -1
            dtype = types.get(sg.Tensors(first).Type(), "?") if first >= 0 else "-"
            counts[f"{name}[{dtype}]"] += 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="minilm_l6_h384_uncased")
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=20, help="batch-1 calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--representative", type=int, default=64)
    parser.add_argument("--out", default=None)
    return parser.parse_args(argv)


def convert(args, rep):
    """The four TFLite variants of the preset's classifier: {label: flatbuffer bytes}."""
    import tensorflow as tf

    from keras_bert_zoo.export.saved_model import ServingModule
    from keras_bert_zoo.export.tflite import convert_saved_model
    from keras_bert_zoo.tasks import TextClassifier

    task = TextClassifier.from_preset(args.preset, labels=["negative", "neutral", "positive"],
                                      sequence_length=args.seq_len)
    root = Path(tempfile.mkdtemp(prefix="kbz-int8-"))
    module = ServingModule(task, check_inputs=False)
    tf.saved_model.save(module, str(root / "sm"), signatures=module.signatures)
    feeds = [{"text": rep[i:i + 8]} for i in range(0, len(rep), 8)]
    variants = {"fp32": ("none", None), "dynamic int8": ("int8", None),
                "full int8 (default float ops)": ("full_int8", None), "full int8 (all int8)": ("full_int8", ())}
    models = {}
    for label, (q, float_ops) in variants.items():
        kwargs = {} if float_ops is None else {"full_int8_float_ops": float_ops}
        seconds, models[label] = timed(convert_saved_model, root / "sm", q, feeds if q == "full_int8" else None,
                                       **kwargs)
        print(f"{label}: converted in {seconds:.0f} s, {len(models[label]) / 1e6:.1f} MB", flush=True)
    return models


def make_runners(args, models, modes):
    """A signature runner per (model, interpreter mode), and each one's execution plan summary."""
    from ai_edge_litert.interpreter import InterpreterWithCustomOps

    from keras_bert_zoo.export.tflite import _tftext_registerers

    runners, nodes = {}, {}
    for label, content in models.items():
        for mode, kwargs in modes.items():
            interp = InterpreterWithCustomOps(model_content=content, num_threads=args.threads,
                                              custom_op_registerers=_tftext_registerers(), **kwargs)
            runner = interp.get_signature_runner("serving_default")
            runners[(label, mode)] = runner
            # LiteRT lists the nodes of the first subgraph only (the signature's entry graph; the encoder may sit
            # in called subgraphs): a coarse view, not a per-op profile
            plan = collections.Counter(d["op_name"] for d in interp._get_ops_details())
            delegated = sum(v for k, v in plan.items() if "delegate" in k.lower())
            nodes[(label, mode)] = {"plan_nodes": sum(plan.values()), "delegate_nodes": delegated,
                                    "top_ops": dict(plan.most_common(8))}
    return runners, nodes


def main(argv=None):
    args = parse(argv)
    import tensorflow as tf
    from ai_edge_litert.interpreter import OpResolverType

    from keras_bert_zoo.data.corpora import tweet_sentiment_splits

    load_before = load_average()
    tweets = tweet_sentiment_splits()["test"][0]
    rep, timing = tweets[:args.representative], tweets[args.representative:args.representative + args.calls]
    models = convert(args, rep)
    modes = {"XNNPACK (default)": {},
             "XNNPACK latest features": {"experimental_default_delegate_latest_features": True},
             "builtin kernels only": {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}}
    runners, nodes = make_runners(args, models, modes)
    reference = {k: r(text=np.array([t.encode() for t in timing[:4]], dtype=object))["probabilities"]
                 for k, r in runners.items()}
    keys = list(runners)
    for key in keys:                                   # warm-up
        runners[key](text=np.array([timing[0].encode()], dtype=object))
    feeds_b1 = [np.array([t.encode()], dtype=object) for t in timing]
    rounds = interleaved({key: (lambda _, r=runner: [timed(r, text=feed)[0] for feed in feeds_b1])
                          for key, runner in runners.items()}, args.rounds, order="rotate",
                         on_round=lambda r, _: print(f"round {r + 1}/{args.rounds}, load {load_average()[0]:.2f}",
                                                     flush=True))
    times = {key: [t for rnd in per_round for t in rnd] for key, per_round in rounds.items()}

    results = []
    fp32 = reference[("fp32", "XNNPACK (default)")]
    for key in keys:
        label, mode = key
        results.append({"model": label, "mode": mode, "size_mb": round(len(models[label]) / 1e6, 2),
                        "b1_p50_ms": round(1000 * median(times[key]), 2),
                        "max_abs_prob_diff_vs_fp32": float(np.abs(reference[key] - fp32).max()),
                        "execution_plan": nodes[key]})
        print(json.dumps(results[-1]), flush=True)
    profiles = {label: op_profile(content) for label, content in models.items()}
    load_after = load_average()
    lines = [f"load average before/after {load_before[0]:.2f}/{load_after[0]:.2f}; {os.cpu_count()} cores, "
             f"{args.threads} threads; {cpu_model()}; TF {tf.__version__}; seq len {args.seq_len}, batch 1, "
             f"{args.rounds} rounds x {args.calls} tweets", "",
             "| model | MB | " + " | ".join(f"{m} p50 ms" for m in modes) + " | max dprob vs fp32 "
             "| subgraph-0 nodes (delegate nodes), XNNPACK default |", "|---|---|" + "---|" * (len(modes) + 2)]
    for label in models:
        row = [r for r in results if r["model"] == label]
        lines.append(f"| {label} | {row[0]['size_mb']} | " + " | ".join(f"{r['b1_p50_ms']:.1f}" for r in row)
                     + f" | {row[0]['max_abs_prob_diff_vs_fp32']:.3g} | {row[0]['execution_plan']['plan_nodes']} "
                     f"({row[0]['execution_plan']['delegate_nodes']}) |")
    lines += ["", "op types (first input's type) per model:"]
    for label, prof in profiles.items():
        lines.append(f"- {label}: " + ", ".join(f"{k} {v}" for k, v in list(prof.items())[:14]))
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        write_json(args.out, {"args": vars(args), "load_average": [load_before, load_after],
                              "machine": machine(threads=args.threads), "results": results,
                              "op_profiles": profiles, "table": table}, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
