"""keras_bert_zoo.train.clocks: the step clock (skipped first steps, paused time), the time budget, the run
clock's announce and elapsed time."""

import time

import keras
import numpy as np

from keras_bert_zoo.train.clocks import RunClock, StepClock, TimeBudget


def _model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    return model


class _Sleep(keras.callbacks.Callback):
    """Each batch takes at least ``seconds`` (so the clocks have something to measure)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)


def test_step_clock_skips_the_first_steps_and_counts_rates():
    clock = StepClock(skip=2, tokens_per_step=8, examples_per_step=4)
    _model().fit(np.ones((24, 4)), np.ones((24, 2)), batch_size=4, epochs=1, verbose=0,
                 callbacks=[_Sleep(0.01), clock])
    assert clock.steps == 6 and clock.timed_steps == 4 and len(clock.durations) == len(clock.marks) == 6
    assert clock.seconds == __import__("pytest").approx(clock.marks[-1] - clock.marks[1])
    assert clock.seconds >= 4 * 0.01
    assert clock.tokens_per_second == clock.steps_per_second * 8
    assert clock.examples_per_second == clock.steps_per_second * 4
    assert clock.first_step_seconds >= clock.durations[0] > 0


def test_step_clock_leaves_paused_time_out():
    clock = StepClock(skip=1)

    class PauseAtStep3(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                with clock.paused():
                    time.sleep(0.3)

    _model().fit(np.ones((20, 4)), np.ones((20, 2)), batch_size=4, epochs=1, verbose=0,
                 callbacks=[clock, PauseAtStep3()])
    assert clock.timed_steps == 4
    assert clock.seconds < (clock.marks[-1] - clock.marks[0]) - 0.25


def test_no_rate_before_the_clock_starts():
    clock = StepClock(skip=3, tokens_per_step=8)
    assert not clock.started and np.isnan(clock.steps_per_second) and np.isnan(clock.tokens_per_second)
    assert np.isnan(clock.first_step_seconds)


def test_time_budget_stops_training():
    budget = TimeBudget(0.05)
    model = _model()
    model.fit(np.ones((400, 4)), np.ones((400, 2)), batch_size=4, epochs=1, verbose=0,
              callbacks=[_Sleep(0.02), budget])
    assert budget.stopped_early and budget.exhausted and budget.steps < 100
    generous = TimeBudget(600)
    model.fit(np.ones((8, 4)), np.ones((8, 2)), batch_size=4, epochs=1, verbose=0, callbacks=[generous])
    assert not generous.stopped_early and generous.steps == 2


def test_run_clock_announces_phases_and_rounds(capsys):
    clock = RunClock(include_startup=False, announce=True)
    with clock.phase("corpora"):
        time.sleep(0.01)
    assert "\n== corpora" in capsys.readouterr().out
    assert list(clock.rounded()) == ["corpora"] and clock.rounded()["corpora"] == round(clock.phases["corpora"], 1)
    assert clock.elapsed() >= clock.total() >= 0.01
