"""Which class builds the task model of a checkpoint with a head (``BertForSequenceClassification``, ...).

The task classes live above ``convert/`` in the layer order (tests/test_imports.py), so the converters never
import them: they ask this registry, which the layers above fill. The package root registers one provider,
``keras_bert_zoo.tasks.task_models`` (imported only when a head is asked for), so
``convert.from_hf(head_checkpoint)`` returns the task model with no extra argument; a package of its own task
models registers another provider. A ``model_classes=`` argument of an importer still overrides the registry.

This module imports nothing: importing ``keras_bert_zoo`` (and with it this registry) stays free of TensorFlow.
"""

from __future__ import annotations

from typing import Callable, Mapping

__all__ = ["ConversionError", "register_model_provider", "model_classes"]

_PROVIDERS: list = []


class ConversionError(ValueError):
    """A checkpoint directory that cannot be converted (missing files, unsupported architecture...)."""


def register_model_provider(provider: Callable[[], Mapping[str, type]]) -> None:
    """Add ``provider``: a function returning ``{Hugging Face architecture name: task model class}``, called
    when a checkpoint with a head is imported (later providers win on the same name). Registering the same
    function twice is a no-op."""
    if not callable(provider):
        raise TypeError(f"register_model_provider takes a function, got {type(provider).__name__}")
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def model_classes() -> dict:
    """``{architecture: class}`` from every registered provider."""
    out = {}
    for provider in _PROVIDERS:
        out.update(provider())
    return out
