"""The harness fails on the faults it exists to catch (each broken layer here passes every check but one)."""

import keras
import numpy as np
import pytest

from tests.layers.harness import run_layer_test

X = {"x": np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")}


@keras.saving.register_keras_serializable(package="tests_harness")
class Projection(keras.layers.Layer):
    """A correct layer: one Dense in the layer's policy."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units, dtype=self.dtype_policy, name="dense")

    def build(self, shape):
        self.dense.build(shape)

    def call(self, x):
        return self.dense(x)

    def get_config(self):
        return dict(super().get_config(), units=self.units)


@keras.saving.register_keras_serializable(package="tests_harness")
class ForgetsAnArgument(Projection):
    def __init__(self, units, scale=1.0, **kwargs):
        super().__init__(units, **kwargs)
        self.scale = scale

    def call(self, x):
        return self.dense(x) * self.scale   # get_config (Projection's) drops ``scale``


@keras.saving.register_keras_serializable(package="tests_harness")
class PinnedToFloat32(Projection):
    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.dense = keras.layers.Dense(units, dtype="float32", name="dense")   # ignores the mixed policy


class NotRegistered(Projection):
    pass


def test_a_correct_layer_passes():
    run_layer_test(Projection, {"units": 3}, X, (2, 5, 3), expected_num_trainable_weights=2)


def test_wrong_output_shape_fails():
    with pytest.raises(AssertionError, match="output shapes"):
        run_layer_test(Projection, {"units": 3}, X, (2, 5, 4), run_mixed_precision=False)


def test_wrong_weight_count_fails():
    with pytest.raises(AssertionError):
        run_layer_test(Projection, {"units": 3}, X, (2, 5, 3), expected_num_trainable_weights=3,
                       run_mixed_precision=False)


def test_get_config_that_drops_an_argument_fails():
    with pytest.raises(AssertionError, match="from_config clone"):
        run_layer_test(ForgetsAnArgument, {"units": 3, "scale": 2.0}, X, (2, 5, 3), run_mixed_precision=False)


def test_unregistered_layer_fails_the_keras_file_round_trip():
    with pytest.raises(TypeError):
        run_layer_test(NotRegistered, {"units": 3}, X, (2, 5, 3), run_mixed_precision=False)


def test_sublayer_ignoring_the_mixed_policy_fails():
    with pytest.raises(AssertionError, match="mixed_float16: dense computes in float32"):
        run_layer_test(PinnedToFloat32, {"units": 3}, X, (2, 5, 3))
