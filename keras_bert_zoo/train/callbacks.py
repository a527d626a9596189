"""Training callbacks for the fine-tuning recipe.

* :func:`early_stopping` — ``keras.callbacks.EarlyStopping`` with best-weights restore.
* :class:`NanGuard` — saves the weights after every epoch that ended with a finite loss (atomically, to
  ``checkpoint_path``); on the first NaN/Inf batch loss it stops training, restores the last good weights into
  the model and records a clear message in ``.message`` (``.nan_detected`` is True). The last good checkpoint on
  disk is never overwritten by bad weights.
* :func:`backup_and_restore` — ``keras.callbacks.BackupAndRestore``: a run killed at any moment (even
  ``kill -9``) resumes from the last completed epoch (or step, with ``save_freq=N``) when started again with
  the same ``backup_dir``; the backup is deleted when training finishes.
* :class:`EpochHistory` — appends each epoch's logs to a JSON-lines file (survives restarts; the training-curve
  plot reads it).
* :class:`StepHistory` — the batch logs (loss and metrics: Keras's running means over the epoch so far) and the
  learning rate every few optimizer steps, as JSON lines (``steps.jsonl``: the curves by step of the training-
  curve plot and of ``report.html``).

The clocks (:class:`~keras_bert_zoo.train.clocks.Throughput`, ``RunClock``, ``StepClock``, ``TimeBudget``) live
in :mod:`keras_bert_zoo.train.clocks`.

    from keras_bert_zoo.train import callbacks as cb
    model.fit(train, validation_data=val, callbacks=[
        cb.early_stopping(patience=2), cb.NanGuard("run/last_good.weights.h5"),
        cb.backup_and_restore("run/backup"), cb.EpochHistory("run/history.jsonl")])
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np

from keras_bert_zoo import cache

__all__ = ["early_stopping", "NanGuard", "backup_and_restore", "EpochHistory", "StepHistory", "NanLossError",
           "read_history"]


class NanLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


def early_stopping(monitor="val_loss", patience=2, mode="auto", min_delta=0.0):
    return keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, mode=mode, min_delta=min_delta,
                                         restore_best_weights=True, verbose=1)


def backup_and_restore(backup_dir, save_freq="epoch"):
    # double_checkpoint: a kill while the backup is being written falls back to the previous one
    return keras.callbacks.BackupAndRestore(str(backup_dir), save_freq=save_freq, double_checkpoint=True,
                                            delete_checkpoint=True)


def _save_weights_atomic(model, path: Path):
    with cache.atomic_path(path, suffix=".weights.h5") as tmp:  # Keras wants the .weights.h5 suffix
        model.save_weights(str(tmp))


class NanGuard(keras.callbacks.Callback):
    """Stop on a NaN/Inf loss and keep (and restore) the last good weights.

    Args:
        checkpoint_path: a ``*.weights.h5`` file for the last good weights (written at train begin and after
            each epoch whose loss is finite). None keeps them in memory only.
    """

    def __init__(self, checkpoint_path=None):
        super().__init__()
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.nan_detected = False
        self.message = None
        self._good = None
        self._good_epoch = None

    def _remember(self, epoch):
        self._good = [np.array(w) for w in self.model.get_weights()]
        self._good_epoch = epoch
        if self.checkpoint_path is not None:
            _save_weights_atomic(self.model, self.checkpoint_path)

    def on_train_begin(self, logs=None):
        self.nan_detected, self.message = False, None
        self._remember(None)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        self.nan_detected = True
        where = "the initial weights" if self._good_epoch is None else f"the end of epoch {self._good_epoch + 1}"
        saved = f" (saved at {self.checkpoint_path})" if self.checkpoint_path is not None else ""
        self.message = (f"Training stopped: the loss became {float(loss)} at batch {batch + 1} of epoch "
                        f"{self._epoch + 1}. The model holds the last good weights, from {where}{saved}. "
                        f"Try a lower learning rate, gradient clipping, or check the inputs/labels.")
        self.model.stop_training = True
        self.model.set_weights(self._good)
        print("\n" + self.message, flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_detected:
            return
        losses = [v for k, v in (logs or {}).items() if k.endswith("loss")]
        if all(math.isfinite(float(v)) for v in losses):
            self._remember(epoch)


class EpochHistory(keras.callbacks.Callback):
    """Append ``{"epoch": i, **logs}`` per epoch to a JSON-lines file (replacing an earlier line for the same
    epoch, so a resumed run does not duplicate epochs)."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        rows = read_history(self.path)
        rows = [r for r in rows if r.get("epoch") != epoch]
        rows.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()
                                        if np.ndim(v) == 0}})
        rows.sort(key=lambda r: r["epoch"])
        with cache.atomic_write(self.path, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


class StepHistory(keras.callbacks.Callback):
    """Write ``{"step", "epoch", **batch logs, "learning_rate"}`` every ``every`` batches (and at each epoch's last
    batch) to a JSON-lines file. ``every`` None: about ``max_points`` rows over the run (from the fit's ``steps`` and
    ``epochs`` params). Rows of a resumed run replace those at or after its first step. The file is rewritten
    atomically at each epoch's end (rows are kept in memory in between: a few hundred small dicts)."""

    def __init__(self, path, every=None, max_points=300):
        super().__init__()
        self.path = Path(path)
        self.every = every
        self.max_points = int(max_points)
        self._rows, self._step, self._epoch, self._steps = [], 0, 0, None

    def on_train_begin(self, logs=None):
        steps, epochs = self.params.get("steps"), self.params.get("epochs") or 1
        self._steps = steps
        if self.every is None:
            self._every = max(1, (steps or 100) * epochs // self.max_points)
        else:
            self._every = max(1, int(self.every))
        self._rows = read_history(self.path)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._steps:
            self._step = epoch * self._steps
        self._rows = [r for r in self._rows if r.get("step", 0) <= self._step]

    def _learning_rate(self):
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except (AttributeError, TypeError, ValueError):
            return None

    def on_train_batch_end(self, batch, logs=None):
        # with the steps per epoch known, the step follows Keras's batch index (a run resumed mid-epoch by
        # BackupAndRestore keeps its numbering)
        self._step = self._epoch * self._steps + batch + 1 if self._steps else self._step + 1
        last = self._steps is not None and batch + 1 == self._steps
        if self._step % self._every and not last:
            return
        row = {"step": self._step, "epoch": self._epoch}
        row.update({k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})
        lr = self._learning_rate()
        if lr is not None:
            row["learning_rate"] = lr
        self._rows.append(row)

    def on_epoch_end(self, epoch, logs=None):
        with cache.atomic_write(self.path, "w", encoding="utf-8") as f:
            for r in self._rows:
                f.write(json.dumps(r) + "\n")


def read_history(path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
