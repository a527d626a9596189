"""Pooler and masked-LM head (tied to the token embedding), keras.ops only.

There is no NSP layer here: next-sentence prediction is a plain ``keras.layers.Dense(2)`` on the pooled output,
named ``nsp_head`` by the pretraining task (:class:`keras_bert_zoo.tasks.Pretrainer`); the other task heads are
likewise Dense layers of the task models (:mod:`keras_bert_zoo.tasks`).

    from keras_bert_zoo.layers import MaskedLMHead, Pooler
    pooled = Pooler(hidden_size=32)(sequence)                              # [B, T, 32] -> [B, 32]
    head = MaskedLMHead(vocab_size=99, hidden_size=32, token_embedding=embeddings.token_embedding)
    logits = head(sequence, mask_positions=positions)                      # [B, P, 99], float32
"""

import keras
from keras import ops

from keras_bert_zoo.layers.encoder_block import activation_fn
from keras_bert_zoo.layers.norm import float32_layer_norm

__all__ = ["Pooler", "MaskedLMHead"]


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class Pooler(keras.layers.Layer):
    """tanh(W h_0 + b) on the first ([CLS]) token: [B, T, D] -> [B, D]."""

    def __init__(self, hidden_size, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(hidden_size, activation="tanh",
                                        kernel_initializer=keras.initializers.TruncatedNormal(
                                            stddev=initializer_range),
                                        dtype=self.dtype_policy, name="dense")

    def build(self, sequence_shape):
        self.dense.build((sequence_shape[0], sequence_shape[-1]))
        self.built = True

    def call(self, sequence):
        return self.dense(sequence[:, 0, :])

    def compute_output_shape(self, sequence_shape):
        return (sequence_shape[0], self.hidden_size)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, initializer_range=self.initializer_range)
        return config


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class MaskedLMHead(keras.layers.Layer):
    """BERT's MLM transform (dense + activation + LayerNorm) and output layer tied to the token embedding.

    Call args:
        sequence: [B, T, D] encoder output.
        mask_positions: optional int [B, P]; when given, logits are computed only at those positions.
    Returns:
        float32 logits [B, T, V] (or [B, P, V]).
    The tied embedding layer is passed at construction; its matrix is shared, not copied.
    """

    def __init__(self, vocab_size, hidden_size, token_embedding=None, activation="gelu", layer_norm_eps=1e-12,
                 initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.token_embedding = token_embedding
        self.activation = activation
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self._activation = activation_fn(activation)
        self.transform = keras.layers.Dense(hidden_size, kernel_initializer=keras.initializers.TruncatedNormal(
            stddev=initializer_range), dtype=self.dtype_policy, name="transform")
        self.layer_norm = float32_layer_norm(layer_norm_eps, name="layer_norm")

    def build(self, sequence_shape, mask_positions_shape=None):
        self.transform.build(sequence_shape)
        self.layer_norm.build(sequence_shape)
        if self.token_embedding is None:
            self.output_kernel = self.add_weight(
                name="output_kernel", shape=(self.vocab_size, self.hidden_size),
                initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range))
        self.output_bias = self.add_weight(name="output_bias", shape=(self.vocab_size,), initializer="zeros")
        self.built = True

    def call(self, sequence, mask_positions=None):
        if mask_positions is not None:
            sequence = ops.take_along_axis(sequence, ops.cast(mask_positions, "int32")[:, :, None], axis=1)
        h = self._activation(self.transform(sequence))
        h = self.layer_norm(h)                                               # float32
        table = self.token_embedding.embeddings if self.token_embedding is not None else self.output_kernel
        logits = ops.matmul(h, ops.transpose(ops.cast(table, "float32")))
        return logits + ops.cast(self.output_bias, "float32")

    def compute_output_shape(self, sequence_shape, mask_positions_shape=None):
        if mask_positions_shape is not None:
            return tuple(mask_positions_shape) + (self.vocab_size,)
        return tuple(sequence_shape[:-1]) + (self.vocab_size,)

    def get_config(self):
        config = super().get_config()
        # The tied embedding is re-attached by the model that owns both layers.
        config.update(vocab_size=self.vocab_size, hidden_size=self.hidden_size, activation=self.activation,
                      layer_norm_eps=self.layer_norm_eps, initializer_range=self.initializer_range)
        return config
