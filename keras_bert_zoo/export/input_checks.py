"""Run-time checks of a serving signature's inputs, before any op sees them.

A signature declares its inputs (``text``: ``DT_STRING [-1]``; ``token_ids``: ``DT_INT32 [-1, -1]``), but
neither TF Serving nor a loaded SavedModel enforces the declared *shape*: a client can send a scalar (TF
Serving's columnar ``{"inputs": {"text": "..."}}`` does exactly that) or a ``[2, 2]`` tensor. The graph was
traced for ``[B]``, so the ops downstream trust that shape: the tf-text kernels (``FastBertNormalize``,
``FastWordpieceTokenizeWithOffsets``, ``TFText>ByteSplitWithOffsets``) read dimension 0 of a scalar and crash
the whole server process with a segmentation fault, and a ``[2, 2]`` batch came back as two rows (the
strings of its first row; the second row silently dropped).

:func:`check_inputs` puts, in front of a signature's body, for every input:

* its rank and its fixed dimensions (``[None, K, None]`` for multiple choice) against the spec;
* one batch size (dimension 0) across all inputs (``text`` / ``text_pair``, ``question`` / ``context``);
* the same full shape across inputs that must align position by position (the packed ids), with a length
  of at least 1 (the heads read the ``[CLS]`` position);
* value ranges of packed ids (``token_ids`` in ``[0, vocab)``, ``segment_ids`` in ``[0, type_vocab)``,
  ``padding_mask`` in ``{0, 1}``): out-of-range ids are an error on CPU but read as zeros on GPU.

A violated check is an ``InvalidArgumentError`` whose message names the signature, the input, what was
expected and the shape (or value) that came::

    assertion failed: [serving_default: input 'text': expected a 1-D string tensor [batch] (a list of
    strings; a scalar is not accepted: send ["..."]), got shape] [2 2]

Empty batches (``[0]``) pass: the signatures return empty outputs of the usual ranks.

How the check survives the optimiser: the rank of an input whose declared rank is known is a constant to
TensorFlow's graph optimiser (grappler folds ``Rank`` to 1 before the graph runs), so the rank is counted
from the run-time shape vector instead (``sum(shape >= 0)``), which nothing can fold. Each input is passed on
through a ``Gather`` of its values at ``range(n)`` (then reshaped back), ``n`` the element count when the
checks hold and one more when not: on a valid input it is the identity (same values, same static shape, so
outputs do not change), on a bad input it fails even where the ``Assert`` ops (which give the message) were
pruned. A lone ``Reshape`` would not do: grappler removes one between two rank-1 shapes.

The TFLite export leaves these checks out (``ServingModule(check_inputs=False)``): the converter drops the
``Assert`` ops, the guard ``Gather`` made the full-int8 calibrator fail on valid data, and in LiteRT the tf-text
kernels refuse a wrongly shaped input themselves with a ``RuntimeError`` (no crash: see the catalogue).
:class:`~keras_bert_zoo.export.tflite.TFLiteRunner` checks the same rules in Python first, naming the input.

Dtypes, missing and unknown input names are checked by TensorFlow itself before the graph runs (a loaded
signature raises ``InvalidArgumentError`` / ``TypeError``; TF Serving refuses the request the same way): a
signature's inputs cannot be typeless, so those messages are TensorFlow's.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf

__all__ = ["check_inputs", "shape_description", "check_arrays", "InputCheckError"]


class InputCheckError(ValueError):
    """Python-side check (:func:`check_arrays`) of a request against a signature's input specs."""


def shape_description(spec: tf.TensorSpec) -> str:
    """``"1-D string tensor [batch]"``, ``"2-D int32 tensor [batch, length]"``, ... for messages."""
    dims = spec.shape.as_list()
    names = []
    for i, d in enumerate(dims):
        if d is not None:
            names.append(str(d))
        elif i == 0:
            names.append("batch")
        elif i == len(dims) - 1:
            names.append("length")
        else:
            names.append("?")
    dtype = spec.dtype.name
    return f"{len(dims)}-D {dtype} tensor [{', '.join(names)}]"


def _expected(spec: tf.TensorSpec) -> str:
    text = f"expected a {shape_description(spec)}"
    if spec.dtype == tf.string and spec.shape.rank == 1:
        text += ' (a list of strings; a scalar is not accepted: send ["..."])'
    return text


def _padded_shape(x: tf.Tensor, rank: int) -> tf.Tensor:
    """The run-time shape of ``x`` cut / padded with -1 to ``rank`` entries (int32 [rank])."""
    shape = tf.shape(x, out_type=tf.int32)
    return tf.concat([shape, tf.fill([rank], -1)], axis=0)[:rank]


def _runtime_rank(x: tf.Tensor) -> tf.Tensor:
    # Not tf.rank: with a declared rank, grappler constant-folds Rank (and Size of the shape vector).
    return tf.reduce_sum(tf.cast(tf.greater_equal(tf.shape(x, out_type=tf.int32), 0), tf.int32))


def _guarded(x, spec, ok, shape):
    """``x`` itself when ``ok``; otherwise an op that fails. A Gather of the flattened values at
    ``range(n)``, ``n`` the element count when ``ok`` and one more when not (index out of bounds), then a
    Reshape back to the run-time shape. Not a lone Reshape: grappler removes a Reshape between two rank-1
    shapes as an identity (it trusts the declared rank), and the guard with it."""
    count = tf.reduce_prod(tf.shape(x, out_type=tf.int32))
    n = tf.where(ok, count, count + 1)
    flat = tf.gather(tf.reshape(x, [-1]), tf.range(n))
    y = flat if spec.shape.rank == 1 else tf.reshape(flat, shape)
    y.set_shape(spec.shape)
    return y


def check_inputs(inputs: Mapping[str, tf.Tensor], specs: Mapping[str, tf.TensorSpec], signature: str, *,
                 same_shape: Sequence[str] = (), value_ranges: Mapping[str, tuple[int, int]] | None = None
                 ) -> dict:
    """``inputs`` with the checks of the module docstring in front of them (graph code; call it first in the
    signature's tf.function). ``specs``: the declared specs (rank and fixed dims are checked);
    ``same_shape``: names whose full shapes must be equal; ``value_ranges``: ``{name: (low, high)}``,
    values must lie in ``[low, high)``. Returns ``{name: checked tensor}`` with the spec's static shape."""
    names = [n for n in specs if n in inputs]
    value_ranges = dict(value_ranges or {})
    asserts, ok = [], {}
    shapes = {}
    for name in names:
        spec, x = specs[name], inputs[name]
        rank = spec.shape.rank
        shape = _padded_shape(x, rank)
        shapes[name] = shape
        good = tf.equal(_runtime_rank(x), rank)
        for i, d in enumerate(spec.shape.as_list()):
            if d is not None:
                good = tf.logical_and(good, tf.equal(shape[i], d))
        asserts.append(tf.debugging.Assert(
            good, [f"{signature}: input '{name}': {_expected(spec)}, got shape", tf.shape(x)]))
        ok[name] = good
    if len(names) > 1:
        first = names[0]
        for name in names[1:]:
            same = tf.equal(shapes[name][0], shapes[first][0])
            asserts.append(tf.debugging.Assert(
                same, [f"{signature}: inputs '{first}' and '{name}' must have the same batch size "
                       f"(dimension 0), got shapes", tf.shape(inputs[first]), "and", tf.shape(inputs[name])]))
            ok[name] = tf.logical_and(ok[name], same)
    aligned = [n for n in same_shape if n in shapes]
    for name in aligned[1:]:
        same = tf.reduce_all(tf.equal(shapes[name], shapes[aligned[0]]))
        asserts.append(tf.debugging.Assert(
            same, [f"{signature}: inputs '{aligned[0]}' and '{name}' must have the same shape, got",
                   tf.shape(inputs[aligned[0]]), "and", tf.shape(inputs[name])]))
        ok[name] = tf.logical_and(ok[name], same)
    if aligned:
        # a packed row needs at least its [CLS] position (the heads read position 0)
        long_enough = tf.greater_equal(shapes[aligned[0]][-1], 1)
        asserts.append(tf.debugging.Assert(
            long_enough, [f"{signature}: input '{aligned[0]}': the sequence length (last dimension) must be at "
                          f"least 1, got shape", tf.shape(inputs[aligned[0]])]))
        ok[aligned[0]] = tf.logical_and(ok[aligned[0]], long_enough)
    for name, (low, high) in value_ranges.items():
        if name not in ok:
            continue
        x = inputs[name]
        inside = tf.reduce_all(tf.logical_and(x >= low, x < high))
        asserts.append(tf.debugging.Assert(
            inside, [f"{signature}: input '{name}': values must lie in [{low}, {high}), got min",
                     tf.reduce_min(x), "max", tf.reduce_max(x)]))
    out = {}
    with tf.control_dependencies(asserts):
        for name in names:
            out[name] = _guarded(inputs[name], specs[name], ok[name], shapes[name])
    out.update({k: v for k, v in inputs.items() if k not in out})
    return out


def check_arrays(arrays: Mapping, specs: Mapping[str, tf.TensorSpec], signature: str) -> None:
    """The same rules on numpy arrays, in Python (for runners whose graph has no ``Assert`` ops, e.g.
    TFLite): names, dtype kind, rank and fixed dims, one batch size. Raises :class:`InputCheckError`."""
    import numpy as np

    missing = [n for n in specs if n not in arrays]
    unknown = sorted(set(arrays) - set(specs))
    if missing or unknown:
        raise InputCheckError(f"{signature}: takes inputs {list(specs)}; missing {missing}, unknown {unknown}")
    batch = None
    for name, spec in specs.items():
        arr = np.asarray(arrays[name]) if not isinstance(arrays[name], np.ndarray) else arrays[name]
        is_str = arr.dtype.kind in "SU" or (arr.dtype == object and all(isinstance(v, (str, bytes))
                                                                         for v in arr.reshape(-1)))
        if (spec.dtype == tf.string) != is_str or (spec.dtype != tf.string and arr.dtype.kind not in "iu"):
            raise InputCheckError(f"{signature}: input '{name}': {_expected(spec)}, got dtype {arr.dtype}")
        dims = spec.shape.as_list()
        if arr.ndim != len(dims) or any(d is not None and d != g for d, g in zip(dims, arr.shape)):
            raise InputCheckError(f"{signature}: input '{name}': {_expected(spec)}, got shape "
                                  f"[{','.join(map(str, arr.shape))}]")
        if batch is not None and arr.shape[0] != batch[1]:
            raise InputCheckError(f"{signature}: inputs '{batch[0]}' and '{name}' must have the same batch "
                                  f"size (dimension 0), got {batch[1]} and {arr.shape[0]}")
        batch = batch or (name, arr.shape[0])
