"""Where the SavedModel's batch-1 time goes: the raw-strings signature vs the tokenizer alone vs the encoder on
packed ids, with and without the run-time input guard (issue 16's profile of the serving gap to ONNX Runtime).

    python benchmarks/savedmodel_profile.py --threads 2

MiniLM-L6-H384 classifier (cached checkpoint, untrained head), sequence_length 128, real test tweets, batch 1;
signatures timed in interleaved rounds, p50 ms per call.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import cpu_model, interleaved, load_average, median, timed  # noqa: E402  (the script's directory)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="minilm_l6_h384_uncased")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--texts", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from keras_bert_zoo.data.corpora import tweet_sentiment_splits
    from keras_bert_zoo.export.saved_model import ServingModule
    from keras_bert_zoo.tasks import TextClassifier

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tweets = tweet_sentiment_splits()["test"][0][:args.texts]
    task = TextClassifier.from_preset(args.preset, labels=["a", "b", "c"], sequence_length=128)
    root = tempfile.mkdtemp(prefix="kbz-smprof-")
    print(f"load average {load_average()[0]:.2f}; {cpu_model()}")
    for check in (True, False):
        module = ServingModule(task, check_inputs=check)
        path = os.path.join(root, f"check_{check}")
        tf.saved_model.save(module, path, signatures=module.signatures)
        sigs = tf.saved_model.load(path).signatures
        feeds = [tf.constant([t]) for t in tweets]
        packed = [sigs["preprocess"](text=f) for f in feeds]

        def cut(p):
            n = int(tf.reduce_max(tf.reduce_sum(p["padding_mask"], -1)))
            return {k: v[:, :n] for k, v in p.items()}

        packed_cut = [cut(p) for p in packed]
        fns = {"serving_default (raw strings)": lambda i: sigs["serving_default"](text=feeds[i]),
               "preprocess (tokenizer + packer)": lambda i: sigs["preprocess"](text=feeds[i]),
               "serving_packed (ids padded to 128, cut in the graph)": lambda i: sigs["serving_packed"](**packed[i]),
               "serving_packed (ids already cut)": lambda i: sigs["serving_packed"](**packed_cut[i])}
        for f in fns.values():
            for i in range(3):
                f(i)
        rounds = interleaved({k: (lambda _, f=f: [timed(f, i)[0] for i in range(len(tweets))]) for k, f in fns.items()},
                             args.rounds, order="fixed")
        print(f"check_inputs={check}")
        for k, v in rounds.items():
            print(f"  {k}: p50 {1000 * median([t for r in v for t in r]):.2f} ms")
    print(f"load average {load_average()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
