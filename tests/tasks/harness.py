"""The shared test harness of the task models (keras-hub's ``run_task_test`` is the model).

``run_task_test(make_task, x, y, predict_x, tmp_path)`` checks, for any :class:`keras_bert_zoo.tasks.Task`:

1. ``compile()`` (the recipe) + ``fit`` for 2 steps on raw inputs: finite loss, weights changed;
2. ``predict`` on raw inputs: one row per input in every output, ``decode`` gives JSON-serialisable dicts;
3. ``task.save("x.keras")`` -> ``keras.saving.load_model`` (safe mode, no custom objects): same class, same
   config, identical outputs;
4. ``task.export`` to a SavedModel (verified by the exporter) and the loaded SavedModel's ``serving_default``
   returns the same outputs as ``predict`` for the same strings;
5. a training step under ``mixed_bfloat16`` (a task built by ``make_task`` under that policy): finite loss.

``make_task()`` builds a fresh task (called under the mixed-precision policy for 5); a new task gets its
tests by calling this function with raw data of its own kind.
"""

from __future__ import annotations

import json

import keras
import numpy as np

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


def run_task_test(make_task, x, y=None, predict_x=None, tmp_path=None, *, batch_size=4, export=True,
                  mixed_precision=True, fit_kwargs=None):
    task = make_task()
    predict_x = x if predict_x is None else predict_x

    # 1. recipe compile + fit on raw inputs
    task.compile(learning_rate=1e-3)
    before = _weights(task)
    history = task.fit(x, y, epochs=1, batch_size=batch_size, steps_per_epoch=2, verbose=0, **(fit_kwargs or {}))
    losses = history.history["loss"]
    assert losses and all(np.isfinite(losses)), losses
    after = _weights(task)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after)), "fit changed no weight"

    # 2. predict on raw inputs
    out = task.predict(predict_x, batch_size=2, verbose=0)
    n = num_inputs(task, predict_x)
    assert all(len(v) == n for v in out.values()), {k: np.shape(v) for k, v in out.items()}
    rows = task.decode(out)
    assert len(rows) == n
    json.dumps(rows)
    one = task.predict_on_batch(predict_x)
    _assert_same_outputs(out, one, atol=1e-4, what="predict vs predict_on_batch")

    # 3. one-file save / load
    path = tmp_path / f"{task.name}.keras"
    task.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(task)
    assert json.loads(json.dumps(loaded.get_config())) == json.loads(json.dumps(task.get_config()))
    _assert_same_outputs(out, loaded.predict(predict_x, batch_size=2, verbose=0), atol=1e-6, what="save/load")

    # 4. SavedModel export: the served outputs equal predict's
    if export:
        import tensorflow as tf

        feed = pipeline.columns(task, predict_x)
        result = task.export(tmp_path / "exported" / task.name / "1", sample_inputs=predict_x,
                             fresh_process_check=False)
        served = tf.saved_model.load(str(result.path)).signatures["serving_default"](
            **{k: tf.constant(v) for k, v in feed.items()})
        _assert_same_outputs(out, {k: v.numpy() for k, v in served.items()}, atol=1e-4, what="SavedModel")

    # 5. a mixed-precision training step
    if mixed_precision:
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            mp = make_task()
        finally:
            keras.config.set_dtype_policy(previous)
        mp.compile(learning_rate=1e-3)
        logs = mp.fit(x, y, epochs=1, batch_size=batch_size, steps_per_epoch=1, verbose=0).history
        assert np.isfinite(logs["loss"]).all(), logs
    return task
