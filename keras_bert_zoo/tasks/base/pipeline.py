"""The one route of raw data into ``tf.data``: in-memory inputs -> validated columns -> batches -> the task's
:meth:`~keras_bert_zoo.tasks.Task.preprocess_samples` mapped over them.

Every Keras entry point of a task (``fit``, ``evaluate``, ``predict``, ``train_on_batch``, ``test_on_batch``,
``predict_on_batch``, ``export``'s sample inputs) comes through here, so input validation lives in one place.

* :func:`is_raw` decides, once per call, whether ``x`` is raw data for the pipeline or packed data for Keras
  (a dict holding ``token_ids`` / ``segment_ids`` / ``padding_mask``, a dataset of such dicts, a generator).
* :func:`columns` turns raw in-memory inputs into ``{input name: list of str}`` (bytes that are not valid UTF-8
  stay bytes, as the SavedModel receives them), driven by what the task
  declares: its ``text_inputs`` (and ``training_inputs``), and :meth:`Task.from_records` for typed examples.
* :func:`make_dataset` builds the ``tf.data.Dataset``: targets encoded by :meth:`Task.encode_targets`; training
  batches shuffled each epoch and grouped by length (windows of 64 batches sorted by length, cut into batches,
  the batches shuffled); the task's ``preprocess_samples`` mapped over each batch of raw samples (it cuts the
  packed batch to its longest row). A task whose samples expand into several rows (``expands_samples``, e.g.
  windows of long texts) is re-batched after the map (unbatch -> batch -> cut), so its rows never leave tf.data.
* :func:`serving_feeds` cuts raw inputs into the ``{name: string [b]}`` batches ``predict`` serves.

Example::

    >>> from keras_bert_zoo import BertBackbone, BertConfig, TextClassifier
    >>> from keras_bert_zoo.tasks.base.pipeline import make_dataset
    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=37)
    >>> preprocessor = BertPreprocessor(WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=16)
    >>> classifier = TextClassifier(BertBackbone(config), preprocessor=preprocessor, labels=["neg", "pos"])
    >>> ds = make_dataset(classifier, ["great", "an awful day"], ["pos", "neg"], batch_size=2, training=True)
    >>> packed, y = next(iter(ds))            # the batch is cut to its longest row: [CLS] an awful day [SEP]
    >>> sorted(packed), packed["token_ids"].dtype.name, packed["token_ids"].shape
    (['padding_mask', 'segment_ids', 'token_ids'], 'int32', TensorShape([2, 5]))
    >>> sorted(y.numpy().tolist())            # label names -> class ids (the batch is shuffled)
    [0, 1]
"""

from __future__ import annotations

from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.models.backbone import INPUT_KEYS
from keras_bert_zoo.tasks.base.errors import TaskError

#: the pipeline's own map functions are plain TF code: autograph would only spend tracing time converting them
_no_autograph = tf.autograph.experimental.do_not_convert

__all__ = ["is_raw", "columns", "record_columns", "make_dataset", "one_batch", "batches_per_epoch",
           "validation_parts", "serving_feeds", "trim", "BUCKET_WINDOW"]

#: training batches are sorted by length within windows of this many batches
BUCKET_WINDOW = 64
#: a batch size that puts every sample in one batch
_ALL = 2 ** 31 - 1


def _string_spec(spec) -> bool:
    specs = tf.nest.flatten(spec)
    return bool(specs) and all(getattr(s, "dtype", None) == tf.string for s in specs)


def is_raw(x) -> bool:
    """True when ``x`` is raw data for the pipeline; False for what Keras takes as it is (packed dicts, datasets
    of them, generators, ``None``)."""
    if x is None:
        return False
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        return _string_spec(spec[0] if isinstance(spec, tuple) else spec)
    if isinstance(x, Mapping):
        return bool(x) and not any(k in x for k in INPUT_KEYS)
    if isinstance(x, (np.ndarray, tf.Tensor, tf.RaggedTensor)):
        return x.dtype == tf.string if isinstance(x, (tf.Tensor, tf.RaggedTensor)) else x.dtype.kind in "USO"
    return isinstance(x, (str, bytes, list, tuple))


def _names_for(task, x) -> tuple:
    """The task's input names that ``x`` (a dict or a tuple of columns, or one column) provides."""
    choices = [task.text_inputs] + ([task.training_inputs] if task.training_inputs else [])
    if isinstance(x, Mapping):
        for names in choices:
            if set(x) == set(names):
                return names
        names = task.text_inputs
        missing = [n for n in names if n not in x]
        unknown = sorted(set(x) - set(names))
        raise TaskError(f"{task.task_type}: inputs {sorted(x)} do not match the task's inputs {list(names)} "
                        f"(missing {missing}, unknown {unknown})")
    if isinstance(x, tuple):
        for names in choices:
            if len(x) == len(names):
                return names
        raise TaskError(f"{task.task_type}: got a tuple of {len(x)} segments; the task takes "
                        f"{len(task.text_inputs)} ({list(task.text_inputs)})")
    if len(task.text_inputs) != 1:
        raise TaskError(f"{task.task_type}: the task takes inputs {list(task.text_inputs)}; pass a dict of them")
    return task.text_inputs


def _as_served(v):
    """One raw input as the serving signature would receive it: valid UTF-8 bytes as str; bytes that are not
    valid UTF-8 kept as bytes (the graph tokenizes them as the SavedModel does: the bad sequence becomes [UNK]);
    a str holding surrogates (from UTF-16 sources) with its pairs joined and its lone surrogates as the bytes a
    UTF-16 client's encoder sends (``surrogatepass``), where ``tf.constant`` would raise UnicodeEncodeError."""
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return v
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            v = v.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return v.encode("utf-8", "surrogatepass")
    return v


def _strings(task, name, values) -> list:
    if isinstance(values, (str, bytes)):
        values = [values]
    values = [_as_served(v) for v in np.asarray(values, object).tolist()]
    bad = [i for i, v in enumerate(values) if not isinstance(v, (str, bytes))]
    if bad:
        raise TaskError(f"{task.task_type}: input {name!r} row {bad[0]}: expected a string, got "
                        f"{type(values[bad[0]]).__name__}")
    return values


def columns(task, x) -> dict:
    """Raw in-memory inputs -> ``{input name: list of str}`` (equal lengths, at least one row); a TaskError naming
    the input otherwise. Typed examples are read by the task's :meth:`from_records` first."""
    records = task.from_records(x)
    if records is not None:
        x = records[0]
    if isinstance(x, (str, bytes)):
        x = [x]
    names = _names_for(task, x)
    if isinstance(x, Mapping):
        cols = {n: x[n] for n in names}
    elif isinstance(x, tuple):
        cols = dict(zip(names, x))
    else:
        cols = {names[0]: x}
    out = {name: _strings(task, name, values) for name, values in cols.items()}
    lengths = {k: len(v) for k, v in out.items()}
    if len(set(lengths.values())) > 1:
        raise TaskError(f"{task.task_type}: inputs have different lengths {lengths}")
    if not next(iter(lengths.values())):
        raise TaskError(f"{task.task_type}: no examples (empty input)")
    return out


def _samples(task, x, y, sample_weight):
    """In-memory raw inputs -> (unbatched dataset of (columns[, targets][, weights]), number of samples)."""
    records = task.from_records(x)
    if records is not None:
        x, carried = records
        y = carried if y is None else y
    cols = columns(task, x)
    n = len(next(iter(cols.values())))
    if task.self_supervised and (y is not None or sample_weight is not None):
        raise TaskError(f"{task.task_type}: the targets are made from the inputs; pass inputs only (no targets "
                        f"or sample weights)")
    parts = [{k: tf.constant(v, tf.string) for k, v in cols.items()}]
    if y is not None:
        targets = task.encode_targets(y)
        first = tf.nest.flatten(targets)[0]
        rows = int(first.nrows()) if isinstance(first, tf.RaggedTensor) else len(first)
        if rows != n:
            raise TaskError(f"{task.task_type}: {n} inputs but {rows} targets")
        parts.append(targets)
    if sample_weight is not None:
        if y is None:
            raise TaskError(f"{task.task_type}: sample weights need targets (pass y)")
        parts.append(sample_weights(task, sample_weight, n))
    return tf.data.Dataset.from_tensor_slices(tuple(parts) if len(parts) > 1 else parts[0]), n


def sample_weights(task, sample_weight, n: int) -> np.ndarray:
    """``sample_weight`` as float32 ``[n]``: numbers, finite, not negative (one NaN made every weight NaN)."""
    try:
        w = np.asarray(sample_weight, "float32").reshape(-1)
    except (TypeError, ValueError):
        raise TaskError(f"{task.task_type}: sample weights must be numbers") from None
    if len(w) != n:
        raise TaskError(f"{task.task_type}: {n} inputs but {len(w)} sample weights")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise TaskError(f"{task.task_type}: sample weight {int(bad[0])} is {float(w[bad[0]])}; weights must be finite "
                        f"and >= 0 ({bad.size} such)")
    return w


def _bucketed(ds, n: int, batch_size: int, seed: int):
    """Shuffled samples grouped by length: windows of BUCKET_WINDOW batches sorted by total string length, cut
    into batches, the batches shuffled (each epoch anew)."""
    num_batches = (n + batch_size - 1) // batch_size

    @_no_autograph
    def sort_window(*w):
        length = tf.add_n([tf.strings.length(v) for v in w[0].values()])
        order = tf.argsort(length, stable=True)
        return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(lambda t: tf.gather(t, order), w))

    ds = ds.batch(batch_size * BUCKET_WINDOW).flat_map(sort_window).batch(batch_size)
    ds = ds.apply(tf.data.experimental.assert_cardinality(num_batches))
    return ds.shuffle(max(1, num_batches), seed=seed + 1, reshuffle_each_iteration=True)


def _user_dataset(task, ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """A user's dataset of raw strings (x or (x, y[, w]); x a string tensor or a dict of them), batched."""
    spec = ds.element_spec
    first = spec[0] if isinstance(spec, tuple) else spec
    if tf.nest.flatten(first)[0].shape.rank == 0:
        ds = ds.batch(batch_size)
    if isinstance(first, dict):
        return ds
    if len(task.text_inputs) != 1:
        raise TaskError(f"{task.task_type}: dataset elements must be dicts of {list(task.text_inputs)}")

    @_no_autograph
    def as_dict(*e):
        return ({task.text_inputs[0]: e[0]},) + tuple(e[1:]) if len(e) > 1 else {task.text_inputs[0]: e[0]}

    return ds.map(as_dict)


def check_batch_size(task, batch_size) -> int:
    """``batch_size`` as an int >= 1 (None: 32, Keras's default); anything else (0, a negative or fractional
    number, a bool, a string) is a TaskError naming it, not 32 in disguise or an error from deep inside tf.data."""
    if batch_size is None:
        return 32
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise TaskError(f"{task.task_type}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def class_weight_ids(task, class_weight):
    """``fit(class_weight=...)`` keyed by class id or by label name -> {class id: weight} for every class of
    ``task`` (classes not given weigh 1.0). A name or id the task does not have, a weight that is not a finite
    number >= 0, or class weights for a task without classes (``num_classes``) is a TaskError naming it."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, Mapping):
        raise TaskError(f"{task.task_type}: class_weight must be a dict {{class id or label name: weight}}, got "
                        f"{type(class_weight).__name__}")
    k = getattr(task, "num_classes", None)
    if not isinstance(k, int) or getattr(task, "multi_label", False):
        raise TaskError(f"{task.task_type}: class_weight applies to single-label classification; use sample_weight")
    names = [str(n) for n in getattr(task, "labels", None) or range(k)]
    out = {c: 1.0 for c in range(k)}
    for key, weight in class_weight.items():
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)) and 0 <= key < k:
            cid = int(key)
        elif isinstance(key, str) and key in names:
            cid = names.index(key)
        else:
            raise TaskError(f"{task.task_type}: class_weight key {key!r} is neither a class id in [0, {k}) nor one "
                            f"of the labels {names[:10]}{' ...' if k > 10 else ''}")
        try:
            value = float(weight)
        except (TypeError, ValueError):
            value = float("nan")
        if isinstance(weight, (bool, np.bool_)) or not np.isfinite(value) or value < 0:
            raise TaskError(f"{task.task_type}: class_weight[{key!r}] is {weight!r}; weights must be finite and >= 0")
        out[cid] = value
    return out


def make_dataset(task, x, y=None, sample_weight=None, *, batch_size: int = 32, training: bool = False,
                 seed: int = 0) -> tf.data.Dataset:
    """Raw inputs (+ targets, + weights) -> ``tf.data.Dataset`` of ``(packed, y[, w])`` batches (or ``packed``);
    see the module docstring. ``training``: shuffled each epoch (and grouped by length where the task's
    ``bucket_by_length``)."""
    batch_size = check_batch_size(task, batch_size)
    if isinstance(x, tf.data.Dataset):
        ds = _user_dataset(task, x, batch_size)
    else:
        ds, n = _samples(task, x, y, sample_weight)
        if training:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        if training and task.bucket_by_length and not task.expands_samples:
            ds = _bucketed(ds, n, batch_size, seed)
        else:
            ds = ds.batch(batch_size, drop_remainder=training and task.full_training_batches and n >= batch_size)
    ds = ds.map(task.preprocess_samples, num_parallel_calls=tf.data.AUTOTUNE)
    if task.expands_samples:
        ds = ds.unbatch()
        if training:
            ds = ds.shuffle(4096, seed=seed + 2, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).map(_trim_rows, num_parallel_calls=tf.data.AUTOTUNE)
        if not isinstance(x, tf.data.Dataset):
            ds = _with_known_cardinality(ds)
    return ds.prefetch(tf.data.AUTOTUNE)


@_no_autograph
def _trim_rows(*batch):
    """A re-batched batch of rows cut to its longest (:func:`trim`), per-position targets / weights (``[b, T]``
    like the packed inputs, e.g. token labels) with it."""
    if not (isinstance(batch[0], dict) and len(batch) > 1):
        return trim(batch[0])
    packed = trim(batch[0])
    full = batch[0]["padding_mask"].shape[-1]
    longest = tf.shape(packed["padding_mask"])[-1]

    def cut(t):
        return t[:, :longest] if full is not None and t.shape.rank == 2 and t.shape[1] == full else t

    return (packed,) + tuple(tf.nest.map_structure(cut, b) for b in batch[1:])


def _with_known_cardinality(ds):
    """Rows expanded from samples (windows of long texts) make a dataset of unknown length; count its batches
    once (one pass of the preprocessing) and assert the count, so ``cardinality()`` sizes the learning-rate
    schedule as for any other task."""
    n = int(ds.reduce(tf.constant(0, tf.int64), lambda count, *_: count + 1).numpy())
    return ds.apply(tf.data.experimental.assert_cardinality(n))


def record_columns(task, records) -> dict:
    """JSON-style records ``[{input name: value}]`` -> ``{input name: list of str}``; a TaskError naming the
    record (1-based) that lacks a field."""
    for i, rec in enumerate(records):
        missing = [n for n in task.text_inputs if n not in rec]
        if missing:
            raise TaskError(f"record {i + 1}: missing field(s) {missing}; expected {list(task.text_inputs)}")
    return {n: [str(r[n]) for r in records] for n in task.text_inputs}


def validation_parts(validation_data) -> tuple:
    """``fit``'s ``validation_data`` -> ``(x, y, sample_weight)``: a tuple is ``(x, y[, w])`` (Keras's convention,
    even when both are lists of strings); anything else is inputs only (e.g. records carrying their targets)."""
    if not isinstance(validation_data, tuple) and (is_raw(validation_data) or not isinstance(validation_data, list)):
        return validation_data, None, None
    return keras.utils.unpack_x_y_sample_weight(tuple(validation_data))


def batches_per_epoch(data, steps_per_epoch=None) -> int | None:
    """``steps_per_epoch``, or the number of batches of a dataset of known size; None when unknown."""
    if steps_per_epoch is None and isinstance(data, tf.data.Dataset):
        card = int(data.cardinality().numpy())
        return card if card > 0 else None
    return steps_per_epoch


def one_batch(task, x, y=None, sample_weight=None):
    """Every sample of ``x`` as ONE batch ``(packed, y[, w])`` (``train_on_batch`` / ``test_on_batch``)."""
    return next(iter(task.make_dataset(x, y, sample_weight, batch_size=_ALL, training=False)))


def serving_feeds(task, x, batch_size: int) -> list:
    """Raw inputs -> ``[{input name: string [b]}]`` batches of at most ``batch_size`` (what ``predict`` serves)."""
    batch_size = check_batch_size(task, batch_size)
    if isinstance(x, tf.data.Dataset):
        batches = _user_dataset(task, x.map(lambda *e: e[0]) if isinstance(x.element_spec, tuple) else x,
                                batch_size)
        return list(batches)
    cols = columns(task, x)
    n = len(next(iter(cols.values())))
    return [{k: tf.constant(v[i:i + batch_size], tf.string) for k, v in cols.items()} for i in range(0, n, batch_size)]


@_no_autograph
def trim(packed: Mapping) -> dict:
    """Cut ``token_ids``/``segment_ids``/``padding_mask`` (``[B, T]``, or ``[B, K, T]``) to the batch's longest
    real sequence: up to the last position where any row's ``padding_mask`` is 1, + 1 (at least 1; and past every
    position ``mask_positions`` points at, when given). Other entries pass unchanged. Exact for BERT: the
    positions cut are padding in every row, and padding is masked out of attention. Used by training batches and
    by every serving graph, so a request of short texts runs the backbone on its own length, not the
    preprocessor's ``sequence_length``."""
    mask = tf.convert_to_tensor(packed["padding_mask"])
    seq = tf.shape(mask)[-1]
    real = tf.reduce_any(tf.not_equal(tf.reshape(mask, [-1, seq]), 0), axis=0)                 # [T]
    longest = tf.reduce_max(tf.where(real, tf.range(1, seq + 1), 0))   # last real position + 1 (0 if none)
    if "mask_positions" in packed:
        longest = tf.maximum(longest, tf.reduce_max(tf.cast(packed["mask_positions"], tf.int32)) + 1)
    longest = tf.maximum(longest, 1)
    return {k: (v[..., :longest] if k in INPUT_KEYS else v) for k, v in packed.items()}
