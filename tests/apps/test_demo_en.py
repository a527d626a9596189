"""The English demo's pieces (keras_bert_zoo.apps.demo_en and the helpers it shares with examples/ and
benchmarks/): stratified subsets, the word TF-IDF baseline, atomic outputs. The command end to end:
tests/cli/test_demo_en.py."""

import collections
import json

from keras_bert_zoo.apps import baselines, common
from keras_bert_zoo.apps.demo_en import EnDemoConfig


def test_stratified_subset_keeps_proportions_and_is_deterministic():
    texts = [f"t{i}" for i in range(100)]
    labels = ["a"] * 70 + ["b"] * 30
    sub = common.stratified_subset((texts, labels), 20, seed=3)
    assert collections.Counter(sub[1]) == {"a": 14, "b": 6}
    assert sub == common.stratified_subset((texts, labels), 20, seed=3)
    assert all(labels[int(t[1:])] == y for t, y in zip(*sub))        # pairs stay together
    assert common.stratified_subset((texts, labels), 0, seed=3) == (texts, labels)
    assert common.stratified_subset((texts, labels), 500, seed=3) == (texts, labels)


def test_word_tfidf_baseline_scores_with_the_package_metrics():
    pos = ["great phone love it", "love the great screen", "great battery love", "love love great"]
    neg = ["awful phone hate it", "hate the awful screen", "awful battery hate", "hate hate awful"]
    report = baselines.tfidf_baseline((pos + neg, ["pos"] * 4 + ["neg"] * 4),
                                      (["love this great", "hate this awful"], ["pos", "neg"]), ["neg", "pos"])
    assert report["num_examples"] == 2 and report["accuracy"] == 1.0 and "mcc" in report


def test_outputs_are_written_atomically(tmp_path):
    common.write_json(tmp_path / "out" / "summary.json", {"a": 1, "b": "中"}, ensure_ascii=False)
    assert json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8")) == {"a": 1, "b": "中"}
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["summary.json"]
    assert common.pick({"a": 1, "b": 2}, ("b", "c")) == {"b": 2}


def test_config_defaults_are_the_documented_run():
    cfg = EnDemoConfig()
    assert (cfg.train_examples, cfg.sequence_length, cfg.learning_rate, cfg.epochs) == (15000, 64, 8e-5, 1)
    assert (cfg.out, cfg.export, cfg.class_weight) == ("runs/demo_tweet_sentiment", "saved_models", "balanced")
