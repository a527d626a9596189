"""Throughput: examples/s of each epoch printed and recorded in the epoch's logs (issue 16 item 7)."""

import keras
import numpy as np

from keras_bert_zoo.train.callbacks import EpochHistory, read_history
from keras_bert_zoo.train.clocks import Throughput


def test_throughput_is_printed_and_recorded(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    lines = []
    speed = Throughput(examples_per_epoch=10, batch_size=4, printer=lines.append)
    model.fit(np.ones((10, 4)), np.ones((10, 2)), batch_size=4, epochs=2, verbose=0,
              callbacks=[speed, EpochHistory(tmp_path / "h.jsonl")])
    assert len(lines) == 2 and lines[0].startswith("epoch 1: 10 training examples in ")
    assert lines[0].endswith("examples/s)")
    rows = read_history(tmp_path / "h.jsonl")
    assert [r["examples_per_s"] > 0 for r in rows] == [True, True]
    assert speed.rates == [r["examples_per_s"] for r in rows]


def test_run_clock_splits_a_fit_into_phases():
    """RunClock: the phases of a fit (first step, other steps, validation, the rest) add up to the fit's wall
    time; named phases add up when repeated; start-up is the process's age."""
    import time

    from keras_bert_zoo.train.clocks import RunClock, process_age_seconds

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    clock = RunClock()
    assert 0 < clock.phases["start-up"] <= process_age_seconds()
    with clock.phase("data"):
        time.sleep(0.01)
    with clock.phase("data"):
        time.sleep(0.01)
    t0 = time.perf_counter()
    with clock.fitting():
        model.fit(np.ones((12, 4)), np.ones((12, 2)), batch_size=4, epochs=2, verbose=0,
                  validation_data=(np.ones((4, 4)), np.ones((4, 2))), callbacks=[clock])
    fit_seconds = time.perf_counter() - t0
    assert clock.phases["data"] >= 0.02
    assert list(clock.phases)[:3] == ["start-up", "data", "first step"]
    parts = [clock.phases[k] for k in ("first step", "training steps", "validation", "fit other")]
    assert all(p > 0 for p in parts)
    assert abs(sum(parts) - fit_seconds) < 0.01 * fit_seconds + 0.005
    assert clock.summary().startswith(f"run {clock.total():.0f} s: start-up ")
