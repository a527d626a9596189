"""keras_bert_zoo.export: raw-strings-in SavedModel and TFLite exports (packed-ids ONNX), verified.

As ``keras.Model.export``, a task's ``export(filepath, format=...)`` writes exactly at ``filepath``::

    task.export("my_model")                                   # a SavedModel directory (format "saved_model")
    task.export("ner.tflite", format="tflite", quantize="int8")   # one .tflite file (or format="litert")
    task.export("ner.onnx", format="onnx")                    # packed ids in (tf2onnx can't map the tokenizer)
    task.export(export.next_version_dir("saved_models", "sentiment"))   # TF Serving: saved_models/sentiment/<n>

Keras's format names (``"tf_saved_model"``, ``"litert"``, ``"onnx"``) and ours (``"saved_model"``,
``"tflite"``) are both accepted. :func:`export_task` maps them onto the exporters
(:func:`keras_bert_zoo.export.saved_model.export_saved_model`, :func:`keras_bert_zoo.export.tflite.export_tflite`,
:func:`keras_bert_zoo.export.onnx.export_onnx_packed`), which verify the artifact against the Keras task on the
sample inputs and rename it into place atomically; an existing target is an error naming it unless
``overwrite=True``. TF Serving's layout ``<root>/<name>/<version>`` is :func:`next_version_dir`'s (what
``bert-zoo export --name`` uses).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

__all__ = ["export_task", "export_format", "next_version", "next_version_dir", "FORMATS", "FORMAT_ALIASES"]

FORMATS = ("saved_model", "tflite", "onnx")
#: Keras's names for our formats (``keras.Model.export``)
FORMAT_ALIASES = {"tf_saved_model": "saved_model", "litert": "tflite"}


def export_format(format: str) -> str:
    """Our name of an export format, given ours or Keras's (``"tf_saved_model"`` -> ``"saved_model"``,
    ``"litert"`` -> ``"tflite"``)."""
    from keras_bert_zoo.export.saved_model import ExportError

    name = FORMAT_ALIASES.get(format, format)
    if name not in FORMATS:
        raise ExportError(f"format must be one of {sorted(FORMATS + tuple(FORMAT_ALIASES))}, got {format!r}")
    return name


def next_version(root: str | os.PathLike, name: str) -> int:
    """The next free TF Serving version number under ``root/name`` (1 when none exists; TF Serving serves the
    highest)."""
    base = Path(root) / name
    taken = [int(d.name) for d in base.iterdir() if d.name.isdigit()] if base.is_dir() else []
    return max(taken, default=0) + 1


def next_version_dir(root: str | os.PathLike, name: str) -> Path:
    """``<root>/<name>/<next free version>``: the path to export a SavedModel to for TF Serving (whose
    ``--model_base_path`` is ``<root>/<name>``). Two exports racing for the same version: one of them wins,
    the other raises ``ExportError``.

    Example::

        >>> from keras_bert_zoo.export import next_version_dir
        >>> first = next_version_dir("exports", "tweets")                  # nothing exported there yet
        >>> first.as_posix()
        'exports/tweets/1'
        >>> first.mkdir(parents=True)                                       # (an export would create it)
        >>> next_version_dir("exports", "tweets").as_posix()
        'exports/tweets/2'
    """
    from keras_bert_zoo.export.saved_model import version_dir

    return version_dir(root, name, next_version(root, name))


def export_task(task, filepath: str | os.PathLike, *, format: str = "saved_model", feed: Mapping[str, list],
                quantize: str = "none", overwrite: bool = False, **export_args):
    """Export ``task`` exactly at ``filepath``: a SavedModel directory, or a ``.tflite`` / ``.onnx`` file.
    ``format``: ours or Keras's name (:func:`export_format`). ``feed``: {input name: list of str} samples for
    the verification (and the warm-up requests). ``quantize``: TFLite only. ``export_args``: the exporter's
    own named options. Returns the exporter's result (``.path`` is where it went)."""
    from keras_bert_zoo.export.saved_model import ExportError, ExportResult

    fmt = export_format(format)
    path = Path(filepath)
    if fmt != "tflite" and quantize != "none":
        raise ExportError(f"quantize={quantize!r} applies to format='tflite' (or 'litert') only")
    if fmt == "saved_model":
        if path.suffix.lower() in (".tflite", ".onnx"):
            raise ExportError(f"{path}: format={format!r} writes a SavedModel directory; for a "
                              f"{path.suffix} file pass format={path.suffix.lower()[1:]!r}")
        from keras_bert_zoo.export.saved_model import export_saved_model

        return export_saved_model(task, path, feed, overwrite=overwrite, **export_args)
    if fmt == "tflite":
        from keras_bert_zoo.export.tflite import export_tflite

        return export_tflite(task, path, feed, quantize=quantize, overwrite=overwrite, **export_args)
    from keras_bert_zoo.export.onnx import export_onnx_packed

    report = export_onnx_packed(task, path, feed, overwrite=overwrite, **export_args)
    return ExportResult(path, {}, report, {"format": "onnx", "inputs": "packed ids"})
