"""GPU fine-tuning throughput: our BertBackbone and keras-hub's (Keras on JAX) vs HF transformers (torch eager
and torch.compile), same model size, batch, sequence length, precision and optimizer, one run.

    bash benchmarks/gpu.sh                          # on the GPU machine: BERT-base, B256 T128, bf16, AdamW
    python benchmarks/gpu.py --size bert_uncased_L-2_H-128 --batch 8 --seq 32 --steps 3 --rounds 2   # CPU try

Needs JAX, PyTorch, transformers, keras and keras-hub; NOT TensorFlow (the model code uses keras.ops only; the
Keras part runs with KERAS_BACKEND=jax). Each framework runs in its own child process, one after the other (each
would otherwise reserve the GPU's memory for itself), and inside a child the implementations are timed in
alternating rounds (noise hits both alike): a round = ``--steps`` optimizer steps after a warm-up that includes
compilation; its throughput = batch * steps / wall time, synchronised with the device at both ends. Reported: the
median over rounds in sequences/s, and MFU = throughput * training FLOPs per sequence / the bf16 matmul peak this
script measures on the same GPU (8192^3 products).

Training FLOPs per sequence: ``_common.train_flops_per_sequence`` (the benchmarks' one formula), 6 x (matmul
parameters of the encoder) x T for the dense layers (forward 2, backward 4) plus 12 x layers x T^2 x hidden for
the two attention products; embeddings (gathers) and the pooler (one position) are not counted. BERT-base at
T=128: 67.0 GFLOP.

Recipe: the classification head on the pooled output (2 classes), AdamW lr 2e-5 (weight decay 0.01), bf16
mixed precision (fp32 master weights). Dropout: hidden 0.1 everywhere; attention-probability dropout is
``--attention_dropout`` (default 0.0) for ours and HF — with 0, ours takes cuDNN flash attention through
``keras.ops.dot_product_attention`` and HF its SDPA kernel; keras-hub's BertBackbone has one ``dropout`` for both
(0.1, its default recipe, which also makes Keras use its unfused attention). ``ours_attn_dropout`` repeats ours
with attention dropout 0.1 (explicit attention), i.e. exactly BERT's recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import ROOT, interleaved, machine, median, train_flops_per_sequence, write_json


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="bert_base_uncased", help="a BertConfig name")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per timed round")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per implementation")
    p.add_argument("--attention_dropout", type=float, default=0.0)
    p.add_argument("--parts", default="peak,keras,torch", help="which children to run")
    p.add_argument("--keras_impls", default="ours,keras_hub,ours_attn_dropout")
    p.add_argument("--torch_impls", default="hf_eager,hf_compile")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "gpu.json"))
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------------- shared
def bert_config(size):
    sys.path.insert(0, ROOT)
    from keras_bert_zoo.config import BertConfig  # ground floor: imports neither Keras nor TensorFlow

    return BertConfig.from_name(size)


def batch_data(np, batch, seq, vocab):
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, vocab, (batch, seq)).astype("int32")
    ids[:, 0] = 101
    ids[:, -1] = 102
    segments = np.zeros((batch, seq), "int32")
    segments[:, seq // 2:] = 1
    return ids, segments, np.ones((batch, seq), "int32"), rng.integers(0, 2, batch).astype("int32")


def rounds(impls, run_round, n_rounds):
    """Interleaved rounds: impl A, impl B, A, B ... -> {impl: [seq/s per round]} (_common.interleaved)."""
    return interleaved({name: (lambda _, name=name: run_round(name)) for name in impls}, n_rounds, order="fixed")


# ----------------------------------------------------------------------------------------------- children
def child_peak(args):
    """bf16 dense matmul peak, 8192^3, through torch (cuBLAS) and JAX (XLA): TFLOP/s, mean of 10 after 3."""
    out = {}
    n = 8192 if _on_gpu() else 1024
    try:
        import torch

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
        for _ in range(3):
            a @ b
        _torch_sync(torch)
        t = time.perf_counter()
        for _ in range(10):
            a @ b
        _torch_sync(torch)
        out["torch_bf16_tflops"] = 2 * n ** 3 * 10 / (time.perf_counter() - t) / 1e12
    except ImportError as err:
        out["torch_error"] = str(err)
    try:
        import jax
        import jax.numpy as jnp

        a = jnp.ones((n, n), jnp.bfloat16)
        f = jax.jit(lambda x: x @ x)
        for _ in range(3):
            f(a).block_until_ready()
        t = time.perf_counter()
        for _ in range(10):
            r = f(a)
        r.block_until_ready()
        out["jax_bf16_tflops"] = 2 * n ** 3 * 10 / (time.perf_counter() - t) / 1e12
        out["jax_device"] = str(jax.devices()[0])
    except ImportError as err:
        out["jax_error"] = str(err)
    out["matmul_n"] = n
    return out


def _on_gpu():
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _torch_sync(torch):
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def child_keras(args):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import dataclasses

    import jax
    import keras
    import numpy as np

    from keras_bert_zoo.models.backbone import BertBackbone

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    config = bert_config(args.size)
    ids, seg, mask, y = batch_data(np, args.batch, args.seq, config.vocab_size)
    x = {"token_ids": ids, "segment_ids": seg, "padding_mask": mask}
    n = args.steps
    xs = {k: np.concatenate([v] * n) for k, v in x.items()}
    ys = np.concatenate([y] * n)

    def classifier(backbone):
        inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in x}
        logits = keras.layers.Dense(2, dtype="float32")(backbone(inputs)["pooled_output"])
        model = keras.Model(inputs, logits)
        model.compile(optimizer=keras.optimizers.AdamW(2e-5, weight_decay=0.01),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
        return model

    def make(name):
        if name == "ours":
            return classifier(BertBackbone(dataclasses.replace(config, attention_dropout=args.attention_dropout)))
        if name == "ours_attn_dropout":
            return classifier(BertBackbone(dataclasses.replace(config, attention_dropout=0.1)))
        return classifier(keras_hub_bert_backbone()(
            vocabulary_size=config.vocab_size, num_layers=config.num_layers, num_heads=config.num_heads,
            hidden_dim=config.hidden_size, intermediate_dim=config.intermediate_size, dropout=0.1,
            max_sequence_length=config.max_position_embeddings, num_segments=config.type_vocab_size))

    impls = [s for s in args.keras_impls.split(",") if s]
    models = {name: make(name) for name in impls}
    params = {name: int(m.count_params()) for name, m in models.items()}
    for m in models.values():   # warm-up: tracing + XLA compilation
        m.fit(xs, ys, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)

    def run_round(name):
        model = models[name]
        _block(jax, model)
        t = time.perf_counter()
        model.fit(xs, ys, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
        _block(jax, model)
        return args.batch * n / (time.perf_counter() - t)

    return {"seq_per_s": rounds(impls, run_round, args.rounds), "params": params,
            "device": str(jax.devices()[0]), "keras": keras.__version__, "jax": jax.__version__,
            "fused_attention": {name: _fused(models[name]) for name in impls if name.startswith("ours")}}


def keras_hub_bert_backbone():
    """keras-hub's BertBackbone class. ``import keras_hub`` imports TensorFlow (its image and causal-LM modules
    do, unconditionally, in every release tried: 0.22-0.29); on a machine without TensorFlow the BERT module is
    loaded on its own, under an empty ``keras_hub`` package (the model code itself is keras.ops only)."""
    try:
        import keras_hub

        return keras_hub.models.BertBackbone
    except ImportError:
        import importlib.util
        import types

        for name in [m for m in sys.modules if m == "keras_hub" or m.startswith("keras_hub.")]:
            del sys.modules[name]
        spec = importlib.util.find_spec("keras_hub")
        if spec is None:
            raise
        package = types.ModuleType("keras_hub")
        package.__path__, package.__spec__ = list(spec.submodule_search_locations), spec
        sys.modules["keras_hub"] = package
        from keras_hub.src.models.bert.bert_backbone import BertBackbone

        return BertBackbone


def _block(jax, model):
    """Wait until the model's variables are computed (JAX dispatches asynchronously)."""
    for v in model.trainable_variables[:1] + model.trainable_variables[-1:]:
        jax.block_until_ready(v.value)


def _fused(model):
    for layer in model._flatten_layers():
        if layer.__class__.__name__ == "MultiHeadSelfAttention":
            return bool(layer.uses_fused(training=True))
    return None


def child_torch(args):
    import torch
    from transformers import BertConfig as HFConfig
    from transformers import BertForSequenceClassification

    c = bert_config(args.size)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    hf_config = HFConfig(vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_hidden_layers=c.num_layers,
                         num_attention_heads=c.num_heads, intermediate_size=c.intermediate_size,
                         max_position_embeddings=c.max_position_embeddings, type_vocab_size=c.type_vocab_size,
                         hidden_dropout_prob=0.1, attention_probs_dropout_prob=args.attention_dropout,
                         num_labels=2, attn_implementation="sdpa")
    import numpy as np

    ids, seg, mask, y = (torch.from_numpy(a).long().to(dev)
                         for a in batch_data(np, args.batch, args.seq, c.vocab_size))

    def make(compiled):
        torch.manual_seed(0)
        model = BertForSequenceClassification(hf_config).to(dev).train()
        opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01,
                                fused=torch.cuda.is_available())

        def step():
            with torch.autocast(device_type=dev, dtype=torch.bfloat16):
                loss = model(input_ids=ids, token_type_ids=seg, attention_mask=mask, labels=y).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        return model, (torch.compile(step) if compiled else step)

    impls = [s for s in args.torch_impls.split(",") if s]
    steps = {}
    params = {}
    for name in impls:
        model, step = make(name == "hf_compile")
        params[name] = sum(p.numel() for p in model.parameters())
        for _ in range(3):   # warm-up (+ compilation)
            step()
        _torch_sync(torch)
        steps[name] = step

    def run_round(name):
        _torch_sync(torch)
        t = time.perf_counter()
        for _ in range(args.steps):
            steps[name]()
        _torch_sync(torch)
        return args.batch * args.steps / (time.perf_counter() - t)

    return {"seq_per_s": rounds(impls, run_round, args.rounds), "params": params, "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}


CHILDREN = {"peak": child_peak, "keras": child_keras, "torch": child_torch}


# ----------------------------------------------------------------------------------------------- driver
def main(argv=None):
    args = parse(argv)
    if args.child:
        result = CHILDREN[args.child](args)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    c = bert_config(args.size)
    flops = train_flops_per_sequence(c, args.seq)
    report = {"size": args.size, "batch": args.batch, "seq": args.seq, "steps": args.steps, "rounds": args.rounds,
              "attention_dropout": args.attention_dropout, "train_gflop_per_seq": round(flops / 1e9, 2),
              "parts": {}}
    passthrough = [f"--{k}={getattr(args, k)}" for k in ("size", "batch", "seq", "steps", "rounds",
                                                         "attention_dropout", "keras_impls", "torch_impls")]
    for part in [p for p in args.parts.split(",") if p]:
        env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=os.pathsep.join(
            [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        start = time.time()
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), *passthrough, "--child", part],
                              env=env, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            report["parts"][part] = {"error": (proc.stdout + proc.stderr)[-3000:], "rc": proc.returncode}
        else:
            report["parts"][part] = json.loads(lines[-1][len("RESULT "):])
        report["parts"][part]["wall_s"] = round(time.time() - start, 1)
        print(f"{part}: {json.dumps(report['parts'][part])[:600]}", flush=True)
    peak = report["parts"].get("peak", {})
    peak_tflops = peak.get("torch_bf16_tflops") or peak.get("jax_bf16_tflops")
    rows = []
    for part in ("keras", "torch"):
        for name, values in report["parts"].get(part, {}).get("seq_per_s", {}).items():
            med = median(values)
            mfu = med * flops / (peak_tflops * 1e12) if peak_tflops else None
            rows.append({"impl": name, "seq_per_s": round(med, 1), "rounds": [round(v, 1) for v in values],
                         "mfu": None if mfu is None else round(mfu, 4)})
    report["table"] = rows
    report["peak_bf16_tflops"] = peak_tflops
    report["machine"] = machine()
    print(f"\n{args.size} B{args.batch} T{args.seq} bf16 AdamW, {report['train_gflop_per_seq']} GFLOP/seq, "
          f"measured bf16 matmul peak {peak_tflops and round(peak_tflops, 1)} TFLOP/s")
    print("| implementation | seq/s (median) | rounds | MFU |")
    print("|---|---|---|---|")
    for r in rows:
        mfu = "n/a" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        print(f"| {r['impl']} | {r['seq_per_s']} | {r['rounds']} | {mfu} |")
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 1 if any("error" in p for p in report["parts"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
