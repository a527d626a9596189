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
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import machine, write_json  # noqa: E402  (benchmarks/ is the script's directory)


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="the demo's --out directory")
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
    row = {"pretraining_seconds": seconds, "pretraining_steps": pstep, "source": f"demo ({arm} arm)",
           "learning_rate": lr, "validation": grid[lr]["validation"] if lr in grid else None}
    if ft[arm]["learning_rate"] == lr:
        row["test"] = summary["table"][kind][arm]["accuracy" if kind == "sentiment" else "entity_f1"]
    return row


def snapshot_rows(run, kind, cfg, tokenizer, config, data, points, steps, lr):
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
                                       Path(os.environ.get("TMPDIR", "/tmp")) / f"zh_curve_{kind}_{point['steps']}")
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


def main(argv=None):
    args = parse(argv)
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
        rows += snapshot_rows(run, kind, cfg, tokenizer, config, data[kind], points, steps, lr)
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
