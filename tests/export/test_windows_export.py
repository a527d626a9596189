"""A TextClassifier with sliding windows exported: the mean over each text's windows runs in the SavedModel and in
the TFLite model with builtins only (plus the tf-text tokenizer kernels), equal to ``predict``."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.export import ops as ops_lib
from keras_bert_zoo.export import tflite, verify
from tests.export.conftest import SAMPLE_TEXTS, make_task

LONG = "the quick brown fox jumps over the lazy dog " * 3     # 30 tokens: more than max_windows=4 cover
TEXTS = SAMPLE_TEXTS + [LONG]
ATOL = verify.TOLERANCES["none"].float_atol


@pytest.fixture(scope="module")
def task(vocab):
    """T=7: windows of 5 tokens, starts 3 apart, at most 4 windows (14 tokens)."""
    return make_task(vocab, seed=3, window_stride=3, max_windows=4)


def _assert_equal(got, want, what):
    assert sorted(got) == sorted(want), what
    for k in want:
        if want[k].dtype.kind == "f":
            np.testing.assert_allclose(got[k], want[k], atol=ATOL, err_msg=f"{what}: {k}")
        else:
            assert got[k].tolist() == want[k].tolist(), (what, k)


def test_the_texts_really_have_several_windows(task):
    _, windows = task.text_windows(tf.constant(TEXTS))
    counts = np.bincount(windows.example_index.numpy(), minlength=len(TEXTS))
    assert counts[-1] == 4 and (counts > 1).sum() >= 3 and counts.min() == 1, counts
    assert task.max_text_tokens == 14


def test_tflite_has_builtins_only_and_equals_predict(task, tmp_path):
    result = tflite.export_tflite(task, tmp_path / "windows.tflite", TEXTS)       # verifies batch all and 1
    builtins, customs = ops_lib.tflite_model_ops(result.path.read_bytes())
    assert set(customs) <= ops_lib.TFLITE_TFTEXT_KERNELS and not result.info["flex"], customs
    assert "UNSORTED_SEGMENT_SUM" in builtins                       # the mean over each text's windows
    texts = list(reversed(TEXTS)) * 2                                 # another batch than the export verified
    _assert_equal(tflite.TFLiteRunner(result.path)("serving_default", text=texts), task.predict(texts, verbose=0),
                  "TFLite")


@pytest.mark.slow   # 30-90 s on 2 busy cores (tracing every signature); the default run has the same serving graph
#                     through tf.function in test_serving_trim (classify_windows-function) and in the TFLite export
def test_saved_model_equals_predict(task, tmp_path):
    from keras_bert_zoo.export.saved_model import ServingModule

    module = ServingModule(task)
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.signatures)
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    for texts in (TEXTS, [LONG]):
        got = {k: np.asarray(v) for k, v in serve(text=tf.constant(texts)).items()}
        _assert_equal(got, task.predict(texts, verbose=0), f"SavedModel, {len(texts)} texts")
