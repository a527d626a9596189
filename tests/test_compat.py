"""keras_bert_zoo.compat: every private-API shim works on the installed TF/Keras, fails loudly (naming itself and
its range) outside the versions it was written for, and no other package module touches private APIs."""

import ast
import inspect
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from keras_bert_zoo import compat

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_bert_zoo"
PRIVATE_PREFIXES = ("keras.src", "tensorflow.python", "tensorflow.lite.python")


# ------------------------------------------------------------------------------------------ version guard
def test_installed_versions_are_inside_every_shim_range():
    """Fails (with ShimVersionError naming the shim and its range) once TF or Keras moves past a shim."""
    for name in compat.SHIMS:
        compat.check_shim(name)


@pytest.mark.parametrize("name", sorted(compat.SHIMS))
def test_guard_names_the_shim_and_its_range(name):
    shim = compat.SHIMS[name]
    for version in ("99.0.0", shim.below, "0.1"):
        with pytest.raises(compat.ShimVersionError) as e:
            compat.check_shim(name, version)
        message = str(e.value)
        assert repr(name) in message and shim.supported in message and version in message
        assert shim.private_api in message
    assert compat.check_shim(name, shim.minimum) is shim


def test_version_parsing():
    assert compat._version_tuple("2.20.0") == (2, 20, 0)
    assert compat._version_tuple("3.16.0.dev2026120100") == (3, 16, 0)
    assert compat._version_tuple("2.21.0rc1") == (2, 21, 0)
    assert compat.Shim("x", "keras", "3.10", "3.16", "api").supports("3.15.9")
    assert not compat.Shim("x", "keras", "3.10", "3.16", "api").supports("3.16.0rc0")


def test_a_shim_outside_its_range_raises_before_touching_the_api(monkeypatch):
    monkeypatch.setattr(compat, "_installed_version", lambda package: "99.0")
    with pytest.raises(compat.ShimVersionError, match="is_registered_op"):
        compat.is_registered_op("MatMul")


# ----------------------------------------------------------------------------------- ground floor, fence
def test_importing_compat_imports_neither_tensorflow_nor_keras():
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('compat_alone', {str(PACKAGE / 'compat.py')!r})\n"
            "module = sys.modules['compat_alone'] = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(module)\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'keras_bert_zoo') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    tree = ast.parse((PACKAGE / "compat.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("keras_bert_zoo") and node.level == 0, ast.dump(node)


def _imported_modules(tree):
    """Every module name a file imports, at any depth (lazy imports inside functions included), plus string
    arguments of importlib.import_module / __import__."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Call):
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if fname in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                yield node.lineno, str(node.args[0].value)


def test_only_compat_imports_private_tf_and_keras_apis():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "compat.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for lineno, module in _imported_modules(tree):
            if module.startswith(PRIVATE_PREFIXES):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {module}")
    assert not offenders, ("private TF/Keras APIs belong in keras_bert_zoo/compat.py (a version-guarded shim): "
                           + "; ".join(sorted(set(offenders))))


def test_the_fence_test_sees_lazy_imports():
    tree = ast.parse("def f():\n    from keras.src.backend import x\n    import tensorflow.python.framework\n")
    found = [m for _, m in _imported_modules(tree)]
    assert "keras.src.backend" in found and "tensorflow.python.framework" in found


# ------------------------------------------------------------------------------------- each shim works
def test_op_registry_shims():
    import tensorflow_text

    so_files = sorted((pathlib.Path(tensorflow_text.__file__).parent / "python" / "ops").glob("*.so"))
    names = set().union(*(compat.op_library_op_names(str(so)) for so in so_files))
    assert {"FastWordpieceTokenizeWithOffsets", "FastBertNormalize"} <= names
    assert compat.is_registered_op("MatMul") and compat.is_registered_op("FastBertNormalize")
    assert not compat.is_registered_op("NoSuchOpKerasBertZoo")


def _tiny_converter():
    import tensorflow as tf

    w = tf.constant(np.random.default_rng(0).normal(size=(4, 3)).astype("float32"))

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def f(x):
        return {"y": tf.nn.relu(tf.matmul(x, w) + 1.0)}

    return tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f), f


def test_tflite_shims_calibrate_quantize_and_run():
    import tensorflow as tf

    converter, f = _tiny_converter()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(1)
    converter.representative_dataset = lambda: ([rng.normal(size=(1, 4)).astype("float32")] for _ in range(8))
    compat.set_tflite_custom_op_registerers(converter, [])
    model = compat.tflite_calibrate_and_quantize(converter, ["ADD"])
    assert isinstance(model, bytes) and len(model) > 0
    interpreter = compat.tf_interpreter_with_custom_ops()(model_content=model, custom_op_registerers=[])
    x = rng.normal(size=(1, 4)).astype("float32")
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, f(tf.constant(x))["y"].numpy(), atol=0.1)


def test_keras_trainer_shims_keep_keras_behaviour_outside_multi_worker():
    import keras
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    strategy = tf.distribute.get_strategy()
    compat.install_multi_worker_log_reduction(strategy)
    compat.install_multi_worker_log_reduction(strategy)          # wraps once per process
    wrapped = compat._ORIGINAL_REDUCE
    assert wrapped is not None and tf_trainer.reduce_per_replica is not wrapped
    assert tf_trainer.reduce_per_replica.__module__ == "keras_bert_zoo.compat"
    logs = {"loss": tf.constant(2.0), "acc": tf.constant([1.0, 3.0])}
    for key, value in tf_trainer.reduce_per_replica(logs, strategy, "auto").items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(wrapped(logs, strategy, "auto")[key]))

    # the overridden methods still exist with the signature the override copies
    for method in ("_maybe_symbolic_build", "_symbolic_build"):
        params = list(inspect.signature(getattr(keras.Model, method)).parameters)
        assert params[:3] == ["self", "iterator", "data_batch"], (method, params)
    keras.utils.set_random_seed(0)
    inputs = {"a": keras.Input((3,), name="a"), "b": keras.Input((3,), name="b")}
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Concatenate()([inputs["a"], inputs["b"]])))
    compat.symbolic_build_from_local_batch(model, strategy)
    model.compile(optimizer="sgd", loss="mse")
    x = {"a": np.ones((4, 3), "float32"), "b": np.zeros((4, 3), "float32")}
    history = model.fit(x, np.ones((4, 1), "float32"), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
