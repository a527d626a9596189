"""One test harness for the package's Keras layers and models (ARCHITECTURE.md point 15).

``run_layer_test(cls, init_kwargs, input_data, expected_output_shape, ...)`` builds the layer on the data and
checks, in order:

1. **build and call**: the layer builds, its outputs have the expected shapes and dtypes, a symbolic call
   (KerasTensors with unknown batch and sequence) gives the same shapes, and the weight counts are the expected
   ones (``trainable=False`` moves every weight to the non-trainable list);
2. **get_config / from_config**: the clone's config is equal and, with the weights copied, so are its outputs;
3. **a ``.keras`` file** (``safe_mode=True``): the reloaded model gives the same outputs;
4. **a training step** (``model.fit`` on one batch, MSE to zeros) under ``mixed_float16`` and
   ``mixed_bfloat16`` (in float32 when ``run_mixed_precision=False``): the loss and outputs are finite, weights
   move, every variable stays float32, the layer and its sublayers compute in the policy's dtype (LayerNorms
   pinned to float32 excepted), and the outputs come back in float32 or in the compute dtype as
   ``float32_outputs`` says;
5. optionally the float32 step again with ``jit_compile=True`` (XLA), whose outputs match eager.

``input_data`` is a dict of the layer's call arguments, in call order: the first is passed positionally, the
others as keywords. A ``keras.Model`` subclass (the backbone) takes the whole dict as its one input instead.
``call_kwargs`` are fixed non-tensor call options (``return_scores=True``). ``expected_output_shape`` is a
shape tuple, or a tuple / dict of them matching the output structure.

Backend-agnostic (keras.ops, numpy and ``fit`` only): tests/test_backends.py runs the layer and backbone tests
under KERAS_BACKEND=jax too.
"""

import tempfile
from pathlib import Path

import keras
import numpy as np

__all__ = ["run_layer_test"]

#: what each mixed policy computes in
MIXED_POLICIES = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _dtype(x):
    return keras.backend.standardize_dtype(x.dtype)


def _is_shape(x):
    return isinstance(x, tuple) and all(d is None or isinstance(d, int) for d in x)


def _leaves(x):
    """Flat list of output tensors (or shapes) in a fixed order: dict keys sorted, tuples/lists in order."""
    if isinstance(x, dict):
        return [leaf for key in sorted(x) for leaf in _leaves(x[key])]
    if isinstance(x, (list, tuple)) and not _is_shape(x):
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def _call(layer, data, call_kwargs):
    if isinstance(layer, keras.Model):
        return layer(data, **call_kwargs)
    first, *rest = data
    return layer(data[first], **{k: data[k] for k in rest}, **call_kwargs)


def _symbolic_inputs(input_data):
    """One ``keras.Input`` per input, batch and sequence (axis 1) unknown, named as the call argument."""
    return {name: keras.Input(shape=(None,) + np.shape(value)[2:], dtype=str(np.asarray(value).dtype), name=name)
            for name, value in input_data.items()}


def _as_model(layer, input_data, call_kwargs):
    """A functional model around ``layer`` (the layer itself when it is already a model of dict inputs)."""
    if isinstance(layer, keras.Model) and not call_kwargs:
        return layer
    inputs = _symbolic_inputs(input_data)
    return keras.Model(inputs, _call(layer, inputs, call_kwargs))


def _assert_same(got, want, what, atol=1e-6):
    got, want = _leaves(got), _leaves(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, expected {len(want)}"
    for i, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(_np(a), _np(b), atol=atol, rtol=0, err_msg=f"{what}: output {i}")


def _check_build_and_shapes(layer_cls, init_kwargs, input_data, call_kwargs, expected_output_shape,
                            expected_output_dtype, expected_num_trainable_weights,
                            expected_num_non_trainable_weights):
    layer = layer_cls(**init_kwargs)
    outputs = _call(layer, input_data, call_kwargs)
    assert layer.built, f"{layer_cls.__name__} is not built after a call"
    got_shapes = [tuple(o.shape) for o in _leaves(outputs)]
    want_shapes = [tuple(s) for s in _leaves(expected_output_shape)]
    assert got_shapes == want_shapes, f"{layer_cls.__name__} output shapes {got_shapes}, expected {want_shapes}"
    for i, o in enumerate(_leaves(outputs)):
        assert _dtype(o) == expected_output_dtype, f"output {i} is {_dtype(o)}, expected {expected_output_dtype}"
        assert np.all(np.isfinite(_np(o))), f"output {i} is not finite"
    # symbolic call on a fresh layer: unknown batch and sequence, the known sizes as computed above
    symbolic = _call(layer_cls(**init_kwargs), _symbolic_inputs(input_data), call_kwargs)
    for i, (sym, real) in enumerate(zip(_leaves(symbolic), got_shapes)):
        known = tuple(d if s is not None else None for s, d in zip(sym.shape, real))
        assert tuple(sym.shape) == known and len(sym.shape) == len(real), \
            f"symbolic output {i} has shape {sym.shape}, eager {real}"
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights, \
            [w.path for w in layer.trainable_weights]
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, \
        [w.path for w in layer.non_trainable_weights]
    total = len(layer.weights)
    layer.trainable = False
    assert not layer.trainable_weights and len(layer.non_trainable_weights) == total
    layer.trainable = True
    return layer, outputs


def _check_config_round_trip(layer, input_data, call_kwargs, outputs):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config, "from_config(get_config()) does not give back the same config"
    _call(clone, input_data, call_kwargs)  # build
    clone.set_weights(layer.get_weights())
    _assert_same(_call(clone, input_data, call_kwargs), outputs, f"{type(layer).__name__}.from_config clone")


def _check_keras_file(layer, input_data, call_kwargs, outputs):
    model = _as_model(layer, input_data, call_kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        restored = keras.saving.load_model(path, safe_mode=True)
    _assert_same(restored(input_data), outputs, f"{type(layer).__name__} reloaded from a .keras file")


def _fit_one_step(layer, input_data, call_kwargs, jit_compile=False):
    """One optimizer step on the whole batch; returns the model (MSE of every output to zeros)."""
    model = _as_model(layer, input_data, call_kwargs)
    outputs = model(input_data)
    targets = keras.tree.map_structure(lambda o: np.zeros(tuple(o.shape), "float32"), outputs)
    loss = keras.tree.map_structure(lambda _: "mse", outputs)
    # eager unless XLA is asked for: one step of a tiny layer is cheaper run than traced
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, jit_compile=jit_compile,
                  run_eagerly=not jit_compile)
    before = [_np(w).copy() for w in layer.trainable_weights]
    history = model.fit(input_data, targets, batch_size=len(next(iter(input_data.values()))), epochs=1,
                        verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][-1]), f"training loss {history.history['loss']}"
    moved = [not np.array_equal(b, _np(w)) for b, w in zip(before, layer.trainable_weights)]
    assert any(moved), f"{type(layer).__name__}: no weight moved in a training step"
    return model


def _sublayers(layer, seen=None):
    """Every layer held by ``layer``'s attributes (lists included), recursively; not ``layer`` itself."""
    seen = set() if seen is None else seen
    found = []
    for value in vars(layer).values():
        for sub in (value if isinstance(value, (list, tuple)) else [value]):
            if isinstance(sub, keras.layers.Layer) and id(sub) not in seen:
                seen.add(id(sub))
                found += [sub] + _sublayers(sub, seen)
    return found


def _check_mixed_precision(layer_cls, init_kwargs, input_data, call_kwargs, policy, float32_outputs):
    compute = MIXED_POLICIES[policy]
    layer = layer_cls(**init_kwargs, dtype=policy)
    _fit_one_step(layer, input_data, call_kwargs)
    for w in layer.weights:
        assert _dtype(w) == "float32", f"{policy}: variable {w.path} is {_dtype(w)}"
    assert layer.compute_dtype == compute, f"{policy}: {type(layer).__name__} computes in {layer.compute_dtype}"
    for sub in _sublayers(layer):
        if isinstance(sub, keras.layers.LayerNormalization):
            assert sub.compute_dtype == "float32", f"{policy}: LayerNorm {sub.name} computes in {sub.compute_dtype}"
        elif sub.weights:
            assert sub.compute_dtype == compute, f"{policy}: {sub.name} computes in {sub.compute_dtype}"
    outputs = _leaves(_call(layer, input_data, call_kwargs))
    pinned = float32_outputs if isinstance(float32_outputs, (list, tuple)) else [float32_outputs] * len(outputs)
    for i, (o, is_float32) in enumerate(zip(outputs, pinned)):
        want = "float32" if is_float32 else compute
        assert _dtype(o) == want, f"{policy}: output {i} is {_dtype(o)}, expected {want}"
        assert np.all(np.isfinite(_np(o).astype("float32"))), f"{policy}: output {i} is not finite"


def run_layer_test(layer_cls, init_kwargs, input_data, expected_output_shape, *, call_kwargs=None,
                   expected_output_dtype="float32", expected_num_trainable_weights=None,
                   expected_num_non_trainable_weights=0, float32_outputs=False, run_mixed_precision=True,
                   run_jit_compile=False):
    """Run checks 1-5 (module docstring) on ``layer_cls(**init_kwargs)``; returns the built float32 layer.

    Args:
        layer_cls: a serialisable ``keras.layers.Layer`` (or ``keras.Model``) subclass.
        init_kwargs: constructor arguments (give dropout > 0 where the layer has it: the round trips run in
            inference mode and the training step in training mode, so both paths are exercised).
        input_data: dict of call-argument name -> numpy array (see the module docstring).
        expected_output_shape: the outputs' shapes (a tuple, or a structure of tuples like the outputs).
        call_kwargs: non-tensor call options.
        expected_output_dtype: dtype of every output in float32.
        expected_num_trainable_weights / expected_num_non_trainable_weights: variable counts once built.
        float32_outputs: the layer casts its outputs to float32 under mixed precision (logits, attention
            probabilities, the backbone); a list of bools gives it per output (in the flattened order).
        run_mixed_precision: run check 4 under both mixed policies.
        run_jit_compile: run check 5.
    """
    call_kwargs = dict(call_kwargs or {})
    layer, outputs = _check_build_and_shapes(layer_cls, init_kwargs, input_data, call_kwargs,
                                             expected_output_shape, expected_output_dtype,
                                             expected_num_trainable_weights, expected_num_non_trainable_weights)
    _check_config_round_trip(layer, input_data, call_kwargs, outputs)
    _check_keras_file(layer, input_data, call_kwargs, outputs)
    if not run_mixed_precision:  # the mixed-precision steps below also check that weights move
        _fit_one_step(layer_cls(**init_kwargs), input_data, call_kwargs)
    else:
        for policy in MIXED_POLICIES:
            _check_mixed_precision(layer_cls, init_kwargs, input_data, call_kwargs, policy, float32_outputs)
    if run_jit_compile:
        jitted = layer_cls(**init_kwargs)
        model = _fit_one_step(jitted, input_data, call_kwargs, jit_compile=True)
        eager = _call(jitted, input_data, call_kwargs)
        _assert_same(model.predict(input_data, verbose=0), eager, f"{layer_cls.__name__} under jit_compile",
                     atol=1e-4)
    return layer
