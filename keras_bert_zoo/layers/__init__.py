"""Keras layer subclasses of BERT, written with keras.ops only (TF, JAX and torch backends)."""

from keras_bert_zoo.layers.attention import MultiHeadSelfAttention
from keras_bert_zoo.layers.embeddings import BertEmbeddings
from keras_bert_zoo.layers.encoder_block import TransformerEncoderBlock
from keras_bert_zoo.layers.heads import MaskedLMHead, Pooler

__all__ = ["BertEmbeddings", "MultiHeadSelfAttention", "TransformerEncoderBlock", "Pooler", "MaskedLMHead"]
