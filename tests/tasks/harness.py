"""The shared test harness of the task models (keras-hub's ``run_task_test`` is the model).

``run_task_test(make_task, x, y, predict_x, tmp_path)`` checks, for any :class:`keras_bert_zoo.tasks.Task`:

1. ``compile()`` (the recipe) + ``fit`` for 2 steps on raw inputs: finite loss, weights changed;
2. ``predict`` on raw inputs: one row per input in every output, ``decode`` gives JSON-serialisable dicts;
3. split preprocessing (keras-hub's check): the raw inputs mapped through the task's preprocessing in tf.data
   (``preprocess_samples``, or the serving ``preprocess`` for a task whose samples make their own targets), then
   predicted by the task with its preprocessor DETACHED, give the model outputs of the attached task; and served
   (``packed_serving_fn``) they give what ``predict`` gives on the raw inputs;
4. ``task.save("x.keras")`` -> ``keras.saving.load_model`` (safe mode, no custom objects): same class, same
   config, identical outputs (``shipped(task)`` is what is saved and exported: the student of a Distiller);
5. ``task.export`` to a SavedModel (verified by the exporter) and the loaded SavedModel's ``serving_default``
   returns the same outputs as ``predict`` for the same strings;
6. a training step under ``mixed_bfloat16`` (a task built by ``make_task`` under that policy): finite loss.

``make_task()`` builds a fresh task (called under the mixed-precision policy for 6); a new task gets its
tests by calling this function with raw data of its own kind. A task that serves no raw strings (the
Pretrainer) passes ``predict_x=None``: 2, 3 and 5 then run on ``packed`` (a packed batch) instead.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.tasks.base import pipeline


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def _assert_same_outputs(a: dict, b: dict, atol=1e-5, what=""):
    assert sorted(a) == sorted(b), (what, sorted(a), sorted(b))
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.shape == y.shape, (what, k, x.shape, y.shape)
        if x.dtype.kind in "SOU":
            assert (x == y).all(), (what, k)
        else:
            np.testing.assert_allclose(x, y, atol=atol, rtol=0, err_msg=f"{what}: {k}")


def num_inputs(task, x) -> int:
    return len(next(iter(pipeline.columns(task, x).values())))


def _model_inputs(task, packed: dict) -> dict:
    return {k: v for k, v in packed.items() if k in task.input}


def check_split_preprocessing(task, predict_x):
    """Check 3 of the module docstring; returns the packed batch."""
    from keras_bert_zoo.tasks import TaskError

    cols = pipeline.columns(task, predict_x)
    n = len(next(iter(cols.values())))
    raw = tf.data.Dataset.from_tensor_slices({k: tf.constant(v) for k, v in cols.items()}).batch(n)
    if task.self_supervised:     # its preprocess_samples draws training targets: serve the inputs instead
        ds = raw.map(lambda x: task.trim(task.preprocess(x)))
    else:
        ds = raw.map(task.preprocess_samples)
    packed = next(iter(ds))
    attached = task.predict_on_batch(_model_inputs(task, packed))
    preprocessor = task.preprocessor
    task.preprocessor = None
    try:
        detached = task.predict(ds.map(lambda p: _model_inputs(task, p)), verbose=0)
        try:
            task.predict(predict_x, verbose=0)
            raise AssertionError("predict on raw inputs ran without a preprocessor")
        except TaskError as err:
            assert "no preprocessor" in str(err), err
    finally:
        task.preprocessor = preprocessor
    as_dict = (lambda o: o if isinstance(o, dict) else {"outputs": o})  # noqa: E731
    _assert_same_outputs(as_dict(attached), as_dict(detached), atol=1e-5, what="preprocessor detached")
    if task.trim_packed_serving:
        served = {k: v.numpy() for k, v in task.packed_serving_fn(packed).items()}
        _assert_same_outputs(task.predict(predict_x, batch_size=n, verbose=0), served, atol=1e-5,
                             what="tf.data preprocessing vs raw predict")
    return packed


def run_task_test(make_task, x, y=None, predict_x=None, tmp_path=None, *, batch_size=4, export=True,
                  mixed_precision=True, fit_kwargs=None, packed=None, shipped=lambda task: task):
    task = make_task()
    if packed is None:
        predict_x = x if predict_x is None else predict_x

    # 1. recipe compile + fit on raw inputs
    task.compile(learning_rate=1e-3)
    before = _weights(task)
    history = task.fit(x, y, epochs=1, batch_size=batch_size, steps_per_epoch=2, verbose=0, **(fit_kwargs or {}))
    losses = history.history["loss"]
    assert losses and all(np.isfinite(losses)), losses
    after = _weights(task)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after)), "fit changed no weight"

    if packed is not None:
        return _run_packed(task, packed, tmp_path, make_task, x, y, batch_size, mixed_precision)

    # 2. predict on raw inputs
    out = task.predict(predict_x, batch_size=2, verbose=0)
    n = num_inputs(task, predict_x)
    assert all(len(v) == n for v in out.values()), {k: np.shape(v) for k, v in out.items()}
    rows = task.decode(out)
    assert len(rows) == n
    json.dumps(rows)
    one = task.predict_on_batch(predict_x)
    _assert_same_outputs(out, one, atol=1e-4, what="predict vs predict_on_batch")

    # 3. split preprocessing
    check_split_preprocessing(task, predict_x)

    # 4. one-file save / load
    ship = shipped(task)
    path = tmp_path / f"{ship.name}.keras"
    ship.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(ship)
    assert json.loads(json.dumps(loaded.get_config())) == json.loads(json.dumps(ship.get_config()))
    _assert_same_outputs(out, loaded.predict(predict_x, batch_size=2, verbose=0), atol=1e-6, what="save/load")

    # 5. SavedModel export: the served outputs equal predict's
    if export:
        feed = pipeline.columns(ship, predict_x)
        result = ship.export(tmp_path / "exported" / ship.name / "1", sample_inputs=predict_x,
                             fresh_process_check=False)
        served = tf.saved_model.load(str(result.path)).signatures["serving_default"](
            **{k: tf.constant(v) for k, v in feed.items()})
        _assert_same_outputs(out, {k: v.numpy() for k, v in served.items()}, atol=1e-4, what="SavedModel")

    # 6. a mixed-precision training step
    if mixed_precision:
        _mixed_precision_step(make_task, x, y, batch_size)
    return task


def _mixed_precision_step(make_task, x, y, batch_size):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mp = make_task()
    finally:
        keras.config.set_dtype_policy(previous)
    mp.compile(learning_rate=1e-3)
    logs = mp.fit(x, y, epochs=1, batch_size=batch_size, steps_per_epoch=1, verbose=0).history
    assert np.isfinite(logs["loss"]).all(), logs


def _run_packed(task, packed, tmp_path, make_task, x, y, batch_size, mixed_precision):
    """Checks 2-6 for a task that serves no raw strings, on a packed batch."""
    from keras_bert_zoo.tasks import TaskError

    packed = _model_inputs(task, packed)
    out = task.predict_on_batch(packed)
    assert all(len(v) == len(packed["token_ids"]) for v in tf.nest.flatten(out))
    preprocessor = task.preprocessor
    task.preprocessor = None
    try:   # packed data needs no preprocessor
        detached = task.predict(tf.data.Dataset.from_tensors(packed), verbose=0)
    finally:
        task.preprocessor = preprocessor
    as_dict = (lambda o: o if isinstance(o, dict) else {"outputs": o})  # noqa: E731
    _assert_same_outputs(as_dict(out), as_dict(detached), atol=1e-5, what="preprocessor detached")
    try:
        task.predict(x, verbose=0)
        raise AssertionError("predict on raw data ran on a task that serves no raw strings")
    except TaskError:
        pass
    path = tmp_path / f"{task.name}.keras"
    task.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(task)
    _assert_same_outputs(as_dict(out), as_dict(loaded.predict_on_batch(packed)), atol=1e-6, what="save/load")
    if mixed_precision:
        _mixed_precision_step(make_task, x, y, batch_size)
    return task
