"""LoRA on a task: adapters on the backbone, their weights in a safetensors file, the merged copy.

:class:`LoraMixin` gives :class:`~keras_bert_zoo.tasks.Task` its LoRA methods (``enable_lora``, ``lora_weights``,
``save_lora_weights``, ``load_lora_weights``, ``merged_lora``) and ``serving_copy``; :func:`rebuilt` is the copy
without adapters (kernels merged) that ``merged_lora`` and ``serving_copy`` return. A LoRA file carries a
fingerprint of its base model (:func:`base_fingerprint`); loading it into another base is a TaskError.

Example::

    >>> import numpy as np
    >>> from keras_bert_zoo import BertBackbone, BertConfig, TextClassifier
    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=37)
    >>> preprocessor = BertPreprocessor(WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=16)
    >>> task = TextClassifier(BertBackbone(config), preprocessor=preprocessor, labels=["neg", "pos"])
    >>> task.enable_lora(4)                      # adapters on query/value; the rest of the backbone frozen
    >>> history = task.fit(["great", "awful"], ["pos", "neg"], epochs=1, batch_size=2, verbose=0)
    >>> sorted(task.lora_weights())              # only what LoRA fine-tuning changed: adapters and the head
    ['classifier/bias', 'classifier/kernel', 'encoder_layer_0/attention/query/lora_kernel_a', ...]
    >>> task.save_lora_weights("adapters.safetensors")
    >>> plain = task.merged_lora()               # same outputs, plain Dense kernels W + alpha/r * A B
    >>> a = task.predict(["what a day"], verbose=0)["logits"]
    >>> b = plain.predict(["what a day"], verbose=0)["logits"]
    >>> bool(np.allclose(a, b, atol=1e-5))
    True
"""

from __future__ import annotations

import json
import logging
import os

import keras

from keras_bert_zoo.tasks.base.errors import TaskError

__all__ = ["LoraMixin", "rebuilt", "base_fingerprint"]


class LoraMixin:
    """The LoRA methods of a task (a ``keras.Model`` with a ``backbone``)."""

    def enable_lora(self, rank, alpha=None, targets=("query", "value")):
        """LoRA fine-tuning: adapters on the backbone's ``targets`` (see :meth:`BertBackbone.enable_lora`),
        every other backbone variable frozen; the task head stays trainable."""
        self.backbone.enable_lora(rank, alpha=alpha, targets=targets)

    def lora_weights(self) -> dict:
        """What LoRA fine-tuning changed: {variable path: numpy array} of every trainable variable (the
        adapters and the task head)."""
        if not self.backbone.lora:
            raise TaskError("LoRA is not enabled on this task (call enable_lora first)")
        return {v.path: keras.ops.convert_to_numpy(v) for v in self.trainable_variables}

    def save_lora_weights(self, path):
        """Write :meth:`lora_weights` to a safetensors file (atomically), with the LoRA setting as metadata."""
        from safetensors.numpy import save as save_tensors

        from keras_bert_zoo import cache

        blob = save_tensors(self.lora_weights(), metadata={"lora": json.dumps(self.backbone.lora),
                                                           "task": type(self).__name__,
                                                           "base": base_fingerprint(self)})
        with cache.atomic_write(os.fspath(path), "wb") as f:
            f.write(blob)

    def load_lora_weights(self, path):
        """Read a file of :meth:`save_lora_weights` into this task (same base model, same LoRA setting).
        Every tensor is checked (names, shapes, LoRA setting) before any is assigned."""
        path = os.fspath(path)
        saved, tensors, base = _read_lora_file(path)
        if not self.backbone.lora:
            if not saved:
                raise TaskError(f"{path}: no LoRA setting in the file's metadata")
            expected = _shapes_after_enable(self, saved)
        elif saved and saved != self.backbone.lora:
            raise TaskError(f"{path}: LoRA setting {saved} differs from this task's {self.backbone.lora}")
        else:
            expected = {v.path: tuple(v.shape) for v in self.trainable_variables}
        _check_tensors(path, tensors, expected)     # before anything changes: a failed load changes nothing
        _check_base(path, base, self)
        if not self.backbone.lora:
            self.enable_lora(saved["rank"], alpha=saved["alpha"], targets=saved["targets"])
        for variable in self.trainable_variables:
            variable.assign(tensors[variable.path])

    def merged_lora(self):
        """A copy of this task without LoRA whose kernels are the LoRA-updated ones (``W + alpha/r * A B``):
        the same outputs, plain Dense layers."""
        if not self.backbone.lora:
            raise TaskError("LoRA is not enabled on this task")
        return rebuilt(self, dtype=None)

    def serving_copy(self):
        """What ``export`` ships: this task, or (LoRA adapters, or a mixed policy) a copy with the adapters merged
        that computes in float32 with the same variables -- the precision servers and TFLite run and the exports
        are verified at (1e-5). The dtype goes through the copy's config (:func:`rebuilt`)."""
        mixed = self.backbone.dtype_policy.compute_dtype != "float32"
        if not self.backbone.lora and not mixed:
            return self
        return rebuilt(self, dtype="float32" if mixed else None)


def _shapes_after_enable(task, setting: dict) -> dict:
    """{variable path: shape} of ``task``'s trainable variables once LoRA ``setting`` is enabled: the head's, and
    the adapters (``lora_kernel_a`` [in, rank], ``lora_kernel_b`` [rank, out]) of each target kernel."""
    rank, targets = int(setting["rank"]), tuple(setting["targets"])
    backbone = {id(v) for v in task.backbone.weights}
    shapes = {v.path: tuple(v.shape) for v in task.trainable_variables if id(v) not in backbone}
    for layer in task.backbone.lora_layers(targets):
        fan_in, fan_out = (int(d) for d in layer.kernel.shape)
        shapes[f"{layer.path}/lora_kernel_a"] = (fan_in, rank)
        shapes[f"{layer.path}/lora_kernel_b"] = (rank, fan_out)
    return shapes


def _check_tensors(path: str, tensors: dict, expected: dict):
    """The file's tensors are exactly ``expected`` ({name: shape}); a TaskError naming the first difference."""
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise TaskError(f"{path}: tensors do not match this task: missing {missing[:3]}, unexpected "
                        f"{extra[:3]}{' ...' if len(missing) + len(extra) > 6 else ''}")
    bad = [(k, tensors[k].shape, want) for k, want in expected.items() if tuple(tensors[k].shape) != want]
    if bad:
        name, got, want = bad[0]
        raise TaskError(f"{path}: tensor {name} has shape {tuple(got)}, the task expects {want}")


def _read_lora_file(path: str):
    """(LoRA setting from the metadata or None, {name: numpy array}) of a safetensors file."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, SafetensorError) as err:
        raise TaskError(f"{path}: not a readable LoRA weights file ({err})") from None
    return json.loads(meta.get("lora", "null")), tensors, meta.get("base")


def _check_base(path: str, base, task):
    if base is None:
        logging.getLogger(__name__).warning("%s: no fingerprint of the base model (an older file): cannot check "
                                            "that the adapters were trained on this base", path)
    elif base != base_fingerprint(task):
        raise TaskError(f"{path}: the adapters were trained on another base model (fingerprint {base[:12]}, this "
                        f"task's {base_fingerprint(task)[:12]}); load them into the model they were trained on")


def base_fingerprint(task) -> str:
    """SHA-256 of the frozen base model under LoRA: every backbone variable but the adapters (name, shape and
    float32 bytes, in path order). The adapters of a file fit only the base they were trained on."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for variable in sorted(task.backbone.weights, key=lambda v: v.path):
        if "lora_kernel" in variable.path:
            continue
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)
        digest.update(f"{variable.path}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def rebuilt(task, dtype):
    """A copy of ``task`` without LoRA (kernels merged where it had it), computing in ``dtype`` (None:
    unchanged). The dtype goes through the backbone's config (every head layer takes the backbone's policy), so
    the process-global dtype policy is neither read nor changed: safe while other threads build models."""
    config = task.get_config()
    config["backbone"] = dict(config["backbone"], config=dict(config["backbone"]["config"], lora=None))
    if dtype is not None:
        config["backbone"]["config"]["dtype"] = dtype
    config["preprocessor"] = None    # shared below: its vocabulary is an asset, not part of the config
    copy = type(task).from_config(config)
    copy.preprocessor = task.preprocessor
    values = {v.path: v for v in task.weights}
    for layer in (task.backbone.lora_layers() if task.backbone.lora else ()):
        kernel = next(w for w in layer.weights if w.name == "kernel")
        values[kernel.path] = layer.kernel
    for variable in copy.weights:
        if variable.path not in values:
            raise TaskError(f"copying {task.name}: no value for {variable.path}")
        variable.assign(keras.ops.convert_to_tensor(values[variable.path], variable.dtype))
    return copy
