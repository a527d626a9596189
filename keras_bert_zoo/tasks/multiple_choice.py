"""Multiple choice (SWAG style), as a Keras model: each (context, choice_k) pair is packed into row k.

    mc = MultipleChoice.from_preset("minilm_l6_h384_uncased", num_choices=4, sequence_length=64)
    mc.fit({"context": contexts, "choice_0": a, "choice_1": b, "choice_2": c, "choice_3": d}, labels)
    mc.predict({"context": [...], "choice_0": [...], ...})["label_id"]

Graph (HF ``BertForMultipleChoice``): packed ``[B, K, T]`` -> flattened ``[B*K, T]`` -> backbone -> dropout +
Dense(1) (layer ``"classifier"``) on each pooled output -> logits ``[B, K]``.
Raw inputs: ``context`` and ``choice_0`` ... ``choice_{K-1}``; also a list of
:class:`~keras_bert_zoo.data.swag.ChoiceExample` (targets from their labels).
Serving outputs: ``logits`` / ``probabilities`` [B, K], ``label_id`` int32 [B].
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_bert_zoo.data.swag import ChoiceExample
from keras_bert_zoo.models.backbone import INPUT_KEYS
from keras_bert_zoo.tasks.base import Task, TaskError, classifier_head, packed_inputs

__all__ = ["MultipleChoice"]


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class _FlattenChoices(keras.layers.Layer):
    """[B, K, T] -> [B*K, T], with T known only at run time."""

    def call(self, x):
        return ops.reshape(x, (-1, ops.shape(x)[-1]))

    def compute_output_shape(self, shape):
        return (None, shape[-1])


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class MultipleChoice(Task):
    """Multiple-choice task.

    Args:
        backbone: the BertBackbone.
        num_choices: K, the choices per example (>= 2).
        preprocessor: a BertPreprocessor (pairs are packed as [CLS] context [SEP] choice [SEP]).
        dropout: dropout before the dense head.
    """

    hf_architecture = "BertForMultipleChoice"
    task_type = "choice"
    _config_args = ("num_choices", "dropout")

    def __init__(self, backbone, num_choices=4, *, preprocessor=None, dropout=0.1, name=None, trainable=True):
        num_choices = int(num_choices)
        if num_choices < 2:
            raise TaskError(f"a multiple-choice task needs at least 2 choices, got {num_choices}")
        inputs = packed_inputs(shape=(num_choices, None))
        flatten = _FlattenChoices(name="flatten_choices", dtype=backbone.dtype_policy)
        pooled = backbone({k: flatten(v) for k, v in inputs.items()})["pooled_output"]       # [B*K, D]
        scores, head = classifier_head(backbone, pooled, 1, dropout)                        # [B*K, 1]
        logits = ops.reshape(scores, (-1, num_choices))                                       # [B, K]
        super().__init__(inputs=inputs, outputs=logits, name=name or "multiple_choice", trainable=trainable)
        self._set_parts(backbone, preprocessor)
        self.head = head
        self.num_choices = num_choices
        self.dropout = float(dropout)
        self.labels = None
        self.text_inputs = ("context",) + tuple(f"choice_{k}" for k in range(num_choices))

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    # ------------------------------------------------------------------ raw data
    def from_records(self, x):
        """A list of :class:`~keras_bert_zoo.data.swag.ChoiceExample` -> (columns, labels when all have one)."""
        if not (isinstance(x, (list, tuple)) and x and all(isinstance(e, ChoiceExample) for e in x)):
            return None
        for e in x:
            if len(e.choices) != self.num_choices:
                raise TaskError(f"line {e.line}: {len(e.choices)} choices, the model takes {self.num_choices}")
        cols = {"context": [e.context for e in x],
                **{f"choice_{k}": [e.choices[k] for e in x] for k in range(self.num_choices)}}
        labels = [e.label for e in x]
        return cols, (labels if all(label is not None for label in labels) else None)

    def encode_targets(self, y):
        y = np.asarray(y).astype("int32")
        bad = np.flatnonzero((y < 0) | (y >= self.num_choices))
        if bad.size:
            raise TaskError(f"target {int(bad[0])}: choice {int(y[bad[0]])} outside [0, {self.num_choices})")
        return y

    # ------------------------------------------------------------------ serving graph
    def preprocess(self, inputs):
        pre = self._require_preprocessor()
        missing = [n for n in self.text_inputs if n not in inputs]
        if missing:
            raise TaskError(f"choice: missing inputs {missing}; expected {list(self.text_inputs)}")
        context = tf.convert_to_tensor(inputs["context"], tf.string)
        choices = tf.stack([tf.convert_to_tensor(inputs[n], tf.string) for n in self.text_inputs[1:]], axis=1)
        k = self.num_choices
        packed = pre.call((tf.repeat(context, k), tf.reshape(choices, [-1])))               # [B*K, T]
        return {name: tf.reshape(v, [-1, k, pre.sequence_length]) for name, v in packed.items()}

    def packed_input_spec(self):
        return {k: tf.TensorSpec([None, self.num_choices, None], tf.int32, name=k) for k in INPUT_KEYS}

    def postprocess(self, outputs):
        return {"logits": outputs, "probabilities": tf.nn.softmax(outputs, axis=-1),
                "label_id": tf.argmax(outputs, axis=-1, output_type=tf.int32)}

    def decode(self, outputs):
        return [{"label": int(outputs["label_id"][i]),
                 "probabilities": [float(p) for p in outputs["probabilities"][i]]}
                for i in range(len(outputs["label_id"]))]

    def default_samples(self):
        return {"context": ["A man is sitting on a roof.", "她在厨房里"],
                **{f"choice_{k}": [f"He starts choice {k}.", f"选择 {k}"] for k in range(self.num_choices)}}


# ------------------------------------------------------------------ the task table (keras_bert_zoo.tasks.registry)
from keras_bert_zoo.data import task_files as _files  # noqa: E402
from keras_bert_zoo.tasks.registry import LegacyFormat, TaskSpec, register_task  # noqa: E402

_EVAL = "keras_bert_zoo.tasks.evaluation:"   # the built-in evaluators

register_task(TaskSpec(
    name="choice", task_class=MultipleChoice, hf_architecture="BertForMultipleChoice", reader=_files.swag_reader,
    file_options=("num_choices",), evaluator=_EVAL + "evaluate_choices", task_flags=("dropout",),
    args_from_data=lambda train, args: {"num_choices": train.extra["num_choices"]},
    legacy=LegacyFormat("BertMultipleChoice", ("num_choices",),
                        lambda meta, cfg: {"dropout": cfg.get("dropout", 0.1), "num_choices": cfg["num_choices"]})))
