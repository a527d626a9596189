"""Classification metrics (NumPy, on predictions already computed) and imbalance helpers.

Classification: :func:`classification_report` gives accuracy, macro/micro/weighted F1, MCC (multi-class
Gorodkin form, as scikit-learn's ``matthews_corrcoef``), per-class precision/recall/F1/support and the confusion
matrix (up to :data:`MAX_MATRIX_CLASSES` classes; above, the most frequent confusions: a report stays O(K)).
Multi-label: :func:`multilabel_report` (subset accuracy, Hamming loss, micro/macro F1, per-label).
Regression: :func:`regression_report` (MSE, MAE, Pearson, Spearman with average ranks for ties).
Imbalance: :func:`class_weights` (``balanced``: n / (k * count_c)) and :func:`resample_indices`
(over-sampling minority classes / under-sampling majority ones, deterministic for a seed).

    from keras_bert_zoo.metrics.classification import class_weights, classification_report, format_report
    report = classification_report([0, 1, 1, 2], [0, 1, 2, 2], labels=["neg", "neu", "pos"])
    report["accuracy"], report["macro_f1"]                  # 0.75, 0.777...
    print(format_report(report))
    class_weights([0, 0, 0, 1], num_classes=2)              # {0: 0.666..., 1: 2.0}, for fit(class_weight=...)
"""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "confusion_counts", "MAX_MATRIX_CLASSES", "TOP_CONFUSIONS", "classification_report",
           "multilabel_report", "regression_report", "pearson", "spearman", "matthews_corrcoef", "class_weights", "resample_indices", "format_report"]


#: a report keeps the full K x K confusion matrix (and draws it) up to this many classes; above it the report
#: lists the TOP_CONFUSIONS most frequent (true, predicted) mistakes instead, so its size grows with K (one row
#: per class), never with K squared
MAX_MATRIX_CLASSES = 50
#: how many of the most frequent confusions a many-class report lists
TOP_CONFUSIONS = 100


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """cm[i, j] = number of examples of true class i predicted as j (dense: K x K; for many classes use
    :func:`confusion_counts`)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def confusion_counts(y_true, y_pred, num_classes: int):
    """The confusion matrix without building it: (true-class counts, predicted-class counts, correct counts per
    class, [(count, true, predicted)] of the off-diagonal cells that occur, most frequent first). O(N + K)."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    for name, ids in (("y_true", y_true), ("y_pred", y_pred)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f"{name} holds class ids outside [0, {num_classes})")
    t = np.bincount(y_true, minlength=num_classes)
    p = np.bincount(y_pred, minlength=num_classes)
    tp = np.bincount(y_true[y_true == y_pred], minlength=num_classes)
    wrong = y_true != y_pred
    cells, counts = np.unique(y_true[wrong] * num_classes + y_pred[wrong], return_counts=True)
    order = np.lexsort((cells, -counts))
    mistakes = [(int(counts[i]), int(cells[i] // num_classes), int(cells[i] % num_classes)) for i in order]
    return t, p, tp, mistakes


def _safe_div(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def matthews_corrcoef(cm: np.ndarray) -> float:
    """Multi-class MCC from a confusion matrix (0 when undefined)."""
    cm = np.asarray(cm, dtype=np.float64)
    return _mcc(cm.sum(axis=1), cm.sum(axis=0), np.trace(cm))


def _mcc(t, p, c) -> float:
    """MCC from the true / predicted class counts and the number correct."""
    t = np.asarray(t, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    s = t.sum()
    cov_ytyp = c * s - np.dot(t, p)
    cov_ypyp = s * s - np.dot(p, p)
    cov_ytyt = s * s - np.dot(t, t)
    denom = np.sqrt(cov_ytyt * cov_ypyp)
    return float(cov_ytyp / denom) if denom > 0 else 0.0


def _prf(tp, fp, fn):
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return precision, recall, f1


def classification_report(y_true, y_pred, labels) -> dict:
    """Single-label classification metrics; ``labels`` are the class names (index = id).

    Up to :data:`MAX_MATRIX_CLASSES` classes the report holds the full ``confusion_matrix`` (K x K); above it
    ``confusion_matrix`` is None and ``top_confusions`` lists the :data:`TOP_CONFUSIONS` most frequent mistakes
    (``{"true", "predicted", "count"}``), so the report stays O(K) — one ``per_class`` row per class —
    however many classes there are (``report_limits`` says so in the report itself)."""
    labels = list(labels)
    k = len(labels)
    support, predicted, tp, mistakes = confusion_counts(y_true, y_pred, k)
    tp = tp.astype(np.float64)
    fp = predicted - tp
    fn = support - tp
    precision, recall, f1 = _prf(tp, fp, fn)
    n = int(support.sum())
    micro_p, micro_r, micro_f1 = _prf(tp.sum(), fp.sum(), fn.sum())
    weights = _safe_div(support, support.sum())
    full = k <= MAX_MATRIX_CLASSES
    limits = {"confusion_matrix_max_classes": MAX_MATRIX_CLASSES, "classes": k,
              "confusion_matrix": "full" if full else f"omitted ({k} classes > {MAX_MATRIX_CLASSES}); "
                                                      f"top_confusions lists the {TOP_CONFUSIONS} most frequent"}
    return {
        "num_examples": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "micro_f1": float(micro_f1),
        "weighted_f1": float((f1 * weights).sum()),
        "mcc": _mcc(support, predicted, tp.sum()),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(support[i])} for i, name in enumerate(labels)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, k).tolist() if full else None,
        "top_confusions": [{"true": labels[i], "predicted": labels[j], "count": c}
                           for c, i, j in mistakes[:TOP_CONFUSIONS]],
        "report_limits": limits,
        "labels": labels,
    }


def multilabel_report(y_true, y_pred, labels) -> dict:
    """Multi-label metrics on 0/1 matrices [N, K]."""
    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    tp = (y_true & y_pred).sum(axis=0).astype(np.float64)
    fp = (~y_true & y_pred).sum(axis=0).astype(np.float64)
    fn = (y_true & ~y_pred).sum(axis=0).astype(np.float64)
    precision, recall, f1 = _prf(tp, fp, fn)
    _, _, micro_f1 = _prf(tp.sum(), fp.sum(), fn.sum())
    n = len(y_true)
    return {
        "num_examples": n,
        "subset_accuracy": float((y_true == y_pred).all(axis=1).mean()) if n else 0.0,
        "hamming_loss": float((y_true != y_pred).mean()) if n else 0.0,
        "macro_f1": float(f1.mean()),
        "micro_f1": float(micro_f1),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(y_true[:, i].sum())} for i, name in enumerate(labels)},
        "labels": list(labels),
    }


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def pearson(x, y) -> float:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc * xc).sum() * (yc * yc).sum())
    return float((xc * yc).sum() / denom) if denom > 0 else 0.0


def spearman(x, y) -> float:
    return pearson(_rank(np.asarray(x, dtype=np.float64).ravel()), _rank(np.asarray(y, dtype=np.float64).ravel()))


def regression_report(y_true, y_pred) -> dict:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    err = y_pred - y_true
    return {"num_examples": int(len(y_true)), "mse": float((err ** 2).mean()), "mae": float(np.abs(err).mean()),
            "pearson": pearson(y_true, y_pred), "spearman": spearman(y_true, y_pred)}


def class_weights(label_ids, num_classes: int, mode: str = "balanced") -> dict[int, float]:
    """Keras ``class_weight`` dict. ``balanced``: n / (k * count_c) (classes absent from the data get 1.0)."""
    if mode != "balanced":
        raise ValueError(f"unknown class weight mode {mode!r} (expected 'balanced')")
    counts = np.bincount(np.asarray(label_ids, dtype=np.int64), minlength=num_classes)
    n = counts.sum()
    return {c: (float(n / (num_classes * counts[c])) if counts[c] else 1.0) for c in range(num_classes)}


def resample_indices(label_ids, mode: str = "oversample", seed: int = 0) -> np.ndarray:
    """Indices that balance the classes: ``oversample`` repeats minority examples up to the largest class,
    ``undersample`` keeps a random subset of each class the size of the smallest. Shuffled, deterministic."""
    y = np.asarray(label_ids, dtype=np.int64)
    rng = np.random.default_rng(seed)
    classes = [c for c in np.unique(y)]
    by_class = {c: np.flatnonzero(y == c) for c in classes}
    if mode == "oversample":
        target = max(len(v) for v in by_class.values())
        parts = [np.concatenate([idx, rng.choice(idx, target - len(idx), replace=True)]) for idx in by_class.values()]
    elif mode == "undersample":
        target = min(len(v) for v in by_class.values())
        parts = [rng.choice(idx, target, replace=False) for idx in by_class.values()]
    else:
        raise ValueError(f"unknown resampling mode {mode!r} (expected 'oversample' or 'undersample')")
    out = np.concatenate(parts)
    rng.shuffle(out)
    return out


def format_report(report: dict) -> str:
    """A plain-text table of a classification / multi-label report (one row per class, then the most frequent
    confusions of a many-class report)."""
    lines = []
    per = report.get("per_class")
    if per:
        width = max(8, max(len(n) for n in per))
        lines.append(f"{'label':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}")
        for name, row in per.items():
            lines.append(f"{name:<{width}} {row['precision']:9.4f} {row['recall']:9.4f} {row['f1']:9.4f} "
                         f"{row['support']:8d}")
    for key in ("accuracy", "subset_accuracy", "macro_f1", "micro_f1", "weighted_f1", "mcc", "hamming_loss",
                "mse", "mae", "pearson", "spearman"):
        if key in report:
            lines.append(f"{key}: {report[key]:.4f}")
    if report.get("confusion_matrix", []) is None and report.get("top_confusions"):
        lines.append(f"most frequent confusions (true -> predicted: count), {report['report_limits']['classes']} "
                     f"classes: the full confusion matrix is kept up to {MAX_MATRIX_CLASSES}")
        lines.extend(f"  {c['true']} -> {c['predicted']}: {c['count']}" for c in report["top_confusions"])
    return "\n".join(lines)
