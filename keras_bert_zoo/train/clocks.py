"""The package's clocks, in one module: the phases of a run, the rate of training steps, a time budget.

* :class:`RunClock` — wall time of a run's phases (``with clock.phase("save"): ...``; as a ``fit`` callback it
  splits the fit into first step, training steps and validation). ``announce=True`` prints ``== name`` as a
  phase starts (the Chinese demo's progress lines).
* :class:`StepClock` — a ``fit`` callback timing training steps: the steps after the first ``skip`` ones
  (tracing and XLA compilation are not charged), with the time inside ``with clock.paused(): ...`` (held-out
  evaluations) left out. Gives steps/s, tokens/s and each step's own duration.
* :class:`TimeBudget` — a :class:`StepClock` that stops training once its measured training time reaches
  ``seconds``.
* :class:`Throughput` — training examples/s of each epoch (epoch start to its last batch: validation excluded),
  printed and added to the epoch's logs as ``examples_per_s``.

    clock = RunClock()
    with clock.phase("read data"):
        ...
    steps = StepClock(skip=3, tokens_per_step=batch * seq)
    with clock.fitting():
        model.fit(ds, epochs=1, callbacks=[clock, steps, TimeBudget(600)])
    print(clock.summary(), steps.tokens_per_second)
"""

from __future__ import annotations

import contextlib
import os
import time

import keras

__all__ = ["RunClock", "StepClock", "TimeBudget", "Throughput", "process_age_seconds"]


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
    longer-lived process). ``announce=True`` prints ``== <phase>`` when a phase starts.
    """

    FIT_PARTS = ("first step", "training steps", "validation", "training curves")

    def __init__(self, include_startup: bool = True, announce: bool = False):
        super().__init__()
        self.phases = {}
        self.announce = announce
        self._made = time.perf_counter()
        age = process_age_seconds() if include_startup else None
        if age is not None:
            self.phases["start-up"] = age
        self._batch_start = self._test_start = None
        self._first_done = False

    def add(self, name, seconds):
        self.phases[name] = self.phases.get(name, 0.0) + float(seconds)

    @contextlib.contextmanager
    def phase(self, name):
        if self.announce:
            print(f"\n== {name}", flush=True)
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
        """The sum of the phases."""
        return sum(self.phases.values())

    def elapsed(self) -> float:
        """Wall seconds since the clock was made (phases or not; start-up not included)."""
        return time.perf_counter() - self._made

    def rounded(self, digits: int = 1) -> dict:
        """``.phases`` rounded (for a summary.json)."""
        return {name: round(seconds, digits) for name, seconds in self.phases.items()}

    def summary(self) -> str:
        """One line: ``run 145 s: start-up 12, read data 1, ...``."""
        parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.phases.items())
        return f"run {self.total():.0f} s: {parts}"


class StepClock(keras.callbacks.Callback):
    """Times the training steps of ``fit``.

    ``steps`` counts every step; the clock starts at the end of step ``skip`` (``skip=1``: the first step, which
    traces and compiles the train function, is not charged; ``skip=0``: at the start of training) and ``seconds`` is the training time since, less
    the time spent inside ``with clock.paused(): ...`` (held-out evaluations in a callback). ``first_step_seconds``
    is the time from the start of ``fit``'s training loop to the end of the first step. ``durations`` holds each
    step's own time (batch begin to batch end); ``marks`` the ``time.perf_counter()`` at each
    step's end. ``tokens_per_step`` / ``examples_per_step`` turn the step rate into tokens/s and examples/s.
    """

    def __init__(self, skip: int = 1, tokens_per_step: int | None = None, examples_per_step: int | None = None):
        super().__init__()
        self.skip = int(skip)
        self.tokens_per_step, self.examples_per_step = tokens_per_step, examples_per_step
        self.steps, self.seconds = 0, 0.0
        self.durations, self.marks = [], []
        self._last = self._begin = self._train_begin = None

    def on_train_begin(self, logs=None):
        self._train_begin = time.perf_counter()
        if self.skip == 0:                     # nothing skipped: the clock runs from the start of training
            self._last = self._train_begin

    def on_train_batch_begin(self, batch, logs=None):
        self._begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.steps += 1
        self.marks.append(now)
        if self._begin is not None:
            self.durations.append(now - self._begin)
        if self.steps > self.skip and self._last is not None:
            self.seconds += now - self._last
        if self.steps >= self.skip:
            self._last = now

    @contextlib.contextmanager
    def paused(self):
        """Time spent inside is not training time."""
        try:
            yield
        finally:
            if self._last is not None:
                self._last = time.perf_counter()

    @property
    def first_step_seconds(self) -> float:
        """From the start of training (``on_train_begin``) to the end of the first step: tracing, compilation and
        the first batch."""
        if not self.marks or self._train_begin is None:
            return float("nan")
        return self.marks[0] - self._train_begin

    @property
    def timed_steps(self) -> int:
        return max(self.steps - self.skip, 0)

    @property
    def started(self) -> bool:
        """Whether the clock runs (step ``skip`` has ended)."""
        return self._last is not None

    @property
    def steps_per_second(self) -> float:
        return self.timed_steps / self.seconds if self.seconds > 0 else float("nan")

    @property
    def tokens_per_second(self) -> float:
        return self.steps_per_second * self.tokens_per_step if self.tokens_per_step else float("nan")

    @property
    def examples_per_second(self) -> float:
        return self.steps_per_second * self.examples_per_step if self.examples_per_step else float("nan")


class TimeBudget(StepClock):
    """Stops training once the training time (a :class:`StepClock`'s, from the end of the first ``skip``
    steps) exceeds ``seconds``; checked after every batch. ``stopped_early`` says whether it stopped a fit."""

    def __init__(self, seconds: float, skip: int = 1, **kwargs):
        super().__init__(skip=skip, **kwargs)
        self.budget_seconds = float(seconds)
        self.stopped_early = False

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.exhausted:
            self.stopped_early = True
            self.model.stop_training = True

    @property
    def exhausted(self) -> bool:
        return self.started and self.seconds > self.budget_seconds


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
