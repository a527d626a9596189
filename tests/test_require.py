"""tests.conftest.require: a missing optional dependency skips locally but fails under CI=true."""

import pathlib

import pytest

from tests.conftest import EXTRAS, require

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: files still calling pytest.importorskip, being rewritten elsewhere; convert them to require() and drop them
_NOT_YET_CONVERTED = {"tests/tasks/test_tagging.py", "tests/tasks/test_embeddings_minilm.py"}


def test_require_returns_the_module():
    assert require("json").dumps([1]) == "[1]"
    assert require("os.path").join("a", "b") == "a/b"


def test_missing_module_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no_such_module_kbz.*pip install -e '\.\[all\]'"):
        require("no_such_module_kbz")


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_missing_module_fails_in_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    monkeypatch.setitem(__import__("sys").modules, "tf2onnx", None)
    with pytest.raises(pytest.fail.Exception, match=r"CI=true.*tf2onnx.*pip install -e '\.\[onnx\]'"):
        require("tf2onnx")


def test_every_extra_named_exists_in_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    for extra in set(EXTRAS.values()):
        assert f"\n{extra} = [" in text, extra


def test_no_importorskip_left():
    found = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*.py")
             if "importorskip(" in p.read_text(encoding="utf-8") and p.name != "test_require.py"}
    assert found <= _NOT_YET_CONVERTED, f"use tests.conftest.require instead of pytest.importorskip in {found - _NOT_YET_CONVERTED}"
