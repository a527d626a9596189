"""Training-step throughput of our BertBackbone vs keras-hub's BertBackbone, same config, same run.

    python benchmarks/backbone.py                          # TF backend, CPU, with and without XLA
    KERAS_BACKEND=jax python benchmarks/backbone.py --backend_label=jax   # e.g. on a GPU machine

Both models get the same classification head, optimizer, batch and sequence length. Each configuration is
timed in rounds that alternate between the two implementations (so machine noise hits both alike); a round is
`--steps` training steps after a warm-up epoch that includes tracing/compilation. Each step is timed by a
callback (fit's set-up excluded); a round's throughput is batch / median step time. Reported: the median over
rounds (sequences/s) and the ratio ours / keras-hub.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from _common import interleaved, median, ratio, write_json  # noqa: E402  (benchmarks/ is the script's directory)

FLAGS = flags.FLAGS
flags.DEFINE_string("size", "bert_uncased_L-4_H-256", "BertConfig name to benchmark.")
flags.DEFINE_integer("batch", 16, "Batch size.")
flags.DEFINE_integer("seq", 128, "Sequence length.")
flags.DEFINE_integer("steps", 10, "Training steps per timed round.")
flags.DEFINE_integer("rounds", 5, "Timed rounds per implementation (median reported).")
flags.DEFINE_list("xla", ["false", "true"], "jit_compile settings to run.")
flags.DEFINE_string("backend_label", None, "Label for the results row (defaults to the Keras backend).")
flags.DEFINE_string("out", None, "Optional JSON file for the results.")


def _inputs(np, batch, seq, vocab):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, vocab, (batch, seq)).astype("int32")
    mask = np.ones((batch, seq), "int32")
    mask[: batch // 2, seq * 3 // 4:] = 0
    segments = np.zeros((batch, seq), "int32")
    segments[:, seq // 2:] = 1
    return {"token_ids": ids * mask, "segment_ids": segments * mask, "padding_mask": mask}, rng.integers(
        0, 2, batch)


def _ours(config):
    from keras_bert_zoo import BertBackbone

    return BertBackbone(config)


def _keras_hub(config):
    import keras_hub

    return keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_layers, num_heads=config.num_heads,
        hidden_dim=config.hidden_size, intermediate_dim=config.intermediate_size, dropout=config.hidden_dropout,
        max_sequence_length=config.max_position_embeddings, num_segments=config.type_vocab_size)


def _classifier(keras, backbone, jit):
    inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in ("token_ids", "segment_ids", "padding_mask")}
    logits = keras.layers.Dense(2)(backbone(inputs)["pooled_output"])
    model = keras.Model(inputs, logits)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit)
    return model


def main(argv):
    del argv
    import keras
    import numpy as np

    from keras_bert_zoo import BertConfig
    from keras_bert_zoo.train.clocks import StepClock

    config = BertConfig.from_name(FLAGS.size)
    x, y = _inputs(np, FLAGS.batch, FLAGS.seq, config.vocab_size)
    xs = {k: np.concatenate([v] * FLAGS.steps) for k, v in x.items()}
    ys = np.concatenate([y] * FLAGS.steps)
    label = FLAGS.backend_label or keras.backend.backend()
    rows = []
    for xla in [v.lower() == "true" for v in FLAGS.xla]:
        models = {"ours": _classifier(keras, _ours(config), xla),
                  "keras_hub": _classifier(keras, _keras_hub(config), xla)}
        assert models["ours"].count_params() == models["keras_hub"].count_params(), "configs differ"
        for model in models.values():  # warm-up: tracing and compilation
            model.fit(xs, ys, batch_size=FLAGS.batch, epochs=1, verbose=0)

        def one_round(model):
            def run(_):
                clock = StepClock(skip=0)
                model.fit(xs, ys, batch_size=FLAGS.batch, epochs=1, verbose=0, callbacks=[clock])
                return FLAGS.batch / median(clock.durations)   # per round: sequences/s at the median step time
            return run

        times = interleaved({name: one_round(model) for name, model in models.items()}, FLAGS.rounds,
                            order="fixed")
        med = {name: median(v) for name, v in times.items()}
        rows.append({"backend": label, "xla": xla, "size": FLAGS.size, "batch": FLAGS.batch, "seq": FLAGS.seq,
                     "ours_seq_per_s": round(med["ours"], 2), "keras_hub_seq_per_s": round(med["keras_hub"], 2),
                     "ratio": ratio(med["ours"], med["keras_hub"]),
                     "ours_all": [round(t, 2) for t in times["ours"]],
                     "keras_hub_all": [round(t, 2) for t in times["keras_hub"]]})
        print(json.dumps(rows[-1]), flush=True)
    print("\n| backend | XLA | size | batch x seq | ours seq/s | keras-hub seq/s | ours / keras-hub |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['xla']} | {r['size']} | {r['batch']}x{r['seq']} | {r['ours_seq_per_s']} | "
              f"{r['keras_hub_seq_per_s']} | {r['ratio']} |")
    if FLAGS.out:
        write_json(FLAGS.out, rows)


if __name__ == "__main__":
    app.run(main)
