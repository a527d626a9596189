"""What every benchmark script shares: the machine it ran on, ONE FLOP formula, interleaved timing.

    from _common import interleaved, machine, median, ratio, timed, train_flops_per_sequence

* :func:`machine` — CPU model, core count, the SIMD flags that matter (AVX/AVX-512/AMX/FMA), load average;
  :func:`cpu_flags`, :func:`cpu_model`, :func:`load_average` one by one.
* :func:`train_flops_per_sequence` — the training FLOPs of one sequence through the encoder, counted from the
  config (the one formula; see its docstring for what is counted and why).
* :func:`timed`, :func:`interleaved`, :func:`median`, :func:`ratio` — a wall-clock call, rounds that alternate
  between the implementations under test (machine noise hits all alike), medians and ratios of the rounds.

Imports neither TensorFlow nor Keras (nor the package's upper floors): ``benchmarks/gpu.sh`` runs on a machine
with only torch and JAX.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = ["ROOT", "cpu_model", "cpu_flags", "load_average", "machine", "train_flops_per_sequence", "timed",
           "interleaved", "median", "ratio", "write_json"]

#: the CPU flags a benchmark reports (vector widths and matrix units that decide fp32/bf16 speed)
FLAG_PREFIXES = ("avx", "amx", "fma")


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags(prefixes=FLAG_PREFIXES) -> list[str]:
    """The CPU's flags that start with one of ``prefixes`` (sorted; empty off Linux)."""
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return sorted(f for f in line.split(":", 1)[1].split() if f.startswith(tuple(prefixes)))
    return []


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (a benchmark on a busy machine says so)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def machine(**extra) -> dict:
    """The machine a result was measured on: CPU model, cores, flags, architecture, load average; plus ``extra``
    (threads, library versions...)."""
    return {"cpu": cpu_model(), "cpus": os.cpu_count(), "cpu_flags": cpu_flags(), "arch": platform.machine(),
            "load_average": load_average(), **extra}


def train_flops_per_sequence(config, length) -> float:
    """Training FLOPs (forward + backward = 3 x forward) of one sequence of ``length`` tokens through the encoder.

    Per layer and token, forward: 2 x the matmul parameters (Q, K, V, output: 4 h^2; feed-forward in and out:
    2 h i); per layer, forward: the two attention products (Q K^T and the weighted sum of V), 2 x 2 x T^2 x h.
    So 6 T L (4 h^2 + 2 h i) + 12 L T^2 h. Embeddings are gathers and not counted; the pooler and the head act
    on one position per sequence, not T ([CLS]), and are left out (6 h^2 = 3.5 MFLOP: 0.005 % of BERT-base at T=128).
    BERT-base at T=128: 67.0 GFLOP. (benchmarks/gpu.py counted the pooler once per *token*, 6 h^2 T, which
    over-counts by 0.45 GFLOP at T=128; this is the formula benchmarks/finetune.py used, and what gpu.py's own
    docstring quoted.)
    """
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_layers
    per_layer = 2 * length * (4 * h * h + 2 * h * i) + 2 * 2 * length * length * h
    return 3.0 * layers * per_layer


def timed(fn, *args, **kwargs):
    """(wall seconds, result) of one call ``fn(*args, **kwargs)``."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


ORDERS = ("alternate", "fixed", "rotate")


def interleaved(impls: dict, rounds: int, order: str = "alternate", warmup: int = 0, on_round=None) -> dict:
    """Rounds over the implementations ``{name: run(round index) -> value}``, each round running every one, so
    machine noise hits all alike. ``order``: ``alternate`` (A B C, then C B A, ...), ``fixed`` (A B C every
    round) or ``rotate`` (A B C, B C A, C A B, ...). The first ``warmup`` rounds are run and dropped (the round
    index passed to ``run`` counts them). -> ``{name: [value per kept round]}``; ``on_round(kept round index,
    {name: value})`` is called after each kept round (progress lines)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    got = {name: [] for name in impls}
    names = list(impls)
    for r in range(warmup + rounds):
        if order == "rotate":
            sequence = names[r % len(names):] + names[:r % len(names)]
        else:
            sequence = names[::-1] if order == "alternate" and r % 2 else names
        values = {name: impls[name](r) for name in sequence}
        if r >= warmup:
            for name in names:
                got[name].append(values[name])
            if on_round is not None:
                on_round(r - warmup, values)
    return got


def median(values) -> float:
    """The median of ``values`` (the statistic every benchmark reports per implementation)."""
    return statistics.median(values)


def ratio(a, b, digits: int = 3):
    """``a / b`` rounded (ours / theirs); None when ``b`` is 0 or missing."""
    return round(a / b, digits) if a is not None and b else None


def write_json(path, obj, indent: int = 2):
    """``obj`` as JSON to ``path`` atomically (:func:`keras_bert_zoo.cache.atomic_write`: the ground floor, no
    TensorFlow), so an interrupted benchmark leaves the old result or the new one, never half a file."""
    import sys

    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from keras_bert_zoo import cache

    with cache.atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent)


def saved_model_session(path, threads, signature_name="serving_default", output=None):
    """fn(**inputs) -> the outputs (or the one named ``output``) of the SavedModel's signature run the way TF
    Serving runs it: the MetaGraph loaded into a TF1 ``Session`` and ``Session.run`` on the signature's tensors
    (no TF2 eager function-call layer in between), ``threads`` intra-op threads, one inter-op."""
    import numpy as np
    import tensorflow as tf

    graph = tf.Graph()
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
    session = tf.compat.v1.Session(graph=graph, config=config)
    with graph.as_default():
        meta = tf.compat.v1.saved_model.load(session, ["serve"], str(path))
    signature = meta.signature_def[signature_name]
    feeds = {k: t.name for k, t in signature.inputs.items()}
    fetch = signature.outputs[output].name if output else {k: t.name for k, t in signature.outputs.items()}
    return lambda **inputs: session.run(fetch, {feeds[k]: np.asarray(v) for k, v in inputs.items()})
