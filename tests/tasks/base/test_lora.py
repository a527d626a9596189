"""LoRA fine-tuning (issue 12): adapters in the fused QKV matmul, frozen base, loss decreases, saved / reloaded /
adapter-file / merged / exported outputs equal."""

import keras
import numpy as np
import pytest

from keras_bert_zoo.tasks import TaskError, TextClassifier
from keras_bert_zoo.text import BertPreprocessor
from tests.tasks.tiny_classify import sentence, tiny_backbone_and_tokenizer

LABELS = ["negative", "neutral", "positive"]


def _task(seed=0):
    keras.utils.set_random_seed(seed)
    backbone, tokenizer = tiny_backbone_and_tokenizer()
    return TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=16), labels=LABELS)


def _data(n=48):
    import random

    rng = random.Random(0)
    y = [LABELS[i % 3] for i in range(n)]
    return [sentence(rng, label) for label in y], y


def _logits(task, texts):
    packed = task.preprocess({"text": np.array(texts, dtype=object)})
    return keras.ops.convert_to_numpy(task(dict(packed), training=False))


def test_lora_freezes_the_base_and_starts_as_the_same_model():
    task = _task()
    texts, _ = _data(6)
    before = _logits(task, texts)
    full = sum(int(np.prod(v.shape)) for v in task.trainable_variables)
    task.enable_lora(4)
    trainable = {v.path: int(np.prod(v.shape)) for v in task.trainable_variables}
    assert all("lora_kernel" in p or "classifier" in p for p in trainable), sorted(trainable)
    c = task.backbone.config
    assert sum(n for p, n in trainable.items() if "lora" in p) == c.num_layers * 2 * 2 * 4 * c.hidden_size
    assert sum(trainable.values()) < 0.2 * full
    np.testing.assert_allclose(_logits(task, texts), before, atol=1e-6)   # B = 0: unchanged until trained
    with pytest.raises(ValueError, match="already enabled"):
        task.enable_lora(4)


def test_lora_update_is_applied_in_the_fused_qkv_matmul():
    task = _task()
    task.enable_lora(2, targets=("query", "key", "value"))
    attention = task.backbone.encoder_blocks[0].attention
    x = np.random.default_rng(0).normal(size=(2, 5, task.backbone.config.hidden_size)).astype("float32")
    before = keras.ops.convert_to_numpy(attention(x))
    for dense in (attention.query, attention.key, attention.value):
        dense.lora_kernel_b.assign(np.random.default_rng(1).normal(size=dense.lora_kernel_b.shape) * 0.5)
    after = keras.ops.convert_to_numpy(attention(x))
    assert np.abs(after - before).max() > 1e-3
    # the same as an explicit attention whose kernels are W + alpha/r * A B
    from keras_bert_zoo.layers.attention import MultiHeadSelfAttention

    ref = MultiHeadSelfAttention(attention.hidden_size, attention.num_heads, implementation="explicit")
    ref(x)
    for name in ("query", "key", "value", "output_dense"):
        src, dst = getattr(attention, name), getattr(ref, name)
        dst.kernel.assign(keras.ops.convert_to_numpy(src.kernel))
        dst.bias.assign(keras.ops.convert_to_numpy(src.bias))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ref(x)), after, atol=1e-5)


def test_lora_fit_decreases_loss_and_touches_only_adapters_and_head(tmp_path):
    task = _task()
    task.enable_lora(4)
    frozen = {v.path: keras.ops.convert_to_numpy(v).copy() for v in task.non_trainable_variables
              if "seed_generator" not in v.path}   # dropout RNG state advances, as it should
    x, y = _data()
    task.compile(learning_rate=5e-3)
    history = task.fit(x, y, epochs=4, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    for v in task.non_trainable_variables:
        if v.path in frozen:
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), frozen[v.path], err_msg=v.path)
    assert len(frozen) > 20
    assert any(np.abs(keras.ops.convert_to_numpy(v)).max() > 0 for v in task.trainable_variables
               if "lora_kernel_b" in v.path)

    texts = x[:5]
    want = _logits(task, texts)
    # .keras round trip keeps the adapters
    task.save(tmp_path / "lora.keras")
    loaded = keras.saving.load_model(tmp_path / "lora.keras", safe_mode=True)
    assert loaded.backbone.lora == task.backbone.lora
    np.testing.assert_allclose(_logits(loaded, texts), want, atol=1e-5)
    # adapter-only file onto a fresh copy of the same base model
    task.save_lora_weights(tmp_path / "adapter.safetensors")
    assert (tmp_path / "adapter.safetensors").stat().st_size < 0.35 * (tmp_path / "lora.keras").stat().st_size
    fresh = _task()
    fresh.load_lora_weights(tmp_path / "adapter.safetensors")
    np.testing.assert_allclose(_logits(fresh, texts), want, atol=1e-5)
    # merged into plain kernels: same outputs, no adapters left
    merged = task.merged_lora()
    assert merged.backbone.lora is None and not any("lora" in v.path for v in merged.weights)
    np.testing.assert_allclose(_logits(merged, texts), want, atol=1e-5)


def test_lora_weights_file_errors(tmp_path):
    task = _task()
    task.enable_lora(4)
    task.save_lora_weights(tmp_path / "r4.safetensors")
    other = _task()
    other.enable_lora(2)
    with pytest.raises(TaskError, match=r"r4.safetensors: LoRA setting .* differs"):
        other.load_lora_weights(tmp_path / "r4.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(TaskError, match="junk.safetensors: not a readable LoRA weights file"):
        _task().load_lora_weights(tmp_path / "junk.safetensors")
    with pytest.raises(TaskError, match="not enabled"):
        _task().save_lora_weights(tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.slow
def test_lora_task_exports_merged(tmp_path):
    task = _task()
    task.enable_lora(4)
    for v in task.trainable_variables:
        if "lora_kernel_b" in v.path:
            v.assign(np.full(v.shape, 0.05, "float32"))
    texts = ["the movie was good", "bad and awful", "ok"]
    want = task.predict(texts, verbose=0)["probabilities"]
    result = task.export(tmp_path / "sm" / "1", sample_inputs=texts)
    import tensorflow as tf

    assert result.path == tmp_path / "sm" / "1" and (result.path / "saved_model.pb").is_file()
    served = tf.saved_model.load(str(result.path)).signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(served["probabilities"].numpy(), want, atol=1e-5)
