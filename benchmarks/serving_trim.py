"""Quick check of issue 16 item 1: serving latency of the SavedModel before / after the length cut, and with XLA.

Indicative only (the official side-by-side benchmark is benchmarks/serving.py). One MiniLM-L6-H384 classifier
with an untrained 3-class head (``TextClassifier.from_preset("minilm_l6_h384_uncased", sequence_length=128)``),
saved as ``serving_default`` SavedModels in a temporary directory in these variants:

* ``full``      today's graph before the cut: every request padded to sequence_length (Task.trim switched off
                while tracing);
* ``cut``       the shipped graph: the packed batch cut to its longest real sequence;
* ``cut_xla``   ``cut`` with the model call (packed part only: the string ops cannot be compiled) in a nested
                ``tf.function(jit_compile=True)``; XLA compiles once per (batch, length) shape;
* ``bucket_xla`` as ``cut_xla`` with the length rounded up to 16/32/64/128 (``--buckets``), so XLA compiles at most
                one program per bucket and batch size.

Each loaded SavedModel is timed on batch 1 and batch 32 of real tweets (``tweet_sentiment`` corpus, ~25 tokens;
synthetic sentences when the corpus is not cached), variants interleaved round by round, p50 per variant.
oneDNN is fixed at TensorFlow import: run the script once with ``TF_ENABLE_ONEDNN_OPTS=0`` and once with 1.

    TF_ENABLE_ONEDNN_OPTS=1 python benchmarks/serving_trim.py --rounds 5 --out /tmp/trim_onednn1.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import interleaved, load_average, machine, median, timed, write_json  # noqa: E402  (script's dir)


def tweets(n):
    try:
        from keras_bert_zoo.data.corpora import load_tweet_sentiment

        texts, _ = load_tweet_sentiment()
        return [t for t in texts if t.strip()][:n], "tweet_sentiment corpus"
    except Exception as err:  # noqa: BLE001 - the corpus is optional here
        words = "the day was great and i love this new phone but the battery is bad".split()
        return [" ".join(words[(i + k) % len(words)] for k in range(18)) for i in range(n)], f"synthetic ({err})"


@contextlib.contextmanager
def untrimmed():
    from keras_bert_zoo.tasks.base import Task

    real = Task.__dict__["trim"]
    Task.trim = staticmethod(lambda packed: dict(packed))
    try:
        yield
    finally:
        Task.trim = real


def bucketed(packed, buckets, sequence_length):
    """Pad the cut batch up to the next bucket length (padding: id 0, mask 0), so XLA sees few shapes."""
    import tensorflow as tf

    t = tf.shape(packed["token_ids"])[-1]
    sizes = tf.constant(sorted(set(list(buckets) + [sequence_length])), tf.int32)
    target = tf.reduce_min(tf.where(sizes >= t, sizes, sequence_length))
    return {k: tf.pad(v, [[0, 0], [0, target - t]]) for k, v in packed.items()}


def save_variant(task, variant, path, buckets):
    import tensorflow as tf

    from keras_bert_zoo.export.saved_model import ServingModule

    if variant == "full":
        with untrimmed():
            module = ServingModule(task)
            tf.saved_model.save(module, path, signatures=module.signatures)
        return
    if variant == "cut":
        module = ServingModule(task)
        tf.saved_model.save(module, path, signatures=module.signatures)
        return
    # XLA on the packed part only
    spec = task.packed_input_spec()
    model = tf.function(lambda p: task(p, training=False), input_signature=[spec], jit_compile=True)
    L = task.sequence_length

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.preprocessor = task.preprocessor

            @tf.function(input_signature=[task.serving_input_spec()])
            def serving_default(inputs):
                packed = task.trim(task.preprocess(inputs))
                if variant == "bucket_xla":
                    packed = bucketed(packed, buckets, L)
                return dict(task.postprocess(model({k: packed[k] for k in spec})))

            self.serving_default = serving_default

    module = Module()
    concrete = module.serving_default.get_concrete_function()
    module._vars = list(concrete.variables)
    tf.saved_model.save(module, path, signatures={"serving_default": concrete})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="minilm_l6_h384_uncased")
    ap.add_argument("--seq_len", type=int, default=128)
    ap.add_argument("--variants", default="full,cut,cut_xla,bucket_xla")
    ap.add_argument("--buckets", default="16,32,64,128")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20, help="batch-1 calls per round (batch 32: a quarter)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import numpy as np
    import tensorflow as tf

    from keras_bert_zoo.tasks import TextClassifier

    task = TextClassifier.from_preset(args.preset, labels=["a", "b", "c"], sequence_length=args.seq_len)
    texts, source = tweets(32 * 8)
    lengths = task.preprocess({"text": tf.constant(texts)})["padding_mask"].numpy().sum(1)
    buckets = [int(b) for b in args.buckets.split(",")]
    variants = args.variants.split(",")
    tmp = tempfile.mkdtemp(prefix="kbz-trim-")
    loaded, ref = {}, None
    for v in variants:
        seconds, _ = timed(save_variant, task, v, os.path.join(tmp, v), buckets)
        load_s, module = timed(tf.saved_model.load, os.path.join(tmp, v))
        loaded[v] = module.signatures["serving_default"]
        print(f"{v}: saved + loaded in {seconds + load_s:.1f}s", flush=True)
    b1 = [tf.constant([t]) for t in texts[:args.calls]]
    b32 = [tf.constant(texts[i:i + 32]) for i in range(0, len(texts), 32)]
    # parity of every variant with 'full' (the batch-32 requests), and warm-up (XLA compiles here)
    for v in variants:
        warm, _ = timed(lambda v=v: [loaded[v](text=b) for b in b1 + b32])
        probs = np.concatenate([loaded[v](text=b)["probabilities"].numpy() for b in b32])
        ref = probs if ref is None else ref
        print(f"{v}: warm-up {warm:.1f}s, max |p - p_full| {float(np.abs(probs - ref).max()):.2e}", flush=True)
    times = {v: {"b1": [], "b32": []} for v in variants}

    def one_round(v):
        def run(_):
            times[v]["b1"].extend(timed(loaded[v], text=b)[0] for b in b1)
            times[v]["b32"].extend(timed(loaded[v], text=b)[0] for b in b32[:max(1, args.calls // 4)])
        return run

    interleaved({v: one_round(v) for v in variants}, args.rounds)
    result = {"onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(default)"), "tf": tf.__version__,
              "texts": source, "tokens_mean": float(lengths.mean()), "tokens_max": int(lengths.max()),
              "seq_len": args.seq_len, "rounds": args.rounds, "load_average": load_average(),
              "machine": machine(), "p50_ms": {v: {k: round(1000 * median(t), 2) for k, t in d.items()}
                                               for v, d in times.items()}}
    print(json.dumps(result, indent=1))
    if args.out:
        write_json(args.out, result, indent=1)


if __name__ == "__main__":
    main()
