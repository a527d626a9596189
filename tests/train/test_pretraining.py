"""The pretrainer: HF BertForPreTraining parity, masked loss/metrics, loss decreasing, checkpoints and resume."""

import os

import keras
import numpy as np
import pytest

from keras_bert_zoo.data import pretraining as P
from keras_bert_zoo.tasks.pretrainer import build_pretrainer, compile_pretrainer
from keras_bert_zoo.train import pretraining as TP
from tests.conftest import TINY, require


def _copy_hf_weights(model, hf):
    """Explicit name mapping HF BertForPreTraining -> tasks.Pretrainer (torch Linear weight = our kernel^T)."""
    sd = {k: v.detach().numpy() for k, v in hf.state_dict().items()}

    def dense(layer, prefix):
        layer.kernel.assign(sd[prefix + ".weight"].T)
        layer.bias.assign(sd[prefix + ".bias"])

    def norm(layer, prefix):
        layer.gamma.assign(sd[prefix + ".weight"])
        layer.beta.assign(sd[prefix + ".bias"])

    bb = model.backbone
    emb = bb.embeddings
    emb.token_embedding.embeddings.assign(sd["bert.embeddings.word_embeddings.weight"])
    emb.segment_embedding.embeddings.assign(sd["bert.embeddings.token_type_embeddings.weight"])
    emb.position_embedding.assign(sd["bert.embeddings.position_embeddings.weight"])
    norm(emb.layer_norm, "bert.embeddings.LayerNorm")
    for i, block in enumerate(bb.encoder_blocks):
        p = f"bert.encoder.layer.{i}"
        dense(block.attention.query, p + ".attention.self.query")
        dense(block.attention.key, p + ".attention.self.key")
        dense(block.attention.value, p + ".attention.self.value")
        dense(block.attention.output_dense, p + ".attention.output.dense")
        norm(block.attention_layer_norm, p + ".attention.output.LayerNorm")
        dense(block.intermediate, p + ".intermediate.dense")
        dense(block.output_dense, p + ".output.dense")
        norm(block.output_layer_norm, p + ".output.LayerNorm")
    dense(bb.pooler.dense, "bert.pooler.dense")
    dense(model.mlm_head.transform, "cls.predictions.transform.dense")
    norm(model.mlm_head.layer_norm, "cls.predictions.transform.LayerNorm")
    model.mlm_head.output_bias.assign(sd["cls.predictions.bias"])
    dense(model.nsp_head, "cls.seq_relationship")


def test_logits_match_hf_bert_for_pretraining(tmp_path):
    torch = require("torch")
    transformers = require("transformers")
    torch.manual_seed(0)
    hf_config = transformers.BertConfig(**TINY.to_hf_dict())  # the same tiny shape on the HF side
    hf = transformers.BertForPreTraining(hf_config).eval()
    with torch.no_grad():   # random (non-zero) biases and LayerNorm params so nothing hides behind zeros
        for name, p in hf.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    model = build_pretrainer(TINY)
    _copy_hf_weights(model, hf)
    # the same checkpoint through the package's converter (HF directory -> tasks.Pretrainer)
    from keras_bert_zoo.convert import from_hf

    hf.save_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                                                  + [f"w{i}" for i in range(5, 99)]) + "\n", encoding="utf-8")

    converted, _ = from_hf(tmp_path)
    assert type(converted).__name__ == "Pretrainer"

    rng = np.random.default_rng(0)
    token_ids = rng.integers(5, 99, (3, 7)).astype(np.int32)
    token_ids[:, 0] = 2
    padding_mask = np.ones((3, 7), np.int32)
    padding_mask[1, 5:] = 0
    padding_mask[2, 3:] = 0
    token_ids[padding_mask == 0] = 0
    segment_ids = np.zeros((3, 7), np.int32)
    segment_ids[0, 4:] = 1
    positions = np.array([[1, 3, 6], [2, 4, 0], [1, 2, 0]], np.int32)
    inputs = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask,
              "mask_positions": positions}
    ours = model(inputs)
    theirs = converted(inputs)
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor(token_ids, dtype=torch.long), attention_mask=torch.tensor(padding_mask),
                 token_type_ids=torch.tensor(segment_ids, dtype=torch.long))
    ref_mlm = np.take_along_axis(ref.prediction_logits.numpy(), positions[:, :, None].astype(np.int64), axis=1)
    mlm_diff = np.abs(np.asarray(ours["mlm_logits"]) - ref_mlm).max()
    nsp_diff = np.abs(np.asarray(ours["nsp_logits"]) - ref.seq_relationship_logits.numpy()).max()
    assert mlm_diff <= 1e-4 and nsp_diff <= 1e-4, (mlm_diff, nsp_diff)
    conv_mlm = np.abs(np.asarray(theirs["mlm_logits"]) - ref_mlm).max()
    conv_nsp = np.abs(np.asarray(theirs["nsp_logits"]) - ref.seq_relationship_logits.numpy()).max()
    assert conv_mlm <= 1e-4 and conv_nsp <= 1e-4, (conv_mlm, conv_nsp)
    print(f"\nBertForPreTraining parity: mlm {mlm_diff:.1e} nsp {nsp_diff:.1e}; "
          f"via convert.from_hf: mlm {conv_mlm:.1e} nsp {conv_nsp:.1e}")


def test_masked_loss_and_metrics_ignore_padding_predictions():
    model = compile_pretrainer(build_pretrainer(TINY), jit_compile=False)
    rng = np.random.default_rng(1)
    x = {"token_ids": rng.integers(5, 99, (4, 7)).astype(np.int32), "segment_ids": np.zeros((4, 7), np.int32),
         "padding_mask": np.ones((4, 7), np.int32), "mask_positions": np.array([[1, 2, 0]] * 4, np.int32)}
    weights = np.array([[1, 1, 0]] * 4, np.float32)
    y = {"mlm_logits": rng.integers(5, 99, (4, 3)).astype(np.int32), "nsp_logits": np.array([0, 1, 0, 1], np.int32)}
    sw = {"mlm_logits": weights, "nsp_logits": np.ones(4, np.float32)}
    res = model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    y2 = {"mlm_logits": y["mlm_logits"].copy(), "nsp_logits": y["nsp_logits"]}
    y2["mlm_logits"][:, 2] = 7                                      # a different label at padding predictions
    res2 = model.evaluate(x, y2, sample_weight=sw, verbose=0, return_dict=True)
    for key in ("mlm_logits_loss", "mlm_logits_accuracy", "mlm_logits_perplexity"):
        assert res[key] == pytest.approx(res2[key], rel=1e-6), key

    out = model.predict(x, verbose=0)
    logits = out["mlm_logits"].astype(np.float64)
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    ce = -np.take_along_axis(logp, y["mlm_logits"][:, :, None].astype(np.int64), -1)[..., 0]
    mean_ce = (ce * weights).sum() / weights.sum()                  # the reference divides by sum of weights
    assert res["mlm_logits_loss"] == pytest.approx(mean_ce, rel=1e-4)
    assert res["mlm_logits_perplexity"] == pytest.approx(np.exp(mean_ce), rel=1e-4)
    acc = ((logits.argmax(-1) == y["mlm_logits"]) * weights).sum() / weights.sum()
    assert res["mlm_logits_accuracy"] == pytest.approx(acc)


def _tiny_corpus():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(5, 99)]
    ids = P.TokenIds.from_vocabulary(vocab)
    # learnable structure: every sentence counts up from a random start, documents continue the count
    rng = np.random.default_rng(0)
    docs = []
    for _ in range(30):
        start = int(rng.integers(5, 50))
        doc = []
        for _ in range(6):
            sentence = np.arange(start, start + 4, dtype=np.int32)
            doc.append((sentence, np.ones(4, bool)))
            start += 4
        docs.append(doc)
    return ids, docs


def test_loss_decreases_and_training_resumes_from_backup(tmp_path):
    ids, docs = _tiny_corpus()
    cfg = P.PretrainingDataConfig(max_seq_length=16, max_predictions_per_seq=4, short_seq_prob=0.0)
    ds = P.dynamic_dataset(docs, ids, cfg, batch_size=16, seed=0)
    model = compile_pretrainer(build_pretrainer(TINY), TP.make_pretraining_optimizer(
        learning_rate=3e-3, total_steps=75, warmup_steps=10), jit_compile=False)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:        # runs before the checkpoint callbacks: epochs 1-2 are saved, 3 is lost
                raise RuntimeError("simulated preemption")

    ckpt = str(tmp_path / "ckpt")
    with pytest.raises(RuntimeError, match="preemption"):
        TP.fit_pretrainer(model, ds, steps_per_epoch=15, epochs=5, checkpoint_dir=ckpt, verbose=0,
                          callbacks=[Interrupt()])
    assert sorted(os.listdir(ckpt)) == ["backup", "pretrainer-epoch001.keras", "pretrainer-epoch002.keras"]
    first_epoch_loss = model.history.history["mlm_logits_loss"][0]
    # resume in a fresh model: BackupAndRestore restores weights + optimizer state and skips finished epochs
    fresh = compile_pretrainer(build_pretrainer(TINY), TP.make_pretraining_optimizer(
        learning_rate=3e-3, total_steps=75, warmup_steps=10), jit_compile=False)
    history, info = TP.fit_pretrainer(fresh, ds, steps_per_epoch=15, epochs=5, checkpoint_dir=ckpt, verbose=0,
                                      tokens_per_step=16 * 16)
    assert len(history.history["loss"]) == 3                          # epochs 3..5 only
    assert int(fresh.optimizer.iterations) == 75
    losses = history.history["mlm_logits_loss"]
    assert losses[-1] < first_epoch_loss - 0.3, (first_epoch_loss, losses)
    assert history.history["nsp_logits_loss"][-1] < 0.69
    assert info["tokens_per_second"] > 0
    reloaded = keras.saving.load_model(os.path.join(ckpt, "pretrainer-epoch005.keras"), safe_mode=True)
    for a, b in zip(fresh.weights, reloaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_lamb_and_weight_decay_exclusions():
    model = build_pretrainer(TINY)
    for name in ("adamw", "lamb"):
        opt = TP.make_pretraining_optimizer(name, learning_rate=1e-3, total_steps=10)
        compile_pretrainer(model, opt, jit_compile=False)
        opt.build(model.trainable_variables)
        excluded = {v.path for v in model.trainable_variables if not opt._use_weight_decay(v)}
        assert any("layer_norm/gamma" in p for p in excluded) and any(p.endswith("bias") for p in excluded)
        assert not any(p.endswith("kernel") for p in excluded)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TP.make_pretraining_optimizer("sgd")


@pytest.mark.slow
def test_mixed_precision_and_xla_steps():
    ids, docs = _tiny_corpus()
    cfg = P.PretrainingDataConfig(max_seq_length=16, max_predictions_per_seq=4)
    ds = P.dynamic_dataset(docs, ids, cfg, batch_size=8, seed=0)
    for dtype in ("mixed_bfloat16", "mixed_float16"):
        model = compile_pretrainer(build_pretrainer(TINY, dtype=dtype), jit_compile=True)
        history = model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][-1])
        if dtype == "mixed_float16":
            assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
