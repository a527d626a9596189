"""How many Chinese reviews the demo's sentiment model truncates, without and with sliding windows (issue 28).

    python benchmarks/zh_review_windows.py --out benchmarks/results/zh_review_windows.json [--tflite 12]

The reviews, splits and vocabulary are the `bert-zoo demo --lang zh` defaults (every review of
``chinese.sentiment_splits(seed=0)``; the vocabulary ``chinese_vocabulary`` learns on the training reviews and news
paragraphs; ``--sequence_length`` 128). Per split: the reviews longer than the ``sequence_length - 2`` tokens one
window holds, and ``truncated_examples`` as the evaluation report counts it
(:func:`keras_bert_zoo.tasks.evaluation.count_truncated_examples`) for a classifier without windows, with windows
(stride half a window, no cap) and with ``--max_windows``; the windows per review (the compute factor).
``--tflite N``: exports the windowed classifier without a cap (a tiny random backbone on the demo's vocabulary: the tokenizer and
the windows are what is checked) to TFLite with the N longest test reviews as verification samples (builtins +
tf-text kernels only; outputs equal to Keras at batch size N and 1).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import machine, write_json  # noqa: E402  (benchmarks/ is the script's directory)


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="JSON result file")
    parser.add_argument("--sequence_length", type=int, default=128)
    parser.add_argument("--max_windows", type=int, default=4, help="the capped variant's max_windows")
    parser.add_argument("--tflite", type=int, default=0, help="export + verify with this many longest reviews")
    return parser.parse_args(argv)


def demo_tokenizer():
    """The demo's vocabulary (as its run learns it) and tokenizer."""
    from keras_bert_zoo.apps.demo_zh.vocab import chinese_vocabulary
    from keras_bert_zoo.data import chinese
    from keras_bert_zoo.text import WordPieceTokenizer

    sent = chinese.sentiment_splits(seed=0)
    ner = chinese.peoples_daily_ner_splits(seed=0)
    vocab, _ = chinese_vocabulary(list(sent["train"][0]) + [t for t, _ in ner["train"]], 2, 2000)
    return sent, vocab, WordPieceTokenizer(vocab, lowercase=True)


def classifiers(vocab, tokenizer, sequence_length, max_windows):
    """{variant: TextClassifier} on one tiny random backbone sized to the vocabulary."""
    from keras_bert_zoo import BertBackbone, BertConfig, TextClassifier
    from keras_bert_zoo.text import BertPreprocessor

    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_layers=1, num_heads=2, intermediate_size=37,
                        max_position_embeddings=max(512, sequence_length))
    backbone = BertBackbone(config)
    stride = (sequence_length - 2) // 2

    def make(**windows):
        return TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=sequence_length),
                              labels=["neg", "pos"], **windows)

    return {"no_windows": make(), f"windows_stride{stride}": make(window_stride=stride),
            f"windows_stride{stride}_max{max_windows}": make(window_stride=stride, max_windows=max_windows)}


def split_counts(name, texts, labels, tasks, tokenizer, sequence_length, work: Path) -> dict:
    import numpy as np
    import tensorflow as tf

    from keras_bert_zoo.tasks import read_task_file
    from keras_bert_zoo.tasks.evaluation import count_truncated_examples

    path = work / f"{name}.jsonl"
    import json

    path.write_text("".join(json.dumps({"text": t, "label": str(y)}, ensure_ascii=False) + "\n"
                            for t, y in zip(texts, labels)), encoding="utf-8")
    data = read_task_file("classify", path)
    lengths = np.concatenate([tokenizer(tf.constant(texts[i:i + 1024])).row_lengths().numpy()
                              for i in range(0, len(texts), 1024)])
    chars = np.array([len(t) for t in texts])
    budget = sequence_length - 2
    stride = budget // 2
    windows = 1 + np.maximum(0, lengths - budget + stride - 1) // stride
    return {"reviews": len(texts), "longer_than_one_window": int((lengths > budget).sum()),
            "longer_than_one_window_pct": round(100 * float((lengths > budget).mean()), 2),
            "tokens_max": int(lengths.max()), "characters_max": int(chars.max()),
            "tokens_p50_p90_p99": [int(np.percentile(lengths, q)) for q in (50, 90, 99)],
            "windows_per_review_mean": round(float(windows.mean()), 3), "windows_max": int(windows.max()),
            "truncated_examples": {k: count_truncated_examples(t, data) for k, t in tasks.items()}}


def tflite_check(task, texts, n, work: Path) -> dict:
    import numpy as np

    from keras_bert_zoo.export import ops as ops_lib
    from keras_bert_zoo.export import tflite

    longest = sorted(texts, key=len)[-n:]
    t0 = time.perf_counter()
    result = tflite.export_tflite(task, work / "windows.tflite", longest)
    builtins, customs = ops_lib.tflite_model_ops(result.path.read_bytes())
    _, windows = task.text_windows(longest)
    return {"samples": n, "sample_characters": [len(t) for t in longest],
            "windows_per_sample": np.bincount(windows.example_index.numpy()).tolist(),
            "custom_ops": customs, "flex": result.info["flex"], "has_unsorted_segment_sum": "UNSORTED_SEGMENT_SUM"
            in builtins, "verification": result.verification, "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None):
    args = parse(argv)
    t0 = time.perf_counter()
    sent, vocab, tokenizer = demo_tokenizer()
    tasks = classifiers(vocab, tokenizer, args.sequence_length, args.max_windows)
    result = {"sequence_length": args.sequence_length, "vocab_size": len(vocab), "splits": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (texts, labels) in sent.items():
            result["splits"][name] = split_counts(name, list(texts), list(labels), tasks, tokenizer,
                                                  args.sequence_length, Path(tmp))
            print(name, result["splits"][name], flush=True)
        if args.tflite:
            uncapped = tasks[[k for k in tasks if k.startswith("windows") and "_max" not in k][0]]
            result["tflite"] = tflite_check(uncapped, list(sent["test"][0]), args.tflite, Path(tmp))
            print("tflite", {k: v for k, v in result["tflite"].items() if k != "verification"}, flush=True)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["machine"] = machine()
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
