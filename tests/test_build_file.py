"""BUILD must list every package module and have a py_test for every test module."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _listed():
    text = open(os.path.join(ROOT, "BUILD"), encoding="utf-8").read()
    return set(re.findall(r'"([^"]+\.py)"', text)), set(re.findall(r'args = \["([^"]+\.py)"\]', text))


def _walk(top):
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "__pycache__"))]
        for f in filenames:
            if f.endswith(".py"):
                yield os.path.relpath(os.path.join(dirpath, f), ROOT)


def test_every_package_module_is_in_build():
    listed, _ = _listed()
    missing = sorted(p for p in _walk("keras_bert_zoo") if p not in listed)
    assert not missing, f"not in BUILD (run python tools/gen_build.py): {missing}"


def test_every_test_module_has_a_py_test():
    _, tested = _listed()
    missing = sorted(p for p in _walk("tests") if os.path.basename(p).startswith("test_") and p not in tested)
    assert not missing, f"no py_test in BUILD (run python tools/gen_build.py): {missing}"


def test_build_lists_no_missing_file():
    listed, _ = _listed()
    gone = sorted(p for p in listed if not os.path.exists(os.path.join(ROOT, p)))
    assert not gone, f"BUILD lists files that do not exist: {gone}"
