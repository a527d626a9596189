"""Task distillation: train a small :class:`TextClassifier` (the student) on a fine-tuned one's (the teacher's)
softened predictions plus the hard labels, as a Keras model whose ``fit`` takes raw strings.

    student = student_from_teacher(teacher, layers=[0, 2, 4])        # or any TextClassifier with the same labels
    distiller = Distiller(teacher, student, temperature=2.0, alpha=0.5)
    distiller.fit(texts, labels, unlabelled=more_texts, epochs=2, batch_size=32)
    student.save("student.keras")                                   # the student is what ships

Loss per example (Hinton et al. 2015): ``alpha * CE(label, student)`` (labelled examples only) ``+ (1 - alpha) *
T^2 * KL(softmax(teacher / T) || softmax(student / T))``. The teacher's logits are computed once per ``fit``
(``teacher.predict`` on the raw texts, inference mode — what the teacher would give at every epoch anyway), so the
teacher may use another tokenizer or vocabulary than the student and costs one forward pass per example, not one
per epoch. Texts in ``unlabelled`` contribute the soft term only.

The student may start from the teacher's own layers (:func:`student_from_teacher`: embeddings, the chosen encoder
blocks, pooler and head copied) or from any pretrained backbone (e.g. one made by ``bert-zoo pretrain``).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from keras_bert_zoo.models.backbone import BertBackbone
from keras_bert_zoo.tasks.base import Task, TaskError, packed_inputs, pipeline
from keras_bert_zoo.tasks.text_classifier import TextClassifier

__all__ = ["Distiller", "DistillationLoss", "LabelledAccuracy", "student_from_teacher"]


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class DistillationLoss(keras.losses.Loss):
    """``y_true`` [B, 1 + K]: column 0 the class id (-1: unlabelled), columns 1.. the teacher's logits;
    ``y_pred`` [B, K] the student's logits -> per-example loss (see the module docstring)."""

    def __init__(self, temperature=2.0, alpha=0.5, name="distillation", **kwargs):
        super().__init__(name=name, **kwargs)
        if float(temperature) <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        label, teacher = y_true[:, 0], y_true[:, 1:]
        t = self.temperature
        teacher_logp = ops.log_softmax(teacher / t, axis=-1)
        student_logp = ops.log_softmax(y_pred / t, axis=-1)
        soft = ops.sum(ops.exp(teacher_logp) * (teacher_logp - student_logp), axis=-1) * (t * t)
        labelled = ops.cast(label >= 0, "float32")
        ids = ops.cast(ops.maximum(label, 0), "int32")
        hard = -ops.sum(ops.one_hot(ids, ops.shape(y_pred)[-1]) * ops.log_softmax(y_pred, axis=-1), axis=-1)
        return self.alpha * hard * labelled + (1.0 - self.alpha) * soft

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class LabelledAccuracy(keras.metrics.Metric):
    """Accuracy of the student's argmax against column 0 of the distillation targets, labelled rows only."""

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        label = ops.cast(y_true, "float32")[:, 0]
        labelled = ops.cast(label >= 0, "float32")
        hit = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "float32"), label), "float32")
        self.correct.assign_add(ops.sum(hit * labelled))
        self.count.assign_add(ops.sum(labelled))

    def result(self):
        return ops.divide_no_nan(self.correct, self.count)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)


class Distiller(Task):
    """The student under a distillation objective (see the module docstring). Not saved itself: save
    ``distiller.student``.

    Args:
        teacher: a fine-tuned :class:`TextClassifier` (single-label) with a preprocessor.
        student: a :class:`TextClassifier` with the same labels, the same inputs and a preprocessor.
        temperature: softening temperature T.
        alpha: weight of the hard-label loss (``1 - alpha`` on the soft term).
    """

    task_type = "distill"

    def __init__(self, teacher, student, *, temperature=2.0, alpha=0.5, name=None):
        for role, model in (("teacher", teacher), ("student", student)):
            if not isinstance(model, TextClassifier) or model.multi_label:
                raise TaskError(f"distillation takes single-label TextClassifier models; the {role} is "
                                f"{type(model).__name__}{' (multi-label)' if getattr(model, 'multi_label', 0) else ''}")
            if model.preprocessor is None:
                raise TaskError(f"the {role} has no preprocessor (distillation reads raw strings)")
        if list(teacher.labels) != list(student.labels):
            raise TaskError(f"teacher labels {teacher.labels} differ from the student's {student.labels}")
        if teacher.text_inputs != student.text_inputs:
            raise TaskError(f"teacher inputs {teacher.text_inputs} differ from the student's {student.text_inputs}")
        inputs = packed_inputs()
        super().__init__(inputs=inputs, outputs=student(inputs), name=name or "distiller")
        self._set_parts(student.backbone, student.preprocessor)
        self.teacher, self.student = teacher, student
        self.temperature, self.alpha = float(temperature), float(alpha)
        self.text_inputs = student.text_inputs
        self.labels = student.labels
        teacher.trainable = False

    def postprocess(self, outputs):
        return self.student.postprocess(outputs)

    def decode(self, outputs):
        return self.student.decode(outputs)

    def default_loss(self):
        return DistillationLoss(self.temperature, self.alpha)

    def default_metrics(self):
        return [LabelledAccuracy()]

    def encode_targets(self, y):
        targets = np.asarray(y, "float32")
        if targets.ndim != 2 or targets.shape[1] != 1 + self.student.num_classes:
            raise TaskError(f"distillation targets are [N, 1 + {self.student.num_classes}] (class id, teacher "
                            f"logits), got shape {targets.shape}: pass labels to fit(), it builds them")
        return targets

    def teacher_targets(self, x, y=None, *, unlabelled=None, batch_size=64):
        """-> (inputs, targets [N, 1 + K]) for ``fit``: class ids (-1 for ``unlabelled``) + teacher logits."""
        feats = pipeline.columns(self.student, x)
        n = len(next(iter(feats.values())))
        ids = np.full((n,), -1, "float32") if y is None else self.student.encode_targets(y).astype("float32")
        if len(ids) != n:
            raise TaskError(f"distill: {n} inputs but {len(ids)} labels")
        if unlabelled is not None:
            extra = pipeline.columns(self.student, unlabelled)
            feats = {k: list(v) + list(extra[k]) for k, v in feats.items()}
            ids = np.concatenate([ids, np.full((len(next(iter(extra.values()))),), -1, "float32")])
        x_all = feats if len(feats) > 1 else feats[self.text_inputs[0]]
        logits = np.asarray(self.teacher.predict(x_all, batch_size=batch_size, verbose=0)["logits"], "float32")
        return x_all, np.concatenate([ids[:, None], logits], axis=1)

    def fit(self, x=None, y=None, *, unlabelled=None, teacher_batch_size=64, **fit_args):
        """``fit`` on raw inputs (+ class ids or label names, + ``unlabelled`` texts): the teacher's logits are
        computed first, then the student trains. Other arguments as ``keras.Model.fit``; a
        ``validation_data=(x, labels)`` is scored with the hard labels only."""
        x_all, targets = self.teacher_targets(x, y, unlabelled=unlabelled, batch_size=teacher_batch_size)
        val = fit_args.pop("validation_data", None)
        if val is not None:
            vx, vy = val
            vfeats = pipeline.columns(self.student, vx)
            vids = self.student.encode_targets(vy).astype("float32")
            vx = vfeats if len(vfeats) > 1 else vfeats[self.text_inputs[0]]
            vlogits = np.asarray(self.teacher.predict(vx, batch_size=teacher_batch_size, verbose=0)["logits"],
                                 "float32")
            fit_args["validation_data"] = (vx, np.concatenate([vids[:, None], vlogits], axis=1))
        return super().fit(x_all, targets, **fit_args)


def student_from_teacher(teacher, layers, *, name=None):
    """A :class:`TextClassifier` whose backbone keeps the teacher's encoder blocks ``layers`` (e.g. every other
    one: ``[0, 2, 4]`` of 6), with the teacher's embeddings, pooler, head and preprocessor (copied weights)."""
    if not isinstance(teacher, TextClassifier):
        raise TaskError(f"student_from_teacher needs a TextClassifier teacher, got {type(teacher).__name__}")
    layers = [int(i) for i in layers]
    n = teacher.backbone.config.num_layers
    bad = [i for i in layers if not 0 <= i < n]
    if not layers or bad or len(set(layers)) != len(layers) or layers != sorted(layers):
        raise TaskError(f"layers must be distinct increasing block indices of the teacher's {n}, got {layers}")
    config = dataclasses.replace(teacher.backbone.config, num_layers=len(layers))
    backbone = BertBackbone(config, dtype=teacher.backbone.dtype_policy)
    backbone.embeddings.set_weights(teacher.backbone.embeddings.get_weights())
    for dst, src in zip(backbone.encoder_blocks, layers):
        dst.set_weights(teacher.backbone.encoder_blocks[src].get_weights())
    backbone.pooler.set_weights(teacher.backbone.pooler.get_weights())
    student = TextClassifier(backbone, preprocessor=teacher.preprocessor, labels=teacher.labels,
                             pairs=teacher.pairs, window_stride=teacher.window_stride,
                             max_windows=teacher.max_windows, dropout=teacher.dropout,
                             name=name or "student")
    student.head.set_weights(teacher.head.get_weights())
    return student
