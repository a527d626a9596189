"""What ``report.html`` shows, gathered from the files a run directory already holds (no model needed).

:func:`gather` reads, under ``run_dir`` (up to :data:`MAX_DEPTH` folders deep; ``backup``, ``logs``,
``checkpoints`` skipped):

* ``summary.json`` (the demos): tables of metrics beside the baselines (top-level entries that are dicts of
  numbers, e.g. ``minilm`` / ``tfidf_lr_*``; the Chinese demo's ``table`` {task: {arm: metrics}});
* ``history.jsonl`` + ``steps.jsonl`` (:mod:`keras_bert_zoo.train.callbacks`): the training curves of each fit
  (:func:`keras_bert_zoo.viz.curves.curve_panels`);
* every evaluation folder (:mod:`keras_bert_zoo.tasks.evaluation`): ``report.json`` + ``predictions.csv``
  (classify: metrics, confusion matrix, per-class P/R/F1, the most confidently wrong examples; regress: the
  largest errors), ``entity_report.csv`` + ``predictions.conll`` (tag: the entity table and example sentences
  with gold and predicted spans), ``scores.json`` (qa);
* ``attention.json`` (:mod:`keras_bert_zoo.viz.attention_data`), embedded as it is.

:func:`attention_texts` picks the inputs of the attention explorer from the same files.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from keras_bert_zoo.viz.curves import axis_range, curve_panels

__all__ = ["gather", "attention_texts", "MAX_DEPTH", "WORST_EXAMPLES"]

MAX_DEPTH = 4
SKIP_DIRS = ("backup", "logs", "checkpoints", "assets", "variables")
#: how many of the most confidently wrong examples an evaluation lists
WORST_EXAMPLES = 20
#: tagged example sentences shown (those with an error first)
TAG_EXAMPLES = 8
#: the most curves sections (a demo with a learning-rate grid fits many times)
MAX_CURVES = 12
HEADLINE = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "mcc", "entity_precision", "entity_recall",
            "entity_f1", "pearson", "spearman", "mse", "mae", "exact_match", "f1", "num_examples")


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _dirs(run: Path):
    """``run`` and its sub-folders up to MAX_DEPTH, sorted, skipping SKIP_DIRS and hidden ones."""
    found, todo = [], [(run, 0)]
    while todo:
        d, depth = todo.pop()
        found.append(d)
        if depth < MAX_DEPTH:
            todo += [(c, depth + 1) for c in sorted(d.iterdir(), reverse=True)
                     if c.is_dir() and c.name not in SKIP_DIRS and not c.name.startswith(".")]
    return found


def _rel(run: Path, d: Path) -> str:
    return "." if d == run else d.relative_to(run).as_posix()


def _numbers(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v)}


def _summary_tables(summary: dict) -> list:
    """Top-level entries that hold metrics (e.g. ``minilm``, ``tfidf_lr_*``; not ``config`` or timings) as one
    table, and the Chinese demo's ``table`` {task: {arm: metrics}} as one table per task."""
    tables = []
    rows = {k: _numbers(v) for k, v in summary.items()
            if isinstance(v, dict) and set(_numbers(v)) & set(HEADLINE) - {"num_examples"}}
    if rows:
        tables.append({"title": "summary.json", "rows": rows})
    for task, arms in (summary.get("table") or {}).items():
        if isinstance(arms, dict):
            tables.append({"title": f"{task} (summary.json table)",
                           "rows": {arm: _numbers(m) for arm, m in arms.items() if isinstance(m, dict)}})
    return tables


def _curves(run: Path, d: Path):
    history = _read_jsonl(d / "history.jsonl") if (d / "history.jsonl").exists() else []
    steps = _read_jsonl(d / "steps.jsonl") if (d / "steps.jsonl").exists() else []
    data = curve_panels(history, steps)
    if not data["panels"]:
        return None
    for name, panel in data["panels"].items():
        panel["range"] = list(axis_range(name, [p[1] for k in ("train", "val") for p in panel[k]]))
    return {"name": _rel(run, d), **data}


def _worst_classified(rows: list, limit=WORST_EXAMPLES) -> list:
    out = []
    for r in rows:
        if r.get("correct") != "0":
            continue
        prob = r.get(f"p_{r['prediction']}")
        if prob is None and r.get("top5"):
            top = dict(item.rsplit(":", 1) for item in r["top5"].split(" ") if ":" in item)
            prob = top.get(r["prediction"])
        out.append({"line": r.get("line"), "text": r.get("text", ""), "pair": r.get("text_pair"),
                    "gold": r.get("label"), "predicted": r.get("prediction"),
                    "probability": float(prob) if prob not in (None, "") else None})
    out.sort(key=lambda e: -(e["probability"] or 0.0))
    return out[:limit]


def _worst_regressed(rows: list, limit=WORST_EXAMPLES) -> list:
    out = [{"line": r.get("line"), "text": r.get("text", ""), "gold": float(r["label"]),
            "predicted": float(r["prediction"])} for r in rows]
    out.sort(key=lambda e: -abs(e["gold"] - e["predicted"]))
    return out[:limit]


def _read_conll(path) -> list:
    sentences, words = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if not parts:
                if words:
                    sentences.append(words)
                words = []
            elif len(parts) >= 3:
                words.append(parts[:3])
    if words:
        sentences.append(words)
    return sentences


def _spans(tags) -> list:
    from keras_bert_zoo.metrics.entities import get_entities

    (ents,) = get_entities([list(tags)])
    return [{"type": ty, "start": int(b), "end": int(e) + 1} for ty, b, e in ents]


def _tag_examples(sentences, limit=TAG_EXAMPLES, max_words=80) -> list:
    short = [s for s in sentences if len(s) <= max_words]
    wrong = [s for s in short if any(w[1] != w[2] for w in s)]
    right = [s for s in short if all(w[1] == w[2] for w in s) and any(w[1] != "O" for w in s)]
    out = []
    for s in (wrong[: limit - limit // 4] + right)[:limit]:
        words = [w[0] for w in s]
        out.append({"words": words, "joiner": "" if all(len(w) == 1 and ord(w) > 0x2e7f for w in words) else " ",
                    "gold": _spans([w[1] for w in s]), "predicted": _spans([w[2] for w in s]),
                    "correct": all(w[1] == w[2] for w in s)})
    return out


def _classification(d: Path, report: dict) -> dict:
    ev = {"kind": "classify", "metrics": _numbers(report), "labels": report.get("labels"),
          "per_class": report.get("per_class"), "confusion": report.get("confusion_matrix"),
          "top_confusions": report.get("top_confusions")}
    if (d / "predictions.csv").exists():
        rows = _read_csv(d / "predictions.csv")
        ev["num_wrong"] = sum(r.get("correct") == "0" for r in rows)
        ev["worst"] = _worst_classified(rows)
    return ev


def _evaluation(run: Path, d: Path):
    ev = None
    if (d / "report.json").exists():
        report = _read_json(d / "report.json")
        if "per_class" in report:
            ev = _classification(d, report)
        else:
            ev = {"kind": "regress", "metrics": _numbers(report)}
            if (d / "predictions.csv").exists():
                ev["worst"] = _worst_regressed(_read_csv(d / "predictions.csv"))
    elif (d / "entity_report.csv").exists():
        table = _read_csv(d / "entity_report.csv")
        micro = next((r for r in table if r["type"] == "micro"), {})
        ev = {"kind": "tag", "entities": table,
              "metrics": {f"entity_{k}": float(micro[k]) for k in ("precision", "recall", "f1") if k in micro}}
        if (d / "predictions.conll").exists():
            ev["examples"] = _tag_examples(_read_conll(d / "predictions.conll"))
    elif (d / "scores.json").exists():
        ev = {"kind": "qa", "metrics": _numbers(_read_json(d / "scores.json"))}
    return None if ev is None else {"name": _rel(run, d), **ev}


def gather(run_dir) -> dict:
    """Everything the report shows, as one JSON-ready dict (see the module docstring)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    data = {"title": run.resolve().name, "tables": [], "curves": [], "evaluations": [], "attention": None}
    if (run / "summary.json").exists():
        data["tables"] += _summary_tables(_read_json(run / "summary.json"))
    for d in _dirs(run):
        if (d / "history.jsonl").exists() or (d / "steps.jsonl").exists():
            curves = _curves(run, d)
            if curves and len(data["curves"]) < MAX_CURVES:
                data["curves"].append(curves)
        ev = _evaluation(run, d)
        if ev:
            data["evaluations"].append(ev)
    if data["evaluations"]:
        data["tables"].insert(0, {"title": "evaluations in this run", "rows": {
            ev["name"]: {k: ev["metrics"][k] for k in HEADLINE if k in ev["metrics"]} for ev in data["evaluations"]}})
    if (run / "attention.json").exists():
        data["attention"] = _read_json(run / "attention.json")
    return data


def _picked_rows(ev, rows, k) -> list:
    """[(text, pair or None, note)]: up to k // 2 most confidently wrong rows, then the most confident right ones."""
    def prob(e):
        return f" (p = {e['probability']:.3f})" if e.get("probability") is not None else ""

    chosen = [(e["text"], e.get("pair"), f"gold {e['gold']}, predicted {e['predicted']}{prob(e)}")
              for e in (ev.get("worst") or [])[: k // 2]]
    right = [r for r in rows if r.get("correct") == "1"] if ev["kind"] == "classify" else rows
    right.sort(key=lambda r: -float(r.get(f"p_{r['prediction']}") or 0.0))
    for r in right:
        if len(chosen) >= k:
            break
        if all((r["text"], r.get("text_pair")) != (t, p) for t, p, _ in chosen):
            chosen.append((r["text"], r.get("text_pair"), f"gold {r['label']}, predicted {r['prediction']}"))
    return chosen


def attention_texts(run_dir, k=4) -> tuple:
    """(texts, notes, pairs) for the attention explorer from the first classify / regress / tag evaluation of
    ``run_dir``: the most confidently wrong examples and the most confidently right ones (half each), or tagged
    sentences; ``pairs``: the second texts of a pair task, else None. ([], [], None) when there is none."""
    if not Path(run_dir).is_dir():
        return [], [], None
    for ev in gather_evaluations(run_dir):
        d = Path(run_dir) / ev["name"]
        if ev["kind"] in ("classify", "regress") and (d / "predictions.csv").exists():
            rows = _read_csv(d / "predictions.csv")
            chosen = _picked_rows(ev, rows, k)
            pairs = [p or "" for _, p, _ in chosen] if rows and "text_pair" in rows[0] else None
            return [t for t, _, _ in chosen], [n for _, _, n in chosen], pairs
        if ev["kind"] == "tag" and ev.get("examples"):
            chosen = ev["examples"][:k]
            return ([e["joiner"].join(e["words"]) for e in chosen],
                    ["tagged correctly" if e["correct"] else "has tagging errors" for e in chosen], None)
    return [], [], None


def gather_evaluations(run_dir) -> list:
    """The evaluations of :func:`gather` alone."""
    run = Path(run_dir)
    return [ev for ev in (_evaluation(run, d) for d in _dirs(run)) if ev]
