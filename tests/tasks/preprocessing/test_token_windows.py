"""TokenWindowPreprocessor: the same windows, labels and weights as the featurization it replaced (golden file:
CoNLL fixtures, accents, CJK, emoji, four window settings), words joined in the graph as join_words does,
first-sub-word alignment by hand, inside tf.data, and a .keras round trip with the vocabulary as an asset."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data.conll import join_words
from keras_bert_zoo.tasks import TaskError
from keras_bert_zoo.tasks.preprocessing import TokenWindowPreprocessor
from keras_bert_zoo.tasks.preprocessing import windows as W
from keras_bert_zoo.text import BertPreprocessor
from tests.tasks import tiny5b
from tests.tasks.preprocessing import golden


@pytest.fixture(scope="module")
def tok():
    return tiny5b.tokenizer()


@pytest.fixture(scope="module")
def data():
    return golden.load()


def _columns(data):
    inputs = data["ner_inputs"]
    index = {t: i for i, t in enumerate(inputs["labels"])}
    words = tf.ragged.constant(inputs["words"], dtype=tf.string)
    tags = tf.ragged.constant([[index[t] for t in row] for row in inputs["tags"]], dtype=tf.int32)
    return inputs, words, tags


def test_join_words_equals_the_python_join(data):
    inputs, words, _ = _columns(data)
    rows = inputs["words"] + [[]]
    texts, starts = TokenWindowPreprocessor.join_words(tf.ragged.constant(rows, dtype=tf.string))
    for row, text, got in zip(rows, texts.numpy(), starts.to_list()):
        want_text, char_starts = join_words(row)
        assert text.decode("utf-8") == want_text
        assert got == [len(want_text[:c].encode("utf-8")) for c in char_starts]


@pytest.mark.parametrize("case", range(4))
def test_training_windows_equal_the_previous_featurization(tok, data, case):
    want = data["ner"][case]
    inputs, words, tags = _columns(data)
    pre = TokenWindowPreprocessor(tok, sequence_length=want["sequence_length"], stride=want["stride"])
    texts, starts = pre.join_words(words)
    packed, labels, weights = pre.samples(texts, starts, tags, tf.constant(want["weights_in"]))
    golden.assert_equal({**packed, "labels": labels, "weights": weights}, want["train"])
    view = pre.windows(tf.constant(inputs["texts"]))
    golden.assert_equal({**view.packed, "b_offset": view.b_offset, "example_index": view.windows.example_index,
                         "start": view.windows.start, "length": view.windows.length}, want["predict"])


def test_first_subword_alignment_by_hand(tok):
    words = ["José", "Müller-Lüdenscheidt", "vit", "à", "Zürich", ".", "李", "明"]
    tag_ids = [2, 3, 0, 0, 1, 0, 2, 3]
    pre = TokenWindowPreprocessor(tok, sequence_length=64)
    texts, starts = pre.join_words(tf.ragged.constant([words]))
    _, tok_starts, _ = tok.tokenize_with_offsets(texts)
    tok_starts = tok_starts.to_list()[0]
    assert len(tok_starts) > len(words) + 3                 # real sub-word splits ("mul ##ler", "zu ##rich", ...)
    word_of = {p: starts.to_list()[0].index(s) for p, s in enumerate(tok_starts) if s in starts.to_list()[0]}
    assert len(word_of) == len(words)
    packed, labels, weights = pre.samples(texts, starts, tf.ragged.constant([tag_ids]), tf.constant([2.0]))
    want_w = [0.0] + [2.0 if p in word_of else 0.0 for p in range(len(tok_starts))]
    np.testing.assert_array_equal(weights.numpy()[0, :len(want_w)], want_w)
    assert not weights.numpy()[0, len(want_w):].any()
    for p, w in word_of.items():
        assert int(labels[0, p + 1]) == tag_ids[w]
    assert int(packed["padding_mask"].numpy().sum()) == len(tok_starts) + 2


def test_runs_inside_tf_data_and_serialises(tok, data, tmp_path):
    _, words, tags = _columns(data)
    pre = TokenWindowPreprocessor(tok, sequence_length=9, stride=3)

    def features(w, t):
        texts, starts = pre.join_words(w)
        return pre.samples(texts, starts, t)

    ds = tf.data.Dataset.from_tensor_slices((words, tags)).batch(4).map(features).unbatch().batch(1000)
    packed, labels, weights = next(iter(ds))
    texts, starts = pre.join_words(words)
    direct = pre.samples(texts, starts, tags)
    golden.assert_equal({**packed, "labels": labels, "weights": weights},
                        {**direct[0], "labels": direct[1], "weights": direct[2]})
    assert TokenWindowPreprocessor.from_config(pre.get_config()).get_config() == pre.get_config()
    assert pre.get_config()["tokenizer"]["config"]["vocabulary"] is None and pre.get_config()["stride"] == 3
    text = keras.Input(shape=(), dtype="string", name="text")
    model = keras.Model(text, pre(text))
    model.save(tmp_path / "pre.keras")
    loaded = keras.saving.load_model(tmp_path / "pre.keras", safe_mode=True)
    again = next(layer for layer in loaded.layers if isinstance(layer, TokenWindowPreprocessor))
    assert again.get_config() == pre.get_config()
    for a, b in zip(tf.nest.flatten(again.samples(texts, starts, tags)), tf.nest.flatten(direct)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_derived_stride_and_errors(tok):
    pre = TokenWindowPreprocessor.from_preprocessor(BertPreprocessor(tok, sequence_length=11))
    assert pre.stride is None and pre.window_stride == 4 and pre.tokenizer is tok
    assert W.make_windows(tf.constant([20]), 9, pre.window_stride).start.numpy().tolist() == [0, 4, 8, 12]
    with pytest.raises(TaskError, match="stride must be a positive"):
        TokenWindowPreprocessor(tok, stride=0)
