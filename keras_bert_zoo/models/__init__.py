"""keras.Model classes: the BertBackbone and the task models built on it."""

from keras_bert_zoo.models.backbone import INPUT_KEYS, BertBackbone
from keras_bert_zoo.models.tasks import (TASK_MODELS, BertClassifier, BertMaskedLM, BertMultipleChoice,
                                         BertPretrainer, BertQuestionAnswerer, BertTokenClassifier)

__all__ = ["BertBackbone", "INPUT_KEYS", "BertClassifier", "BertTokenClassifier", "BertQuestionAnswerer",
           "BertMaskedLM", "BertPretrainer", "BertMultipleChoice", "TASK_MODELS"]
