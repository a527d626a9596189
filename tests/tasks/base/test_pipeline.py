"""The one raw-data route (tasks/base/pipeline.py): the input sniffed once, columns validated in one place,
training batches grouped by length and cut to their longest row, samples that expand into several rows
re-batched inside tf.data, and train_on_batch / predict_on_batch on the same route."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.tasks import TaskError, TextClassifier
from keras_bert_zoo.tasks.base import pipeline
from keras_bert_zoo.text import BertPreprocessor
from tests.tasks.tiny_classify import tiny_backbone_and_tokenizer

LABELS = ["negative", "neutral", "positive"]


def _task(cls=TextClassifier, **kwargs):
    backbone, tokenizer = tiny_backbone_and_tokenizer()
    return cls(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=16), labels=LABELS, **kwargs)


def test_is_raw_tells_raw_from_packed():
    packed = {"token_ids": np.zeros((2, 4), "int32"), "segment_ids": np.zeros((2, 4), "int32"),
              "padding_mask": np.ones((2, 4), "int32")}
    for raw in ["a text", ["a", "b"], ("a", "b"), {"text": ["a"]}, np.array(["a"]), tf.constant(["a"]),
                tf.data.Dataset.from_tensor_slices(["a", "b"]), tf.data.Dataset.from_tensor_slices((["a"], [1]))]:
        assert pipeline.is_raw(raw), raw
    for not_raw in [None, packed, tf.data.Dataset.from_tensor_slices(packed), np.zeros((2, 3)), tf.zeros((2,)),
                    iter([])]:
        assert not pipeline.is_raw(not_raw), not_raw


def test_columns_validate_in_one_place():
    task = _task(pairs=True)
    assert pipeline.columns(task, (["a", "b"], ["c", b"d"])) == {"text": ["a", "b"], "text_pair": ["c", "d"]}
    with pytest.raises(TaskError, match=r"missing \['text_pair'\]"):
        pipeline.columns(task, {"text": ["a"]})
    with pytest.raises(TaskError, match="tuple of 3 segments"):
        pipeline.columns(task, (["a"], ["b"], ["c"]))
    with pytest.raises(TaskError, match="different lengths"):
        pipeline.columns(task, {"text": ["a", "b"], "text_pair": ["c"]})
    single = _task()
    with pytest.raises(TaskError, match=r"input 'text' row 1: expected a string, got int"):
        pipeline.columns(single, ["a", 3])
    with pytest.raises(TaskError, match="no examples"):
        pipeline.columns(single, [])
    # the same validation on every entry point
    for call in (lambda: single.fit(["a", 3], [0, 1], verbose=0), lambda: single.predict(["a", 3]),
                 lambda: single.train_on_batch(["a", 3], [0, 1]), lambda: single.evaluate(["a", 3], [0, 1]),
                 lambda: single.predict_on_batch(["a", 3])):
        with pytest.raises(TaskError, match="row 1: expected a string"):
            call()
    with pytest.raises(TaskError, match="3 inputs but 2 targets"):
        single.make_dataset(["a", "b", "c"], [0, 1])
    with pytest.raises(TaskError, match="sample weights need targets"):
        single.make_dataset(["a", "b"], sample_weight=[1.0, 2.0])


def test_training_batches_are_grouped_by_length_and_cut_to_their_longest_row():
    task = _task()
    texts = [" ".join(["good"] * (1 + i % 11)) for i in range(48)]
    ds = task.make_dataset(texts, [i % 3 for i in range(48)], batch_size=4, training=True)
    assert int(ds.cardinality()) == 12
    spreads = []
    for packed, y in ds:
        lengths = packed["padding_mask"].numpy().sum(axis=1)
        assert packed["token_ids"].shape[1] == lengths.max()          # cut to its own longest row
        spreads.append(lengths.max() - lengths.min())
    assert np.mean(spreads) < 2          # sorted within windows: batches of near-equal lengths


class _TwoRowsPerText(TextClassifier):
    """A task whose every sample expands into two rows (the text, and the text twice): the shape of windows."""

    expands_samples = True

    def preprocess_samples(self, x, y=None, sample_weight=None):
        twice = tf.strings.join([x["text"], x["text"]], separator=" ")
        packed = self.preprocess({"text": tf.concat([x["text"], twice], axis=0)})
        return packed, tf.concat([y, y], axis=0)


def test_expanding_samples_are_rebatched_inside_tf_data():
    task = _task(_TwoRowsPerText)
    texts = ["good", "bad bad", "ok ok ok", "meh", "great"]
    ds = task.make_dataset(texts, [0, 1, 2, 0, 1], batch_size=3)
    batches = list(ds)
    assert [int(b[0]["token_ids"].shape[0]) for b in batches] == [3, 3, 3, 1]    # 10 rows, batches of 3
    for packed, _ in batches:
        assert packed["token_ids"].shape[1] == packed["padding_mask"].numpy().sum(axis=1).max()
    x, y = pipeline.one_batch(task, texts, [0, 1, 2, 0, 1])
    assert x["token_ids"].shape[0] == 10 and y.numpy().tolist() == [0, 1, 2, 0, 1] * 2


def test_train_on_batch_and_predict_on_batch_take_raw_inputs():
    task = _task()
    task.compile(learning_rate=1e-3, total_steps=2)
    logs = task.train_on_batch(["good good", "bad"], ["positive", "negative"], return_dict=True)
    assert np.isfinite(logs["loss"])
    out = task.predict_on_batch(["good good", "bad"])
    np.testing.assert_allclose(out["probabilities"], task.predict(["good good", "bad"], verbose=0)["probabilities"],
                               atol=1e-5)
