"""A task trained under a mixed policy (``finetune/demo --mixed_precision``) is exported as its float32 copy:
same variables, float32 compute, the export verified at 1e-5 against that copy (a bf16 graph differs from
itself by ~1e-3 across batch shapes, which failed the verification before)."""

import keras
import numpy as np
import pytest

from keras_bert_zoo.tasks import TextClassifier
from keras_bert_zoo.text import BertPreprocessor
from tests.tasks.tiny_classify import sentence, tiny_backbone_and_tokenizer

LABELS = ["negative", "neutral", "positive"]


@pytest.fixture
def bf16_task():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        backbone, tokenizer = tiny_backbone_and_tokenizer()
        task = TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=16), labels=LABELS)
        import random

        rng = random.Random(0)
        y = [LABELS[i % 3] for i in range(32)]
        task.compile(learning_rate=1e-3, total_steps=4)
        task.fit([sentence(rng, label) for label in y], y, batch_size=8, epochs=1, verbose=0)
        yield task
    finally:
        keras.config.set_dtype_policy("float32")


def _logits(task, texts):
    packed = task.preprocess({"text": np.array(texts, dtype=object)})
    return keras.ops.convert_to_numpy(task(dict(packed), training=False)).astype("float32")


def test_serving_copy_computes_in_float32_with_the_same_variables(bf16_task):
    assert bf16_task.backbone.dtype_policy.compute_dtype == "bfloat16"
    copy = bf16_task.serving_copy()
    assert copy is not bf16_task
    assert copy.backbone.dtype_policy.name == "float32"
    assert copy.dtype_policy.name == "float32"
    # (an InputLayer computes nothing; it takes the global policy whatever it is told)
    low = [layer.name for layer in copy._flatten_layers()
           if getattr(layer, "dtype_policy", None) is not None and layer.dtype_policy.compute_dtype in ("bfloat16",
                                                                                                     "float16")
           and not isinstance(layer, keras.layers.InputLayer)]
    assert low == []
    want = {v.path: keras.ops.convert_to_numpy(v) for v in bf16_task.weights}
    got = {v.path: keras.ops.convert_to_numpy(v) for v in copy.weights}
    assert want.keys() == got.keys()
    for path in want:
        np.testing.assert_array_equal(got[path], want[path], err_msg=path)
    texts = ["the movie was good", "bad and awful", "ok"]
    fp32 = _logits(copy, texts)
    assert fp32.dtype == np.float32
    # the same model, computed in bf16: close, not equal
    np.testing.assert_allclose(_logits(bf16_task, texts), fp32, atol=5e-2)


def test_float32_task_ships_itself():
    backbone, tokenizer = tiny_backbone_and_tokenizer()
    task = TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=16), labels=LABELS)
    assert task.serving_copy() is task


@pytest.mark.slow
def test_bf16_trained_task_exports_verified_float32(bf16_task, tmp_path):
    import tensorflow as tf

    texts = ["the movie was good", "bad and awful", "ok", "a much longer sentence than the others here"]
    want = keras.ops.convert_to_numpy(bf16_task.serving_copy().predict(texts, verbose=0)["probabilities"])
    result = bf16_task.export(tmp_path / "sm" / "1", sample_inputs=texts)
    assert result.path == tmp_path / "sm" / "1" and (result.path / "saved_model.pb").is_file()
    served = tf.saved_model.load(str(result.path)).signatures["serving_default"](text=tf.constant(texts))
    # what was shipped holds float32 variables (the float32 copy of the bf16-trained task)
    dtypes = tf.train.load_checkpoint(str(result.path / "variables" / "variables")).get_variable_to_dtype_map()
    assert {d for d in dtypes.values() if d.is_floating} == {tf.float32}
    np.testing.assert_allclose(served["probabilities"].numpy(), want, atol=1e-5)


@pytest.mark.parametrize("kind", ["choice", "embed"])
def test_serving_copy_leaves_the_global_policy_alone(kind):
    """The float32 copy is built from its config (the backbone's dtype), not by switching the process-global
    policy: made while the global policy is mixed, every layer of the copy (heads, pooling, the task itself)
    computes in float32, and the global policy never changes."""
    from keras_bert_zoo.tasks import MultipleChoice, TextEmbedder

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        backbone, tokenizer = tiny_backbone_and_tokenizer()
        pre = BertPreprocessor(tokenizer, sequence_length=16)
        task = MultipleChoice(backbone, 2, preprocessor=pre) if kind == "choice" else TextEmbedder(
            backbone, preprocessor=pre)
        policy = keras.config.dtype_policy()
        copy = task.serving_copy()
        assert keras.config.dtype_policy() is policy
    finally:
        keras.config.set_dtype_policy(previous)
    low = [layer.name for layer in [copy] + list(copy._flatten_layers())
           if getattr(layer, "dtype_policy", None) is not None and layer.dtype_policy.compute_dtype in ("bfloat16",
                                                                                                     "float16")
           and not isinstance(layer, keras.layers.InputLayer)]
    assert low == []
    assert task.backbone.dtype_policy.compute_dtype == task.dtype_policy.compute_dtype == "bfloat16"
