"""An exported SavedModel used like the task it was exported from, for batch prediction.

:class:`ExportedModel` loads a SavedModel written by ``task.export`` / `bert-zoo export` and answers
``predict_records`` exactly as the task's own ``predict_records`` does (the records `bert-zoo predict` writes):
it runs the ``serving_default`` signature (raw strings in, the task's named outputs out) and turns the outputs
into one dict per record with the task class's own ``decode`` -- one decoder, not a copy. What ``decode`` reads of
the task comes from the export itself: ``assets.extra/export_info.json`` names the task type, its labels and its
raw-string inputs in order, and a multi-label classifier is the one whose signature has a ``predictions``
output::

    model = ExportedModel("saved_models/sentiment/1")
    model.text_inputs                                   # ("text",)
    model.predict_records([{"text": "what a day"}])     # [{"probabilities": {...}, "label": ..., "score": ...}]

Paths may be any file system TensorFlow reads (``gs://...`` included). A SavedModel is a program: load only one
you (or your pipeline) exported (saved_models/README.md, "Threat model").
"""

from __future__ import annotations

import dataclasses
import json
from typing import Mapping, Sequence

__all__ = ["ExportedModelError", "ExportInfo", "read_export_info", "ExportedModel"]

SIGNATURE = "serving_default"


class ExportedModelError(ValueError):
    """A directory that is not a SavedModel this package exported, or one whose task cannot be decoded here
    (names the directory and what is missing)."""


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """What ``export_info.json`` says about the task an export was made from."""

    path: str
    task_type: str
    labels: list | None
    text_inputs: tuple
    output_names: tuple


def _join(*parts: str) -> str:
    return "/".join([parts[0].rstrip("/")] + [p.strip("/") for p in parts[1:]])


def read_export_info(saved_model_dir) -> ExportInfo:
    """The task type, labels, raw-string inputs (in order) and output names of the export at ``saved_model_dir``;
    :class:`ExportedModelError` when it is not a SavedModel directory of this package."""
    import tensorflow as tf

    path = str(saved_model_dir)
    if not tf.io.gfile.exists(_join(path, "saved_model.pb")):
        raise ExportedModelError(f"{path}: not a SavedModel directory (no saved_model.pb); give the directory "
                                 f"`bert-zoo export` or task.export wrote, e.g. saved_models/<name>/<version>")
    info_path = _join(path, "assets.extra", "export_info.json")
    if not tf.io.gfile.exists(info_path):
        raise ExportedModelError(f"{path}: no assets.extra/export_info.json: not exported by keras_bert_zoo "
                                 f"(`bert-zoo export` / task.export write it)")
    with tf.io.gfile.GFile(info_path, "r") as f:
        info = json.loads(f.read())
    signature = info.get("signatures", {}).get(SIGNATURE)
    if not info.get("task_type") or signature is None:
        raise ExportedModelError(f"{info_path}: no task_type or no {SIGNATURE!r} signature listed")
    # exports before text_inputs was recorded: the signature's input names (sorted; one input: the same)
    inputs = tuple(info.get("text_inputs") or signature["inputs"])
    return ExportInfo(path, info["task_type"], info.get("labels"), inputs, tuple(signature["outputs"]))


class ExportedModel:
    """A loaded export with the prediction interface of its task: ``text_inputs``, ``predict`` (columns ->
    numpy outputs), ``decode`` and ``predict_records``. ``task_modules``: modules that register the task type of
    an export made from a task defined outside the package (`bert-zoo predict --task_module`)."""

    def __init__(self, saved_model_dir, task_modules: Sequence[str] = ()):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  - registers the tf-text ops the tokenizer in the graph runs

        from keras_bert_zoo.tasks import registry

        self.info = read_export_info(saved_model_dir)
        registry.import_task_modules(task_modules)
        self.task_class = registry.get_task_class(self.info.task_type)
        self.task_type = self.info.task_type
        self.text_inputs = self.info.text_inputs
        self.labels = self.info.labels
        self.multi_label = "predictions" in self.info.output_names
        self._loaded = tf.saved_model.load(self.info.path)      # keeps the signature's variables alive
        self._serve = self._loaded.signatures[SIGNATURE]

    def predict(self, columns: Mapping[str, Sequence[str]]) -> dict:
        """``{input name: list of str}`` -> ``{output name: numpy array}`` (one ``serving_default`` call)."""
        import tensorflow as tf

        outputs = self._serve(**{name: tf.constant(list(columns[name]), tf.string) for name in self.text_inputs})
        return {name: value.numpy() for name, value in outputs.items()}

    def decode(self, outputs: Mapping) -> list[dict]:
        """The task class's ``decode`` on this export's outputs (it reads ``labels`` / ``multi_label`` here)."""
        try:
            return self.task_class.decode(self, outputs)
        except AttributeError as err:
            raise ExportedModelError(f"{self.info.path}: {self.task_class.__name__}.decode reads a task attribute "
                                     f"that export_info.json does not record ({err}); predict with the .keras "
                                     f"task instead") from None

    def predict_records(self, records: Sequence[Mapping], batch_size: int = 32) -> list[dict]:
        """JSON-style records ``{input name: str, ...}`` -> one decoded dict each, as ``Task.predict_records``."""
        results = []
        for start in range(0, len(records), batch_size):
            chunk = records[start:start + batch_size]
            results.extend(self.decode(self.predict({name: [r[name] for r in chunk] for name in self.text_inputs})))
        return results

    def __repr__(self):
        return f"<ExportedModel {self.info.path!r} task_type={self.task_type!r}>"
