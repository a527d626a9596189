"""The only home of private TensorFlow / Keras API use, one shim per private entry point.

Ground floor: this module imports nothing from ``keras_bert_zoo`` and imports TensorFlow / Keras only inside
the shims, so importing it costs nothing. Every shim names the private API it touches and the versions it was
written and tested for (:data:`SHIMS`); before touching the API it checks the installed version and raises
:class:`ShimVersionError`, naming the shim and its range, when the version has moved outside it. Moving a range
means re-reading the private code on the new version and re-running ``tests/test_compat.py``.

No other module under ``keras_bert_zoo/`` may import ``keras.src``, ``tensorflow.python`` or
``tensorflow.lite.python`` (tests/test_compat.py parses them all).

Shims:

* :func:`install_multi_worker_log_reduction` / :func:`symbolic_build_from_local_batch` — Keras 3 TF-trainer
  fixes for ``MultiWorkerMirroredStrategy`` (used by ``train.distribute.prepare_model``);
* :func:`op_library_op_names` / :func:`is_registered_op` — the op registry (``export.ops``);
* :func:`set_tflite_custom_op_registerers`, :func:`tflite_calibrate_and_quantize`,
  :func:`tf_interpreter_with_custom_ops` — TFLite converter / interpreter entry points (``export.tflite``).

Example::

    >>> from keras_bert_zoo import compat
    >>> compat.check_shim("tflite_calibrate_and_quantize").package   # ShimVersionError once TF leaves its range
    'tensorflow'
    >>> compat.SHIMS["multi_worker_log_reduction"].supported        # the Keras range it was written for
    'keras>=3.10,<3.16'
"""

from __future__ import annotations

import dataclasses
import re
import weakref

__all__ = ["SHIMS", "Shim", "ShimVersionError", "check_shim", "install_multi_worker_log_reduction",
           "symbolic_build_from_local_batch", "op_library_op_names", "is_registered_op",
           "set_tflite_custom_op_registerers", "tflite_calibrate_and_quantize", "tf_interpreter_with_custom_ops"]


class ShimVersionError(RuntimeError):
    """A private-API shim was called on a TensorFlow / Keras version outside the range it was written for."""


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"2.20.0"`` -> (2, 20, 0); pre-release / dev suffixes are dropped (``"3.16.0.dev1"`` -> (3, 16, 0))."""
    parts = []
    for piece in str(version).split(".")[:3]:
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    if not parts:
        raise ValueError(f"not a version: {version!r}")
    return tuple(parts)


@dataclasses.dataclass(frozen=True)
class Shim:
    """One private entry point: ``package`` versions in ``[minimum, below)`` are the ones it was written for."""

    name: str
    package: str          # "tensorflow" or "keras"
    minimum: str          # inclusive
    below: str            # exclusive
    private_api: str

    @property
    def supported(self) -> str:
        return f"{self.package}>={self.minimum},<{self.below}"

    def supports(self, version: str) -> bool:
        return _version_tuple(self.minimum) <= _version_tuple(version) < _version_tuple(self.below)


_TF = ("tensorflow", "2.20", "2.21")        # pyproject pins tensorflow>=2.20,<2.21
_KERAS = ("keras", "3.10", "3.16")          # read and tested on keras 3.10 .. 3.15

SHIMS = {s.name: s for s in (
    Shim("multi_worker_log_reduction", *_KERAS,
         "keras.src.backend.tensorflow.trainer.reduce_per_replica (module function, wrapped) and "
         "tf.distribute.MultiWorkerMirroredStrategy.extended._in_multi_worker_mode()"),
    Shim("symbolic_build_from_local_batch", *_KERAS,
         "keras.Model._symbolic_build / _maybe_symbolic_build (overridden on one model instance)"),
    Shim("op_library_op_names", *_TF,
         "tensorflow.python.client.pywrap_tf_session.TF_LoadLibrary / TF_GetOpList / TF_DeleteLibraryHandle"),
    Shim("is_registered_op", *_TF, "tensorflow.python.framework.op_def_registry.get"),
    Shim("tflite_custom_op_registerers", *_TF, "tf.lite.TargetSpec._experimental_custom_op_registerers"),
    Shim("tflite_calibrate_and_quantize", *_TF,
         "tf.lite.TFLiteConverter._experimental_calibrate_only and tensorflow.lite.python.convert.mlir_quantize"),
    Shim("tf_interpreter_with_custom_ops", *_TF, "tensorflow.lite.python.interpreter.InterpreterWithCustomOps"),
)}


def _installed_version(package: str) -> str:
    if package == "tensorflow":
        import tensorflow as tf

        return tf.__version__
    if package == "keras":
        import keras

        return keras.__version__
    raise ValueError(f"unknown package {package!r}")


def check_shim(name: str, version: str | None = None) -> Shim:
    """Raise :class:`ShimVersionError` unless ``version`` (default: the installed one) is in the shim's range."""
    shim = SHIMS[name]
    version = version or _installed_version(shim.package)
    if not shim.supports(version):
        raise ShimVersionError(
            f"keras_bert_zoo.compat shim {shim.name!r} uses the private API {shim.private_api}; it was written "
            f"for {shim.supported}, but {shim.package} {version} is installed. Re-check that API on {version}, "
            f"then widen the range in keras_bert_zoo/compat.py and re-run tests/test_compat.py.")
    return shim


# ------------------------------------------------------------------------------------------ Keras trainer
_WRAPPED_STRATEGIES: "weakref.WeakSet" = weakref.WeakSet()
_ORIGINAL_REDUCE = None


def install_multi_worker_log_reduction(strategy) -> None:
    """Keras's TF trainer averages the per-step logs with ``strategy.reduce("MEAN", v, axis=0)``, which fails
    on 0-d tensors under a multi-worker ``MultiWorkerMirroredStrategy``; scalars need ``axis=None``.

    Wraps Keras's module function once per process, but the wrapper changes behaviour only for the strategies
    registered here (held weakly), in multi-worker mode, with ``auto``/``mean`` reduction; everything else goes
    to Keras's own function unchanged."""
    global _ORIGINAL_REDUCE
    check_shim("multi_worker_log_reduction")
    import tensorflow as tf
    from keras import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    _WRAPPED_STRATEGIES.add(strategy)
    if _ORIGINAL_REDUCE is not None:
        return
    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if (reduction in ("auto", "mean") and strategy in _WRAPPED_STRATEGIES
                and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                and strategy.extended._in_multi_worker_mode()):
            def _mean(v):
                if isinstance(v, tf.distribute.DistributedValues) or tf.is_tensor(v):
                    return strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0)
                return v
            return tree.map_structure(_mean, values)
        return original(values, strategy, reduction)

    tf_trainer.reduce_per_replica = reduce_per_replica
    _ORIGINAL_REDUCE = original


def symbolic_build_from_local_batch(model, strategy) -> None:
    """Keras's TF trainer builds the model symbolically by ``strategy.reduce("MEAN", batch)`` over the whole
    nested first batch, which ``MultiWorkerMirroredStrategy``'s collective reduce rejects for a dict of inputs.
    The build only needs shapes and dtypes: build this one model from the first replica's local batch."""
    check_shim("symbolic_build_from_local_batch")
    import tensorflow as tf
    from keras import tree

    def _maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tree.map_structure(
                    lambda x: strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues) else x, batch)
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    object.__setattr__(model, "_maybe_symbolic_build", _maybe_symbolic_build)


# --------------------------------------------------------------------------------------------- op registry
def op_library_op_names(library_path: str) -> frozenset:
    """The op names an op library (.so) registers, read from its OpList (loads the library if needed).
    ``tf.load_op_library`` loads it too but returns only generated Python wrappers, not the op names."""
    check_shim("op_library_op_names")
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session as py_tf

    handle = py_tf.TF_LoadLibrary(str(library_path))
    try:
        return frozenset(op.name for op in op_def_pb2.OpList.FromString(py_tf.TF_GetOpList(handle)).op)
    finally:
        py_tf.TF_DeleteLibraryHandle(handle)


def is_registered_op(name: str) -> bool:
    """Whether an op named ``name`` is registered in this process (core TF or a loaded op library)."""
    check_shim("is_registered_op")
    from tensorflow.python.framework import op_def_registry

    return op_def_registry.get(name) is not None


# ---------------------------------------------------------------------------------------------- TFLite
def set_tflite_custom_op_registerers(converter, registerers) -> None:
    """Let the converter's calibration interpreter run custom ops (e.g. the tf-text TFLite kernels)."""
    check_shim("tflite_custom_op_registerers")
    converter.target_spec._experimental_custom_op_registerers = list(registerers)


def tflite_calibrate_and_quantize(converter, denylisted_ops) -> bytes:
    """Calibrate (``converter.representative_dataset``), then quantize with ``denylisted_ops`` (TFLite builtin
    op type names) left in float. TF 2.20 exposes selective quantization only through these entry points, which
    its own QuantizationDebugger uses; the public debugger builds interpreters without custom-op kernels."""
    check_shim("tflite_calibrate_and_quantize")
    from tensorflow.lite.python import convert as tflite_convert

    converter._experimental_calibrate_only = True
    calibrated = converter.convert()
    return tflite_convert.mlir_quantize(calibrated, disable_per_channel=False, fully_quantize=False,
                                        denylisted_ops=list(denylisted_ops))


def tf_interpreter_with_custom_ops():
    """TensorFlow's own ``InterpreterWithCustomOps`` class (it links the Flex delegate; LiteRT's does not)."""
    check_shim("tf_interpreter_with_custom_ops")
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

    return InterpreterWithCustomOps
