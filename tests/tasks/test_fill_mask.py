"""Masked-LM fill-in: [MASK] positions from raw strings, top-k decoding, MLM fine-tuning with model.fit."""

import keras
import numpy as np
import tensorflow as tf

import tiny5b
from keras_bert_zoo.models.tasks import BertMaskedLM
from keras_bert_zoo.tasks import BertTask, get_task_class
from keras_bert_zoo.tasks.fill_mask import FillMask

MLM = tiny5b.FIXTURES / "mlm.txt"


def test_mask_positions_and_topk(tmp_path):
    tok = tiny5b.tokenizer()
    # a converted BertMaskedLM without mask positions is rebuilt with them, keeping the head's weights
    plain = BertMaskedLM(tiny5b.backbone(tok.vocab_size))
    task = FillMask(plain, tok, sequence_length=12, top_k=3)
    assert task.model.use_mask_positions
    for a, b in zip(plain.mlm_head.get_weights(), task.model.mlm_head.get_weights()):
        np.testing.assert_array_equal(a, b)
    texts = ["the [MASK] sat on the [MASK] .", "北[MASK]是中国的首都。", "no mask here",
             "the cat sat on the mat and the dog sat on the [MASK]"]
    packed = task.preprocess({"text": tf.constant(texts)})
    ids = packed["token_ids"].numpy()
    assert packed["num_masks"].numpy().tolist() == [2, 1, 0, 0]          # the last mask is past the 12 tokens
    for b, n in enumerate(packed["num_masks"].numpy()):
        for p in packed["mask_positions"].numpy()[b][:n]:
            assert ids[b, p] == tok.mask_id
    assert tok.id_to_token(ids[0, 1]) == "the" and tok.id_to_token(ids[1, 1]) == "北"
    out = task.predict(texts)
    assert [len(o["masks"]) for o in out] == [2, 1, 0, 0]
    top = out[0]["masks"][0]
    assert len(top) == 3 and top[0]["score"] >= top[1]["score"] >= top[2]["score"]
    assert top[0]["token"] == tok.id_to_token(top[0]["id"])


def test_finetune_save_load(tmp_path):
    tok = tiny5b.tokenizer()
    task = get_task_class("fill_mask").from_train_file(MLM, tiny5b.backbone(tok.vocab_size, num_layers=1), tok,
                                                       sequence_length=16, masked_lm_prob=0.3)
    ds = task.dataset_from_file(MLM, batch_size=6, training=True)
    x, y, w = next(iter(ds))
    assert x["mask_positions"].shape == y.shape == w.shape and w.numpy().sum() > 0
    # labels are the original ids at the masked positions
    task.compile(keras.optimizers.Adam(1e-2))
    hist = task.model.fit(ds.cache().repeat(4), epochs=3, verbose=0).history["loss"]
    assert hist[-1] < hist[0]
    res = task.evaluate_file(MLM)
    assert {"loss", "mlm_accuracy", "perplexity"} <= set(res)
    task.save(tmp_path / "fm")
    again = BertTask.load(tmp_path / "fm")
    assert isinstance(again, FillMask) and again.top_k == task.top_k
    assert again.predict(["the [MASK] sat ."]) == task.predict(["the [MASK] sat ."])
