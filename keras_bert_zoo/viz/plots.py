"""PNG plots for evaluation reports (matplotlib with the non-interactive Agg backend; files written atomically).

* :func:`plot_confusion_matrix` — counts and row-normalised colours, label names on both axes; up to
  :data:`MAX_PLOT_CLASSES` classes (the figure is at most 16 x 16 inches).
* :func:`plot_training_curves` — one panel per metric (loss, accuracy, ..., learning rate), training values by
  step (``steps.jsonl`` of :class:`keras_bert_zoo.train.callbacks.StepHistory`) and validation at each epoch's
  end (``history.jsonl`` of ``EpochHistory``); per epoch when only the epoch log exists.
* :func:`attention_scores` / :func:`plot_attention` — the attention probabilities of one input for a chosen
  layer and head (or the mean over heads), as a token-by-token heat map. The scores come from a
  ``BertBackbone(config, return_attention_scores=True)`` rebuilt with the fine-tuned weights.

    from keras_bert_zoo.viz import plot_confusion_matrix, plot_training_curves
    plot_confusion_matrix(cm, ["negative", "neutral", "positive"], "report/confusion.png")
    plot_training_curves(history.history, "report/training_curves.png")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_bert_zoo import cache

__all__ = ["plot_confusion_matrix", "plot_training_curves", "plot_attention", "attention_scores"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    path = Path(path)
    try:
        with cache.atomic_path(path, suffix=path.suffix) as tmp:  # matplotlib picks the format by suffix
            fig.savefig(tmp, dpi=120, bbox_inches="tight")
    finally:
        _plt().close(fig)
    return path


#: the most classes a confusion-matrix figure draws (the report's own limit: metrics.classification)
MAX_PLOT_CLASSES = 50
#: up to this many classes each cell is annotated with its count and percentage
MAX_ANNOTATED_CLASSES = 20


def plot_confusion_matrix(cm, labels, path, title="Confusion matrix"):
    """The K x K matrix ``cm`` as a heat map (row-normalised colours; counts written in the cells up to
    :data:`MAX_ANNOTATED_CLASSES` classes). More than :data:`MAX_PLOT_CLASSES` classes is a ValueError: such a
    figure is unreadable and its size grows with K squared (the report lists the top confusions instead)."""
    plt = _plt()
    cm = np.asarray(cm)
    k = len(labels)
    if k > MAX_PLOT_CLASSES:
        raise ValueError(f"plot_confusion_matrix: {k} classes; a confusion matrix is drawn for at most "
                         f"{MAX_PLOT_CLASSES}")
    if cm.shape != (k, k):
        raise ValueError(f"plot_confusion_matrix: the matrix is {cm.shape}, expected ({k}, {k}) for {k} labels")
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    size = min(16.0, max(4.0, 0.6 * k + 2.5))          # at most 16 in (1920 px at 120 dpi)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    tick_size = 10 if k <= MAX_ANNOTATED_CLASSES else 6
    ax.set_xticks(range(k), labels, rotation=45 if k <= MAX_ANNOTATED_CLASSES else 90, ha="right",
                  fontsize=tick_size)
    ax.set_yticks(range(k), labels, fontsize=tick_size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= MAX_ANNOTATED_CLASSES:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{cm[i, j]}\n{norm[i, j]:.0%}", ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    return _save(fig, path)


def plot_training_curves(history, path, title="Training curves", steps=None):
    """One panel per metric (and the learning rate when logged by step).

    ``history``: per-epoch rows (the JSON lines of ``EpochHistory``, or Keras ``History.history`` as a dict
    {metric: [per-epoch values]}); ``steps``: the per-step rows of ``StepHistory`` (``steps.jsonl``). With them the
    x axis is the optimizer step (training values as logged, validation at each epoch's last step), so a one-epoch
    run draws a curve, not one dot; the y axes come from :func:`keras_bert_zoo.viz.curves.axis_range` (0..1 for
    accuracy-like metrics, from 0 for losses)."""
    from keras_bert_zoo.viz.curves import axis_range, curve_panels

    plt = _plt()
    if isinstance(history, dict):
        n = max((len(v) for v in history.values()), default=0)
        history = [{"epoch": i, **{k: v[i] for k, v in history.items() if i < len(v)}} for i in range(n)]
    data = curve_panels(history, steps)
    names = sorted(data["panels"], key=lambda k: (k == "learning_rate", k))
    if not names:
        raise ValueError("empty training history: nothing to plot")
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        panel = data["panels"][name]
        for kind, style in (("train", "-"), ("val", "s--")):
            points = panel[kind]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style if len(points) > 1 else "o", label=f"{kind} {name}", markersize=4)
        ax.set_ylim(*axis_range(name, [p[1] for k in ("train", "val") for p in panel[k]]))
        ax.set_xlabel(data["x"])
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def attention_scores(task, text, pair=None):
    """(tokens, scores [layers, heads, T, T]) for one input of a fine-tuned text task (padding removed)."""
    from keras_bert_zoo.viz.attention_data import attention_batch

    return attention_batch(task, [text], None if pair is None else [pair])[0]


def plot_attention(tokens, scores, path, layer=-1, head=None, title=None):
    """Heat map of ``scores`` [L, N, T, T] at ``layer`` (negative counts from the top) and ``head``
    (None: mean over heads). Rows are queries, columns are keys."""
    plt = _plt()
    scores = np.asarray(scores)
    num_layers, num_heads = scores.shape[:2]
    if not -num_layers <= layer < num_layers:
        raise ValueError(f"layer {layer} out of range for {num_layers} layers")
    if head is not None and not -num_heads <= head < num_heads:
        raise ValueError(f"head {head} out of range for {num_heads} heads")
    layer_idx = layer % num_layers
    mat = scores[layer_idx].mean(axis=0) if head is None else scores[layer_idx, head]
    t = len(tokens)
    size = max(4.0, 0.32 * t + 2.0)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(mat, cmap="viridis", vmin=0.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(t), tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(t), tokens, fontsize=8)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    which = "mean of heads" if head is None else f"head {head % num_heads}"
    ax.set_title(title or f"attention, layer {layer_idx + 1}/{num_layers}, {which}")
    return _save(fig, path)
