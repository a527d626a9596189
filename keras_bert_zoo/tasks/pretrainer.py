"""BERT pretraining (masked LM + next-sentence prediction) as a Keras model.

    pre = Pretrainer(BertBackbone(config), preprocessor=BertPreprocessor(tokenizer, sequence_length=128))
    pre.fit(documents, epochs=1, batch_size=32)     # documents: lists of sentences; pairs + masks in tf.data

Graph (HF ``BertForPreTraining``): inputs packed ids + ``mask_positions`` [B, P]; outputs ``mlm_logits``
[B, P, V] (MLM head ``"mlm_head"`` tied to the token embedding, at the masked positions only) and
``nsp_logits`` [B, 2] (``"nsp_head"`` on the pooled output). Losses: MLM cross-entropy weighted by the
prediction weights (0 on padded predictions) + ``nsp_weight`` x NSP cross-entropy; metrics: MLM accuracy and
perplexity, NSP accuracy. For corpora on disk and TFRecord shards see :mod:`keras_bert_zoo.data.pretraining`
and ``bert-zoo pretrain``, whose datasets yield the same ``(x, y, sample_weight)``.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_bert_zoo.config import BertConfig
from keras_bert_zoo.models.backbone import INPUT_KEYS, BertBackbone
from keras_bert_zoo.tasks.masked_lm import mlm_head
from keras_bert_zoo.tasks.base import Task, TaskError, head_initializer, packed_inputs, pipeline

__all__ = ["Pretrainer", "MaskedLMPerplexity", "build_pretrainer", "compile_pretrainer"]


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class MaskedLMPerplexity(keras.metrics.Metric):
    """exp(weighted mean sparse cross-entropy) of logits [B, P, V] vs ids [B, P]; weight 0 = padding."""

    def __init__(self, name="perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total", dtype="float32")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count", dtype="float32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(y_pred, "float32")
        ce = keras.losses.sparse_categorical_crossentropy(ops.cast(y_true, "int32"), y_pred, from_logits=True)
        weight = ops.ones_like(ce) if sample_weight is None else ops.cast(sample_weight, "float32")
        weight = ops.broadcast_to(ops.reshape(weight, ops.shape(ce)) if len(weight.shape) == len(ce.shape)
                                  else weight, ops.shape(ce))
        self.total.assign_add(ops.sum(ce * weight))
        self.count.assign_add(ops.sum(weight))

    def result(self):
        return ops.exp(ops.divide_no_nan(self.total, self.count))

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class Pretrainer(Task):
    """MLM + NSP pretraining task.

    Args:
        backbone, preprocessor: as every task (the preprocessor gives the vocabulary and sequence length of
            ``fit`` data made from raw documents).
        nsp_weight: weight of the NSP loss.
        masked_lm_prob / max_predictions_per_seq / whole_word_masking: masking of ``fit`` data made from raw
            documents (:class:`keras_bert_zoo.data.pretraining.PretrainingDataConfig`).
    """

    hf_architecture = "BertForPreTraining"
    task_type = "pretrain"
    text_inputs = ()
    _config_args = ("nsp_weight", "masked_lm_prob", "max_predictions_per_seq", "whole_word_masking")

    def __init__(self, backbone, *, preprocessor=None, nsp_weight=1.0, masked_lm_prob=0.15,
                 max_predictions_per_seq=20, whole_word_masking=False, name=None, trainable=True):
        inputs = packed_inputs(("mask_positions",))
        outs = backbone({k: inputs[k] for k in INPUT_KEYS})
        head = mlm_head(backbone)
        nsp_head = keras.layers.Dense(2, kernel_initializer=head_initializer(backbone), name="nsp_head",
                                      dtype=backbone.dtype_policy)
        outputs = {"mlm_logits": head(outs["sequence_output"], mask_positions=inputs["mask_positions"]),
                   "nsp_logits": ops.cast(nsp_head(outs["pooled_output"]), "float32")}
        super().__init__(inputs=inputs, outputs=outputs, name=name or "bert_pretrainer", trainable=trainable)
        self._set_parts(backbone, preprocessor)
        self.mlm_head, self.nsp_head = head, nsp_head
        self.nsp_weight = float(nsp_weight)
        self.masked_lm_prob = float(masked_lm_prob)
        self.max_predictions_per_seq = int(max_predictions_per_seq)
        self.whole_word_masking = bool(whole_word_masking)
        self.labels = None

    def default_loss(self):
        return {"mlm_logits": keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True, reduction="mean_with_sample_weight", name="mlm_loss"),
                "nsp_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="nsp_loss")}

    def default_weighted_metrics(self):
        return {"mlm_logits": [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                               MaskedLMPerplexity(name="perplexity")],
                "nsp_logits": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        kwargs.setdefault("loss_weights", {"mlm_logits": 1.0, "nsp_logits": self.nsp_weight})
        super().compile(optimizer, loss, metrics, **kwargs)

    def packed_input_spec(self):
        import tensorflow as tf

        spec = super().packed_input_spec()
        spec["mask_positions"] = tf.TensorSpec([None, None], tf.int32, name="mask_positions")
        return spec

    def data_config(self):
        from keras_bert_zoo.data.pretraining import PretrainingDataConfig

        return PretrainingDataConfig(max_seq_length=self._require_preprocessor().sequence_length,
                                     max_predictions_per_seq=self.max_predictions_per_seq,
                                     masked_lm_prob=self.masked_lm_prob, whole_word_masking=self.whole_word_masking)

    def make_dataset(self, x, y=None, sample_weight=None, *, batch_size=32, training=False, seed=0):
        """Documents (lists of sentences) -> one pass of ``(x, y, sample_weight)`` pretraining batches
        (sentence pairs with 50% random next sentences, BERT masking), new pairs and masks per ``seed``.

        The one task whose raw data are not columns of strings: its sentence pairs are cut in Python by
        :func:`keras_bert_zoo.data.pretraining.dynamic_dataset` (the route of ``bert-zoo pretrain`` too), which
        yields packed batches; so this replaces the pipeline's ``make_dataset`` rather than mapping
        ``preprocess_samples``."""
        from keras_bert_zoo.data.pretraining import TokenIds, dynamic_dataset, tokenize_documents

        if y is not None or sample_weight is not None:
            raise TaskError("pretrain: targets are made from the documents; pass documents only")
        tokenizer = self._require_preprocessor().tokenizer
        ids = TokenIds.from_tokenizer(tokenizer)
        docs = list(tokenize_documents(x, tokenizer, ids))
        return dynamic_dataset(docs, ids, self.data_config(), batch_size, seed=seed, epochs=1,
                               drop_remainder=False)

    def predict(self, x, **kwargs):
        if pipeline.is_raw(x):
            raise TaskError("pretrain: predict takes packed inputs with mask_positions")
        return super().predict(x, **kwargs)


def build_pretrainer(config_or_backbone: BertConfig | BertBackbone, dtype=None) -> Pretrainer:
    """A Pretrainer on a new backbone from a config (random init), or on an existing backbone
    (continued pretraining). ``dtype``: a policy name for a new backbone, e.g. ``"mixed_bfloat16"``."""
    if isinstance(config_or_backbone, BertConfig):
        backbone = BertBackbone(config_or_backbone, dtype=dtype)
    else:
        backbone = config_or_backbone
    return Pretrainer(backbone, name="bert_pretrainer")


def compile_pretrainer(model: Pretrainer, optimizer=None, nsp_weight=None, jit_compile="auto",
                       steps_per_execution=1):
    """Compile ``model`` for pretraining: ``optimizer`` (default: ``train.pretraining.make_pretraining_optimizer``),
    wrapped in a loss-scale optimizer when the model computes in float16, with the Pretrainer's MLM + NSP losses
    and metrics (see the module docstring); the NSP loss weighted by ``nsp_weight`` (None: the model's own)."""
    if optimizer is None:
        from keras_bert_zoo.train.pretraining import make_pretraining_optimizer

        optimizer = make_pretraining_optimizer()
    from keras_bert_zoo.train.optimizers import with_loss_scale

    # a backbone built with dtype="mixed_float16" computes in float16 while the Pretrainer's own (functional)
    # dtype_policy is the global float32 one: with_loss_scale looks at the model's layers
    optimizer = with_loss_scale(optimizer, model)
    nsp_weight = model.nsp_weight if nsp_weight is None else nsp_weight
    model.compile(optimizer=optimizer, loss_weights={"mlm_logits": 1.0, "nsp_logits": nsp_weight},
                  jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    return model


# ------------------------------------------------------------------ the task table (keras_bert_zoo.tasks.registry)
from keras_bert_zoo.tasks.registry import TaskSpec, register_task  # noqa: E402

register_task(TaskSpec(name="pretrain", task_class=Pretrainer, hf_architecture="BertForPreTraining"))
