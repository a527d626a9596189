"""Reads ``tests/tasks/fixtures/windows_golden.json.gz``: the windows and labels that the token classifier's and
the question answerer's featurization produced before the preprocessor layers existed (keras_bert_zoo at
b1486c1, ``TokenClassifier.featurize`` / ``_windows`` and ``QuestionAnswerer.featurize`` / ``_windows`` with
the tiny5b vocabulary): NER on the CoNLL fixtures plus accented, Chinese and emoji sentences, QA on both SQuAD
fixtures plus a context three times as long, a Chinese pair and empty strings, each at four window settings."""

import gzip
import json
import pathlib

import numpy as np

PATH = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "windows_golden.json.gz"


def load() -> dict:
    with gzip.open(PATH, "rt", encoding="utf-8") as f:
        return json.load(f)


def assert_equal(got: dict, want: dict):
    """Every key of ``want`` equals ``got``'s (tensors or arrays), exactly."""
    assert set(want) <= set(got), sorted(set(want) - set(got))
    for key, value in want.items():
        np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(value), err_msg=key)
