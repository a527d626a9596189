"""The evaluators of the built-in tasks: metrics of a task on a task file, and report files for people.

Each task's :class:`~keras_bert_zoo.tasks.registry.TaskSpec` names its evaluator
(``evaluate(task, data, out_dir, batch_size) -> dict``); :func:`keras_bert_zoo.reports.evaluate_task_file`
calls it. What each writes into ``out_dir`` (nothing when it is None):

* classify: ``report.json`` / ``report.txt`` (accuracy, macro/weighted P/R/F1, MCC, per class, confusion
  matrix), ``predictions.csv`` (line, text, [pair], label, prediction, correct, p_<label>...),
  ``confusion_matrix.png`` (multi-class). Up to ``metrics.classification.MAX_MATRIX_CLASSES`` (50) classes;
  above, the reports stay O(N + K): no K x K matrix or figure (the 100 most frequent confusions instead) and
  the 5 most probable classes per example instead of a column per class;
* regress: ``report.json`` / ``report.txt`` (Pearson, Spearman, MSE, MAE), ``predictions.csv``;
* tag: ``predictions.conll`` (word, gold, predicted), ``entity_report.csv`` (seqeval P/R/F1 per type + micro);
* qa: ``predictions.json``, ``nbest_predictions.json``, ``scores.json`` (exact match / F1, SQuAD semantics);
* choice: ``predictions.csv``; fill_mask / embed: metrics only.

Every file is written atomically (:func:`keras_bert_zoo.cache.atomic_write`). The module also holds the
training-file checks of the labelled tasks (``TaskSpec.check_data``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import numpy as np

from keras_bert_zoo import cache
from keras_bert_zoo.data.labelled import count_truncated
from keras_bert_zoo.data.task_files import TaskFile
from keras_bert_zoo.metrics import classification as M

__all__ = ["evaluate_classifier", "evaluate_regressor", "evaluate_tagger", "evaluate_answerer", "evaluate_choices",
           "evaluate_masked_lm", "evaluate_embedder", "write_text_atomic", "classification_outputs",
           "count_truncated_examples", "truncation_warning", "warn_truncation", "labelled_data_warnings"]

logger = logging.getLogger(__name__)

#: how many of the most probable classes predictions.csv lists per example for a many-class classifier
TOP_PROBABILITIES = 5


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically; the parent directory is created."""
    with cache.atomic_write(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return Path(path)


def count_truncated_examples(task, data: TaskFile) -> int:
    """How many examples of a labelled file lose tokens before the model: longer than the sequence length or,
    for a classifier with sliding windows (``window_stride``), than its ``max_windows`` windows cover (0 without
    a cap: every token of a single text reaches a window)."""
    rec = data.records
    pairs = rec.pairs if getattr(task, "pairs", False) else None
    if getattr(task, "window_stride", 0) and pairs is None:
        covered = task.max_text_tokens
        return 0 if covered is None else count_truncated(task.tokenizer, rec.texts, None, covered + 2)
    return count_truncated(task.tokenizer, rec.texts, pairs, task.sequence_length)


def truncation_warning(task, data: TaskFile) -> str | None:
    """How many examples of a labelled file will be truncated (None: none are); see
    :func:`count_truncated_examples`."""
    n = count_truncated_examples(task, data)
    if not n:
        return None
    if getattr(task, "window_stride", 0):
        return (f"{data.path}: {n} of {len(data)} examples are longer than the {task.max_text_tokens} tokens that "
                f"max_windows={task.max_windows} windows cover and will be truncated")
    return (f"{data.path}: {n} of {len(data)} examples are longer than sequence_length={task.sequence_length} "
            f"tokens and will be truncated")


def warn_truncation(task, data: TaskFile) -> int:
    """Log :func:`truncation_warning`; returns 1 when it warned, else 0."""
    message = truncation_warning(task, data)
    if message:
        logger.warning("%s", message)
    return int(bool(message))


def labelled_data_warnings(task, data: TaskFile) -> list:
    """``TaskSpec.check_data`` of classify / regress: texts that will be truncated; (single-label classes)
    labels without a training example."""
    out = []
    if getattr(task, "labels", None) and not getattr(task, "multi_label", True):
        seen = {str(v).strip() for v in data.y}
        unused = [n for n in task.labels if n not in seen]
        if unused:
            out.append(f"label(s) {unused} have no training example in {data.path}")
    message = truncation_warning(task, data)
    return out + ([message] if message else [])


def _csv_text(rows) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def classification_outputs(task, data: TaskFile, batch_size=64):
    """(targets, predictions, probabilities) of a classifier on a classify file."""
    y = task.encode_targets(data.y)
    out = task.predict(data.x, batch_size=batch_size, verbose=0)
    probs = out["probabilities"]
    pred = out["predictions"] if task.multi_label else out["label_ids"]
    return y, pred, probs


def evaluate_classifier(task, data: TaskFile, out_dir, batch_size):
    y, pred, probs = classification_outputs(task, data, batch_size)
    report = (M.multilabel_report(y, pred, task.labels) if task.multi_label
              else M.classification_report(y, pred, task.labels))
    report["truncated_examples"] = count_truncated_examples(task, data)
    if out_dir is None:
        return report
    out = Path(out_dir)
    write_text_atomic(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False))
    write_text_atomic(out / "report.txt", M.format_report(report) + "\n")
    write_text_atomic(out / "predictions.csv", _csv_text(_prediction_rows(task, data, y, pred, probs)))
    if not task.multi_label and report["confusion_matrix"] is not None:
        from keras_bert_zoo.viz import plot_confusion_matrix

        plot_confusion_matrix(np.asarray(report["confusion_matrix"]), task.labels, out / "confusion_matrix.png")
    elif not task.multi_label:
        logger.warning("%s: %d classes: confusion_matrix.png is drawn up to %d; report.txt lists the most frequent "
                       "confusions", out, len(task.labels), M.MAX_MATRIX_CLASSES)
    return report


def _prediction_rows(task, data: TaskFile, y, pred, probs) -> list:
    """predictions.csv: a p_<label> column per class up to ``MAX_MATRIX_CLASSES`` classes; above, the
    ``TOP_PROBABILITIES`` most probable classes as ``label:p`` in one column (the file stays O(N), not O(N K))."""
    rec = data.records
    wide = len(task.labels) <= M.MAX_MATRIX_CLASSES
    rows = [["line", "text"] + (["text_pair"] if task.pairs else []) + ["label", "prediction", "correct"] +
            ([f"p_{n}" for n in task.labels] if wide else [f"top{TOP_PROBABILITIES}"])]
    for i in range(len(data)):
        if task.multi_label:
            gold = task.label_separator.join(n for n, v in zip(task.labels, y[i]) if v)
            guess = task.label_separator.join(n for n, v in zip(task.labels, pred[i]) if v)
        else:
            gold, guess = task.labels[int(y[i])], task.labels[int(pred[i])]
        if wide:
            scores = [f"{p:.6f}" for p in probs[i]]
        else:
            top = np.argsort(-np.asarray(probs[i]), kind="stable")[:TOP_PROBABILITIES]
            scores = [" ".join(f"{task.labels[j]}:{probs[i][j]:.6f}" for j in top)]
        rows.append([data.lines[i], rec.texts[i]] + ([rec.pairs[i]] if task.pairs else []) +
                    [gold, guess, int(gold == guess)] + scores)
    return rows


def evaluate_regressor(task, data: TaskFile, out_dir, batch_size):
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


def evaluate_tagger(task, data: TaskFile, out_dir, batch_size):
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


def evaluate_answerer(task, data: TaskFile, out_dir, batch_size):
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


def evaluate_choices(task, data: TaskFile, out_dir, batch_size):
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


def evaluate_masked_lm(task, data: TaskFile, out_dir, batch_size):
    res = task.evaluate(task.make_dataset(data.x, batch_size=batch_size), return_dict=True, verbose=0)
    res = {k: float(v) for k, v in res.items()}
    res["perplexity"] = float(np.exp(min(res["loss"], 50.0)))
    return res


def evaluate_embedder(task, data: TaskFile, out_dir, batch_size):
    from keras_bert_zoo.metrics.retrieval import retrieval_scores

    anchors, positives = data.records
    ea = task.predict(anchors, batch_size=batch_size, verbose=0)["embeddings"]
    ep = task.predict(positives, batch_size=batch_size, verbose=0)["embeddings"]
    return retrieval_scores(ea, ep)
