"""The official SQuAD evaluation (v1.1 and v2.0 scripts): answers normalised (lower case, ASCII punctuation and
the articles a/an/the dropped, whitespace collapsed), exact match and token F1, the best over the gold answers.
v2.0 also reports HasAns / NoAns and scores an empty answer 1 only against an empty gold answer.

Example::

    >>> from keras_bert_zoo.data.squad import read_squad
    >>> from keras_bert_zoo.metrics.squad import squad_scores
    >>> examples, _ = read_squad("dev-v2.0.json")
    >>> predictions = {e.id: "" for e in examples}                 # "no answer" everywhere ...
    >>> predictions.update(q1="the Denver Broncos", q2="Levi's")   # ... but two: q1 exact, q2 F1 2/3
    >>> scores = squad_scores(examples, predictions, version="2.0")
    >>> scores["total"], scores["HasAns_total"], scores["NoAns_exact"], scores["exact"], round(scores["f1"], 1)
    (10, 7, 100.0, 40.0, 46.7)
"""

from __future__ import annotations

import collections
import re
import string

import numpy as np

from keras_bert_zoo.metrics import MetricError

__all__ = ["normalize_answer", "exact_match", "f1_score", "squad_scores"]

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lower case, remove punctuation, articles and extra whitespace (the official scripts' order)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> int:
    return int(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str, version: str = "2.0") -> float:
    """Token F1. v2.0: if either side normalises to nothing, 1 when both do, else 0. v1.1: 0 without overlap."""
    pred, gold_toks = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if version.startswith("2") and (not pred or not gold_toks):
        return float(pred == gold_toks)
    common = collections.Counter(pred) & collections.Counter(gold_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    p, r = same / len(pred), same / len(gold_toks)
    return 2 * p * r / (p + r)


def squad_scores(examples, predictions: dict, version: str = "2.0") -> dict:
    """Official EM / F1 (percent) over ``examples`` (:class:`~keras_bert_zoo.data.squad.QAExample` list) for
    ``predictions`` {id: text}.

    Every example must have a prediction (as the official script warns, a missing one scores 0; here it is an
    error, since it is always a bug in our own pipeline).
    """
    missing = [e.id for e in examples if e.id not in predictions]
    if missing:
        raise MetricError(f"squad_scores: no prediction for {len(missing)} question(s), e.g. {missing[:3]}")
    em, f1, has = [], [], []
    for e in examples:
        golds = [t for t, _ in e.answers]
        if version.startswith("2"):
            golds = [g for g in golds if normalize_answer(g)] or [""]
        pred = predictions[e.id]
        em.append(max(exact_match(pred, g) for g in golds))
        f1.append(max(f1_score(pred, g, version) for g in golds))
        has.append(bool(e.answers) and not e.is_impossible)
    em, f1, has = np.array(em, float), np.array(f1, float), np.array(has)
    out = {"exact": float(100.0 * em.mean()), "f1": float(100.0 * f1.mean()), "total": len(examples)}
    if version.startswith("2"):
        for name, sel in (("HasAns", has), ("NoAns", ~has)):
            if sel.any():
                out[f"{name}_exact"] = float(100.0 * em[sel].mean())
                out[f"{name}_f1"] = float(100.0 * f1[sel].mean())
                out[f"{name}_total"] = int(sel.sum())
    return out
