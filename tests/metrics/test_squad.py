"""keras_bert_zoo.metrics.squad: the official SQuAD normalisation, EM and F1 (v1.1 and v2.0 rules) by hand."""

import pytest

from keras_bert_zoo.data.squad import read_squad
from keras_bert_zoo.metrics import MetricError
from keras_bert_zoo.metrics.squad import exact_match, f1_score, normalize_answer, squad_scores
from tests.tasks import tiny5b


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
    examples, version = read_squad(tiny5b.FIXTURES / "squad_v2.json")
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
    answered = [e for e in examples if e.answers]
    v1 = squad_scores(answered, preds, "1.1")
    assert "HasAns_total" not in v1 and v1["total"] == len(answered) == 7
    assert v1["exact"] == pytest.approx(100 * 6 / 7) and v1["f1"] == pytest.approx(100 * 6.8 / 7)
    with pytest.raises(MetricError, match="no prediction for 10 question"):
        squad_scores(examples, {}, version)
