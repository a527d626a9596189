"""Token + learned absolute position + segment embeddings, LayerNorm and dropout (keras.ops only).

    from keras_bert_zoo.layers import BertEmbeddings
    embeddings = BertEmbeddings(vocab_size=99, hidden_size=32, max_position_embeddings=16, type_vocab_size=2)
    x = embeddings(token_ids, segment_ids)                       # int [B, T] each (T <= 16) -> [B, T, 32]
"""

import keras
from keras import ops

from keras_bert_zoo.layers.norm import float32_layer_norm

__all__ = ["BertEmbeddings"]


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertEmbeddings(keras.layers.Layer):
    """Sum of token, position and segment embeddings followed by LayerNorm and dropout.

    Call args:
        token_ids: int tensor [B, T].
        segment_ids: int tensor [B, T].
    Returns:
        [B, T, D] in the layer's compute dtype.
    """

    def __init__(self, vocab_size, hidden_size, max_position_embeddings=512, type_vocab_size=2,
                 dropout=0.1, layer_norm_eps=1e-12, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.dropout = dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.token_embedding = keras.layers.Embedding(vocab_size, hidden_size, embeddings_initializer=init,
                                                      dtype=self.dtype_policy, name="token_embedding")
        self.segment_embedding = keras.layers.Embedding(type_vocab_size, hidden_size,
                                                        embeddings_initializer=init,
                                                        dtype=self.dtype_policy, name="segment_embedding")
        self.layer_norm = float32_layer_norm(layer_norm_eps, name="layer_norm")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, token_ids_shape, segment_ids_shape=None):
        self.token_embedding.build(token_ids_shape)
        self.segment_embedding.build(token_ids_shape)
        self.position_embedding = self.add_weight(
            name="position_embedding", shape=(self.max_position_embeddings, self.hidden_size),
            initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range))
        self.layer_norm.build(tuple(token_ids_shape) + (self.hidden_size,))
        self.built = True

    def call(self, token_ids, segment_ids, training=None):
        # B=batch, T=seq, D=hidden
        seq_len = ops.shape(token_ids)[1]
        tokens = self.token_embedding(token_ids)                              # [B, T, D]
        segments = self.segment_embedding(segment_ids)                        # [B, T, D]
        positions = ops.cast(self.position_embedding[:seq_len], tokens.dtype)  # [T, D]
        x = tokens + segments + positions[None, :, :]
        x = self.layer_norm(x)
        x = ops.cast(x, self.compute_dtype)
        return self.dropout_layer(x, training=training)

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.hidden_size,)

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, hidden_size=self.hidden_size,
                      max_position_embeddings=self.max_position_embeddings,
                      type_vocab_size=self.type_vocab_size, dropout=self.dropout,
                      layer_norm_eps=self.layer_norm_eps, initializer_range=self.initializer_range)
        return config
