"""keras_bert_zoo.export: raw-strings-in SavedModel (TF Serving layout) and TFLite exports, verified.

    task.export("saved_models/sentiment/1")                          # -> export_task(task, path, ...)
    task.export("saved_models/sentiment/1", format="tflite", quantize="int8")
    # -> saved_models/sentiment-tflite-int8/1/model.tflite

:func:`export_task` maps a version directory ``<root>/<name>/<version>`` onto the exporters
(:func:`keras_bert_zoo.export.saved_model.export_saved_model`, :func:`keras_bert_zoo.export.tflite.export_tflite`),
which verify the artifact against the Keras task on the sample inputs and rename it into place atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

__all__ = ["export_task", "next_version", "FORMATS"]

FORMATS = ("saved_model", "tflite")


def next_version(root: str | os.PathLike, name: str) -> int:
    """The next free TF Serving version number under ``root/name`` (1 when none exists; TF Serving serves the
    highest)."""
    base = Path(root) / name
    taken = [int(d.name) for d in base.iterdir() if d.name.isdigit()] if base.is_dir() else []
    return max(taken, default=0) + 1


def export_task(task, path: str | os.PathLike, *, format: str = "saved_model", feed: Mapping[str, list],
                quantize: str = "none", overwrite: bool = False, **export_args):
    """Export ``task`` to the version directory ``path`` (``<root>/<name>/<version>``; TFLite files go to
    ``<root>/<name>-tflite-<quant>/<version>/model.tflite``). ``feed``: {input name: list of str} samples for
    the verification (and the warm-up requests). ``export_args``: the exporter's own named options."""
    from keras_bert_zoo.export.saved_model import ExportError

    path = Path(path)
    if format not in FORMATS:
        raise ExportError(f"format must be one of {FORMATS}, got {format!r}")
    if not path.name.isdigit() or int(path.name) <= 0 or not path.parent.name:
        raise ExportError(f"{path}: export path must be <root>/<model name>/<version>, the version a positive "
                          f"integer (TF Serving loads numbered version directories)")
    root, name, version = path.parent.parent, path.parent.name, int(path.name)
    if format == "saved_model":
        if quantize != "none":
            raise ExportError(f"quantize={quantize!r} applies to format='tflite' only")
        from keras_bert_zoo.export.saved_model import export_saved_model

        return export_saved_model(task, root, name=name, version=version, sample_texts=feed, overwrite=overwrite,
                                  **export_args)
    from keras_bert_zoo.export.tflite import export_tflite

    return export_tflite(task, root, name=name, version=version, sample_texts=feed, quantize=quantize,
                         overwrite=overwrite, **export_args)
