"""ONNX (extra): the packed-ids model only, via tf2onnx, verified with onnxruntime.

The raw-strings graph does not convert: tf2onnx has no ONNX mapping for the tf-text ops our tokenizer uses
(``FastBertNormalize``, ``FastWordpieceTokenizeWithOffsets``, ``TFText>ByteSplitWithOffsets``) — its
onnxruntime-extensions handlers cover only the older ``WordpieceTokenizeWithOffsets``/``RegexSplitWithOffsets``
path, which is not reference-exact (see docs/notes/issue-7.md). :func:`raw_strings_onnx_blockers` lists the ops
that block it. For ONNX, tokenize in the client (e.g. HF ``tokenizers``) and feed packed ids.

    export_onnx_packed(task, path, sample_texts, opset=17) -> report (max abs diff per output)

Needs the ``onnx`` extra (``tf2onnx``, ``onnx``, ``onnxruntime``); without it both functions raise
:class:`MissingOnnxExtraError`, an ``ImportError`` whose message names the install command.

Example::

    >>> from keras_bert_zoo import BertBackbone, BertConfig
    >>> from keras_bert_zoo.export.onnx import export_onnx_packed
    >>> from keras_bert_zoo.tasks import TextClassifier
    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=37)
    >>> classifier = TextClassifier(BertBackbone(config), num_classes=2, preprocessor=BertPreprocessor(
    ...     WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=16))
    >>> report = export_onnx_packed(classifier, "model.onnx", ["a sample text", "another one"])
    >>> report["logits"]["max_abs_diff"] < 1e-4                  # onnxruntime vs Keras on the samples
    True
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from keras_bert_zoo.export import verify

__all__ = ["export_onnx_packed", "raw_strings_onnx_blockers", "MissingOnnxExtraError", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'keras_bert_zoo[onnx]'"


class MissingOnnxExtraError(ImportError):
    """tf2onnx / onnx / onnxruntime is not installed: the ``onnx`` extra is missing."""


def _require_onnx_extra() -> None:
    import importlib

    for module in ("tf2onnx", "onnxruntime"):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise MissingOnnxExtraError(f"ONNX export needs {module} ({e}): {INSTALL_HINT}",
                                        name=module) from e


def _erfc_handler(ctx, node, name, args):
    """TF's exact GELU uses Erfc, which tf2onnx does not map: rewrite Erfc(x) as 1 - Erf(x) in place."""
    from tf2onnx import utils

    dtype = ctx.get_dtype(node.input[0])
    erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
    ctx.set_dtype(erf.output[0], dtype)
    one = ctx.make_const(utils.make_name(f"{node.name}_one"),
                         np.array(1, dtype=utils.map_onnx_to_numpy_type(dtype)))
    node.type = "Sub"
    ctx.replace_inputs(node, [one.output[0], erf.output[0]])


def raw_strings_onnx_blockers(saved_model_dir) -> list[str]:
    """The tf-text ops of a SavedModel that tf2onnx cannot map to ONNX."""
    _require_onnx_extra()
    from tf2onnx import tf_utils  # noqa: F401
    from tf2onnx.handler import tf_op

    from keras_bert_zoo.export import ops as ops_lib

    tftext = ops_lib.tftext_op_names()
    known = set()
    for domain_ops in tf_op.get_opsets().values():
        for ops in domain_ops:
            known.update(ops)
    return sorted(op for op in ops_lib.saved_model_ops(saved_model_dir) if op in tftext and op not in known)


def export_onnx_packed(task, path: str | os.PathLike, sample_texts: Sequence[str],
                       sample_pairs: Sequence[str] | None = None, opset: int = 17,
                       tol: verify.Tolerance = verify.Tolerance(1e-4, 1.0), overwrite: bool = False) -> dict:
    """Convert ``task.packed_serving_fn``'s float outputs (everything except strings) to ONNX at ``path``
    (``*.onnx``), verify with onnxruntime against Keras on the packed samples, then rename into place (an
    existing ``path`` is an error unless ``overwrite``). Returns the report."""
    from keras_bert_zoo.export.saved_model import atomic_export_file, file_target, sample_feed

    path = file_target(path, ".onnx", "onnx")
    _require_onnx_extra()
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    feed = sample_feed(task, sample_texts, sample_pairs)
    reference = verify.reference_outputs(task, feed)
    packed = reference[verify.PREPROCESS_SIGNATURE]
    spec = task.packed_input_spec()

    @tf.function(input_signature=[spec])
    def packed_fn(inputs):
        outputs = task.packed_serving_fn(inputs)
        return {k: v for k, v in outputs.items() if v.dtype != tf.string}   # ONNX string outputs: skipped

    with atomic_export_file(path, overwrite=overwrite) as (_, tmp):  # renamed into place only once verified
        tf2onnx.convert.from_function(packed_fn, input_signature=[spec], opset=opset,
                                      custom_op_handlers={"Erfc": (_erfc_handler, [])}, output_path=str(tmp))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        by_key = {k: v for k, v in packed.items()}
        inputs = {n: by_key[next(k for k in by_key if n.startswith(k) or n.endswith(k))].astype(np.int32)
                  for n in names}
        outs = session.run(None, inputs)
        got = {o.name: v for o, v in zip(session.get_outputs(), outs)}
        ref = {k: v for k, v in reference[verify.PACKED_SIGNATURE].items() if v.dtype.kind not in "SO"}
        got = {k: got[next(n for n in got if n == k or n.startswith(k))] for k in ref}
        report = verify.compare_outputs(ref, got, tol, what=f"ONNX {path}")
    return report
