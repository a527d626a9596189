"""Evaluation reports of a task on a task file: metrics, and report files for people (the CLI's eval/test dirs).

    data = read_task_file("classify", "test.csv", FileOptions())
    metrics = evaluate_task_file(task, data, out_dir="runs/x/test")

What each task type writes into ``out_dir``:

* classify: ``report.json`` / ``report.txt`` (accuracy, macro/weighted P/R/F1, MCC, per class, confusion
  matrix), ``predictions.csv`` (line, text, [pair], label, prediction, correct, p_<label>...),
  ``confusion_matrix.png`` (multi-class);
* regress: ``report.json`` / ``report.txt`` (Pearson, Spearman, MSE, MAE), ``predictions.csv``;
* tag: ``predictions.conll`` (word, gold, predicted), ``entity_report.csv`` (seqeval P/R/F1 per type + micro);
* qa: ``predictions.json``, ``nbest_predictions.json``, ``scores.json`` (exact match / F1, SQuAD semantics);
* choice: ``predictions.csv``; fill_mask / embed: metrics only.

Every file is written atomically (temporary name, then rename).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from keras_bert_zoo.data.labelled import count_truncated
from keras_bert_zoo.data.task_files import TaskFile
from keras_bert_zoo.metrics import classification as M

__all__ = ["evaluate_task_file", "write_text_atomic", "classification_outputs", "warn_truncation"]

logger = logging.getLogger(__name__)


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` through a unique temporary file in the same directory (mode 0644 / umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _csv_text(rows) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def warn_truncation(task, data: TaskFile) -> int:
    """Log how many examples of a classify/regress file are longer than the task's sequence length."""
    rec = data.records
    n = count_truncated(task.tokenizer, rec.texts, rec.pairs if getattr(task, "pairs", False) else None,
                        task.sequence_length)
    if n:
        logger.warning("%s: %d of %d examples are longer than sequence_length=%d tokens and will be truncated",
                       data.path, n, len(data), task.sequence_length)
    return n


def classification_outputs(task, data: TaskFile, batch_size=64):
    """(targets, predictions, probabilities) of a classifier on a classify file."""
    y = task.encode_targets(data.y)
    out = task.predict(data.x, batch_size=batch_size, verbose=0)
    probs = out["probabilities"]
    pred = out["predictions"] if task.multi_label else out["label_ids"]
    return y, pred, probs


def _classify(task, data: TaskFile, out_dir, batch_size):
    y, pred, probs = classification_outputs(task, data, batch_size)
    report = (M.multilabel_report(y, pred, task.labels) if task.multi_label
              else M.classification_report(y, pred, task.labels))
    rec = data.records
    report["truncated_examples"] = 0 if task.window_stride else count_truncated(
        task.tokenizer, rec.texts, rec.pairs if task.pairs else None, task.sequence_length)
    if out_dir is None:
        return report
    out = Path(out_dir)
    write_text_atomic(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False))
    write_text_atomic(out / "report.txt", M.format_report(report) + "\n")
    rows = [["line", "text"] + (["text_pair"] if task.pairs else []) + ["label", "prediction", "correct"] +
            [f"p_{n}" for n in task.labels]]
    for i in range(len(data)):
        if task.multi_label:
            gold = task.label_separator.join(n for n, v in zip(task.labels, y[i]) if v)
            guess = task.label_separator.join(n for n, v in zip(task.labels, pred[i]) if v)
        else:
            gold, guess = task.labels[int(y[i])], task.labels[int(pred[i])]
        rows.append([data.lines[i], rec.texts[i]] + ([rec.pairs[i]] if task.pairs else []) +
                    [gold, guess, int(gold == guess)] + [f"{p:.6f}" for p in probs[i]])
    write_text_atomic(out / "predictions.csv", _csv_text(rows))
    if not task.multi_label:
        from keras_bert_zoo.viz import plot_confusion_matrix

        plot_confusion_matrix(np.asarray(report["confusion_matrix"]), task.labels, out / "confusion_matrix.png")
    return report


def _regress(task, data: TaskFile, out_dir, batch_size):
    y = task.encode_targets(data.y)[:, 0]
    pred = task.predict(data.x, batch_size=batch_size, verbose=0)["score"]
    report = M.regression_report(y, pred)
    if out_dir is not None:
        out, rec = Path(out_dir), data.records
        write_text_atomic(out / "report.json", json.dumps(report, indent=2))
        write_text_atomic(out / "report.txt", M.format_report(report) + "\n")
        rows = [["line", "text"] + (["text_pair"] if task.pairs else []) + ["label", "prediction"]]
        rows += [[data.lines[i], rec.texts[i]] + ([rec.pairs[i]] if task.pairs else []) +
                 [f"{y[i]:.6f}", f"{pred[i]:.6f}"] for i in range(len(data))]
        write_text_atomic(out / "predictions.csv", _csv_text(rows))
    return report


def _tag(task, data: TaskFile, out_dir, batch_size):
    from keras_bert_zoo.metrics.entities import entity_scores

    sentences = data.records
    pred = task.predict_word_tags(sentences, batch_size=batch_size)
    scores = entity_scores([list(s.tags) for s in sentences], pred)
    if out_dir is not None:
        out = Path(out_dir)
        lines = []
        for s, p in zip(sentences, pred):
            lines += [f"{w} {t} {q}" for w, t, q in zip(s.words, s.tags, p)] + [""]
        write_text_atomic(out / "predictions.conll", "\n".join(lines) + "\n")
        rows = [["type", "precision", "recall", "f1", "support"]]
        rows += [[ty, f"{m['precision']:.6f}", f"{m['recall']:.6f}", f"{m['f1']:.6f}", m["support"]]
                 for ty, m in scores["per_type"].items()]
        rows.append(["micro", f"{scores['precision']:.6f}", f"{scores['recall']:.6f}", f"{scores['f1']:.6f}",
                     scores["support"]])
        write_text_atomic(out / "entity_report.csv", _csv_text(rows))
    flat = {"entity_precision": scores["precision"], "entity_recall": scores["recall"], "entity_f1": scores["f1"]}
    flat.update({f"f1_{ty}": m["f1"] for ty, m in scores["per_type"].items()})
    return flat


def _qa(task, data: TaskFile, out_dir, batch_size):
    from keras_bert_zoo.metrics.squad import squad_scores

    examples = data.records
    preds = task.predict_examples(examples, batch_size=batch_size)
    scores = squad_scores(examples, {k: v["answer"] for k, v in preds.items()}, data.extra["version"])
    if out_dir is not None:
        out = Path(out_dir)
        for name, obj in (("predictions.json", {k: v["answer"] for k, v in preds.items()}),
                          ("nbest_predictions.json", preds), ("scores.json", scores)):
            write_text_atomic(out / name, json.dumps(obj, ensure_ascii=False, indent=1))
    return scores


def _choice(task, data: TaskFile, out_dir, batch_size):
    examples = data.records
    out = task.predict(examples, batch_size=batch_size, verbose=0)
    labels = np.array([e.label for e in examples])
    guess = out["label_id"]
    if out_dir is not None:
        rows = [["line", "label", "predicted"] + [f"p{k}" for k in range(task.num_choices)]]
        rows += [[e.line, e.label, int(g)] + [f"{q:.6f}" for q in p]
                 for e, g, p in zip(examples, guess, out["probabilities"])]
        write_text_atomic(Path(out_dir) / "predictions.csv", _csv_text(rows))
    return {"accuracy": float((labels == guess).mean()), "num_examples": len(examples)}


def _fill_mask(task, data: TaskFile, out_dir, batch_size):
    res = task.evaluate(task.make_dataset(data.x, batch_size=batch_size), return_dict=True, verbose=0)
    res = {k: float(v) for k, v in res.items()}
    res["perplexity"] = float(np.exp(min(res["loss"], 50.0)))
    return res


def _embed(task, data: TaskFile, out_dir, batch_size):
    from keras_bert_zoo.metrics.retrieval import retrieval_scores

    anchors, positives = data.records
    ea = task.predict(anchors, batch_size=batch_size, verbose=0)["embeddings"]
    ep = task.predict(positives, batch_size=batch_size, verbose=0)["embeddings"]
    return retrieval_scores(ea, ep)


_EVALUATORS = {"classify": _classify, "regress": _regress, "tag": _tag, "qa": _qa, "choice": _choice,
               "fill_mask": _fill_mask, "embed": _embed}


def evaluate_task_file(task, data: TaskFile, out_dir=None, batch_size: int = 64) -> dict:
    """Metrics of ``task`` on ``data`` (read with the task's own type), and the report files in ``out_dir``."""
    if data.task_type != task.task_type:
        raise ValueError(f"{data.path} was read as a {data.task_type!r} file, the model is a "
                         f"{task.task_type!r} task")
    return _EVALUATORS[task.task_type](task, data, out_dir, batch_size)
