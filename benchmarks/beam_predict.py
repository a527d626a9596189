"""Batch prediction throughput: `bert-zoo predict` (one process, the .keras task) vs `bert-zoo predict --runner`
(Apache Beam RunInference with the task's SavedModel export; DirectRunner, multi-process, N workers), both as
commands, end to end (start-up, model loading and output included), on the same tweets.

    python benchmarks/beam_predict.py --tweets 2000 --workers 2 --out benchmarks/results/beam_predict.json

The model: --preset (default MiniLM-L6-H384) as a classifier with an untrained head (throughput only), packed to
--seq_len tokens, saved and exported once. The tweets: the first --tweets of the corpus's test split (the split
`bert-zoo demo` evaluates on), as JSON lines with an id: one file for `bert-zoo predict`, --workers shards for
Beam. ``--rounds`` rounds alternate the two commands; reported: median wall seconds and examples/s of each, and
whether the two wrote the same lines (as multisets, floats to 1e-5; tests/batch/test_beam.py's comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import ROOT, interleaved, machine, median, ratio, timed, write_json


def build(args, work: Path):
    """(.keras path, SavedModel dir, single input file, shard pattern)."""
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits
    from keras_bert_zoo.tasks import TextClassifier

    task = TextClassifier.from_preset(args.preset, labels=["negative", "neutral", "positive"],
                                      sequence_length=args.seq_len)
    task.save(work / "model.keras")
    task.export(work / "saved_model", fresh_process_check=False)
    texts = tweet_sentiment_splits(seed=0)["test"][0][:args.tweets]
    lines = [json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)]
    (work / "all.jsonl").write_text("".join(lines), encoding="utf-8")
    (work / "shards").mkdir()
    for k in range(args.workers):
        (work / "shards" / f"part-{k}.jsonl").write_text("".join(lines[k::args.workers]), encoding="utf-8")
    return work / "model.keras", work / "saved_model", work / "all.jsonl", str(work / "shards" / "part-*")


def command(*args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    proc = subprocess.run([sys.executable, "-m", "keras_bert_zoo.cli.main", *map(str, args)], env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"failed: bert-zoo {' '.join(map(str, args))}\n{proc.stderr[-3000:]}")


def same_lines(work: Path) -> bool:
    sys.path.insert(0, ROOT)
    from tests.batch.test_beam import assert_same_rows

    want = (work / "predict.jsonl").read_text(encoding="utf-8").splitlines()
    got = [line for p in sorted(work.glob("beam-*-of-*.jsonl")) for line in p.read_text(encoding="utf-8").splitlines()]
    assert_same_rows(got, want, ("text",))
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="minilm_l6_h384_uncased")
    parser.add_argument("--seq_len", type=int, default=64)
    parser.add_argument("--tweets", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default=None, help="JSON result file")
    args = parser.parse_args()

    before = machine()
    work = Path(tempfile.mkdtemp(prefix="beam_predict_"))
    keras_path, saved_model, single, pattern = build(args, work)
    impls = {
        "bert-zoo predict": lambda r: timed(command, "predict", "--model", keras_path, "--input", single,
                                            "--out", work / "predict.jsonl", f"--batch_size={args.batch_size}")[0],
        f"bert-zoo predict --runner=DirectRunner ({args.workers} workers)": lambda r: timed(
            command, "predict", "--runner=DirectRunner", "--model", saved_model, "--input", pattern, "--out",
            work / "beam", f"--batch_size={args.batch_size}", "--", "--direct_running_mode=multi_processing",
            f"--direct_num_workers={args.workers}")[0],
    }
    seconds = interleaved(impls, args.rounds, on_round=lambda i, v: print(f"round {i}: " + ", ".join(
        f"{k} {s:.1f} s" for k, s in v.items()), flush=True))
    result = {"machine": before, "args": vars(args), "same_lines": same_lines(work), "results": {}}
    for name, values in seconds.items():
        result["results"][name] = {"seconds": [round(s, 2) for s in values], "median_seconds": round(median(values), 2),
                                   "examples_per_second": round(args.tweets / median(values), 1)}
    names = list(result["results"])
    result["beam_over_predict_speed"] = ratio(result["results"][names[1]]["examples_per_second"],
                                              result["results"][names[0]]["examples_per_second"])
    result["machine_after"] = machine()
    print(json.dumps(result, indent=1))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
