"""The SavedModel's encoder graph, op by op: how many ops one encoder layer is, before and after TF's graph
optimiser (grappler: the remapper's MatMul+BiasAdd(+activation) and LayerNorm fusions, constant folding), and
the batch-1 latency of the exported signatures on real test tweets (issue 29, item 3).

    python benchmarks/serving_graph.py --threads 2 --out benchmarks/results/serving_graph.json

MiniLM-L6-H384 classifier (cached checkpoint, untrained head: latency only), sequence_length 128; the raw-strings
signature and the packed signature on ids already cut to each tweet's length, p50 ms over interleaved rounds.
Run it on two checkouts (`PYTHONPATH=<checkout>`) in alternation for an A/B: each run states the load average.
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import (cpu_model, interleaved, load_average, median, saved_model_session, timed,  # noqa: E402
                     write_json)


def op_types(graph_def) -> collections.Counter:
    """{op type: count} over a GraphDef and its function library."""
    nodes = list(graph_def.node)
    for fn in graph_def.library.function:
        nodes += list(fn.node_def)
    return collections.Counter(n.op for n in nodes)


def op_counts(task) -> dict:
    """Ops of the serving_packed signature before and after grappler: in all, and in one encoder layer — the
    difference between the same task with 2 encoder layers and with 1 (layers have no name scopes in a traced
    Keras 3 graph)."""
    from keras_bert_zoo.export.saved_model import ServingModule

    def graphs(t):
        fn = ServingModule(t).signatures["serving_packed"]
        return op_types(fn.graph.as_graph_def()), op_types(grappler_graph(fn))

    full = graphs(task)
    from keras_bert_zoo.models import BertBackbone

    one, two = (graphs(type(task)(BertBackbone(task.backbone.config.replace(num_layers=n)), num_classes=3,
                                  preprocessor=task.preprocessor)) for n in (1, 2))
    result = {}
    for i, stage in enumerate(("before_grappler", "after_grappler")):
        layer = two[i] - one[i]
        result[stage] = {"total": sum(full[i].values()), "one_layer": sum(layer.values()),
                         "one_layer_by_type": dict(layer.most_common())}
    return result


def grappler_graph(concrete):
    """The GraphDef grappler makes of ``concrete`` with the default (CPU) rewrite options."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer

    graph_def = concrete.graph.as_graph_def(add_shapes=True)
    for node in graph_def.node:             # placed, as the runtime places them: the remapper fuses CPU nodes only
        node.device = node.device or "/job:localhost/replica:0/task:0/device:CPU:0"
    meta = tf.compat.v1.train.export_meta_graph(graph_def=graph_def, graph=concrete.graph)
    fetches = meta.collection_def["train_op"].node_list.value
    for t in concrete.outputs:
        fetches.append(t.op.name)
    config = config_pb2.ConfigProto()
    return tf_optimizer.OptimizeGraph(config, meta)


def packed_feeds(preprocess, feeds) -> list:
    """Each raw-strings feed through the ``preprocess`` signature, its ids cut to the text's own length."""
    import tensorflow as tf

    packed = []
    for f in feeds:
        p = preprocess(text=f)
        n = int(tf.reduce_max(tf.reduce_sum(p["padding_mask"], -1)))
        packed.append({k: v[:, :n] for k, v in p.items()})
    return packed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="minilm_l6_h384_uncased")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--texts", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--name", default="this checkout")
    parser.add_argument("--counts_only", action="store_true", help="op counts, no timing")
    parser.add_argument("--export_to", default=None, help="only export the SavedModel here (for --compare)")
    parser.add_argument("--compare", nargs="+", default=None, metavar="NAME=DIR",
                        help="time SavedModels exported by --export_to (e.g. by two checkouts) in one process, "
                             "call by call in alternation")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import tensorflow as tf

    if args.compare:
        return compare(args)
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits
    from keras_bert_zoo.export.saved_model import ServingModule
    from keras_bert_zoo.tasks import TextClassifier

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tweets = tweet_sentiment_splits()["test"][0][:args.texts]
    task = TextClassifier.from_preset(args.preset, labels=["a", "b", "c"], sequence_length=128)
    load_start = load_average()[0]
    if args.export_to:
        module = ServingModule(task)
        tf.saved_model.save(module, args.export_to, signatures=module.signatures)
        return
    counts = op_counts(task)
    before, after = counts["before_grappler"], counts["after_grappler"]
    if args.counts_only:
        print(f"ops in serving_packed: {before['total']} ({before['one_layer']} per encoder layer) before grappler, "
              f"{after['total']} ({after['one_layer']} per layer) after\n  before: {before['one_layer_by_type']}\n"
              f"  after: {after['one_layer_by_type']}")
        return
    path = os.path.join(tempfile.mkdtemp(prefix="kbz-sgraph-"), "1")
    module = ServingModule(task)
    tf.saved_model.save(module, path, signatures=module.signatures)
    sigs = tf.saved_model.load(path).signatures
    feeds = [tf.constant([t]) for t in tweets]
    packed = packed_feeds(sigs["preprocess"], feeds)
    fns = {"serving_default b1 (raw strings)": lambda i: sigs["serving_default"](text=feeds[i]),
           "serving_packed b1 (ids cut)": lambda i: sigs["serving_packed"](**packed[i])}
    for f in fns.values():                      # warm-up: every length once
        for i in range(len(tweets)):
            f(i)
    def one_pass(fn):
        return lambda _round: [timed(fn, i)[0] * 1e3 for i in range(len(tweets))]

    rounds = interleaved({k: one_pass(f) for k, f in fns.items()}, args.rounds)
    times = {k: [t for r in v for t in r] for k, v in rounds.items()}
    result = {"name": args.name, "cpu": cpu_model(), "load_average": [load_start, load_average()[0]],
              "threads": args.threads, "ops": counts,
              "p50_ms": {k: round(median(v), 3) for k, v in times.items()},
              "mean_tokens": sum(int(p["padding_mask"].shape[1]) for p in packed) / len(packed)}
    print(f"{args.name}: {cpu_model()}; load {result['load_average']}")
    print(f"  ops in serving_packed: {before['total']} ({before['one_layer']} per encoder layer) before grappler, "
          f"{after['total']} ({after['one_layer']} per layer) after")
    print(f"  one layer after grappler: {after['one_layer_by_type']}")
    for k, v in result["p50_ms"].items():
        print(f"  {k}: p50 {v:.2f} ms")
    if args.out:
        write_json(args.out, result)


def compare(args):
    """Time the SavedModels of ``--compare NAME=DIR ...`` in this one process: every text through every model in
    turn (the order alternating from round to round), batch 1, raw strings and packed ids cut to the text."""
    import numpy as np
    import tensorflow as tf

    from keras_bert_zoo.data.corpora import tweet_sentiment_splits

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tweets = tweet_sentiment_splits()["test"][0][:args.texts]
    feeds = [tf.constant([t]) for t in tweets]
    models = dict(item.split("=", 1) for item in args.compare)
    sigs = {name: tf.saved_model.load(path).signatures for name, path in models.items()}
    first = next(iter(sigs.values()))
    packed = packed_feeds(first["preprocess"], feeds)
    calls = {}
    texts = [np.asarray([t], dtype=object) for t in tweets]
    for name, sig in sigs.items():
        calls[f"{name} serving_default b1"] = lambda i, s=sig: s["serving_default"](text=feeds[i])
        calls[f"{name} serving_packed b1"] = lambda i, s=sig: s["serving_packed"](**packed[i])
        # as TF Serving runs it (a TF1 Session on the MetaGraph), without the eager function-call layer
        run = saved_model_session(models[name], args.threads, output="probabilities")
        calls[f"{name} serving_default b1, Session.run"] = lambda i, run=run: run(text=texts[i])
    for fn in calls.values():                   # warm-up: every length once
        for i in range(len(tweets)):
            fn(i)
    load_start = load_average()[0]
    times = {k: [] for k in calls}
    names = list(calls)
    for r in range(args.rounds):
        for i in range(len(tweets)):
            for k in (names if (r + i) % 2 == 0 else names[::-1]):
                times[k].append(timed(calls[k], i)[0] * 1e3)
    result = {"cpu": cpu_model(), "load_average": [load_start, load_average()[0]], "threads": args.threads,
              "texts": len(tweets), "rounds": args.rounds,
              "mean_tokens": sum(int(p["padding_mask"].shape[1]) for p in packed) / len(packed),
              "p50_ms": {k: round(median(v), 3) for k, v in times.items()}}
    print(f"{cpu_model()}; load {result['load_average']}; {len(tweets)} tweets x {args.rounds} rounds, "
          f"mean {result['mean_tokens']:.1f} tokens")
    for k, v in result["p50_ms"].items():
        print(f"  {k}: p50 {v:.2f} ms")
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
