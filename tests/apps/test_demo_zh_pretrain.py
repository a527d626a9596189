"""The Chinese demo's pretraining recipe (keras_bert_zoo.apps.demo_zh.pretrain, issue 28): the recipe's masking,
held-out yardsticks that do not depend on the recipe, and a tiny corpus memorised (labels, weights and loss
right: a few sentences reach ~100 % MLM accuracy)."""

import numpy as np
import pytest

from keras_bert_zoo.apps.demo_zh import ZhDemoConfig
from keras_bert_zoo.apps.demo_zh import pretrain as Pre

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("我们今天去北京看天安门很好的。这家酒店服务房间太小了")
DOCS = [["我们 今天 去 北京 看 天安门 。", "很 好 的 。"], ["这家 酒店 的 服务 很 好 。", "房间 太 小 了 。"]]


def test_recipe_masking_room_and_config_checks():
    d = Pre.data_config(ZhDemoConfig(pretrain_masked_lm_prob=0.15, pretrain_whole_word_masking=True))
    assert (d.masked_lm_prob, d.max_predictions_per_seq, d.whole_word_masking) == (0.15, 20, True)  # BERT's
    d = Pre.data_config(ZhDemoConfig())                                       # the demo's (issue 28)
    assert (d.masked_lm_prob, d.max_predictions_per_seq, d.whole_word_masking) == (0.4, 52, False)
    assert not ZhDemoConfig().pretrain_nsp
    for bad, message in (({"pretrain_masked_lm_prob": 0.0}, "pretrain_masked_lm_prob"),
                         ({"pretrain_warmup_fraction": 1.0}, "pretrain_warmup_fraction"),
                         ({"pretrain_batch_size": 0}, "pretrain_batch_size"),
                         ({"evaluations_per_run": 0}, "evaluations_per_run")):
        with pytest.raises(ValueError, match=message):
            ZhDemoConfig(**bad)


def test_heldout_batches_do_not_depend_on_the_recipe():
    ids, _, held, _ = Pre.tokenized(VOCAB, DOCS, DOCS * 40)
    base = Pre.heldout_batches(ZhDemoConfig(sequence_length=32, heldout_batches=2), ids, held)
    other = Pre.heldout_batches(ZhDemoConfig(sequence_length=32, heldout_batches=2, pretrain_masked_lm_prob=0.4,
                                             pretrain_whole_word_masking=False, pretrain_nsp=False,
                                             pretrain_batch_size=8), ids, held)
    assert set(base) == set(Pre.HELDOUT_MASKINGS) == {"heldout", "heldout_char"}
    for prefix in base:
        for (xa, ya, wa), (xb, yb, wb) in zip(base[prefix], other[prefix]):
            np.testing.assert_array_equal(xa["token_ids"], xb["token_ids"])
            np.testing.assert_array_equal(ya["mlm_logits"], yb["mlm_logits"])
    # whole-word masking masks a word's characters together: 安 (only in 天安门) is never masked alone
    an = VOCAB.index("安")
    seen = alone = 0
    for x, y, w in base["heldout"]:
        for pos, labels, weight in zip(np.asarray(x["mask_positions"]), np.asarray(y["mlm_logits"]),
                                       np.asarray(w["mlm_logits"])):
            masked = set(pos[weight > 0].tolist())
            for p, t in zip(pos[weight > 0], labels[weight > 0]):
                seen += t == an
                alone += t == an and not {p - 1, p + 1} <= masked
    assert seen and not alone


@pytest.mark.slow
def test_a_few_sentences_are_memorised():
    """The demo's model and recipe (per-character 40 % masking, no NSP) on two short documents: the MLM accuracy
    on new masks of the same sentences reaches ~100 % (a wrong label position, weight or loss would not)."""
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.train.optimizers import WarmupLinearDecay

    cfg = ZhDemoConfig(sequence_length=32, pretrain_masked_lm_prob=0.4, pretrain_whole_word_masking=False,
                       pretrain_nsp=False, pretrain_batch_size=8)
    ids, docs, held, _ = Pre.tokenized(VOCAB, DOCS, DOCS)
    model = Pre.build_model(cfg, len(VOCAB), WarmupLinearDecay(2e-3, 400, warmup_steps=20))
    evaluate = Pre.heldout_evaluation(model, Pre.heldout_batches(cfg, ids, held))
    before = evaluate()["heldout_char_mlm_accuracy"]
    model.fit(P.dynamic_dataset(docs, ids, Pre.data_config(cfg), 8, seed=1), steps_per_epoch=400, epochs=1,
              verbose=0)
    after = evaluate()
    assert before < 0.3 and after["heldout_char_mlm_accuracy"] >= 0.95, (before, after)
