"""Keras layer subclasses of BERT, written with keras.ops only (TF, JAX and torch backends).

    import numpy as np
    from keras_bert_zoo.layers import BertEmbeddings, Pooler, TransformerEncoderBlock

    ids = np.array([[2, 17, 40, 3]])                                        # [B=1, T=4]
    x = BertEmbeddings(vocab_size=99, hidden_size=32)(ids, np.zeros_like(ids))          # [1, 4, 32]
    x = TransformerEncoderBlock(32, num_heads=4, intermediate_size=37)(x, padding_mask=np.ones_like(ids))
    pooled = Pooler(hidden_size=32)(x)                                      # [1, 32]

``CRF`` (:mod:`~keras_bert_zoo.layers.crf`) is the token classifier's optional linear-chain CRF: its likelihood
(forward algorithm) and Viterbi decoding over masked positions.

Every layer serialises (``get_config`` holds each constructor argument, ``.keras`` files reload) and keeps
LayerNorm, softmax and logits in float32 under a mixed policy; ``tests/layers/harness.py`` checks both.
"""

from keras_bert_zoo.layers.attention import MultiHeadSelfAttention
from keras_bert_zoo.layers.crf import CRF, CrfLoss
from keras_bert_zoo.layers.embeddings import BertEmbeddings
from keras_bert_zoo.layers.encoder_block import TransformerEncoderBlock
from keras_bert_zoo.layers.heads import MaskedLMHead, Pooler

__all__ = ["BertEmbeddings", "MultiHeadSelfAttention", "TransformerEncoderBlock", "Pooler", "MaskedLMHead", "CRF",
           "CrfLoss"]
