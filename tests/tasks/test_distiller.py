"""Task distillation (issue 12): the loss, a student made of the teacher's layers, fit on raw strings with
unlabelled texts, the student saved / loaded / exported with equal outputs."""

import random

import keras
import numpy as np
import pytest

from keras_bert_zoo.tasks import TaskError, TextClassifier
from keras_bert_zoo.tasks.distiller import DistillationLoss, Distiller, LabelledAccuracy, student_from_teacher
from keras_bert_zoo.text import BertPreprocessor
from tests.tasks.tiny_classify import sentence, tiny_backbone_and_tokenizer

LABELS = ["negative", "neutral", "positive"]


def _classifier(seed=0, layers=None):
    backbone, tokenizer = tiny_backbone_and_tokenizer(seed=seed)
    if layers:
        import dataclasses

        from keras_bert_zoo import BertBackbone

        backbone = BertBackbone(dataclasses.replace(backbone.config, num_layers=layers))
    return TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=16), labels=LABELS)


def _data(n, seed=0):
    rng = random.Random(seed)
    y = [LABELS[i % 3] for i in range(n)]
    return [sentence(rng, label) for label in y], y


def test_distillation_loss_matches_its_formula():
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    labels = np.array([0, 2, -1, 1])
    loss = DistillationLoss(temperature=2.0, alpha=0.25, reduction=None)
    got = keras.ops.convert_to_numpy(loss(np.concatenate([labels[:, None], teacher], 1), student))

    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    t_lp, s_lp = log_softmax(teacher / 2), log_softmax(student / 2)
    soft = (np.exp(t_lp) * (t_lp - s_lp)).sum(-1) * 4
    hard = -log_softmax(student)[np.arange(4), np.maximum(labels, 0)] * (labels >= 0)
    np.testing.assert_allclose(got, 0.25 * hard + 0.75 * soft, rtol=1e-5)
    acc = LabelledAccuracy()
    acc.update_state(np.concatenate([labels[:, None], teacher], 1), np.eye(3)[[0, 1, 2, 1]])
    assert float(acc.result()) == pytest.approx(2 / 3)     # row 2 (unlabelled) is not counted


def test_student_from_teacher_copies_the_chosen_layers():
    teacher = _classifier()
    student = student_from_teacher(teacher, [1])
    assert student.backbone.config.num_layers == 1
    for a, b in zip(student.backbone.encoder_blocks[0].get_weights(),
                    teacher.backbone.encoder_blocks[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(student.head.get_weights()[0], teacher.head.get_weights()[0])
    with pytest.raises(TaskError, match="distinct increasing"):
        student_from_teacher(teacher, [1, 0])
    with pytest.raises(TaskError, match="labels"):
        Distiller(teacher, TextClassifier(student.backbone, preprocessor=student.preprocessor, num_classes=3))


def test_distiller_fits_on_raw_strings_and_the_student_ships(tmp_path):
    keras.utils.set_random_seed(0)
    teacher = _classifier()
    x, y = _data(96)
    teacher.compile(learning_rate=3e-3)
    teacher.fit(x, y, epochs=3, batch_size=16, verbose=0)
    student = _classifier(seed=1, layers=1)
    distiller = Distiller(teacher, student, temperature=2.0, alpha=0.5)
    extra, _ = _data(48, seed=7)
    distiller.compile(learning_rate=3e-3)
    vx, vy = _data(24, seed=3)
    history = distiller.fit(x, y, unlabelled=extra, epochs=4, batch_size=16, verbose=0, validation_data=(vx, vy))
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    assert "val_accuracy" in history.history
    # the student agrees with the teacher more than before distillation
    agree = np.mean(student.predict(vx, verbose=0)["label_ids"] == teacher.predict(vx, verbose=0)["label_ids"])
    assert agree >= 0.5, agree
    # the student is an ordinary TextClassifier: save / load / predict equal
    student.save(tmp_path / "student.keras")
    loaded = keras.saving.load_model(tmp_path / "student.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(vx, verbose=0)["probabilities"],
                               student.predict(vx, verbose=0)["probabilities"], atol=1e-6)
    with pytest.raises(TaskError, match=r"\[N, 1 \+ 3\]"):
        distiller.encode_targets([0, 1])
