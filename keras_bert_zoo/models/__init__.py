"""keras.Model classes: the BertBackbone and the task models built on it."""

from keras_bert_zoo.models.backbone import INPUT_KEYS, BertBackbone

__all__ = ["BertBackbone", "INPUT_KEYS"]
