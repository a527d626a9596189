"""TFLite export: the same raw-strings-in model, tokenizer in the graph, any batch size.

``export_tflite(task, path, sample_texts, quantize=...)`` writes the one file ``path`` (ending ``.tflite``;
the result's ``info`` holds what ``bert-zoo export`` writes beside it as ``export_info.json``), where
``quantize`` is

* ``none``      float32 weights and activations;
* ``fp16``      float16 weights (dequantized at load or run in fp16 by delegates);
* ``int8``      dynamic-range quantization: int8 weights, activations quantized on the fly;
* ``full_int8`` int8 weights and int8 activations calibrated on a representative dataset of raw strings for
                the compute (FULLY_CONNECTED, BATCH_MATMUL, SOFTMAX, GELU, ...). The residual stream and
                LayerNorm ops (``FULL_INT8_FLOAT_OPS``) stay float by default: BERT's residual stream has
                outlier channels that one per-tensor int8 scale cannot hold (measured on the demo MiniLM,
                300 test tweets: quantizing them too gives 87.7 % label agreement with Keras, keeping them
                float 98 %, at the same 26.8 MB). ``full_int8_float_ops=()`` quantizes every op that has an
                int8 kernel. Ops without int8 kernels (the tokenizer, the decoders) stay float either way,
                so this is not an integer-only model for int8-only accelerators.

The .tflite has two signatures: ``serving_default`` (raw strings -> named outputs) and ``preprocess``
(raw strings -> packed ids). Tokenization runs through the tf-text TFLite kernels (FastBertNormalize,
FastWordpieceTokenizeWithOffsets, ...): run it with

    from ai_edge_litert.interpreter import InterpreterWithCustomOps
    from tensorflow_text import tflite_registrar   # tensorflow_text.core.pybinds.tflite_registrar
    interp = InterpreterWithCustomOps(model_path=..., custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS)
    interp.get_signature_runner("serving_default")(text=np.array([b"some text", b"more"]))

(:class:`TFLiteRunner` does exactly that). Batch size is free: the signature runner resizes the string input.

Tasks whose SavedModel outputs include strings cut from the input (the tagger's ``entity_texts``, the QA
model's ``answer_text`` / ``nbest_texts``) name them in ``sliced_text_outputs``: no TFLite builtin cuts strings,
so :class:`TFLiteView` (the task as the export and its verification see it) leaves exactly those outputs out of
the same ``serving_fn`` (the converter drops the slicing ops with them); the spans stay as character offsets
(code points and UTF-16 units). saved_models/README.md documents those outputs and a client.

The export converts, checks ops (fails if any op needs Flex, unless ``flex=True``), verifies every output
against the Keras task at batch size 1 and at the full sample batch (token ids exactly, floats within
``verify.TOLERANCES[quantize]``), and only then renames the file into place (an existing ``path`` is an error
unless ``overwrite=True``; :func:`~keras_bert_zoo.export.saved_model.atomic_export_file`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from keras_bert_zoo import compat
from keras_bert_zoo.export import input_checks
from keras_bert_zoo.export import ops as ops_lib
from keras_bert_zoo.export import verify
from keras_bert_zoo.export.saved_model import (ExportError, ServingModule, atomic_export_file, file_target,
                                               library_versions, sample_feed)

__all__ = ["QUANTIZATIONS", "LITERT_HINT", "require_litert", "TFLiteRunner", "TFLiteView", "TFLiteExportResult",
           "convert_saved_model", "export_tflite", "verify_tflite"]

QUANTIZATIONS = ("none", "fp16", "int8", "full_int8")
TFLITE_SIGNATURES = (verify.SERVING_SIGNATURE, verify.PREPROCESS_SIGNATURE)
# full_int8: TFLite op types kept in float (residual adds and LayerNorm: mean, (x - mean)^2, rsqrt, scale, shift)
FULL_INT8_FLOAT_OPS = ("ADD", "SUB", "MUL", "MEAN", "SQUARED_DIFFERENCE", "RSQRT")


@dataclasses.dataclass
class TFLiteExportResult:
    path: Path
    size_bytes: int
    custom_ops: list
    verification: dict
    info: dict


def check_quantize(quantize: str) -> str:
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    return quantize


def refuse_keras_quantized(task) -> None:
    """A task quantized with Keras's ``model.quantize("int8")`` holds int8 kernels and quantizes its activations
    to plain int8 tensors inside the graph; the TFLite converter has no kernel for those (``'tfl.fully_connected'
    op operand #0 must be tensor of 32-bit float or QI8 type ... but got 'tensor<?x?x32xi8>'``). Refuse it in one
    line before converting: TFLite quantizes the float model itself (``quantize=``), docs/notes/issue-26.md."""
    int8 = sorted({v.path for v in getattr(task, "weights", ()) if str(v.dtype) == "int8"})
    if int8:
        raise ExportError(f"this task was quantized with Keras's quantize() ({len(int8)} int8 weights, e.g. "
                          f"{int8[0]}), which TFLite cannot convert: export the float task with "
                          f"format='tflite', quantize='int8' (or fp16 / full_int8) instead")


def _tftext_registerers():
    from tensorflow_text.core.pybinds import tflite_registrar

    return tflite_registrar.SELECT_TFTEXT_OPS


LITERT_HINT = "pip install 'keras_bert_zoo[litert]'"


def require_litert():
    """Fail in one line, naming the extra, when the LiteRT interpreter (``ai-edge-litert``) is missing: every
    TFLite export is verified by running it there."""
    import importlib

    try:
        importlib.import_module("ai_edge_litert.interpreter")
    except ImportError:
        raise ExportError(f"TFLite export needs the LiteRT interpreter to verify the model, and ai-edge-litert "
                          f"is not installed: {LITERT_HINT}") from None


class TFLiteRunner:
    """Run a .tflite with LiteRT's ``InterpreterWithCustomOps`` and the tf-text kernels.

    Models with Flex ops run on TensorFlow's own interpreter (``tf.lite``), which links the Flex delegate
    (LiteRT's Python wheel does not).
    """

    def __init__(self, model: bytes | str | os.PathLike, num_threads: int | None = None):
        content = model if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
        self.content = bytes(content)
        _, customs = ops_lib.tflite_model_ops(self.content)
        self.uses_flex = any(op.startswith("Flex") for op in customs)
        if self.uses_flex:
            InterpreterWithCustomOps = compat.tf_interpreter_with_custom_ops()
        else:
            from ai_edge_litert.interpreter import InterpreterWithCustomOps
        self._runners, self._specs = {}, {}
        try:
            self.interpreter = InterpreterWithCustomOps(model_content=self.content, num_threads=num_threads,
                                                        custom_op_registerers=_tftext_registerers())
            if self.uses_flex:
                self.interpreter.allocate_tensors()
        except RuntimeError as err:
            self._raise_flex(err)
            raise

    def _raise_flex(self, err):
        if self.uses_flex and "Flex" in str(err):
            _, customs = ops_lib.tflite_model_ops(self.content)
            flex = sorted(op for op in customs if op.startswith("Flex"))
            raise ExportError(
                f"this model uses Flex ops {flex}, and this Python environment has no Flex delegate (the "
                f"ai-edge-litert wheel and TensorFlow {_tf_version()}'s tf.lite do not link it), so it "
                f"cannot be run or verified here. On Android add org.tensorflow:tensorflow-lite-select-tf-ops; "
                f"better, export without Flex ops.") from err

    @property
    def signatures(self) -> dict:
        return self.interpreter.get_signature_list()

    def __call__(self, signature: str = verify.SERVING_SIGNATURE, **inputs) -> dict:
        if signature not in self._runners:
            self._runners[signature] = self.interpreter.get_signature_runner(signature)
        feed = {}
        for k, v in inputs.items():
            arr = np.asarray(v, dtype=object) if not isinstance(v, np.ndarray) else v
            if arr.dtype == object or arr.dtype.kind == "U":
                arr = np.array([x.encode("utf-8") if isinstance(x, str) else x for x in arr.reshape(-1)],
                               dtype=object).reshape(arr.shape)
            feed[k] = arr
        # The TFLite graph has no input checks (see export_tflite): check here, naming the input (in the graph
        # the tf-text kernels refuse a bad shape with a RuntimeError).
        input_checks.check_arrays(feed, self.input_specs(signature), signature)
        empty = all(a.shape[0] == 0 for a in feed.values())
        if empty:
            # Some kernels (UNPACK in the encoder) refuse zero-element tensors: run one empty string and keep
            # no row, so an empty batch gets empty outputs of the usual shapes and dtypes.
            feed = {k: np.array([b""] if a.dtype == object else np.zeros((1,) + a.shape[1:], a.dtype),
                                dtype=a.dtype) for k, a in feed.items()}
        try:
            out = self._runners[signature](**feed)
        except RuntimeError as err:
            self._raise_flex(err)
            raise
        return {k: np.array(v)[:0] if empty else np.array(v) for k, v in out.items()}

    def input_specs(self, signature: str) -> dict:
        """``{input name: tf.TensorSpec}`` of a signature, from the interpreter's input details (-1 -> None)."""
        import tensorflow as tf

        if signature not in self._runners:
            self._runners[signature] = self.interpreter.get_signature_runner(signature)
        if signature not in self._specs:
            specs = {}
            for name, d in self._runners[signature].get_input_details().items():
                dtype = tf.string if d["dtype"] in (np.bytes_, np.object_, np.str_) else tf.as_dtype(d["dtype"])
                # dimension 0 is the batch (free in every signature; LiteRT reports the last resized size)
                shape = [None] + [None if n < 0 else int(n) for n in d["shape_signature"][1:]]
                specs[name] = tf.TensorSpec(shape, dtype, name=name)
            self._specs[signature] = specs
        return self._specs[signature]


class TFLiteView:
    """A task as the TFLite export sees it: the task itself, except that ``serving_fn`` leaves out the outputs
    the task names in ``sliced_text_outputs``. The tagger and the QA model name theirs: strings sliced from the
    input (``entity_texts``, ``answer_text``, ``nbest_texts``), which no TFLite builtin can cut; their TFLite
    ``serving_default`` returns the same spans as character offsets only (see saved_models/README.md). The
    export's verification compares the .tflite with this view's outputs."""

    def __init__(self, task):
        self.task = task

    def serving_fn(self, inputs):
        drop = set(getattr(self.task, "sliced_text_outputs", ()))
        return {k: v for k, v in self.task.serving_fn(inputs).items() if k not in drop}

    def __getattr__(self, name):
        return getattr(self.task, name)


def _tf_version():
    import tensorflow as tf

    return tf.__version__


def _representative_dataset(feed_iter: Iterable[Mapping[str, list]]):
    def gen():
        for feed in feed_iter:
            yield verify.SERVING_SIGNATURE, {k: np.array([s.encode("utf-8") for s in v], dtype=object)
                                             for k, v in feed.items()}
    return gen


def convert_saved_model(saved_model_dir: str | os.PathLike, quantize: str = "none",
                        representative_feeds: Sequence[Mapping[str, list]] | None = None,
                        flex: bool = False, full_int8_float_ops: Sequence[str] = FULL_INT8_FLOAT_OPS) -> bytes:
    """Convert the ``serving_default`` + ``preprocess`` signatures of a SavedModel written by
    :class:`~keras_bert_zoo.export.saved_model.ServingModule` to a TFLite flatbuffer.

    ``full_int8_float_ops``: TFLite op types left in float by ``full_int8`` (see the module docstring)."""
    import tensorflow as tf

    check_quantize(quantize)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=list(TFLITE_SIGNATURES))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + (
        [tf.lite.OpsSet.SELECT_TF_OPS] if flex else [])
    converter.allow_custom_ops = True          # the tf-text ops become custom ops, resolved by the registrar
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "full_int8":
        if not representative_feeds:
            raise ExportError("full_int8 needs a representative dataset of raw strings (representative_texts)")
        converter.representative_dataset = _representative_dataset(representative_feeds)
        # calibration runs the model: it needs the tf-text kernels too
        compat.set_tflite_custom_op_registerers(converter, _tftext_registerers())
        if full_int8_float_ops:
            from ai_edge_litert import schema_py_generated as schema

            known = {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")}
            unknown = sorted(set(full_int8_float_ops) - known)
            if unknown:
                raise ExportError(f"full_int8_float_ops: {unknown} are not TFLite builtin op names "
                                  f"(expected e.g. {list(FULL_INT8_FLOAT_OPS)})")
            # Calibrate, then quantize with some op types denylisted: private TF entry points (see compat).
            return compat.tflite_calibrate_and_quantize(converter, full_int8_float_ops)
    return converter.convert()


def _stack_rows(arrays, pad):
    """Concatenate batch-1 outputs along the batch; [1, E] outputs of different widths (entities, ...) are
    padded to the widest with the task's ``output_padding`` first, as the full batch pads them."""
    if arrays[0].ndim >= 2 and len({a.shape[1:] for a in arrays}) > 1:
        width = max(a.shape[1] for a in arrays)
        pad = pad if pad is not None else (b"" if arrays[0].dtype.kind in "SO" else 0)
        arrays = [np.concatenate([a, np.full((a.shape[0], width - a.shape[1]) + a.shape[2:], pad, a.dtype)], axis=1)
                  for a in arrays]
    return np.concatenate(arrays)


def verify_tflite(model: bytes, task, feed: Mapping[str, list], tol: verify.Tolerance,
                  reference: Mapping | None = None) -> dict:
    """Compare both TFLite signatures with the Keras task, on the full sample batch and on batch size 1
    (row by row), so a model that only works at one batch size fails."""
    reference = reference or verify.reference_outputs(task, feed)
    runner = TFLiteRunner(model)
    report = {}
    full = {sig: runner(sig, **feed) for sig in TFLITE_SIGNATURES}
    report["batch_all"] = verify.compare_signatures({s: reference[s] for s in TFLITE_SIGNATURES}, full, tol,
                                                    "TFLite (full batch)")
    n = len(next(iter(feed.values())))
    rows = {sig: [runner(sig, **{k: [v[i]] for k, v in feed.items()}) for i in range(n)]
            for sig in TFLITE_SIGNATURES}
    padding = getattr(task, "output_padding", {}) or {}
    stacked = {sig: {k: _stack_rows([r[k] for r in rs], padding.get(k)) for k in rs[0]} for sig, rs in rows.items()}
    report["batch_1"] = verify.compare_signatures({s: reference[s] for s in TFLITE_SIGNATURES}, stacked, tol,
                                                  "TFLite (batch size 1)")
    return report


def _representative_feeds(task, representative_texts, representative_pairs, sample_texts, sample_pairs,
                          batch_size: int) -> list:
    """full_int8 calibration batches of one size (the calibrator fixes the input shape from the first batch: the
    last one is filled up by wrapping around to the first texts)."""
    rep = sample_feed(task, representative_texts or sample_texts,
                      representative_pairs if representative_texts else sample_pairs)
    n = len(next(iter(rep.values())))
    bs = min(batch_size, n)
    fill = (-n) % bs
    rep = {k: list(v) + list(v[:fill]) for k, v in rep.items()}
    return [{k: v[i:i + bs] for k, v in rep.items()} for i in range(0, n + fill, bs)]


def export_tflite(task, path: str | os.PathLike, sample_texts: Sequence[str],
                  sample_pairs: Sequence[str] | None = None, *, quantize: str = "none",
                  representative_texts: Sequence[str] | None = None,
                  representative_pairs: Sequence[str] | None = None, representative_batch_size: int = 8,
                  flex: bool = False, tolerance: verify.Tolerance | None = None,
                  full_int8_float_ops: Sequence[str] = FULL_INT8_FLOAT_OPS,
                  overwrite: bool = False) -> TFLiteExportResult:
    """Export ``task`` to the file ``path`` (``*.tflite``; see the module docstring).

    ``representative_texts`` (and pairs) calibrate ``full_int8`` (default: the sample texts). Raises
    ExportError / ops.OpCompatibilityError / verify.VerificationError with nothing left on disk.
    """
    import tensorflow as tf

    final = file_target(path, ".tflite", "tflite")
    check_quantize(quantize)
    refuse_keras_quantized(task)
    require_litert()                     # before converting: the verification needs the interpreter
    feed = sample_feed(task, sample_texts, sample_pairs)
    tolerance = tolerance or verify.TOLERANCES[quantize]
    rep_feeds = None
    if quantize == "full_int8":
        rep_feeds = _representative_feeds(task, representative_texts, representative_pairs, sample_texts,
                                          sample_pairs, representative_batch_size)
    with atomic_export_file(final, overwrite=overwrite) as (work, tmp_file):
        # Without the in-graph input checks: the converter drops their Assert ops, their guard Gather made the
        # full-int8 calibrator fail ("gather index out of bounds" on valid representative data), and in LiteRT
        # the tf-text kernels refuse a wrongly shaped input themselves with a RuntimeError (no crash: the
        # catalogue's litert_signature_runner cases). TFLiteRunner checks inputs in Python, naming them.
        task = TFLiteView(task)
        module = ServingModule(task, check_inputs=False)
        tf.saved_model.save(module, str(work / "saved_model"), signatures=module.signatures)
        t0 = time.perf_counter()
        model = convert_saved_model(work / "saved_model", quantize, rep_feeds, flex=flex,
                                    full_int8_float_ops=full_int8_float_ops)
        convert_s = time.perf_counter() - t0
        customs = ops_lib.check_tflite_model(model, ops_lib.tflite_target(flex=flex),
                                             what=f"TFLite model ({quantize})")
        report = verify_tflite(model, task, feed, tolerance)
        tmp_file.write_bytes(model)
        builtins, _ = ops_lib.tflite_model_ops(model)
        info = {"format": "tflite", "file": final.name, "quantize": quantize,
                "versions": library_versions(), "size_bytes": len(model), "convert_seconds": round(convert_s, 2),
                "signatures": TFLiteRunner(model).signatures, "builtin_ops": builtins, "custom_ops": customs,
                "flex": any(op.startswith("Flex") for op in customs),
                "full_int8_float_ops": list(full_int8_float_ops) if quantize == "full_int8" else None,
                "tolerance": dataclasses.asdict(tolerance), "verification": report,
                "task_type": getattr(task, "task_type", None), "labels": getattr(task, "labels", None)}
    return TFLiteExportResult(final, len(model), customs, report, info)
