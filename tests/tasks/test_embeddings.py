"""Sentence embeddings: mean / CLS pooling and L2 against numpy on the backbone output; in-batch-negatives
training with model.fit; retrieval evaluation; save/load."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tiny5b
from keras_bert_zoo.tasks import BertTask, get_task_class
from keras_bert_zoo.tasks.embeddings import SentenceEmbedder

PAIRS = tiny5b.FIXTURES / "pairs.csv"


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooling_matches_numpy(pooling):
    tok = tiny5b.tokenizer()
    bb = tiny5b.backbone(tok.vocab_size)
    task = SentenceEmbedder.build(bb, tok, sequence_length=16, pooling=pooling)
    texts = ["the cat sat on the mat .", "北京是中国的首都。", ""]
    emb = task.embed(texts)
    packed = task.preprocessor(tf.constant(texts))
    seq = bb(packed)["sequence_output"].numpy()
    m = packed["padding_mask"].numpy()[:, :, None].astype("float32")
    want = (seq * m).sum(1) / m.sum(1) if pooling == "mean" else seq[:, 0]
    want = want / np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(emb, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_train_evaluate_save_load(tmp_path):
    tok = tiny5b.tokenizer()
    task = get_task_class("embed").from_train_file(PAIRS, tiny5b.backbone(tok.vocab_size, num_layers=1), tok, sequence_length=16)
    ds = task.dataset_from_file(PAIRS, batch_size=3, training=True).cache()
    task.compile(keras.optimizers.Adam(5e-3))
    hist = task.train_model.fit(ds.repeat(4), epochs=3, verbose=0).history["loss"]
    assert hist[-1] < hist[0]
    res = task.evaluate_file(PAIRS)
    assert res["num_pairs"] == 6 and 0 < res["mrr"] <= 1
    task.save(tmp_path / "emb")
    again = BertTask.load(tmp_path / "emb")
    np.testing.assert_allclose(again.embed(["the cat"]), task.embed(["the cat"]), atol=1e-6)
    assert len(again.predict(["the cat"])[0]["embedding"]) == 32
