"""LayerNorm that always computes in float32 (stable under mixed_float16 / mixed_bfloat16)."""

import keras

__all__ = ["float32_layer_norm"]


def float32_layer_norm(epsilon, name):
    """A LayerNormalization whose variables and arithmetic are float32 whatever the global policy.

    Keras casts the input to the layer's compute dtype (float32 here); callers cast the result back to their
    own compute dtype.
    """
    return keras.layers.LayerNormalization(epsilon=epsilon, dtype="float32", name=name)
