"""Which ops an exported graph needs, and whether a deployment target has them.

The anchors' exports fail at *load* time on the server or the phone ("Op type not registered
'FastWordpieceTokenizeWithOffsets'", "Encountered unresolved custom op: RaggedRange"). We list the ops at
*export* time and fail early, naming each missing op, where it is used and what to do about it.

Targets:

* :func:`tf_serving_target` — the ``tensorflow/serving`` model server. It links TensorFlow's own kernels and
  the tensorflow-text ``ops_lib`` of the tf-text release it was built with (``tensorflow/serving:2.20.x``
  bundles tf-text 2.20; 2.12-2.19 bundle tf-text 2.12.1). Custom ops from any other library (or tf-text ops
  newer than the bundled release, e.g. ``TFText>RoundRobinTrim`` on 2.19) are missing there. For servers
  older than the exporting TensorFlow the check is by op name against lists held in
  ``keras_bert_zoo/resources/serving_ops/`` (tf-text 2.12.1, TensorFlow 2.12.1); attributes are not checked.
* :func:`tflite_target` — LiteRT with the builtin kernels plus the tensorflow-text TFLite kernels
  (``tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS``), optionally with the Flex delegate
  (``flex=True``: any TensorFlow op, at the cost of linking TensorFlow into the app).

Functions:

    saved_model_ops(path)          {op name: sorted function names using it} over the graph + function library
    graph_ops(graph_def)           same, for a GraphDef (e.g. a concrete function's)
    tftext_op_names()              the custom op names registered by the installed tensorflow-text
    tflite_model_ops(model_bytes)  (builtin op names, custom op codes) of a .tflite flatbuffer
    check_ops(ops, target)         raise OpCompatibilityError listing what the target lacks

Example::

    >>> import tensorflow as tf
    >>> from keras_bert_zoo.export.ops import check_saved_model, saved_model_ops, tf_serving_target, tftext_op_names
    >>> from keras_bert_zoo.text import WordPieceTokenizer
    >>> module = tf.Module()
    >>> module.tokenizer = WordPieceTokenizer("vocab.txt", lowercase=True)
    >>> module.serve = tf.function(lambda s: module.tokenizer(s).to_tensor(),
    ...                            input_signature=[tf.TensorSpec([None], tf.string)])
    >>> tf.saved_model.save(module, "tokenizer_model")
    >>> ops = saved_model_ops("tokenizer_model")         # {op name: functions using it}
    >>> sorted(name for name in ops if name in tftext_op_names())
    ['FastBertNormalize', 'FastWordpieceTokenizeWithOffsets', 'TFText>ByteSplitWithOffsets']
    >>> _ = check_saved_model("tokenizer_model", tf_serving_target("2.20"))      # TF Serving 2.20 has them all
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from pathlib import Path

__all__ = ["OpCompatibilityError", "Target", "saved_model_ops", "graph_ops", "tftext_op_names",
           "tflite_model_ops", "tf_serving_target", "tflite_target", "check_ops", "check_saved_model",
           "check_tflite_model", "TFLITE_TFTEXT_KERNELS", "SERVING_BUNDLED_TFTEXT", "resource_op_names"]

#: Custom op codes that ``tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`` registers with a TFLite
#: interpreter (tf-text 2.20: one ``Add*`` registrar per entry of core/kernels/*_tflite.cc). A TFLite
#: custom op is matched by its TensorFlow op name. tests/export/test_ops.py checks every name is a real op.
TFLITE_TFTEXT_KERNELS = frozenset({
    "FastBertNormalize",
    "FastWordpieceTokenizeWithOffsets",
    "TFText>FastWordpieceDetokenize",
    "TFText>FastSentencepieceTokenize",
    "TFText>FastSentencepieceDetokenize",
    "TFText>NgramsStringJoin",
    "RaggedTensorToTensor",
    "TFText>RoundRobinGenerateMasks",
    "TFText>RoundRobinTrim",
    "SentenceFragmentsV2",
    "TFText>Utf8Binarize",
    "TFText>WhitespaceTokenizeWithOffsetsV2",
    "TFText>ByteSplitWithOffsets",
    "TFText>ByteSplitByOffsets",
})


class OpCompatibilityError(RuntimeError):
    """The exported graph needs ops the deployment target does not provide."""


@dataclasses.dataclass(frozen=True)
class Target:
    """A deployment target: which non-core ops it can run.

    Attributes:
        name: shown in error messages.
        custom_ops: custom (non-TensorFlow-core / non-builtin) op names the target provides.
        any_tf_op: True when every TensorFlow op runs (TF Serving core kernels; TFLite with Flex).
        hint: what to do when an op is missing.
        core_ops: the TensorFlow op names the target knows, when it is not every op of the installed
            TensorFlow (an older TF Serving release); None otherwise.
    """

    name: str
    custom_ops: frozenset
    any_tf_op: bool = False
    hint: str = ""
    core_ops: frozenset | None = None


# ----------------------------------------------------------------------------------------------- listing
def graph_ops(graph_def) -> dict[str, list[str]]:
    """{op name: sorted names of the functions (or "<graph>") that use it} for a GraphDef."""
    used: dict[str, set] = {}
    for node in graph_def.node:
        used.setdefault(node.op, set()).add("<graph>")
    for fn in graph_def.library.function:
        for node in fn.node_def:
            used.setdefault(node.op, set()).add(fn.signature.name)
    library_fns = {fn.signature.name for fn in graph_def.library.function}
    # A call of a library function shows up as an op named after the function: not an op.
    return {op: sorted(where) for op, where in used.items() if op not in library_fns}


def saved_model_ops(path: str | os.PathLike) -> dict[str, list[str]]:
    """{op name: sorted function names using it} over every meta graph of a SavedModel (graph and function
    library), read from saved_model.pb without loading the model (so no kernels or custom-op libraries are
    needed to list them)."""
    from tensorflow.core.protobuf import saved_model_pb2

    pb = Path(path) / "saved_model.pb"
    if not pb.is_file():
        raise FileNotFoundError(f"{path}: no saved_model.pb (not a SavedModel directory)")
    sm = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    used: dict[str, set] = {}
    for mg in sm.meta_graphs:
        for op, where in graph_ops(mg.graph_def).items():
            used.setdefault(op, set()).update(where)
    return {op: sorted(w) for op, w in sorted(used.items())}


def _tftext_ops_dir() -> Path:
    import tensorflow_text

    return Path(tensorflow_text.__file__).parent / "python" / "ops"


def tftext_op_names() -> frozenset:
    """The op names registered by the installed tensorflow-text's op libraries (exact: read from each
    library's registered OpList, not from a hand-written table)."""
    import tensorflow_text  # noqa: F401  (loads the libraries)

    from keras_bert_zoo import compat

    names = set()
    for so in sorted(glob.glob(str(_tftext_ops_dir() / "*.so"))):
        names.update(compat.op_library_op_names(so))
    return frozenset(names)


def tftext_version() -> str:
    import tensorflow_text

    return tensorflow_text.__version__


def _major_minor(version: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", str(version))
    if not m:
        raise ValueError(f"cannot parse version {version!r} (expected e.g. '2.20' or '2.20.1')")
    return int(m.group(1)), int(m.group(2))


def tflite_model_ops(model: bytes) -> tuple[list[str], list[str]]:
    """(builtin op names, custom op codes) used by a .tflite flatbuffer. Flex ops appear as custom codes
    starting with "Flex"."""
    from ai_edge_litert import schema_py_generated as schema

    m = schema.Model.GetRootAsModel(model, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    builtins, customs = set(), set()
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            customs.add(oc.CustomCode().decode("utf-8"))
        else:
            builtins.add(names.get(code, str(code)))
    return sorted(builtins), sorted(customs)


# ----------------------------------------------------------------------------------------------- targets
#: tf-text release bundled with each tensorflow/serving release older than 2.20 that we hold op lists for.
#: Per the reports in issue 14 ("Op type not registered 'TFText>RoundRobinTrim'" on tensorflow/serving 2.19),
#: the model server kept tf-text 2.12.1 from 2.12 through 2.19; from 2.20 on it matches its own release.
SERVING_BUNDLED_TFTEXT = {(2, minor): "2.12.1" for minor in range(12, 20)}
#: the TensorFlow core op list we hold for servers older than the exporting TensorFlow (a lower bound for
#: 2.13-2.19: TensorFlow keeps the public ops of earlier releases registered)
SERVING_CORE_OPS = "2.12.1"
_RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "serving_ops"


def resource_op_names(filename: str) -> frozenset:
    """Op names of a list in ``keras_bert_zoo/resources/serving_ops/`` (one per line, '#' comments)."""
    path = _RESOURCES / filename
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def tf_serving_target(serving_version: str | None = None, tftext_ops=None) -> Target:
    """The ``tensorflow/serving:<serving_version>`` model server.

    Args:
        serving_version: the server release (default: the installed TensorFlow's major.minor, i.e. the
            image matching what we export with).
        tftext_ops: the op names of the tf-text release bundled with that server. Default: the exact list of
            the installed tensorflow-text when its major.minor equals ``serving_version``; for 2.12-2.19 the
            list of tf-text 2.12.1 (``resources/serving_ops``); for another release pass that release's list
            (``python -m keras_bert_zoo.export.ops --list-tftext-ops`` in an environment with that
            tensorflow-text installed prints it).

    For a server older than the exporting TensorFlow (2.12-2.19) the check is by op NAME: tf-text ops against
    the bundled tf-text's list, TensorFlow ops against TensorFlow 2.12.1's list (ops TensorFlow added after
    2.12 are refused for 2.13-2.19 too, as unverified). Not checked there: attributes added to existing ops
    after that release, and kernel behaviour — graphs are only forward compatible, so load the export on
    that server before relying on it. Releases older than 2.12 are refused: we hold no op list for them.
    """
    import tensorflow as tf

    exporting = _major_minor(tf.__version__)
    serving = _major_minor(serving_version) if serving_version else exporting
    label = f"tensorflow/serving:{serving[0]}.{serving[1]}"
    hint = ("TF Serving links only TensorFlow and its bundled tf-text ops; ops from other libraries need a "
            "custom model server build (see saved_models/README.md)")
    if serving < exporting:
        bundled = SERVING_BUNDLED_TFTEXT.get(serving)
        if bundled is None:
            known = sorted(SERVING_BUNDLED_TFTEXT)
            raise OpCompatibilityError(
                f"no op list for TF Serving {serving[0]}.{serving[1]} (older than the TensorFlow "
                f"{tf.__version__} used to export; op lists are held for {known[0][0]}.{known[0][1]}-"
                f"{known[-1][0]}.{known[-1][1]}): use the tensorflow/serving:{exporting[0]}.{exporting[1]}.* "
                f"image or newer")
        core = resource_op_names(f"tensorflow-{SERVING_CORE_OPS}.txt")
        tftext = frozenset(tftext_ops) if tftext_ops is not None else resource_op_names(
            f"tensorflow_text-{bundled}.txt")
        exact = serving == _major_minor(SERVING_CORE_OPS)
        return Target(name=f"{label} (bundled tf-text {bundled}; TensorFlow ops checked by name against "
                           f"TensorFlow {SERVING_CORE_OPS}" + ("" if exact else ", a lower bound") + ")",
                      custom_ops=tftext, any_tf_op=False, core_ops=core,
                      hint=hint + f". Only op names are checked for this older server: it may still refuse "
                                  f"attributes TensorFlow added after {serving[0]}.{serving[1]}; export for "
                                  f"tensorflow/serving:{exporting[0]}.{exporting[1]} or newer where you can, "
                                  f"and load the model on the server before relying on it")
    if tftext_ops is None:
        installed = _major_minor(tftext_version())
        if installed != serving:
            raise OpCompatibilityError(
                f"no tf-text op list for TF Serving {serving[0]}.{serving[1]}: the installed tensorflow-text "
                f"is {tftext_version()}. Pass tftext_ops= (list them with `python -m "
                f"keras_bert_zoo.export.ops --list-tftext-ops` where tensorflow-text=={serving[0]}.{serving[1]}.* "
                f"is installed)")
        tftext_ops = tftext_op_names()
    return Target(name=f"{label} (bundled tf-text {serving[0]}.{serving[1]})",
                  custom_ops=frozenset(tftext_ops), any_tf_op=True, hint=hint)


def tflite_target(flex: bool = False) -> Target:
    """LiteRT builtins + the tf-text TFLite kernels (+ every TF op through the Flex delegate if ``flex``)."""
    return Target(name="TFLite builtins + tf-text kernels" + (" + Flex" if flex else ""),
                  custom_ops=TFLITE_TFTEXT_KERNELS, any_tf_op=flex,
                  hint=("the op has no TFLite builtin or tf-text kernel: rewrite that part of the graph with "
                        "ops that do, or export with flex=True (links the TensorFlow Flex delegate, several "
                        "MB, into the app)") if not flex else "")


# ----------------------------------------------------------------------------------------------- checks
def _is_core_tf_op(name: str, tftext: frozenset) -> bool:
    from keras_bert_zoo import compat

    return name not in tftext and compat.is_registered_op(name)


def check_ops(ops: dict[str, list[str]] | list[str], target: Target, *, what: str = "the graph") -> None:
    """Raise :class:`OpCompatibilityError` when ``target`` lacks any op in ``ops`` (a SavedModel's graph ops).

    Core TensorFlow ops pass on targets with ``any_tf_op`` or, by name, when in ``target.core_ops``; any other
    op must be in ``target.custom_ops``.
    """
    where = ops if isinstance(ops, dict) else {op: [] for op in ops}
    tftext = tftext_op_names()
    missing = []
    for op in sorted(where):
        if op in target.custom_ops:
            continue
        if target.any_tf_op and _is_core_tf_op(op, tftext):
            continue
        if target.core_ops is not None and op in target.core_ops and op not in tftext:
            continue
        kind = "tf-text op" if op in tftext else ("TensorFlow op" if _is_core_tf_op(op, tftext)
                                                 else "unregistered custom op")
        if kind == "TensorFlow op" and target.core_ops is not None:
            kind = "TensorFlow op newer than the target's op list"
        missing.append(f"  {op} ({kind}; used in {', '.join(where[op][:3]) or '?'})")
    if missing:
        raise OpCompatibilityError(f"{what} needs ops that {target.name} does not provide:\n"
                                   + "\n".join(missing) + (f"\n{target.hint}" if target.hint else ""))


def check_saved_model(path: str | os.PathLike, target: Target) -> dict[str, list[str]]:
    """check_ops over a SavedModel directory; returns the op listing."""
    ops = saved_model_ops(path)
    check_ops(ops, target, what=f"SavedModel {path}")
    return ops


def check_tflite_model(model: bytes, target: Target, *, what: str = "the TFLite model") -> list[str]:
    """Fail when the flatbuffer has custom ops the target cannot resolve (Flex ops need flex=True).
    Returns the custom op codes."""
    _, customs = tflite_model_ops(model)
    missing = []
    for op in customs:
        if op in target.custom_ops:
            continue
        if op.startswith("Flex") and target.any_tf_op:
            continue
        missing.append(f"  {op}" + (" (Flex: a TensorFlow op run through the Flex delegate)"
                                    if op.startswith("Flex") else ""))
    if missing:
        raise OpCompatibilityError(f"{what} needs ops that {target.name} does not provide:\n"
                                   + "\n".join(missing) + (f"\n{target.hint}" if target.hint else ""))
    return customs


def _main(argv=None):
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list-tftext-ops", action="store_true",
                        help="print the installed tensorflow-text's op names as JSON")
    parser.add_argument("--saved-model", help="list the ops a SavedModel needs")
    args = parser.parse_args(argv)
    if args.list_tftext_ops:
        print(json.dumps({"tensorflow_text": tftext_version(), "ops": sorted(tftext_op_names())}, indent=1))
    if args.saved_model:
        tftext = tftext_op_names()
        for op, where in saved_model_ops(args.saved_model).items():
            print(f"{op:45} {'tf-text' if op in tftext else ''}")


if __name__ == "__main__":
    _main()
