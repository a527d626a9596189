"""Sentence embeddings: mean / CLS pooling and L2 against numpy on the backbone output; in-batch-negatives
training with fit on (anchor, positive) pairs; retrieval evaluation."""

import numpy as np
import pytest
import tensorflow as tf

import tiny5b
from keras_bert_zoo import reports
from keras_bert_zoo.tasks import read_task_file
from keras_bert_zoo.tasks import TextEmbedder, get_task_class
from keras_bert_zoo.text import BertPreprocessor

PAIRS = tiny5b.FIXTURES / "pairs.csv"


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooling_matches_numpy(pooling):
    tok = tiny5b.tokenizer()
    bb = tiny5b.backbone(tok.vocab_size)
    task = TextEmbedder(bb, preprocessor=BertPreprocessor(tok, sequence_length=16), pooling=pooling)
    texts = ["the cat sat on the mat .", "北京是中国的首都。", ""]
    emb = task.predict(texts, verbose=0)["embeddings"]
    packed = task.preprocessor(tf.constant(texts))
    seq = bb(packed)["sequence_output"].numpy()
    m = packed["padding_mask"].numpy()[:, :, None].astype("float32")
    want = (seq * m).sum(1) / m.sum(1) if pooling == "mean" else seq[:, 0]
    want = want / np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(emb, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_in_batch_negatives_training_lowers_the_loss_and_evaluates():
    tok = tiny5b.tokenizer()
    data = read_task_file("embed", PAIRS)
    task = get_task_class("embed")(tiny5b.backbone(tok.vocab_size, num_layers=1),
                                   preprocessor=BertPreprocessor(tok, sequence_length=16))
    task.compile(learning_rate=5e-3, warmup_ratio=0.0)
    hist = task.fit(data.x, epochs=6, batch_size=3, verbose=0).history["loss"]
    assert hist[-1] < hist[0]
    res = reports.evaluate_task_file(task, data)
    assert res["num_pairs"] == 6 and 0 < res["mrr"] <= 1
