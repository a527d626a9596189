"""Fixtures for the converter tests."""

import pytest

from convert_helpers import write_vocab


@pytest.fixture
def vocab_dir(tmp_path):
    write_vocab(tmp_path / "vocab.txt")
    return tmp_path
