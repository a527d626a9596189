"""Task models on packed inputs: backbone + head, functional keras.Models.

All take the backbone's input dict (``token_ids``, ``segment_ids``, ``padding_mask``, int [B, T]) and return
float32 logits:

    BertClassifier          logits [B, C]                 (sequence classification / regression when C=1)
    BertTokenClassifier     logits [B, T, C]
    BertQuestionAnswerer    {"start_logits": [B, T], "end_logits": [B, T]}
    BertMaskedLM            logits [B, T, V], or [B, P, V] at ``mask_positions`` [B, P] when given
    BertPretrainer          {"mlm_logits": [B, P, V], "nsp_logits": [B, 2]}; needs ``mask_positions``
    BertMultipleChoice      inputs [B, K, T] (K choices) -> logits [B, K]

Head layer names are stable ("classifier", "qa_outputs", "mlm_head", "nsp_head"): converters map to them.
The raw-strings-in models of the fine-tuning workflow wrap these with a preprocessor.
"""

import keras
from keras import ops

from keras_bert_zoo.layers.heads import MaskedLMHead
from keras_bert_zoo.models.backbone import INPUT_KEYS, BertBackbone

__all__ = ["BertClassifier", "BertTokenClassifier", "BertQuestionAnswerer", "BertMaskedLM", "BertPretrainer",
           "BertMultipleChoice", "TASK_MODELS"]


def _init(backbone):
    return keras.initializers.TruncatedNormal(stddev=backbone.config.initializer_range)


def _packed_inputs(extra=()):
    keys = INPUT_KEYS + tuple(extra)
    return {k: keras.Input(shape=(None,), dtype="int32", name=k) for k in keys}


class _TaskModel(keras.Model):
    """get_config / from_config shared by the task models: the backbone is serialised with its config."""

    _args = ()

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable,
                  "backbone": keras.saving.serialize_keras_object(self.backbone)}
        config.update({a: getattr(self, a) for a in self._args})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertClassifier(_TaskModel):
    """Dropout + dense on the pooled output. ``num_classes=1`` gives a regression head."""

    _args = ("num_classes", "dropout")

    def __init__(self, backbone: BertBackbone, num_classes, dropout=0.1, **kwargs):
        inputs = _packed_inputs()
        pooled = backbone(inputs)["pooled_output"]
        head_dropout = keras.layers.Dropout(dropout, name="classifier_dropout")
        head = keras.layers.Dense(num_classes, kernel_initializer=_init(backbone), name="classifier")
        logits = ops.cast(head(head_dropout(pooled)), "float32")
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone, self.num_classes, self.dropout, self.head = backbone, num_classes, dropout, head


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertTokenClassifier(_TaskModel):
    """Dropout + dense on every position of the sequence output."""

    _args = ("num_classes", "dropout")

    def __init__(self, backbone: BertBackbone, num_classes, dropout=0.1, **kwargs):
        inputs = _packed_inputs()
        seq = backbone(inputs)["sequence_output"]
        head_dropout = keras.layers.Dropout(dropout, name="classifier_dropout")
        head = keras.layers.Dense(num_classes, kernel_initializer=_init(backbone), name="classifier")
        logits = ops.cast(head(head_dropout(seq)), "float32")
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone, self.num_classes, self.dropout, self.head = backbone, num_classes, dropout, head


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertQuestionAnswerer(_TaskModel):
    """Dense(2) on the sequence output, split into start and end logits (padding is not masked here)."""

    def __init__(self, backbone: BertBackbone, **kwargs):
        inputs = _packed_inputs()
        seq = backbone(inputs)["sequence_output"]
        head = keras.layers.Dense(2, kernel_initializer=_init(backbone), name="qa_outputs")
        logits = ops.cast(head(seq), "float32")                       # [B, T, 2]
        outputs = {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone, self.head = backbone, head


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertMaskedLM(_TaskModel):
    """MLM head tied to the token embedding. With ``use_mask_positions`` the model takes ``mask_positions``
    [B, P] and computes logits only there."""

    _args = ("use_mask_positions",)

    def __init__(self, backbone: BertBackbone, use_mask_positions=False, **kwargs):
        inputs = _packed_inputs(("mask_positions",) if use_mask_positions else ())
        seq = backbone({k: inputs[k] for k in INPUT_KEYS})["sequence_output"]
        c = backbone.config
        head = MaskedLMHead(c.vocab_size, c.hidden_size, token_embedding=backbone.token_embedding,
                            activation=c.activation, layer_norm_eps=c.layer_norm_eps,
                            initializer_range=c.initializer_range, name="mlm_head")
        logits = head(seq, mask_positions=inputs.get("mask_positions"))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone, self.use_mask_positions, self.mlm_head = backbone, use_mask_positions, head


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertPretrainer(_TaskModel):
    """MLM (at ``mask_positions`` only) + NSP on the pooled output."""

    def __init__(self, backbone: BertBackbone, **kwargs):
        inputs = _packed_inputs(("mask_positions",))
        outs = backbone({k: inputs[k] for k in INPUT_KEYS})
        c = backbone.config
        mlm_head = MaskedLMHead(c.vocab_size, c.hidden_size, token_embedding=backbone.token_embedding,
                                activation=c.activation, layer_norm_eps=c.layer_norm_eps,
                                initializer_range=c.initializer_range, name="mlm_head")
        nsp_head = keras.layers.Dense(2, kernel_initializer=_init(backbone), name="nsp_head")
        outputs = {"mlm_logits": mlm_head(outs["sequence_output"], mask_positions=inputs["mask_positions"]),
                   "nsp_logits": ops.cast(nsp_head(outs["pooled_output"]), "float32")}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone, self.mlm_head, self.nsp_head = backbone, mlm_head, nsp_head


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class _FlattenChoices(keras.layers.Layer):
    """[B, K, T] -> [B*K, T], with T known only at run time."""

    def call(self, x):
        return ops.reshape(x, (-1, ops.shape(x)[-1]))

    def compute_output_shape(self, shape):
        return (None, shape[-1])


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertMultipleChoice(_TaskModel):
    """Each (context, choice_k) pair is packed into row k of [B, K, T]; Dense(1) on each pooled output."""

    _args = ("num_choices", "dropout")

    def __init__(self, backbone: BertBackbone, num_choices, dropout=0.1, **kwargs):
        inputs = {k: keras.Input(shape=(num_choices, None), dtype="int32", name=k) for k in INPUT_KEYS}
        flatten = _FlattenChoices(name="flatten_choices")
        flat = {k: flatten(v) for k, v in inputs.items()}                                 # [B*K, T]
        pooled = backbone(flat)["pooled_output"]                                          # [B*K, D]
        head_dropout = keras.layers.Dropout(dropout, name="classifier_dropout")
        head = keras.layers.Dense(1, kernel_initializer=_init(backbone), name="classifier")
        logits = ops.reshape(ops.cast(head(head_dropout(pooled)), "float32"), (-1, num_choices))  # [B, K]
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone, self.num_choices, self.dropout, self.head = backbone, num_choices, dropout, head


TASK_MODELS = {
    "BertModel": BertBackbone,
    "BertForSequenceClassification": BertClassifier,
    "BertForTokenClassification": BertTokenClassifier,
    "BertForQuestionAnswering": BertQuestionAnswerer,
    "BertForMaskedLM": BertMaskedLM,
    "BertForPreTraining": BertPretrainer,
    "BertForMultipleChoice": BertMultipleChoice,
}
