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
* :class:`Throughput` — training examples/s of each epoch, printed and logged.
* :class:`RunClock` — wall time of a whole run's phases (start-up, data, model, first step, training steps,
  validation, saving, reports), so the fixed overhead of a run around its epochs is a number.

    from keras_bert_zoo.train import callbacks as cb
    model.fit(train, validation_data=val, callbacks=[
        cb.early_stopping(patience=2), cb.NanGuard("run/last_good.weights.h5"),
        cb.backup_and_restore("run/backup"), cb.EpochHistory("run/history.jsonl")])
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

from keras_bert_zoo import cache

__all__ = ["early_stopping", "NanGuard", "backup_and_restore", "EpochHistory", "NanLossError"]


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


class Throughput(keras.callbacks.Callback):
    """Training examples per second of each epoch (first batch start to last batch end: validation excluded),
    printed at the epoch's end and added to its logs as ``examples_per_s`` (so ``EpochHistory`` records it: put
    this callback before it)."""

    def __init__(self, examples_per_epoch, batch_size, printer=print):
        super().__init__()
        self.examples_per_epoch = int(examples_per_epoch)
        self.batch_size = int(batch_size)
        self.printer = printer
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._last, self._batches = time.perf_counter(), None, 0

    def on_train_batch_end(self, batch, logs=None):
        self._last = time.perf_counter()
        self._batches += 1

    def on_epoch_end(self, epoch, logs=None):
        if self._last is None:
            return
        seconds = max(self._last - self._start, 1e-9)
        examples = min(self.examples_per_epoch, self._batches * self.batch_size)
        rate = examples / seconds
        self.rates.append(rate)
        if logs is not None:
            logs["examples_per_s"] = rate
        if self.printer:
            self.printer(f"epoch {epoch + 1}: {examples} training examples in {seconds:.1f} s "
                         f"({rate:.1f} examples/s)")


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


def read_history(path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def process_age_seconds() -> float | None:
    """Seconds since this process started (Linux ``/proc``; None elsewhere): the start-up before any code of ours."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class RunClock(keras.callbacks.Callback):
    """Wall time of a run's phases, in seconds (``.phases``, in order of first use).

    ``with clock.phase("save"): ...`` times a phase (repeated phases add up). Passed to ``fit`` as a callback it
    records ``first step`` (tracing and the first batch), ``training steps`` (the other batches) and
    ``validation``; around the fit, ``with clock.fitting(): ...`` adds the rest of its time as ``fit other``
    (compile, fit's set-up, callbacks, epoch ends). ``start-up`` is the process's age when the clock was made
    (interpreter, imports, flag parsing); ``include_startup=False`` leaves it out (a clock of one call inside a
    longer-lived process).
    """

    FIT_PARTS = ("first step", "training steps", "validation", "training curves")

    def __init__(self, include_startup: bool = True):
        super().__init__()
        self.phases = {}
        age = process_age_seconds() if include_startup else None
        if age is not None:
            self.phases["start-up"] = age
        self._batch_start = self._test_start = None
        self._first_done = False

    def add(self, name, seconds):
        self.phases[name] = self.phases.get(name, 0.0) + float(seconds)

    @contextlib.contextmanager
    def phase(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    @contextlib.contextmanager
    def fitting(self):
        before = {k: self.phases.get(k, 0.0) for k in self.FIT_PARTS}
        start = time.perf_counter()
        try:
            yield
        finally:
            inner = sum(self.phases.get(k, 0.0) - before[k] for k in self.FIT_PARTS)
            self.add("fit other", time.perf_counter() - start - inner)

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        seconds = time.perf_counter() - self._batch_start
        self.add("training steps" if self._first_done else "first step", seconds)
        self._first_done = True

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        if self._test_start is not None:
            self.add("validation", time.perf_counter() - self._test_start)
            self._test_start = None

    def total(self) -> float:
        return sum(self.phases.values())

    def summary(self) -> str:
        """One line: ``run 145 s: start-up 12, read data 1, ...``."""
        parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.phases.items())
        return f"run {self.total():.0f} s: {parts}"
