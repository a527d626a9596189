"""The task contract: raw strings in, predictions out, trained with plain ``model.fit``.

A task object (:class:`BertTask` subclass) bundles three things:

* ``preprocessor`` — pure TensorFlow graph (tensorflow-text ops only) from raw string tensors to the
  backbone's packed dict (``token_ids``, ``segment_ids``, ``padding_mask``, int32 ``[B, T]``; tasks may add
  keys such as ``[B, K, T]`` choices). Usually a :class:`keras_bert_zoo.text.BertPreprocessor`; its
  ``.tokenizer`` is the WordPiece tokenizer whose vocabulary is saved as a file, never inlined in JSON.
* ``model`` — a ``keras.Model`` on PACKED inputs (e.g. :class:`keras_bert_zoo.models.tasks.BertClassifier`).
  This is what ``model.fit`` trains: datasets map the preprocessor inside ``tf.data`` and yield
  ``(packed, targets)`` or ``(packed, targets, sample_weights)``.
* ``postprocess(model_outputs)`` — pure TensorFlow from the model's raw outputs (logits) to a dict of named
  output tensors (e.g. ``probabilities``, ``label_ids``, ``label_names``).

Public contract (what the CLI, the export helper and users rely on)::

    task.task_type                 registry name: "classify", "regress", "tag", "qa", "choice", ...
    task.preprocessor / .tokenizer / .model / .labels (list[str] or None) / .sequence_length
    task.serving_input_spec()      {name: tf.TensorSpec([None], tf.string)} — raw-string signature inputs
    task.packed_input_spec()       {name: tf.TensorSpec([None, None], tf.int32)} — packed signature inputs
    task.serving_fn(inputs)        pure TF: {name: string tensor [B]} -> {output name: tensor}
    task.packed_serving_fn(packed) pure TF: packed dict -> {output name: tensor}
    task.end_to_end_model()        keras.Model, string Inputs named as serving_input_spec() -> outputs dict
    task.predict(texts, pairs=None, batch_size=32)  Python strings -> list[dict] (JSON-serialisable)
    task.predict_records(records)  list of dicts (one JSON line each, keys as serving_input_spec) -> list[dict]
    task.save(directory)           atomic: model.keras + vocab.txt + task.json
    BertTask.load(directory)       classmethod on the base: dispatches on task.json "task_type" via the
                                   registry in keras_bert_zoo.tasks; keras ``safe_mode=True``
    task.compile(optimizer, **kw)  model.compile with the task's loss and metrics
    task.make_dataset(inputs, targets=None, batch_size=32, shuffle=False, ...)  in-memory -> tf.data

File-based training (used by ``bert-zoo finetune/evaluate``; every task module implements these)::

    TaskClass.from_train_file(path, backbone, tokenizer, *, sequence_length, **options) -> task
        builds the head; infers the label set from the training file when the task has labels.
    task.dataset_from_file(path, *, batch_size, training, **options) -> tf.data.Dataset
        ``(packed, targets[, sample_weights])``; clear errors naming file, line and column/field.
    task.evaluate_file(path, *, out_dir=None, batch_size=32, **options) -> dict of float metrics
        also writes reports (CSV of predictions vs labels, plots) into ``out_dir`` when given.

``options`` are plain keyword arguments coming from CLI flags (e.g. ``text_column``, ``pair_column``,
``label_column``, ``multi_label``); a task ignores options it does not use. Flags themselves are read only in
``keras_bert_zoo.cli``.

Subclasses override: ``task_type``, ``build_head``-style constructors, ``postprocess``, ``decode``,
``get_config`` (JSON-serialisable extra config, passed back to ``__init__`` on load), the loss/metrics in
``compile``, and the file-based trio above. Subclasses register with ``@keras_bert_zoo.tasks.register_task``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["BertTask", "TaskError", "TASK_FILE", "MODEL_FILE", "VOCAB_FILE", "FORMAT_VERSION"]

TASK_FILE = "task.json"
MODEL_FILE = "model.keras"
VOCAB_FILE = "vocab.txt"
FORMAT_VERSION = 1


class TaskError(ValueError):
    """Bad task input: an unknown label, an empty or malformed file, a saved task that cannot be loaded."""


def _tf():
    import tensorflow as tf

    return tf


def tokenizer_vocabulary(tokenizer) -> list[str]:
    """The tokenizer's vocabulary as a list of tokens (index = id)."""
    if hasattr(tokenizer, "get_vocabulary"):
        return [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in tokenizer.get_vocabulary()]
    vocab = getattr(tokenizer, "vocabulary", None)
    if isinstance(vocab, (list, tuple)):
        return list(vocab)
    if isinstance(vocab, (str, os.PathLike)):
        with open(vocab, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    raise TypeError(f"cannot read the vocabulary of {type(tokenizer).__name__}")


def tokenizer_options(tokenizer) -> dict:
    """The tokenizer's constructor options without its vocabulary (which is saved as a file)."""
    config = dict(tokenizer.get_config()) if hasattr(tokenizer, "get_config") else {}
    for key in ("vocabulary", "name", "trainable", "dtype", "dtype_policy"):
        config.pop(key, None)
    return {k: v for k, v in config.items() if isinstance(v, (str, int, float, bool, type(None)))}


def build_preprocessor(tokenizer, sequence_length: int, truncate: str = "longest_first"):
    from keras_bert_zoo.text import BertPreprocessor

    return BertPreprocessor(tokenizer, sequence_length=sequence_length, truncate=truncate)


def _to_string_tensor(values, name: str):
    tf = _tf()
    if isinstance(values, str):
        raise TaskError(f"{name}: expected a list of strings, got a single string (wrap it in a list)")
    return tf.constant([str(v) if v is not None else "" for v in values], dtype=tf.string)


class BertTask:
    """Base class of the task objects (see the module docstring for the full contract).

    Args:
        model: keras.Model on packed inputs.
        tokenizer: the WordPiece tokenizer (keras_bert_zoo.text.WordPieceTokenizer).
        sequence_length: packed length T.
        labels: label names (index = class id), or None for tasks without a label set.
        truncate: truncation strategy of the preprocessor.
        preprocessor: an already-built preprocessor (default: BertPreprocessor(tokenizer, sequence_length)).
    """

    task_type: str = "base"
    #: names of the raw-string inputs of serving_fn, in order (a second one for pairs)
    text_inputs: tuple[str, ...] = ("text",)

    def __init__(self, model, tokenizer, sequence_length: int = 128, labels: Sequence[str] | None = None,
                 truncate: str = "longest_first", preprocessor=None):
        self.model = model
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.labels = list(labels) if labels is not None else None
        self.truncate = truncate
        self.preprocessor = (preprocessor if preprocessor is not None
                             else build_preprocessor(tokenizer, self.sequence_length, truncate))

    # ------------------------------------------------------------------ config / (de)serialisation
    def get_config(self) -> dict[str, Any]:
        """Extra JSON-serialisable constructor arguments of the subclass (beyond the common ones)."""
        return {}

    @classmethod
    def from_parts(cls, model, tokenizer, meta: dict):
        """Rebuild from a loaded model, tokenizer and task.json dict (subclasses rarely override)."""
        return cls(model, tokenizer, sequence_length=meta["sequence_length"], labels=meta.get("labels"),
                   truncate=meta.get("truncate", "longest_first"), **meta.get("config", {}))

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``model.keras``, ``vocab.txt`` and ``task.json`` to ``directory`` atomically.

        Everything goes to a temporary sibling directory that replaces ``directory`` only when complete.
        """
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".part", dir=directory.parent))
        try:
            self.model.save(tmp / MODEL_FILE)
            with open(tmp / VOCAB_FILE, "w", encoding="utf-8") as f:
                f.write("\n".join(tokenizer_vocabulary(self.tokenizer)) + "\n")
            meta = {
                "format_version": FORMAT_VERSION,
                "task_type": self.task_type,
                "labels": self.labels,
                "sequence_length": self.sequence_length,
                "truncate": self.truncate,
                "tokenizer": tokenizer_options(self.tokenizer),
                "config": self.get_config(),
            }
            with open(tmp / TASK_FILE, "w", encoding="utf-8") as f:
                json.dump(meta, f, indent=2, ensure_ascii=False)
            old = None
            if directory.exists():
                old = directory.parent / f".{directory.name}.old-{os.getpid()}"
                os.replace(directory, old)
            os.replace(tmp, directory)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "BertTask":
        """Load a task saved with :meth:`save`; the concrete class comes from task.json's ``task_type``."""
        import keras

        directory = Path(directory)
        meta_path = directory / TASK_FILE
        if not meta_path.is_file():
            raise TaskError(f"{directory}: not a saved task (no {TASK_FILE})")
        with open(meta_path, encoding="utf-8") as f:
            try:
                meta = json.load(f)
            except json.JSONDecodeError as err:
                raise TaskError(f"{meta_path}: invalid JSON: {err}") from err
        for key in ("task_type", "sequence_length"):
            if key not in meta:
                raise TaskError(f"{meta_path}: missing field {key!r}")
        if meta.get("format_version", 1) > FORMAT_VERSION:
            raise TaskError(f"{meta_path}: format_version {meta['format_version']} is newer than this "
                            f"package supports ({FORMAT_VERSION})")
        from keras_bert_zoo.tasks import get_task_class

        task_cls = get_task_class(meta["task_type"])
        if cls is not BertTask and not issubclass(task_cls, cls):
            raise TaskError(f"{directory} holds a {meta['task_type']!r} task, not a {cls.task_type!r} task")
        import keras_bert_zoo.models  # noqa: F401  (registers the serialisable classes)
        import keras_bert_zoo.models.tasks  # noqa: F401
        import keras_bert_zoo.train.optimizers  # noqa: F401
        from keras_bert_zoo.text import WordPieceTokenizer

        # compile=False: a loaded task is for inference / evaluation; ``task.compile`` before training again.
        model = keras.saving.load_model(directory / MODEL_FILE, safe_mode=True, compile=False)
        tokenizer = WordPieceTokenizer(str(directory / VOCAB_FILE), **meta.get("tokenizer", {}))
        return task_cls.from_parts(model, tokenizer, meta)

    # ------------------------------------------------------------------ graph pieces (pure TF)
    def serving_input_spec(self) -> dict:
        tf = _tf()
        return {name: tf.TensorSpec([None], tf.string, name=name) for name in self.text_inputs}

    def packed_input_spec(self) -> dict:
        tf = _tf()
        return {k: tf.TensorSpec([None, None], tf.int32, name=k)
                for k in ("token_ids", "segment_ids", "padding_mask")}

    def preprocess(self, inputs: dict):
        """{name: string tensor [B]} -> packed dict (pure TF)."""
        texts = [inputs[name] for name in self.text_inputs if name in inputs]
        if not texts:
            raise TaskError(f"{self.task_type}: expected inputs {self.text_inputs}, got {sorted(inputs)}")
        return self.preprocessor(texts[0] if len(texts) == 1 else tuple(texts))

    def postprocess(self, outputs) -> dict:
        """Model outputs -> dict of named tensors (pure TF). Subclasses override."""
        return outputs if isinstance(outputs, dict) else {"outputs": outputs}

    def packed_serving_fn(self, packed: dict) -> dict:
        return self.postprocess(self.model(packed, training=False))

    def serving_fn(self, inputs: dict) -> dict:
        return self.packed_serving_fn(self.preprocess(inputs))

    def end_to_end_model(self):
        """A keras.Model taking raw strings (string ``keras.Input`` per serving input) -> outputs dict."""
        import keras

        task = self

        class _EndToEnd(keras.layers.Layer):
            def call(self, inputs):
                return task.serving_fn(inputs)

        inputs = {name: keras.Input(shape=(), dtype="string", name=name) for name in self.text_inputs}
        outputs = _EndToEnd(name=f"{self.task_type}_end_to_end")(inputs)
        return keras.Model(inputs, outputs, name=f"{self.task_type}_end_to_end")

    # ------------------------------------------------------------------ Python-side prediction
    def decode(self, outputs: dict[str, np.ndarray]) -> list[dict]:
        """Numpy outputs of :meth:`serving_fn` for one batch -> one JSON-serialisable dict per example."""
        n = len(next(iter(outputs.values())))
        return [{k: _jsonable(v[i]) for k, v in outputs.items()} for i in range(n)]

    def predict_records(self, records: Sequence[dict], batch_size: int = 32) -> list[dict]:
        for i, rec in enumerate(records):
            missing = [n for n in self.text_inputs[:1] if n not in rec]
            if missing:
                raise TaskError(f"record {i + 1}: missing field(s) {missing}; expected {list(self.text_inputs)}")
        results = []
        for start in range(0, len(records), batch_size):
            chunk = records[start:start + batch_size]
            inputs = {}
            for name in self.text_inputs:
                if any(name in r for r in chunk):
                    inputs[name] = _to_string_tensor([r.get(name, "") for r in chunk], name)
            outputs = self.serving_fn(inputs)
            results.extend(self.decode({k: np.asarray(v) for k, v in outputs.items()}))
        return results

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None, batch_size: int = 32):
        """Raw Python strings (and optional second segments) -> list of dicts, one per text."""
        if isinstance(texts, str):
            texts = [texts]
        if isinstance(pairs, str):
            pairs = [pairs]
        if pairs is not None and len(pairs) != len(texts):
            raise TaskError(f"predict: {len(texts)} texts but {len(pairs)} pairs")
        names = self.text_inputs
        records = [{names[0]: t} for t in texts]
        if pairs is not None:
            if len(names) < 2:
                raise TaskError(f"{self.task_type} task takes single texts, got pairs")
            for r, p in zip(records, pairs):
                r[names[1]] = p
        return self.predict_records(records, batch_size=batch_size)

    # ------------------------------------------------------------------ training helpers
    def make_dataset(self, inputs, targets=None, sample_weights=None, batch_size: int = 32,
                     shuffle: bool = False, seed: int = 0, repeat: bool = False, bucket_by_length: bool = False,
                     trim_padding: bool = False):
        """In-memory data -> tf.data.Dataset of ``(packed, targets[, weights])``, preprocessing mapped in
        tf.data. ``inputs`` is a list of strings, or a dict {serving input name: list of strings}.

        ``bucket_by_length``: group examples of similar length (by characters) into batches: windows of 64
        batches are sorted by length, cut into batches, and the batches shuffled (again each epoch when
        ``shuffle``). ``trim_padding``: cut each batch's packed tensors to its longest example (exact for BERT:
        padding is masked and positions are absolute). Together they make CPU fine-tuning on short texts
        several times faster than padding every batch to ``sequence_length``.
        """
        tf = _tf()
        if not isinstance(inputs, dict):
            inputs = {self.text_inputs[0]: list(inputs)}
        features = {k: _to_string_tensor(v, k) for k, v in inputs.items()}
        n = int(next(iter(features.values())).shape[0])
        parts = [features]
        if targets is not None:
            parts.append(np.asarray(targets))
        if sample_weights is not None:
            parts.append(np.asarray(sample_weights, dtype="float32"))
        ds = tf.data.Dataset.from_tensor_slices(tuple(parts) if len(parts) > 1 else parts[0])
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        if bucket_by_length:
            window = batch_size * 64

            def sort_window(*w):
                feats = w[0]
                length = tf.add_n([tf.strings.length(v) for v in feats.values()])
                order = tf.argsort(length, stable=True)
                return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(lambda t: tf.gather(t, order), w))

            ds = ds.batch(window).flat_map(sort_window).batch(batch_size)
            # windows are whole multiples of the batch, so the batch count is known: tell Keras (progress bar,
            # and no "ran out of data" stop after the first epoch)
            ds = ds.apply(tf.data.experimental.assert_cardinality((n + batch_size - 1) // batch_size))
            if shuffle:
                ds = ds.shuffle(max(1, (n + batch_size - 1) // batch_size), seed=seed + 1,
                                reshuffle_each_iteration=True)
        else:
            ds = ds.batch(batch_size)
        if repeat:
            ds = ds.repeat()

        def pack(*batch):
            packed = self.preprocess(batch[0])
            if trim_padding:
                longest = tf.reduce_max(tf.reduce_sum(tf.cast(packed["padding_mask"], tf.int32), axis=-1))
                packed = {k: v[:, :longest] for k, v in packed.items()}
            return (packed,) + tuple(batch[1:]) if len(batch) > 1 else packed

        return ds.map(pack, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def compile(self, optimizer="adam", **kwargs):
        """model.compile with the task's loss and metrics (subclasses supply them)."""
        self.model.compile(optimizer=optimizer, **kwargs)
        return self.model

    # File-based builders: implemented by every concrete task module.
    @classmethod
    def from_train_file(cls, path, backbone, tokenizer, *, sequence_length=128, **options) -> "BertTask":
        raise NotImplementedError(f"{cls.__name__}.from_train_file")

    def dataset_from_file(self, path, *, batch_size=32, training=False, **options):
        raise NotImplementedError(f"{type(self).__name__}.dataset_from_file")

    def evaluate_file(self, path, *, out_dir=None, batch_size=32, **options) -> dict:
        raise NotImplementedError(f"{type(self).__name__}.evaluate_file")

    def __repr__(self):
        return (f"{type(self).__name__}(task_type={self.task_type!r}, sequence_length={self.sequence_length}, "
                f"labels={self.labels!r})")


def _jsonable(value):
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            return [_jsonable(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
