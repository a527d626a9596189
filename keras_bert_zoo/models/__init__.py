"""keras.Model classes: the BertBackbone (task models live in :mod:`keras_bert_zoo.tasks`).

    from keras_bert_zoo.models import BertBackbone
    backbone = BertBackbone("bert_uncased_L-2_H-128")
    backbone(backbone.dummy_inputs(batch_size=2, sequence_length=8))["pooled_output"].shape   # (2, 128)
"""

from keras_bert_zoo.models.backbone import INPUT_KEYS, BertBackbone

__all__ = ["BertBackbone", "INPUT_KEYS"]
