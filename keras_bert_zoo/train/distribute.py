"""Distribution-strategy switch and precision/XLA switches.

``get_strategy(name)``:
    ``"default"``      no distribution (``tf.distribute.get_strategy()``);
    ``"mirrored"``     ``tf.distribute.MirroredStrategy`` over the local devices (GPUs, or the CPU);
    ``"multi_worker"`` ``tf.distribute.MultiWorkerMirroredStrategy``; the cluster comes from the ``TF_CONFIG``
                       environment variable (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type":
                       "worker", "index": i}}``), collectives over gRPC (RING);
    ``"auto"``         multi_worker when TF_CONFIG names more than one worker, mirrored when several GPUs
                       are visible, default otherwise.

Build and compile the model inside ``strategy.scope()``; pass the GLOBAL batch size to the dataset (each
worker's tf.data is auto-sharded by data). :func:`is_chief` says whether this process should write outputs.
"""

from __future__ import annotations

import contextlib
import json
import os

__all__ = ["get_strategy", "is_chief", "set_precision", "precision_scope", "resolve_precision", "auto_precision",
           "prepare_model", "STRATEGIES"]

STRATEGIES = ("default", "mirrored", "multi_worker", "auto")


def _tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from err


def get_strategy(name: str = "default"):
    import tensorflow as tf

    if name == "auto":
        cfg = _tf_config()
        if cfg and len(cfg.get("cluster", {}).get("worker", [])) > 1:
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        cfg = _tf_config()
        if not cfg or "cluster" not in cfg or "task" not in cfg:
            raise ValueError("multi_worker needs TF_CONFIG with 'cluster' and 'task' (see "
                             "keras_bert_zoo.train.distribute)")
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise ValueError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")


def is_chief() -> bool:
    """True in a single-process run and on worker 0 (or the 'chief' task) of a multi-worker cluster."""
    cfg = _tf_config()
    if not cfg or "task" not in cfg:
        return True
    task = cfg["task"]
    return task.get("type") == "chief" or (task.get("type") == "worker" and int(task.get("index", 0)) == 0
                                           and "chief" not in cfg.get("cluster", {}))


#: the CPU flags (Linux /proc/cpuinfo names) of a native bf16 matmul: AVX512_BF16 (Cooper Lake, Zen 4 on) or AMX
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
_announced = set()


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set:
    """The feature flags of the first CPU in ``cpuinfo`` (empty where the file is absent: not Linux)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


def _bf16_gpu():
    """The name of a visible GPU with native bf16 (compute capability >= 8.0: Ampere on), else ``None``."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        if tuple(details.get("compute_capability", (0, 0))) >= (8, 0):
            return details.get("device_name", device.name)
    return None


def auto_precision(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, str]:
    """``(policy, reason)`` of ``--mixed_precision auto``: ``mixed_bfloat16`` where the hardware multiplies bf16
    natively (a GPU of compute capability >= 8.0, or a CPU with AVX512_BF16 or AMX), ``float32`` elsewhere —
    on an AVX2-only CPU bf16 is converted in software and is no faster (``benchmarks/precision_step.py``)."""
    gpu = _bf16_gpu()
    if gpu:
        return "mixed_bfloat16", f"GPU {gpu} has native bf16"
    native = sorted(cpu_flags(cpuinfo) & set(BF16_CPU_FLAGS))
    if native:
        return "mixed_bfloat16", "this CPU has " + " and ".join(flag.upper() for flag in native)
    return "float32", "this CPU has no AVX512_BF16 or AMX (bf16 would be emulated, not faster)"


def resolve_precision(mixed_precision: str | None = "auto", stream=None) -> str:
    """A precision name as a Keras dtype policy name: ``"auto"`` picks one (:func:`auto_precision`) and says
    which, once per process, on ``stream`` (stderr); ``None`` is ``"float32"``."""
    import sys

    policy = mixed_precision or "float32"
    if policy == "auto":
        policy, reason = auto_precision()
        if (policy, reason) not in _announced:
            _announced.add((policy, reason))
            print(f"bert-zoo: mixed precision auto -> {policy} ({reason})", file=stream or sys.stderr)
    if policy not in ("float32", "mixed_float16", "mixed_bfloat16"):
        raise ValueError(f"unknown precision {policy!r}; expected auto, float32, mixed_bfloat16 or mixed_float16")
    return policy


def set_precision(mixed_precision: str | None = "auto"):
    """Set the global Keras dtype policy: ``"auto"`` (bf16 where the hardware has it, see
    :func:`auto_precision`), ``None``/``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``. Returns the
    policy name set."""
    import keras

    policy = resolve_precision(mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy


@contextlib.contextmanager
def precision_scope(mixed_precision: str | None = "auto"):
    """The global Keras dtype policy set as :func:`set_precision` sets it for the ``with`` block (which gets the
    policy name), and the previous policy restored when the block ends: the models built inside keep the block's
    policy, and the caller's process does not (``run_finetune`` / ``run_en_demo`` called from Python, a notebook,
    a test worker)."""
    import keras

    previous = keras.config.dtype_policy()
    try:
        yield set_precision(mixed_precision)
    finally:
        keras.config.set_dtype_policy(previous)


def prepare_model(model, strategy):
    """Work around a Keras 3 (<= 3.15) bug before ``model.fit`` under MultiWorkerMirroredStrategy.

    Keras's TF trainer builds the model symbolically from the first distributed batch by calling
    ``strategy.reduce("MEAN", batch)`` on the whole (nested) batch; the collective reduce of MWMS does not accept
    a dict of inputs and fails with "Attempt to convert a value ({'token_ids': PerReplica...}) ... to a Tensor".
    Second bug: the per-step logs (scalar loss/metrics) are averaged with ``strategy.reduce("MEAN", v, axis=0)``,
    which fails on 0-d tensors; scalars are averaged with ``axis=None`` instead.
    The build only needs shapes and dtypes, so we give it the first replica's local batch instead. Both fixes
    touch private Keras code and live in :mod:`keras_bert_zoo.compat` (version-guarded); they act only on this
    model and this strategy, and this is a no-op for other strategies.
    """
    import tensorflow as tf

    from keras_bert_zoo import compat

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model
    compat.install_multi_worker_log_reduction(strategy)
    compat.symbolic_build_from_local_batch(model, strategy)
    return model
