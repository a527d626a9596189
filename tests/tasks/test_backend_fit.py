"""A task model fits on packed inputs (and on raw strings, through tf.data) on whatever Keras backend runs the
tests: tests/test_backends.py runs this file again under KERAS_BACKEND=jax."""

import keras
import numpy as np

from keras_bert_zoo.tasks import TextClassifier
from keras_bert_zoo.text import BertPreprocessor
from tests.tasks.tiny_classify import tiny_backbone_and_tokenizer


def test_classifier_fits_on_packed_inputs_and_raw_strings():
    backbone, tokenizer = tiny_backbone_and_tokenizer()
    clf = TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=12), num_classes=3)
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 99, size=(8, 12)).astype("int32")
    packed = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)}
    clf.compile(learning_rate=1e-3)
    before = [np.array(w) for w in clf.get_weights()]
    logs = clf.fit(packed, np.arange(8) % 3, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"]).all()
    assert any(not np.array_equal(a, np.array(b)) for a, b in zip(before, clf.get_weights()))
    logits = np.asarray(clf.predict(packed, verbose=0))
    assert logits.shape == (8, 3)
    logs = clf.fit(["the movie was good", "bad", "ok", "awful"], [2, 0, 1, 0], batch_size=2, verbose=0).history
    assert np.isfinite(logs["loss"]).all() and keras.backend.backend() in ("tensorflow", "jax", "torch")
