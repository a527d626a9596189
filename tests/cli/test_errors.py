"""cli/errors.py: the table of the package's own bad-input error classes stays true as modules move."""

import importlib

from keras_bert_zoo.cli import errors


def test_every_user_error_class_exists_where_the_table_says():
    for module, names in errors.USER_ERRORS.items():
        mod = importlib.import_module(module)
        for name in names:
            cls = getattr(mod, name, None)
            assert isinstance(cls, type) and issubclass(cls, Exception), f"{module}.{name} is not an error class"
            assert cls.__module__ == module or module.startswith(cls.__module__.rpartition(".")[0]), (
                f"{module}.{name} is defined in {cls.__module__}")


def test_the_package_error_classes_are_all_in_the_table():
    import pathlib
    import re

    root = pathlib.Path(errors.__file__).resolve().parents[1]
    listed = {(m, n) for m, names in errors.USER_ERRORS.items() for n in names}
    defined = set()
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
        for name in re.findall(r"^class (\w+Error)\(", path.read_text(encoding="utf-8"), flags=re.M):
            defined.add((module, name))
    # raised for bad input on purpose, but not one line: internal invariants, version shims, sub-classes
    internal = {("keras_bert_zoo.compat", "ShimVersionError"), ("keras_bert_zoo.cache", "ChecksumError"),
                ("keras_bert_zoo.cache", "DirectoryExistsError"), ("keras_bert_zoo.cli.errors", "UsageError")}
    assert defined - listed - internal == set()
