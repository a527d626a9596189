"""The package's shape limits (issue 25): no function over 80 lines, no class over 300, so no module grows back
into a class with five jobs. Counted from the ``def`` / ``class`` line to the last line of the body (docstrings
included), read with ``ast``."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_bert_zoo"
MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 300


def _sizes():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"
                yield isinstance(node, ast.ClassDef), node.end_lineno - node.lineno + 1, where


def test_no_function_over_80_lines():
    long = sorted((n, where) for is_class, n, where in _sizes() if not is_class and n > MAX_FUNCTION_LINES)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_class_over_300_lines():
    long = sorted((n, where) for is_class, n, where in _sizes() if is_class and n > MAX_CLASS_LINES)
    assert not long, f"classes over {MAX_CLASS_LINES} lines: {long}"


def test_the_counter_sees_functions_and_classes():
    sizes = list(_sizes())
    assert any(is_class for is_class, _, _ in sizes) and any(not is_class for is_class, _, _ in sizes)
    assert any(where.endswith(" Task") for _, _, where in sizes)
