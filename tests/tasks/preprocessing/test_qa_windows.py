"""QAWindowPreprocessor: the same windows and span labels as the featurization it replaced (golden file: both
SQuAD fixtures, a long context, Chinese, empty strings, four window settings), answers' character starts to
bytes in the graph, inside tf.data, a .keras round trip, derived lengths and errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data.squad import char_to_byte
from keras_bert_zoo.tasks import TaskError
from keras_bert_zoo.tasks.preprocessing import QAWindowPreprocessor
from keras_bert_zoo.text import BertPreprocessor
from tests.tasks import tiny5b
from tests.tasks.preprocessing import golden


@pytest.fixture(scope="module")
def tok():
    return tiny5b.tokenizer()


@pytest.fixture(scope="module")
def data():
    return golden.load()


def _answers(inputs):
    texts = [a[0] if a else "" for a in inputs["answers"]]
    starts = [a[1] if a else -1 for a in inputs["answers"]]
    return tf.constant(texts), tf.constant(starts)


def test_answer_bytes_equal_the_python_conversion(data):
    inputs = data["qa_inputs"]
    a0, a1 = QAWindowPreprocessor.answer_bytes(tf.constant(inputs["contexts"]), *_answers(inputs))
    for c, a, s, e in zip(inputs["contexts"], inputs["answers"], a0.numpy(), a1.numpy()):
        if a is None:
            assert s == e == -1
        else:
            assert s == char_to_byte(c, a[1]) and e == s + len(a[0].encode("utf-8"))
            assert c.encode("utf-8")[s:e].decode("utf-8") == a[0]
    assert any(len(c.encode("utf-8")) != len(c) for c, a in zip(inputs["contexts"], inputs["answers"]) if a)


@pytest.mark.parametrize("case", range(4))
def test_training_windows_equal_the_previous_featurization(tok, data, case):
    want = data["qa"][case]
    inputs = data["qa_inputs"]
    pre = QAWindowPreprocessor(tok, sequence_length=want["sequence_length"], stride=want["stride"],
                               max_query_length=want["max_query_length"])
    q, c = tf.constant(inputs["questions"]), tf.constant(inputs["contexts"])
    a0, a1 = pre.answer_bytes(c, *_answers(inputs))
    np.testing.assert_array_equal([a0.numpy(), a1.numpy()], want["answer_bytes"])
    packed, targets, weights = pre.samples(q, c, a0, a1, tf.constant(want["weights_in"]))
    golden.assert_equal({**packed, "start": targets["start_logits"], "end": targets["end_logits"],
                         "weights": weights}, want["train"])
    assert len(pre.samples(q, c, a0, a1)) == 2
    view = pre.windows(q, c)
    golden.assert_equal({**view.packed, "b_offset": view.b_offset, "example_index": view.windows.example_index,
                         "start": view.windows.start, "length": view.windows.length}, want["predict"])
    assert int(tf.reduce_max(tf.math.bincount(view.windows.example_index))) > 2       # a long context: windows


def test_runs_inside_tf_data_and_serialises(tok, data, tmp_path):
    inputs = data["qa_inputs"]
    pre = QAWindowPreprocessor(tok, sequence_length=32, stride=8, max_query_length=12)
    texts, starts = _answers(inputs)

    def features(q, c, t, s):
        return pre.samples(q, c, *pre.answer_bytes(c, t, s))

    cols = (tf.constant(inputs["questions"]), tf.constant(inputs["contexts"]), texts, starts)
    ds = tf.data.Dataset.from_tensor_slices(cols).batch(3).map(features).unbatch().batch(10000)
    got = next(iter(ds))
    want = features(*cols)
    for a, b in zip(tf.nest.flatten(got), tf.nest.flatten(want)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    question = keras.Input(shape=(), dtype="string", name="question")
    context = keras.Input(shape=(), dtype="string", name="context")
    model = keras.Model([question, context], pre((question, context)))
    model.save(tmp_path / "pre.keras")
    loaded = keras.saving.load_model(tmp_path / "pre.keras", safe_mode=True)
    again = next(layer for layer in loaded.layers if isinstance(layer, QAWindowPreprocessor))
    assert again.get_config() == pre.get_config() and again.get_config()["max_query_length"] == 12
    for a, b in zip(tf.nest.flatten(features(*cols)), tf.nest.flatten(
            again.samples(cols[0], cols[1], *again.answer_bytes(cols[1], texts, starts)))):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_derived_lengths_and_errors(tok):
    derived = QAWindowPreprocessor.from_preprocessor(BertPreprocessor(tok, sequence_length=40))
    assert derived.get_config()["stride"] is None and derived.get_config()["max_query_length"] is None
    assert (derived.query_length, derived.window_stride) == (18, 9)
    with pytest.raises(TaskError, match=r"sequence_length 12 leaves no room for context after a 9-token question"):
        QAWindowPreprocessor(tok, sequence_length=12, max_query_length=9)
    with pytest.raises(TaskError, match="max_query_length must be a positive"):
        QAWindowPreprocessor(tok, max_query_length=0)
