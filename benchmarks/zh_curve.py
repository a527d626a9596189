"""Downstream metric vs pretraining time for `bert-zoo demo --lang zh` (issue 13): fine-tune sentiment and NER
from the backbone snapshots a demo run saved at its curve points, with the run's own protocol (the same steps
per run, the learning rate its pretrained arm chose, the same validation sample and test split).

    bert-zoo demo --lang zh --out runs/demo_zh                      # saves runs/demo_zh/snapshots/
    python benchmarks/zh_curve.py --run runs/demo_zh --tasks sentiment,ner --snapshots 1,3 \\
        --out benchmarks/results/zh_curve.json

The points at pretraining time 0 (random initialisation) and at the end of pretraining are the demo's own runs
(read from its summary.json: validation score of its grid at the same learning rate, and the test score when
that learning rate is the one the arm kept); the snapshots in between are fine-tuned here. ``--snapshots``: which
curve points (1-based indices into the saved snapshots, the last one excluded; default: all).

Pretraining recipes (issue 28): ``--pretrain_recipes`` trains each recipe from the same initialisation for
``--steps`` steps (the learning-rate schedule spans them) and measures the held-out MLM accuracy every ``--every``
steps on the fixed held-out batches of ``apps.demo_zh.pretrain.heldout_batches`` (validation documents, 15 %
whole-word and 15 % per-character masking, T128: the same for every recipe), with the training seconds (step
time, evaluations excluded) and the load average beside them:

    python benchmarks/zh_curve.py --pretrain_recipes "base;mask=0.4,wwm=0,nsp=0" --steps 1000 --every 200 \
        --out benchmarks/results/zh_pretrain_curves.json

A recipe is ``key=value`` pairs over the demo's defaults (``base``: none): ``mask`` (masking rate), ``wwm``
(0/1 whole-word masking), ``nsp`` (0/1), ``lr`` (peak), ``warmup`` (fraction), ``bs`` (batch size), ``T``
(sequence length of the training pairs).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import machine, write_json  # noqa: E402  (benchmarks/ is the script's directory)


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=None, help="the demo's --out directory")
    parser.add_argument("--pretrain_recipes", default=None, help="';'-separated recipes (see the docstring): "
                        "compare pretraining curves instead of fine-tuning from a run's snapshots")
    parser.add_argument("--steps", type=int, default=1000, help="--pretrain_recipes: steps per recipe")
    parser.add_argument("--every", type=int, default=200, help="--pretrain_recipes: steps between evaluations")
    parser.add_argument("--max_documents", type=int, default=0, help="--pretrain_recipes: cap (0: all)")
    parser.add_argument("--data_cache", default=None, help="--pretrain_recipes: a pickle of the tokenized "
                        "documents and vocabulary (written when missing, read when present)")
    parser.add_argument("--tasks", default="sentiment,ner")
    parser.add_argument("--ner_snapshots", default=None, help="curve points for NER (default: --snapshots)")
    parser.add_argument("--snapshots", default="", help="1-based curve points to fine-tune from (default: all "
                        "but the last, which is the demo's own pretrained arm)")
    parser.add_argument("--out", default=None)
    return parser.parse_args(argv)


def load_run(run: Path):
    """The demo run's summary, config, tokenizer and backbone config."""
    from keras_bert_zoo.apps.demo_zh import ZhDemoConfig
    from keras_bert_zoo.config import BertConfig
    from keras_bert_zoo.text import WordPieceTokenizer
    from keras_bert_zoo.text.tokenizer import load_vocabulary

    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    c = dict(summary["config"])
    for key in ("lr_grid", "ner_lr_grid"):
        if key in c:
            c[key] = tuple(c[key])
    cfg = ZhDemoConfig(**c)
    vocab = load_vocabulary(run / "vocab.txt")
    config = BertConfig.from_name(cfg.pretrain_size).replace(vocab_size=len(vocab))
    return summary, cfg, WordPieceTokenizer(vocab, lowercase=True), config


def demo_data(cfg):
    """The demo's own fine-tuning data and validation samples: {kind: (train, selection sample, test)}."""
    from keras_bert_zoo.apps.demo_zh import finetune as F
    from keras_bert_zoo.data import chinese

    used = F.finetune_splits(cfg, chinese.sentiment_splits(seed=cfg.seed),
                             chinese.peoples_daily_ner_splits(seed=cfg.seed))
    s_train, s_val, s_test = used["sentiment"]
    n_train, n_val, n_test = (F.ner_sentences(p) for p in used["ner"])
    return {"sentiment": (s_train, F.selection_sample("sentiment", s_val, cfg), s_test),
            "ner": (n_train, F.selection_sample("ner", n_val, cfg), n_test)}


def demo_point(summary, kind, arm, lr, seconds, pstep):
    """A point the demo itself measured (its random-init arm at 0 s, its pretrained arm at the end)."""
    ft = summary["finetuning"][kind]
    grid = {r["learning_rate"]: r for r in ft[arm]["grid"]}
    if "long_run" in ft[arm]:          # runs since issue 28: the arm's score is its long run's
        grid[ft[arm]["learning_rate"]] = ft[arm]["long_run"]
    row = {"pretraining_seconds": seconds, "pretraining_steps": pstep, "source": f"demo ({arm} arm)",
           "learning_rate": lr, "validation": grid[lr]["validation"] if lr in grid else None}
    if ft[arm]["learning_rate"] == lr:
        row["test"] = summary["table"][kind][arm]["accuracy" if kind == "sentiment" else "entity_f1"]
    return row


def snapshot_rows(run, kind, cfg, tokenizer, config, data, points, steps, lr, evaluations=1):
    """Fine-tune from each snapshot in ``points`` ({snapshot name: curve point}): the snapshots are the arms of
    apps.from_scratch.compare_arms, at the demo's learning rate and number of steps -> one row per snapshot."""
    from keras_bert_zoo.apps.demo_zh import finetune as F, outputs as O
    from keras_bert_zoo.apps.from_scratch import compare_arms
    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.train.clocks import RunClock

    train, val, test = data
    train_ds = F.training_dataset(kind, F.make_task(kind, BertBackbone(config), tokenizer, cfg), train, cfg)
    run_s = float("inf")    # a fixed number of steps, as in the demo; no time limit (the machine may be busy)

    def snapshot(point):
        def make(seed=None):
            backbone = BertBackbone(config)
            backbone.load_weights(str(run / "snapshots" / point["snapshot"]))
            return backbone
        return make

    def finetune(arm, backbone, lr, seed):
        point, clock = points[arm], RunClock(include_startup=False)
        with clock.phase("fit"):
            task, row = F.finetune_run(kind, cfg, backbone, tokenizer, train_ds, val, lr, steps, run_s,
                                       Path(os.environ.get("TMPDIR", "/tmp")) / f"zh_curve_{kind}_{point['steps']}",
                                       evaluations=evaluations)
            if kind == "sentiment":
                test_score = O.sentiment_test_report(task, test, None)["accuracy"]
            else:
                test_score = O.ner_test_report(task, test, None)["entity_f1"]
        print(f"{kind} from {arm} ({point['train_seconds']:.0f} s of pretraining): validation "
              f"{row['validation']:.4f}  test {test_score:.4f}", flush=True)
        return task, {"pretraining_seconds": point["train_seconds"], "pretraining_steps": point["steps"],
                      "heldout_mlm_accuracy": point["heldout_mlm_accuracy"], "source": arm, "learning_rate": lr,
                      "validation": row["validation"], "test": test_score,
                      "stopped_by_time_budget": row["stopped_by_time_budget"],
                      "fit_seconds": round(clock.phases["fit"], 1)}

    compared = compare_arms({name: snapshot(p) for name, p in points.items()}, (lr,), finetune)
    return [compared[name]["grid"][0] for name in points]


RECIPE_KEYS = {"mask": ("pretrain_masked_lm_prob", float), "wwm": ("pretrain_whole_word_masking", lambda v: v == "1"),
               "nsp": ("pretrain_nsp", lambda v: v == "1"), "lr": ("pretrain_learning_rate", float),
               "warmup": ("pretrain_warmup_fraction", float), "bs": ("pretrain_batch_size", int),
               "T": ("sequence_length", int)}


def parse_recipe(text):
    """``"mask=0.4,wwm=0"`` -> ZhDemoConfig overrides (``"base"`` or empty: none)."""
    overrides = {}
    for item in [i.strip() for i in text.split(",") if i.strip() and i.strip() != "base"]:
        key, _, value = item.partition("=")
        if key not in RECIPE_KEYS or not value:
            raise SystemExit(f"--pretrain_recipes: {item!r} is not key=value with a key of {sorted(RECIPE_KEYS)}")
        field, cast = RECIPE_KEYS[key]
        overrides[field] = cast(value)
    return overrides


def pretraining_data(max_documents, seed=0):
    """(vocab, token ids, train documents, held-out documents) as the demo builds them (its corpora, its
    vocabulary, the same shuffle)."""
    import random

    from keras_bert_zoo.apps.demo_zh import finetune as F, pretrain as Pre
    from keras_bert_zoo.apps.demo_zh.vocab import chinese_vocabulary
    from keras_bert_zoo.data import chinese

    sent, ner = chinese.sentiment_splits(seed=seed), chinese.peoples_daily_ner_splits(seed=seed)
    docs = F.sample(chinese.pretraining_documents(seed=seed), max_documents, seed)
    random.Random(seed).shuffle(docs)
    held = chinese.pretraining_documents(splits=("val",), seed=seed)
    vocab, _ = chinese_vocabulary(list(sent["train"][0]) + [t for t, _ in ner["train"]], 2, 2000)
    ids, docs, held, _ = Pre.tokenized(vocab, docs, held)
    return vocab, ids, docs, held


def recipe_curve(overrides, data, steps, every):
    """One recipe's curve: {"recipe", "points": [{steps, tokens_seen, train_seconds, load, held-out ...}]}."""
    import keras

    from keras_bert_zoo.apps.demo_zh import ZhDemoConfig, pretrain as Pre
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.train.clocks import StepClock
    from keras_bert_zoo.train.optimizers import WarmupLinearDecay
    from _common import load_average

    vocab, ids, docs, held = data
    cfg = ZhDemoConfig(**overrides)
    heldout = Pre.heldout_batches(ZhDemoConfig(), ids, held)        # the yardsticks of the default recipe
    schedule = WarmupLinearDecay(cfg.pretrain_learning_rate, steps,
                                 warmup_steps=int(cfg.pretrain_warmup_fraction * steps))
    model = Pre.build_model(cfg, len(vocab), schedule)
    evaluate = Pre.heldout_evaluation(model, heldout)
    tokens_per_step = cfg.pretrain_batch_size * cfg.sequence_length
    points = [{"steps": 0, "tokens_seen": 0, "train_seconds": 0.0, **evaluate()}]

    class Curve(StepClock):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            if self.steps % every == 0 or self.steps == steps:
                with self.paused():
                    points.append({"steps": self.steps, "tokens_seen": self.steps * tokens_per_step,
                                   "train_seconds": round(self.seconds, 1), "load": load_average()[0],
                                   "train_mlm_accuracy": float(logs.get("mlm_logits_accuracy", float("nan"))),
                                   **evaluate()})
                    print(f"    {overrides or 'base'} step {self.steps}: " + "  ".join(
                        f"{k} {v:.4f}" for k, v in points[-1].items() if k.endswith("mlm_accuracy")), flush=True)

    clock = Curve(skip=1, tokens_per_step=tokens_per_step)
    dataset = P.dynamic_dataset(docs, ids, Pre.data_config(cfg), cfg.pretrain_batch_size, seed=cfg.seed)
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[clock])
    keras.backend.clear_session()
    return {"recipe": overrides, **Pre.recipe_info(cfg), "tokens_per_second": round(clock.tokens_per_second, 1),
            "points": points}


def pretrain_main(args):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)       # one thread setting for every recipe
    tf.config.threading.set_inter_op_parallelism_threads(2)
    if args.data_cache and os.path.exists(args.data_cache):
        with open(args.data_cache, "rb") as f:
            data = pickle.load(f)
    else:
        data = pretraining_data(args.max_documents)
        if args.data_cache:
            with open(args.data_cache + ".tmp", "wb") as f:
                pickle.dump(data, f)
            os.replace(args.data_cache + ".tmp", args.data_cache)
    results = {"steps": args.steps, "every": args.every, "threads": {"intra_op": 2, "inter_op": 2}, "recipes": []}
    for text in [t.strip() for t in args.pretrain_recipes.split(";") if t.strip()]:
        results["recipes"].append({"name": text, **recipe_curve(parse_recipe(text), data, args.steps, args.every)})
        if args.out:                                  # after every recipe: a stopped run keeps what it measured
            write_json(args.out, {**results, "machine": machine()}, indent=1)
    return results


def main(argv=None):
    args = parse(argv)
    if args.pretrain_recipes:
        return pretrain_main(args)
    if not args.run:
        raise SystemExit("--run (a demo run's directory) or --pretrain_recipes is required")
    run = Path(args.run)
    summary, cfg, tokenizer, config = load_run(run)
    curve = [p for p in summary["pretraining"]["curve"] if p.get("snapshot")]
    middle = curve[:-1]
    chosen = [int(i) for i in args.snapshots.split(",") if i] or list(range(1, len(middle) + 1))
    ner_chosen = [int(i) for i in args.ner_snapshots.split(",") if i] if args.ner_snapshots else chosen
    data = demo_data(cfg)
    results = {"run": str(run), "pretraining_seconds_total": summary["pretraining"]["train_seconds"],
               "tasks": {}}
    for kind in [k for k in args.tasks.split(",") if k]:
        ft = summary["finetuning"][kind]
        steps, lr = ft["steps_per_run"], ft["pretrained"]["learning_rate"]
        points = {p["snapshot"]: p for p in [middle[i - 1] for i in (chosen if kind == "sentiment" else ner_chosen)]}
        rows = [demo_point(summary, kind, "random_init", lr, 0.0, 0)]
        rows += snapshot_rows(run, kind, cfg, tokenizer, config, data[kind], points, steps, lr,
                              ft.get("evaluations_per_run", 1))
        last = curve[-1]
        final = demo_point(summary, kind, "pretrained", lr, last["train_seconds"], last["steps"])
        final["heldout_mlm_accuracy"] = last["heldout_mlm_accuracy"]
        rows.append(final)
        results["tasks"][kind] = {"metric": "accuracy" if kind == "sentiment" else "entity_f1",
                                  "steps_per_run": steps, "learning_rate": lr, "points": rows}
    results["machine"] = machine()
    print(json.dumps(results, indent=1))
    if args.out:
        write_json(args.out, results, indent=1)


if __name__ == "__main__":
    main()
