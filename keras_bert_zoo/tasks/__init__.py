"""Task objects: preprocessor + model on packed inputs + postprocessing (see :mod:`keras_bert_zoo.tasks.base`).

Registry: a task module decorates its class with ``@register_task`` (the class's ``task_type`` is the key).
``get_task_class(name)`` imports the module that provides ``name`` on first use, so the CLI
(``bert-zoo finetune --task=NAME``) and ``BertTask.load`` find every task without importing them all.
"""

from __future__ import annotations

import importlib

from keras_bert_zoo.tasks.base import BertTask, TaskError

__all__ = ["BertTask", "TaskError", "register_task", "get_task_class", "task_names", "TASK_MODULES"]

#: task_type -> module that registers it (imported lazily)
TASK_MODULES = {
    "classify": "keras_bert_zoo.tasks.classification",
    "regress": "keras_bert_zoo.tasks.classification",
    "tag": "keras_bert_zoo.tasks.tagging",
    "qa": "keras_bert_zoo.tasks.qa",
    "choice": "keras_bert_zoo.tasks.choice",
    "fill_mask": "keras_bert_zoo.tasks.fill_mask",
    "embed": "keras_bert_zoo.tasks.embeddings",
}

_REGISTRY: dict[str, type] = {}


def register_task(cls):
    """Class decorator: register a :class:`BertTask` subclass under its ``task_type``."""
    if not (isinstance(cls, type) and issubclass(cls, BertTask)):
        raise TypeError(f"register_task expects a BertTask subclass, got {cls!r}")
    name = cls.task_type
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"task type {name!r} is already registered by {_REGISTRY[name].__qualname__}")
    _REGISTRY[name] = cls
    return cls


def get_task_class(name: str) -> type:
    """The task class registered as ``name`` (importing its module on first use)."""
    if name not in _REGISTRY and name in TASK_MODULES:
        importlib.import_module(TASK_MODULES[name])
    if name not in _REGISTRY:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    return _REGISTRY[name]


def task_names() -> list[str]:
    return sorted(set(TASK_MODULES) | set(_REGISTRY))


def __getattr__(name):
    # Convenience: keras_bert_zoo.tasks.TextClassifier etc. without importing every module up front.
    lazy = {"TextClassifier": "keras_bert_zoo.tasks.classification",
            "TextRegressor": "keras_bert_zoo.tasks.classification"}
    if name in lazy:
        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
