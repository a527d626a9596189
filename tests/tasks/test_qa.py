"""Extractive QA: official SQuAD EM/F1 on hand-made cases, answer alignment through offsets, n-best decoding
rules, training on SQuAD v1.1 / v2.0 files."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import tiny5b
from keras_bert_zoo.data.squad import read_squad
from keras_bert_zoo.tasks import BertTask, get_task_class
from keras_bert_zoo.tasks import windows as W
from keras_bert_zoo.tasks.qa import QuestionAnswerer, exact_match, f1_score, normalize_answer, squad_scores

V1 = tiny5b.FIXTURES / "squad_v1.json"
V2 = tiny5b.FIXTURES / "squad_v2.json"


@pytest.fixture(scope="module")
def tok():
    return tiny5b.tokenizer()


def test_official_normalisation_and_scores_by_hand():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear & the  end.") == "apple pear end"
    assert normalize_answer("theater anarchy") == "theater anarchy"          # articles only as whole words
    assert normalize_answer("Levi's Stadium") == "levis stadium"
    assert normalize_answer("São Paulo — «ok»") == "são paulo — «ok»"        # only ASCII punctuation is dropped
    assert exact_match("the Broncos", "Broncos.") == 1
    # pred "denver broncos team" vs gold "broncos": p = 1/3, r = 1 -> f1 = 0.5
    assert f1_score("Denver Broncos team", "the Broncos") == pytest.approx(0.5)
    assert f1_score("x y y", "y y z") == pytest.approx(2 / 3)               # counts, not sets
    assert f1_score("a b b", "b b c") == pytest.approx(0.8)                 # "a" is an article: dropped
    assert f1_score("", "") == 1.0 and f1_score("x", "") == 0.0            # v2.0 rule
    assert f1_score("", "", version="1.1") == 0.0                          # v1.1 script has no such rule
    examples, version = read_squad(V2)
    assert version == "2.0"
    preds = {e.id: (e.answers[0][0] if e.answers else "") for e in examples}
    preds["q1"] = "the Denver Broncos team"                                # EM 0, F1 0.8
    preds["q4"] = "Beyoncé"                                                # no-answer question answered: 0
    s = squad_scores(examples, preds, version)
    n = len(examples)
    assert s["exact"] == pytest.approx(100 * (n - 2) / n)
    assert s["f1"] == pytest.approx(100 * (n - 2 + 0.8) / n)
    assert s["HasAns_total"] == 7 and s["NoAns_total"] == 3
    assert s["NoAns_exact"] == pytest.approx(100 * 2 / 3)
    with pytest.raises(ValueError, match="no prediction"):
        squad_scores(examples, {}, version)


def test_answer_positions_through_offsets(tok):
    qa = QuestionAnswerer.build(tiny5b.backbone(tok.vocab_size), tok, sequence_length=24, stride=4,
                                max_query_length=8)
    examples, _ = read_squad(V2)
    ex = [e for e in examples if e.id in ("q3", "q5", "q9", "q10")]
    a0 = [len(e.context[:e.answers[0][1]].encode()) if e.answers else -1 for e in ex]
    a1 = [a + len(e.answers[0][0].encode()) if e.answers else -1 for a, e in zip(a0, ex)]
    packed, y = qa.featurize(tf.constant([e.question for e in ex]), tf.constant([e.context for e in ex]),
                             tf.constant(a0, tf.int64), tf.constant(a1, tf.int64))
    _, windows, b_offset, cs, ce = qa._windows(tf.constant([e.question for e in ex]),
                                               tf.constant([e.context for e in ex]))
    index = W.packed_token_index(windows, b_offset, 24).numpy()
    cs, ce = cs.to_list(), ce.to_list()
    found = set()
    for k, b in enumerate(windows.example_index.numpy()):
        s, e = int(y["start_logits"][k]), int(y["end_logits"][k])
        if s == 0:
            assert e == 0
            continue
        ctx = ex[b].context.encode()
        text = ctx[cs[b][index[k, s]]:ce[b][index[k, e]]].decode()
        assert text == ex[b].answers[0][0]
        found.add(b)
    assert found == {0, 1, 2}                                              # q10 has no answer


def test_decoding_rules(tok):
    qa = QuestionAnswerer.build(tiny5b.backbone(tok.vocab_size), tok, sequence_length=16, stride=3,
                                max_query_length=4, max_answer_length=3, n_best=4, version_2=True,
                                null_threshold=0.0)
    context = "the cat sat on the mat and the dog sat on the log ."
    _, windows, b_offset, cs, ce = qa._windows(tf.constant(["cat ?"]), tf.constant([context]))
    index = W.packed_token_index(windows, b_offset, 16).numpy()
    nw = index.shape[0]
    assert nw > 1
    start = np.full([nw, 16], -5.0, np.float32)
    end = np.full([nw, 16], -5.0, np.float32)
    tokens = ce.to_list()[0]
    # the best start is token 8 ("dog") and the best end token 12 ("log"): too long (5 > 3 tokens) as a pair
    for k in range(nw):
        for p in range(16):
            if index[k, p] == 8:
                start[k, p] = 6.0
            if index[k, p] == 12:
                end[k, p] = 6.0
            if index[k, p] == 9:
                end[k, p] = 2.0
    start[:, 0] = end[:, 0] = -10.0
    out = qa.decode_windows(tf.constant(start), tf.constant(end), windows, b_offset, cs, ce, tf.constant([context]))
    res = qa.decode({k: np.asarray(v) for k, v in out.items()})[0]
    assert res["answer"] == "dog sat" and context[res["start"]:res["end"]] == "dog sat"
    assert res["score"] == pytest.approx(8.0)
    assert all(c["end"] - c["start"] <= len("dog sat on") for c in res["nbest"])
    assert len(res["nbest"]) == 4 and res["nbest"] == sorted(res["nbest"], key=lambda c: -c["score"])
    # a strong null score makes the v2.0 answer empty
    start[:, 0] = end[:, 0] = 9.0
    out = qa.decode_windows(tf.constant(start), tf.constant(end), windows, b_offset, cs, ce, tf.constant([context]))
    res = qa.decode({k: np.asarray(v) for k, v in out.items()})[0]
    assert res["answer"] == "" and res["start"] == -1 and res["null_score_diff"] == pytest.approx(10.0)
    assert res["nbest"][0]["text"] == "dog sat"


@pytest.mark.parametrize("path", [V2, pytest.param(V1, marks=pytest.mark.slow)])
def test_train_evaluate_predict(tok, tmp_path, path):
    task = get_task_class("qa").from_train_file(path, tiny5b.backbone(tok.vocab_size, num_layers=1), tok, sequence_length=32,
                                                stride=8, max_query_length=12)
    assert task.version_2 == (path == V2)
    ds = task.dataset_from_file(path, batch_size=8, training=True)
    task.compile(keras.optimizers.Adam(5e-3))
    hist = task.model.fit(ds.repeat(3), epochs=3, verbose=0).history["loss"]
    assert hist[-1] < 0.6 * hist[0]
    scores = task.evaluate_file(path, out_dir=tmp_path)
    assert {"exact", "f1", "total"} <= set(scores) and 0 <= scores["exact"] <= scores["f1"] <= 100
    preds = json.loads((tmp_path / "predictions.json").read_text(encoding="utf-8"))
    assert len(preds) == scores["total"]
    examples, _ = read_squad(path)
    res = task.answer([e.question for e in examples[:3]], [e.context for e in examples[:3]])
    for e, r in zip(examples, res):
        if r["answer"]:
            assert e.context[r["start"]:r["end"]] == r["answer"]
    task.save(tmp_path / "qa")
    again = BertTask.load(tmp_path / "qa")
    assert again.get_config() == task.get_config()
    assert again.answer([examples[0].question], [examples[0].context])[0]["answer"] == res[0]["answer"]
