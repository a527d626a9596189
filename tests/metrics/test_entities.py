"""keras_bert_zoo.metrics.entities: the TF chunker equals seqeval's get_entities on random tag sequences (every
scheme, untyped and dashed types), entity P/R/F1 and the per-type report equal seqeval's, errors."""

import random
import warnings

import pytest

from keras_bert_zoo.metrics import MetricError
from keras_bert_zoo.metrics.entities import LabelScheme, entity_scores, get_entities
from tests.conftest import require


def test_chunking_and_scores_match_seqeval():
    seqeval = require("seqeval.metrics")
    from seqeval.metrics.sequence_labeling import get_entities as ref_entities

    rng = random.Random(1)
    tags = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B", "I", "E", "S",
            "B-MISC-X", "I-MISC-X"]
    seqs = [[rng.choice(tags) for _ in range(rng.randint(0, 12))] for _ in range(1500)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seq, ours in zip(seqs, get_entities(seqs)):
            assert [tuple(e) for e in ref_entities(seq)] == ours, seq
        true, pred = seqs[:750], [(p + ["O"] * len(t))[:len(t)] for p, t in zip(seqs[750:], seqs[:750])]
        got = entity_scores(true, pred)
        assert got["precision"] == pytest.approx(seqeval.precision_score(true, pred), abs=1e-12)
        assert got["recall"] == pytest.approx(seqeval.recall_score(true, pred), abs=1e-12)
        assert got["f1"] == pytest.approx(seqeval.f1_score(true, pred), abs=1e-12)
        report = seqeval.classification_report(true, pred, output_dict=True)
    assert set(got["per_type"]) == {k for k in report if k not in ("micro avg", "macro avg", "weighted avg")}
    for ty, m in got["per_type"].items():
        assert m["f1"] == pytest.approx(report[ty]["f1-score"], abs=1e-12) and m["support"] == report[ty]["support"]


def test_by_hand_and_edge_cases():
    assert get_entities([]) == [] and get_entities([[], ["S-X"]]) == [[], [("X", 0, 0)]]
    # an entity never runs from one sequence into the next
    assert get_entities([["B-PER", "I-PER"], ["I-PER", "O"]]) == [[("PER", 0, 1)], [("PER", 0, 0)]]
    scores = entity_scores([["B-PER", "I-PER", "O", "S-LOC"]], [["B-PER", "I-PER", "O", "O"]])
    assert (scores["precision"], scores["recall"], scores["support"]) == (1.0, 0.5, 2)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    scheme = LabelScheme(["O", "B-PER", "I-PER", "S"])
    assert scheme.types == ["PER", "_"] and scheme.prefix.tolist() == [0, 1, 2, 4] and scheme.o_id == 0


def test_errors_name_what_is_wrong():
    with pytest.raises(MetricError, match="2 true sequences but 1 predicted"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(MetricError, match="sequence 1: 2 true tags but 1 predicted"):
        entity_scores([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(MetricError, match=r"\['PER'\] are not 'O' or B-/I-/E-/S-TYPE"):
        LabelScheme(["O", "PER"])
