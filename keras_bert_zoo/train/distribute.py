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

import json
import os

__all__ = ["get_strategy", "is_chief", "set_precision", "prepare_model", "STRATEGIES"]

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


def set_precision(mixed_precision: str | None = None):
    """``None``/"float32", ``"mixed_float16"`` or ``"mixed_bfloat16"`` as the global Keras dtype policy."""
    import keras

    policy = mixed_precision or "float32"
    if policy not in ("float32", "mixed_float16", "mixed_bfloat16"):
        raise ValueError(f"unknown precision {policy!r}")
    keras.mixed_precision.set_global_policy(policy)
    return policy


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
