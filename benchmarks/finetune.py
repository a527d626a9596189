"""Fine-tuning and prediction throughput: ours (``TextClassifier.fit`` / ``predict`` on raw strings) vs Hugging Face
transformers (torch, eager: BertTokenizerFast + BertForSequenceClassification + AdamW), same run, same recipe,
same tweets, same threads, interleaved rounds.

    python benchmarks/finetune.py --hf_dir /path/to/minilm_hf_dir --out benchmarks/results/finetune.json

Recipe on both sides: MiniLM-L6-H384 (the same checkpoint), 3 classes, batch 32, at most --seq_len tokens,
each batch padded to its longest text (ours: ``Task.trim``; HF: ``padding="longest"``, what its
``DataCollatorWithPadding`` does), AdamW lr 5e-5, weight decay 0.01, linear warm-up/decay, clip-norm 1.0,
dropout 0.1. Tokenization is inside the timed epoch on both sides (ours: the tf.data pipeline; HF: the Rust
tokenizer per batch).

Rounds: a warm-up round (tracing, allocation) of each, then --rounds rounds, each training ours and HF on the
same fresh --round_examples tweets (order of the two alternating); a round's throughput = examples / epoch wall
time (ours: from ``on_epoch_begin`` to ``on_epoch_end``, i.e. fit's set-up excluded, data pipeline included).
Prediction: --predict_examples tweets, batch 64, both sides, alternating, --rounds times.

Precision (issue 29, item 2): --ours_policies lists our Keras dtype policies (``float32``, ``mixed_bfloat16``;
``auto``: what ``--mixed_precision auto`` picks on this machine), --hf_modes the HF variants (``fp32``, and
``bf16_autocast``: the same eager loop inside ``torch.autocast("cpu", dtype=torch.bfloat16)``); every listed
variant trains and predicts in the same interleaved rounds, and each of ours gets a ratio to each HF. Also reports the FLOPs
of a training step (6 x tokens x matmul parameters + attention) and the fraction of the matmul GFLOP/s measured
by benchmarks/matmul.py (--matmul_json) that it reaches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from _common import (interleaved, load_average, machine, median, ratio, timed, train_flops_per_sequence,
                     write_json)


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="minilm_l6_h384_uncased")
    parser.add_argument("--hf_dir", required=True, help="HF directory of the same checkpoint")
    parser.add_argument("--seq_len", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--round_examples", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--predict_examples", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--matmul_json", default="benchmarks/results/matmul.json")
    parser.add_argument("--corpus", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ours_policies", default="float32",
                        help="comma-separated Keras dtype policies of our task (float32, mixed_bfloat16, auto)")
    parser.add_argument("--hf_modes", default="fp32", help="comma-separated: fp32, bf16_autocast")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    args.ours_policies = [p.strip() for p in args.ours_policies.split(",") if p.strip()]
    args.hf_modes = [m.strip() for m in args.hf_modes.split(",") if m.strip()]
    bad = [m for m in args.hf_modes if m not in ("fp32", "bf16_autocast")]
    if bad:
        parser.error(f"--hf_modes: unknown {bad}; expected fp32 and/or bf16_autocast")
    return args


def ours(args, labels, total_steps, policy="float32"):
    """Our TextClassifier built under the Keras dtype ``policy``: (task, train round fn(texts, labels) -> seconds,
    predict fn(texts) -> seconds)."""
    import keras

    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.train.clocks import StepClock

    keras.config.set_dtype_policy(policy)
    try:
        task = TextClassifier.from_preset(args.preset, labels=labels, sequence_length=args.seq_len)
    finally:
        keras.config.set_dtype_policy("float32")
    task.compile(total_steps=total_steps)

    def ours_round(texts, ys):
        clock = StepClock(skip=0)             # from the start of the epoch: fit's set-up excluded
        task.fit(texts, ys, batch_size=args.batch, epochs=1, verbose=0, callbacks=[clock])
        return clock.seconds

    def ours_predict(texts):
        return timed(task.predict, texts, batch_size=64, verbose=0)[0]

    return task, ours_round, ours_predict


def hf_torch(args, labels, total_steps, hf_lengths, mode="fp32"):
    """HF transformers (torch eager), the same recipe: (train round fn -> seconds, predict fn -> seconds); the
    padded batch lengths go to ``hf_lengths``. ``mode`` ``bf16_autocast`` runs forward (training and prediction)
    inside ``torch.autocast("cpu", dtype=torch.bfloat16)`` (fp32 weights and optimizer, as HF's ``bf16=True``)."""
    import contextlib

    import torch
    import transformers

    def precision():
        if mode == "bf16_autocast":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    label_id = {n: i for i, n in enumerate(labels)}
    tok = transformers.BertTokenizerFast.from_pretrained(args.hf_dir)
    model = transformers.BertForSequenceClassification.from_pretrained(args.hf_dir, num_labels=len(labels))
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=5e-5)
    sched = transformers.get_linear_schedule_with_warmup(opt, int(0.1 * total_steps), total_steps)


    def hf_round(texts, ys):
        return timed(hf_epoch, texts, ys)[0]

    def hf_epoch(texts, ys):
        model.train()
        order = np.random.default_rng(len(hf_lengths)).permutation(len(texts))
        for i in range(0, len(texts) - args.batch + 1, args.batch):
            idx = order[i:i + args.batch]
            enc = tok([texts[j] for j in idx], padding="longest", truncation=True, max_length=args.seq_len,
                      return_tensors="pt")
            hf_lengths.append(int(enc["input_ids"].shape[1]))
            target = torch.tensor([label_id[ys[j]] for j in idx])
            with precision():
                loss = model(**enc, labels=target).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)

    def hf_predict(texts):
        return timed(hf_predict_all, texts)[0]

    def hf_predict_all(texts):
        model.eval()
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                enc = tok(texts[i:i + 64], padding="longest", truncation=True, max_length=args.seq_len,
                          return_tensors="pt")
                with precision():
                    logits = model(**enc).logits
                logits.float().softmax(-1).numpy()

    return hf_round, hf_predict


def data(args):
    """(labels, the training slices of the warm-up and timed rounds, the prediction texts)."""
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits

    splits = tweet_sentiment_splits(args.corpus, seed=args.seed)
    train_texts, train_labels = splits["train"]
    n_rounds = args.rounds + 1
    need = n_rounds * args.round_examples
    if need > len(train_texts):
        raise SystemExit(f"--rounds x --round_examples = {need} > {len(train_texts)} training tweets")
    slices = [(train_texts[r * args.round_examples:(r + 1) * args.round_examples],
               train_labels[r * args.round_examples:(r + 1) * args.round_examples]) for r in range(n_rounds)]
    return sorted(set(train_labels)), slices, splits["test"][0][:args.predict_examples]


def main(argv=None):
    args = parse(argv)
    import keras
    import tensorflow as tf
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    keras.utils.set_random_seed(args.seed)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    load_before = load_average()
    labels, slices, predict_texts = data(args)
    total_steps = len(slices) * (args.round_examples // args.batch)
    train, predict, tasks = {}, {}, {}
    for policy in args.ours_policies:
        if policy == "auto":
            from keras_bert_zoo.train.distribute import resolve_precision
            policy = resolve_precision("auto")
        name = "ours" if args.ours_policies == ["float32"] else f"ours_{policy}"
        tasks[name], train[name], predict[name] = ours(args, labels, total_steps, policy)
    task = next(iter(tasks.values()))
    hf_lengths = []
    for mode in args.hf_modes:
        name = "hf_torch" if args.hf_modes == ["fp32"] else f"hf_torch_{mode}"
        train[name], predict[name] = hf_torch(args, labels, total_steps, hf_lengths, mode)

    def train_rate(fn):
        def run(r):
            texts, ys = slices[r]
            return len(texts) // args.batch * args.batch / fn(texts, ys)
        return run

    def progress(kind):
        return lambda r, values: print(f"{kind} round {r}: " + ", ".join(f"{k} {v:.1f} ex/s" for k, v in
                                                                         values.items()), flush=True)

    # round 0 is the warm-up (tracing, allocation); then the implementations alternate
    fit_eps = interleaved({name: train_rate(fn) for name, fn in train.items()}, args.rounds, warmup=1,
                          on_round=progress("train"))
    for name in predict:                                # warm-up
        predict[name](predict_texts[:128])
    pred_eps = interleaved({name: (lambda _, fn=fn: len(predict_texts) / fn(predict_texts))
                            for name, fn in predict.items()}, args.rounds, on_round=progress("predict"))

    mean_len = float(np.mean(hf_lengths))
    result = summarize(args, labels, task.backbone.config, mean_len, fit_eps, pred_eps)
    load_after = load_average()
    result["load_average"] = [load_before, load_after]
    result["machine"] = machine(threads=args.threads)
    result["table"] = table(args, result, mean_len, load_before, load_after,
                            f"TF {tf.__version__}, Keras {keras.__version__}, torch {torch.__version__}, "
                            f"transformers {transformers.__version__}")
    print("\n" + result["table"])
    if args.out:
        write_json(args.out, result, indent=1)
    return 0


def matmul_peak(path):
    """The best TensorFlow fp32 matmul GFLOP/s that benchmarks/matmul.py measured (None without its file)."""
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        rows = json.load(f)["results"]
    tf_fp32 = [r["gflops"] for r in rows if r["framework"] == "tensorflow" and r["dtype"] == "float32"]
    return max(tf_fp32) if tf_fp32 else None


def summarize(args, labels, config, mean_len, fit_eps, pred_eps):
    """Medians, FLOPs and ratios of the rounds."""
    flops_step = args.batch * train_flops_per_sequence(config, mean_len)
    peak = matmul_peak(args.matmul_json)
    result = {"args": vars(args), "labels": labels, "mean_padded_length": round(mean_len, 1),
              "train_flops_per_step": flops_step, "matmul_peak_gflops_tf_fp32": peak}
    for name in fit_eps:
        med = median(fit_eps[name])
        step_s = args.batch / med
        result[name] = {"train_examples_per_s": round(med, 2), "train_rounds": [round(v, 2) for v in fit_eps[name]],
                        "predict_examples_per_s": round(median(pred_eps[name]), 1),
                        "predict_rounds": [round(v, 1) for v in pred_eps[name]],
                        "step_s": round(step_s, 4), "achieved_gflops": round(flops_step / step_s / 1e9, 1)}
        if peak and "bf16" not in name and "bfloat16" not in name:     # the peak is the float32 matmul's
            result[name]["fraction_of_matmul_peak"] = round(flops_step / step_s / 1e9 / peak, 3)
    ours_names = [n for n in fit_eps if n.startswith("ours")]
    hf_names = [n for n in fit_eps if n.startswith("hf_torch")]
    if ours_names == ["ours"] and hf_names == ["hf_torch"]:
        result["ratio_train"] = ratio(result["ours"]["train_examples_per_s"],
                                      result["hf_torch"]["train_examples_per_s"])
        result["ratio_predict"] = ratio(result["ours"]["predict_examples_per_s"],
                                        result["hf_torch"]["predict_examples_per_s"])
    result["ratios"] = {f"{o}/{h}": {"train": ratio(result[o]["train_examples_per_s"], result[h]["train_examples_per_s"]),
                                     "predict": ratio(result[o]["predict_examples_per_s"],
                                                      result[h]["predict_examples_per_s"])}
                        for o in ours_names for h in hf_names}
    return result


def table(args, result, mean_len, load_before, load_after, versions):
    return "\n".join([
        f"load average before/after {load_before[0]:.2f}/{load_after[0]:.2f}; {os.cpu_count()} cores, {args.threads} "
        f"threads; {result['machine']['cpu']}; {versions}; {args.preset}, batch {args.batch}, <= {args.seq_len} "
        f"tokens (mean padded length {mean_len:.1f}), {args.rounds} rounds x {args.round_examples} tweets",
        "", "| | train ex/s (median) | rounds | step GFLOP/s | of matmul peak | predict ex/s |", "|---|---|---|---|---|---|"]
        + [f"| {name} | {result[name]['train_examples_per_s']:.1f} | {result[name]['train_rounds']} | "
           f"{result[name]['achieved_gflops']} | {result[name].get('fraction_of_matmul_peak', '–')} | "
           f"{result[name]['predict_examples_per_s']:.1f} |" for name in result if isinstance(result[name], dict)
           and "train_examples_per_s" in result[name]]
        + [""] + [f"{pair}: training {r['train']:.2f}x, prediction {r['predict']:.2f}x"
                  for pair, r in result["ratios"].items()])


if __name__ == "__main__":
    sys.exit(main())
