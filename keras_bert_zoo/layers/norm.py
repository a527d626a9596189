"""LayerNorm that always computes in float32 (stable under mixed_float16 / mixed_bfloat16).

    from keras_bert_zoo.layers.norm import float32_layer_norm
    norm = float32_layer_norm(1e-12, name="layer_norm")         # float32 variables and arithmetic
    y = keras.ops.cast(norm(x), x.dtype)                         # callers cast back to their compute dtype
"""

import keras

__all__ = ["float32_layer_norm"]


def float32_layer_norm(epsilon, name):
    """A LayerNormalization whose variables and arithmetic are float32 whatever the global policy.

    Keras casts the input to the layer's compute dtype (float32 here); callers cast the result back to their
    own compute dtype.
    """
    return keras.layers.LayerNormalization(epsilon=epsilon, dtype="float32", name=name)
