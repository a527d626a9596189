"""The Chinese demo's pieces (keras_bert_zoo.apps.demo_zh): budget split, config checks, the Chinese vocabulary,
the entity metric and spans, the baselines, tick labels. The command end to end: tests/cli/test_demo_zh.py."""

import sys

import pytest

from keras_bert_zoo.apps import baselines, demo_zh
from keras_bert_zoo.apps.demo_zh.config import PROBE_FRACTION
from tests.conftest import require


# ------------------------------------------------------------------------------------------------ fast pieces
def test_without_the_crf_baseline_its_share_goes_to_fine_tuning(monkeypatch):
    import importlib.util

    assert demo_zh.budget_fractions(True) == demo_zh.BUDGET_FRACTIONS
    assert demo_zh.budget_fractions(False) == demo_zh.BUDGET_FRACTIONS_NO_CRF
    assert sum(demo_zh.BUDGET_FRACTIONS_NO_CRF.values()) == pytest.approx(1.0)
    with_crf, without = demo_zh.BUDGET_FRACTIONS, demo_zh.BUDGET_FRACTIONS_NO_CRF
    assert without["pretrain"] == with_crf["pretrain"] and without["other"] < with_crf["other"]
    assert all(without[k] > with_crf[k] for k in ("finetune_sentiment", "finetune_ner"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)          # not installed
    assert demo_zh.budget_fractions() == without


def test_budget_split_fractions_probes_and_long_runs():
    b = demo_zh.budget_split(2400.0, lr_grid_size=2, ner_lr_grid_size=3)
    assert sum(demo_zh.BUDGET_FRACTIONS.values()) == pytest.approx(1.0)
    assert b["pretrain"] == pytest.approx(2400 * demo_zh.BUDGET_FRACTIONS["pretrain"])
    assert (b["sentiment_probes"], b["ner_probes"]) == (4, 6)       # 2 arms x the grid of each task
    assert (b["sentiment_runs"], b["ner_runs"]) == (2, 2)           # then one long run per arm
    p = PROBE_FRACTION
    for task, share in (("sentiment", "finetune_sentiment"), ("ner", "finetune_ner")):
        total = 2400 * demo_zh.BUDGET_FRACTIONS[share]
        assert b[f"{task}_probe"] * b[f"{task}_probes"] == pytest.approx(total * p)
        assert b[f"{task}_run"] == pytest.approx(total * (1 - p) / 2)
        assert b[f"{task}_run"] > 4 * b[f"{task}_probe"]           # the budget goes to the long runs
    spent = (b["pretrain"] + 4 * b["sentiment_probe"] + 6 * b["ner_probe"] + 2 * b["sentiment_run"]
             + 2 * b["ner_run"] + b["other"])
    assert spent == pytest.approx(2400.0)
    one = demo_zh.budget_split(60.0, 1)                              # one learning rate: nothing to probe
    assert (one["ner_probes"], one["ner_probe"]) == (0, 0.0)
    assert one["ner_run"] == pytest.approx(60 * demo_zh.BUDGET_FRACTIONS["finetune_ner"] / 2)
    # fine-tuning gets more of the enforced budget than pretraining (a 45 % pretraining share left both arms
    # under-trained), and "other" covers the 576 s the baselines and exports measured at 40 minutes
    f = demo_zh.BUDGET_FRACTIONS
    assert f["finetune_sentiment"] + f["finetune_ner"] > f["pretrain"] and f["other"] * 2400 >= 576
    with pytest.raises(ValueError, match="sum to 1"):
        demo_zh.budget_split(60.0, 1, fractions={"pretrain": 0.5, "finetune_sentiment": 0.1,
                                                 "finetune_ner": 0.1, "other": 0.1})


def test_long_run_keeps_the_best_weights_and_stops_early():
    """The long run's callback (apps.demo_zh.finetune.best_validation) on a real Keras model: the scores of its
    epochs come from a list; training stops ``patience`` evaluations after the best, whose weights are restored."""
    import keras
    import numpy as np

    from keras_bert_zoo.apps.demo_zh.finetune import best_validation

    scores, weights = [0.1, 0.5, 0.3, 0.2, 0.4, 0.9, 0.9], []

    def score(model):
        weights.append(model.get_weights())
        return scores[len(weights) - 1]

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    best = best_validation(score, patience=3, steps_per_epoch=4)
    x, y = np.random.default_rng(0).normal(size=(16, 3)), np.random.default_rng(1).normal(size=(16, 2))
    model.fit(x, y, batch_size=4, epochs=len(scores), verbose=0, callbacks=[best])
    assert len(best.evaluations) == 5 and best.stopped_early                   # 0.5 at epoch 2, then 3 worse
    assert best.best == best.evaluations[1] and best.best["steps"] == 8
    for got, want in zip(model.get_weights(), weights[1]):
        np.testing.assert_array_equal(got, want)
    assert not np.allclose(weights[1][0], weights[4][0])                       # training did move them


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="time_budget_min"):
        demo_zh.ZhDemoConfig(time_budget_min=0)
    with pytest.raises(ValueError, match="lr_grid"):
        demo_zh.ZhDemoConfig(lr_grid=())
    with pytest.raises(ValueError, match="--ner_lr_grid"):
        demo_zh.ZhDemoConfig(ner_lr_grid=(1e-3, -1.0))
    with pytest.raises(ValueError, match="max_train_examples"):
        demo_zh.ZhDemoConfig(max_train_examples=-1)


TEXTS = ["这家酒店的服务很好", "房间太小了，服务一般", "北京欢迎你", "Windows XP 系统很好装", "windows 7 还行",
         "价格 1999 元", "酒店在北京", "服务 很好 价格 一般", "屏幕 很好，键盘一般！", "罕"]


def test_vocab_covers_the_corpus_characters():
    tokens, info = demo_zh.chinese_vocabulary(TEXTS * 3, min_char_count=2, wordpiece_tokens=50)
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = set(tokens)
    counts = demo_zh.char_counts(TEXTS * 3)
    assert all(c in vocab for c in counts)                           # every character (each seen 3 times)
    assert info["character_coverage"] == 1.0 and info["character_occurrences_not_in_vocab"] == 0
    assert not [t for t in tokens if t.startswith("##") and len(t) == 3 and ("\u4e00" <= t[2] <= "\u9fff"
                                                                            or t[2] in "，！")]
    assert "windows" in vocab or "##indows" in vocab or any(t.startswith("##") and len(t) > 3 for t in tokens)
    assert info["cjk_tokens"] == info["distinct_cjk_characters"] == sum(1 for c in counts if "\u4e00" <= c <= "\u9fff")
    assert len(tokens) == len(set(tokens)) == info["vocab_size"]
    # a character seen once is left out with min_char_count=2 and kept with 1
    tokens, info = demo_zh.chinese_vocabulary(TEXTS, min_char_count=2, wordpiece_tokens=10)
    assert "罕" not in tokens and info["character_coverage"] < 1.0
    tokens, _ = demo_zh.chinese_vocabulary(TEXTS, min_char_count=1, wordpiece_tokens=10)
    assert "罕" in tokens


def test_vocab_tokenizes_chinese_without_unknowns():
    from keras_bert_zoo.text import WordPieceTokenizer

    tokens, _ = demo_zh.chinese_vocabulary(TEXTS * 2, min_char_count=2, wordpiece_tokens=50)
    tok = WordPieceTokenizer(tokens, lowercase=True)
    ids = tok(["这家酒店的服务很好，windows 7"]).flat_values.numpy().tolist()
    assert tokens.index("[UNK]") not in ids
    assert [tokens[i] for i in ids][:9] == list("这家酒店的服务很好")


def test_drop_unreachable_continuations():
    from keras_bert_zoo.text.vocab import drop_unreachable_continuations

    kept = drop_unreachable_continuations(["[PAD]", "中", "##中", "##a", "##，", "##!", "ab", "##ab", "##é"])
    assert kept == ["[PAD]", "中", "##a", "ab", "##ab", "##é"]


def test_entity_metric_matches_seqeval():
    """The package's entity metric (keras_bert_zoo.tasks.token_classifier.entity_scores) has seqeval's
    (default, lenient) semantics on character BIO tags; seqeval is the test-only reference."""
    seqeval = require("seqeval.metrics")
    from keras_bert_zoo.metrics.entities import entity_scores

    gold = [["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "B-ORG", "I-ORG"],
            ["O", "B-LOC", "I-LOC", "O", "B-PER", "I-PER"], ["O", "O", "O"]]
    pred = [["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-ORG", "I-ORG"],
            ["O", "I-LOC", "I-LOC", "O", "B-PER", "I-PER"], ["B-ORG", "O", "O"]]
    ours = entity_scores(gold, pred)
    assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred))
    assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred))
    assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred))
    report = seqeval.classification_report(gold, pred, output_dict=True)
    for ty in ("PER", "LOC", "ORG"):
        assert ours["per_type"][ty]["f1"] == pytest.approx(report[ty]["f1-score"])
        assert ours["per_type"][ty]["support"] == report[ty]["support"]


def test_entity_spans():
    spans = demo_zh.entity_spans("江泽民在北京", ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"])
    assert spans == [{"type": "PER", "start": 0, "end": 3, "text": "江泽民"},
                     {"type": "LOC", "start": 4, "end": 6, "text": "北京"}]
    assert demo_zh.entity_spans("好", ["O"]) == []


def test_tfidf_char_baseline_runs_on_a_few_examples():
    pos = ["服务很好", "很好很满意", "房间很好", "价格便宜很好"]
    neg = ["服务很差", "很差不满意", "房间很差", "价格贵很差"]
    train = (pos + neg, ["positive"] * 4 + ["negative"] * 4)
    test = (["真的很好", "真的很差"], ["positive", "negative"])
    report = baselines.tfidf_char_baseline(train, test)
    assert report["num_examples"] == 2 and report["accuracy"] == 1.0


def test_crf_baseline_is_optional(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn_crfsuite", None)       # as when it is not installed
    assert baselines.crf_char_baseline([("北京", ["B-LOC", "I-LOC"])], [("北京", ["B-LOC", "I-LOC"])]) is None


def test_crf_features_window_and_bigrams():
    f = baselines.crf_features("江泽民在北京", 1)
    assert f["c[0]"] == "泽" and f["c[-1]"] == "江" and f["c[2]"] == "在" and f["c[-2]"] == "\x02"
    assert f["c[-1:1]"] == "江泽" and f["c[0:2]"] == "泽民"


def test_crf_baseline_runs_when_installed():
    require("sklearn_crfsuite")
    train = [("江泽民在北京", ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"]),
             ("李鹏在上海", ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"])] * 5
    scores, pred = baselines.crf_char_baseline(train, train[:2], max_iterations=20)
    assert scores["f1"] > 0.5 and len(pred[0]) == 6


def test_tick_labels_without_a_cjk_font():
    assert demo_zh.tick_label("[CLS]", False) == "[CLS]"
    assert demo_zh.tick_label("中", False) == "U+4E2D"
    assert demo_zh.tick_label("中", True) == "中"
    assert demo_zh.tick_label("，", False) == "U+FF0C"
    assert demo_zh.cjk_font() is None or isinstance(demo_zh.cjk_font(), str)
