"""Training curves as plot-ready series, shared by ``training_curves.png`` and ``report.html``.

A run writes two logs (:mod:`keras_bert_zoo.train.callbacks`): ``history.jsonl`` (one row per epoch: train and
``val_`` metrics) and ``steps.jsonl`` (every few optimizer steps: the batch logs, Keras's running means over the
epoch so far, and the learning rate). :func:`curve_panels` turns them into one panel per metric, x in steps when
the step log exists (validation points at each epoch's last step), else in epochs.

    >>> panels = curve_panels([{"epoch": 0, "loss": 0.9, "val_loss": 0.8}],
    ...                       [{"step": 5, "epoch": 0, "loss": 1.1}, {"step": 10, "epoch": 0, "loss": 0.9}])
    >>> panels["x"], panels["panels"]["loss"]["train"], panels["panels"]["loss"]["val"]
    ('step', [[5, 1.1], [10, 0.9]], [[10, 0.8]])
"""

from __future__ import annotations

import math

__all__ = ["curve_panels", "axis_range", "NOT_PLOTTED"]

#: logged values that are not a curve of their own panel (the learning rate gets its own panel when logged by step)
NOT_PLOTTED = ("lr", "examples_per_s", "epoch", "step")
#: metrics bounded by [0, 1]: their axis spans 0..1 (so a single point is not drawn on a 0.96..1.04 axis)
UNIT_METRICS = ("accuracy", "f1", "precision", "recall", "auc", "mcc")


def _finite(v):
    return isinstance(v, (int, float)) and math.isfinite(v)


def _epoch_end_steps(steps) -> dict:
    ends = {}
    for row in steps:
        ends[row.get("epoch", 0)] = max(ends.get(row.get("epoch", 0), 0), row["step"])
    return ends


def curve_panels(history, steps=None) -> dict:
    """{"x": "step" | "epoch", "panels": {metric: {"train": [[x, y]], "val": [[x, y]]}}} from the per-epoch
    ``history`` rows and the per-step ``steps`` rows (either may be empty)."""
    history, steps = list(history or []), [r for r in (steps or []) if "step" in r]
    panels = {}

    def add(name, kind, x, y):
        if _finite(y):
            panels.setdefault(name, {"train": [], "val": []})[kind].append([x, float(y)])

    if steps:
        ends = _epoch_end_steps(steps)
        for row in steps:
            for k, v in row.items():
                if k not in NOT_PLOTTED and not k.startswith("val_"):
                    add(k, "train", row["step"], v)
        for i, row in enumerate(history):
            x = ends.get(row.get("epoch", i))
            for k, v in row.items():
                if k.startswith("val_") and x is not None:
                    add(k[4:], "val", x, v)
        return {"x": "step", "panels": panels}
    for i, row in enumerate(history):
        x = row.get("epoch", i) + 1
        for k, v in row.items():
            if k in NOT_PLOTTED or k == "learning_rate":
                continue
            add(k[4:] if k.startswith("val_") else k, "val" if k.startswith("val_") else "train", x, v)
    return {"x": "epoch", "panels": panels}


def axis_range(name, values) -> tuple:
    """(low, high) of a panel's y axis: 0..1 for [0, 1] metrics, 0..max for non-negative ones (loss, learning
    rate), else the data's range with a margin; never an empty range."""
    values = [v for v in values if _finite(v)]
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if any(u in name for u in UNIT_METRICS) and lo >= 0 and hi <= 1:
        return 0.0, 1.0
    if lo >= 0:
        return 0.0, hi * 1.08 if hi > 0 else 1.0
    span = (hi - lo) or abs(hi) or 1.0
    return lo - 0.08 * span, hi + 0.08 * span
