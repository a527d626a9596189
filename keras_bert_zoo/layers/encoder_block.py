"""One post-LayerNorm transformer encoder block as in BERT (keras.ops only).

    from keras_bert_zoo.layers import TransformerEncoderBlock
    block = TransformerEncoderBlock(hidden_size=32, num_heads=4, intermediate_size=37, activation="gelu")
    h = block(x, padding_mask=mask)                              # x [B, T, 32], mask [B, T] -> [B, T, 32]
    h, probs = block(x, padding_mask=mask, return_scores=True)   # probs [B, 4, T, T]
"""

import keras
from keras import ops

from keras_bert_zoo.layers.attention import MultiHeadSelfAttention
from keras_bert_zoo.layers.norm import float32_layer_norm

__all__ = ["TransformerEncoderBlock", "activation_fn"]


def activation_fn(name):
    """The feed-forward activation named in BertConfig ("gelu" is the exact erf GELU)."""
    if name == "gelu":
        return lambda x: ops.gelu(x, approximate=False)
    if name in ("gelu_new", "gelu_approximate"):
        return lambda x: ops.gelu(x, approximate=True)
    if name == "relu":
        return ops.relu
    if name == "tanh":
        return ops.tanh
    raise ValueError(f"Unknown activation {name!r}")


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TransformerEncoderBlock(keras.layers.Layer):
    """x -> LN(x + Dropout(Attn(x))) -> LN(h + Dropout(W2 act(W1 h))).

    Call args:
        x: [B, T, D]; padding_mask: [B, T] (1 = real token); return_scores: also return [B, N, T, T].
    """

    def __init__(self, hidden_size, num_heads, intermediate_size, dropout=0.1, attention_dropout=0.1,
                 layer_norm_eps=1e-12, activation="gelu", initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.activation = activation
        self.initializer_range = initializer_range
        self._activation = activation_fn(activation)
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.attention = MultiHeadSelfAttention(hidden_size, num_heads, dropout=attention_dropout,
                                                initializer_range=initializer_range, dtype=self.dtype_policy,
                                                name="attention")
        self.attention_dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy,
                                                            name="attention_output_dropout")
        self.attention_layer_norm = float32_layer_norm(layer_norm_eps, name="attention_layer_norm")
        self.intermediate = keras.layers.Dense(intermediate_size, kernel_initializer=init,
                                               dtype=self.dtype_policy, name="intermediate")
        self.output_dense = keras.layers.Dense(hidden_size, kernel_initializer=init, dtype=self.dtype_policy,
                                               name="output")
        self.output_dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="output_dropout")
        self.output_layer_norm = float32_layer_norm(layer_norm_eps, name="output_layer_norm")

    def build(self, x_shape, padding_mask_shape=None):
        x_shape = tuple(x_shape)
        self.attention.build(x_shape)
        self.attention_layer_norm.build(x_shape)
        self.intermediate.build(x_shape)
        self.output_dense.build(x_shape[:-1] + (self.intermediate_size,))
        self.output_layer_norm.build(x_shape)
        self.built = True

    def call(self, x, padding_mask=None, training=None, return_scores=False):
        # The block works on rows [B*T, D]: every projection is then one 2-D MatMul + bias add, which the
        # graph optimiser fuses (a [B, T, D] Dense input is a tensordot: ~a dozen shape ops per projection).
        batch, seq = ops.shape(x)[0], ops.shape(x)[1]
        rows = ops.reshape(x, (-1, self.hidden_size))                                           # [B*T, D]
        attended = self.attention.attend(rows, batch, seq, padding_mask=padding_mask, training=training,
                                         return_scores=return_scores)
        if return_scores:
            attended, scores = attended
        attended = self.attention_dropout_layer(attended, training=training)
        h = ops.cast(self.attention_layer_norm(rows + attended), self.compute_dtype)
        ff = self.output_dense(self._activation(self.intermediate(h)))
        ff = self.output_dropout_layer(ff, training=training)
        out = ops.reshape(ops.cast(self.output_layer_norm(h + ff), self.compute_dtype),
                          (batch, seq, self.hidden_size))
        if return_scores:
            return out, scores
        return out

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads,
                      intermediate_size=self.intermediate_size, dropout=self.dropout,
                      attention_dropout=self.attention_dropout, layer_norm_eps=self.layer_norm_eps,
                      activation=self.activation, initializer_range=self.initializer_range)
        return config
