"""keras.Model classes: the BertBackbone (task models live in :mod:`keras_bert_zoo.tasks`)."""

from keras_bert_zoo.models.backbone import INPUT_KEYS, BertBackbone

__all__ = ["BertBackbone", "INPUT_KEYS"]
