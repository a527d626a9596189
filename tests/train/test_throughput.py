"""Throughput: examples/s of each epoch printed and recorded in the epoch's logs (issue 16 item 7)."""

import keras
import numpy as np

from keras_bert_zoo.train.callbacks import EpochHistory, Throughput, read_history


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
