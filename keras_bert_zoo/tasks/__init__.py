"""Keras task models: a backbone + head ``keras.Model`` with a preprocessor, trained and run on raw strings.

    TextClassifier     "classify"   single texts / pairs, multi-class / multi-label   (BertForSequenceClassification)
    TextRegressor      "regress"    one score per text or pair
    TokenClassifier    "tag"        NER: entity spans with character offsets          (BertForTokenClassification)
    QuestionAnswerer   "qa"         extractive QA, SQuAD v1/v2, answers with offsets   (BertForQuestionAnswering)
    MultipleChoice     "choice"     K choices per context                              (BertForMultipleChoice)
    MaskedLM           "fill_mask"  fill-mask predictions                              (BertForMaskedLM)
    TextEmbedder       "embed"      sentence embeddings                                (BertModel + pooling)
    Pretrainer         "pretrain"   masked LM + next-sentence prediction               (BertForPreTraining)

See :mod:`keras_bert_zoo.tasks.base.task` for the contract. ``get_task_class(task_type)`` imports the module of a
task on first use (the CLI's ``--task``); ``task_models()`` maps the Hugging Face architecture names to the
classes (what the converters build).

Example::

    from keras_bert_zoo.tasks import get_task_class
    classifier = get_task_class("classify").from_preset("minilm_l6_h384_uncased", labels=["neg", "pos"])
"""

from __future__ import annotations

import importlib

from keras_bert_zoo.tasks.base import Task, TaskError

__all__ = ["Task", "TaskError", "get_task_class", "task_names", "task_models", "load_task", "TASK_CLASSES"]

#: public class name -> (module, task_type, Hugging Face architecture or None)
TASK_CLASSES = {
    "TextClassifier": ("keras_bert_zoo.tasks.text_classifier", "classify", "BertForSequenceClassification"),
    "TextRegressor": ("keras_bert_zoo.tasks.text_classifier", "regress", None),
    "TokenClassifier": ("keras_bert_zoo.tasks.token_classifier", "tag", "BertForTokenClassification"),
    "QuestionAnswerer": ("keras_bert_zoo.tasks.question_answerer", "qa", "BertForQuestionAnswering"),
    "MultipleChoice": ("keras_bert_zoo.tasks.multiple_choice", "choice", "BertForMultipleChoice"),
    "MaskedLM": ("keras_bert_zoo.tasks.masked_lm", "fill_mask", "BertForMaskedLM"),
    "TextEmbedder": ("keras_bert_zoo.tasks.text_embedder", "embed", None),
    "Pretrainer": ("keras_bert_zoo.tasks.pretrainer", "pretrain", "BertForPreTraining"),
}


def _load(class_name: str) -> type:
    module, _, _ = TASK_CLASSES[class_name]
    return getattr(importlib.import_module(module), class_name)


def get_task_class(task_type: str) -> type:
    """The task class whose ``task_type`` is ``task_type`` (e.g. ``"classify"``)."""
    for class_name, (_, name, _) in TASK_CLASSES.items():
        if name == task_type:
            return _load(class_name)
    raise TaskError(f"unknown task {task_type!r}; known tasks: {', '.join(task_names())}")


def task_names() -> list[str]:
    return sorted(name for _, name, _ in TASK_CLASSES.values())


def task_models() -> dict:
    """Hugging Face architecture name -> task class (``BertModel`` is the backbone)."""
    from keras_bert_zoo.models.backbone import BertBackbone

    out = {"BertModel": BertBackbone}
    out.update({arch: _load(cls) for cls, (_, _, arch) in TASK_CLASSES.items() if arch})
    return out


def _check_keras_archive(path: str) -> dict:
    """The parsed ``config.json`` of the ``.keras`` file ``path``; a TaskError naming the file when it is not a
    .keras archive (not a zip: truncated or another kind of file; no config.json; config.json not JSON)."""
    import json
    import zipfile

    if not zipfile.is_zipfile(path):
        raise TaskError(f"{path}: not a valid .keras archive (not a zip file: truncated, or not written by "
                        f"task.save / keras.Model.save)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "config.json" not in names:
                raise TaskError(f"{path}: not a valid .keras archive (no config.json inside; it holds "
                                f"{sorted(names)[:6]})")
            config = json.loads(archive.read("config.json").decode("utf-8"))
    except (zipfile.BadZipFile, OSError, EOFError) as err:   # a damaged member (e.g. truncated data)
        raise TaskError(f"{path}: not a valid .keras archive ({type(err).__name__}: {err})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TaskError(f"{path}: not a valid .keras archive (config.json is not JSON: {err})") from None
    if not isinstance(config, dict):
        raise TaskError(f"{path}: not a valid .keras archive (config.json holds a {type(config).__name__})")
    return config


def _load_error(path: str, err: Exception) -> TaskError:
    """A one-line TaskError naming ``path`` for what ``keras.saving.load_model`` raised."""
    import re

    text = str(err)
    unknown = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
    if unknown:
        module = re.search(r"'module': '([^']+)'", text)
        where = f" (module {module.group(1)!r})" if module else ""
        return TaskError(f"{path}: names the class {unknown.group(1)!r}{where}, which is neither a keras_bert_zoo "
                         f"nor a registered Keras class; nothing was loaded (safe_mode=True never imports or runs "
                         f"code named by the file)")
    if "Lambda" in text and "safe_mode" in text:
        return TaskError(f"{path}: holds a Lambda layer with Python code; refused (safe_mode=True never runs "
                         f"code from a file); a keras_bert_zoo task has no Lambda layers")
    return TaskError(f"{path}: cannot be loaded as a Keras model ({type(err).__name__}: "
                     f"{text.splitlines()[0] if text else ''})")


def load_task(path) -> Task:
    """A task saved with ``task.save("x.keras")`` (``path``: the file, or a directory holding ``model.keras``),
    loaded with ``safe_mode=True``. A task directory of keras_bert_zoo 0.1 (model.keras + vocab.txt + task.json)
    is rebuilt by :func:`keras_bert_zoo.tasks.legacy.convert_legacy_task` (``bert-zoo convert-task`` saves it
    in the current format).

    Raises:
        TaskError naming the file: no such file; a directory that is neither; a file that is not a .keras
        archive (truncated, random bytes, a zip without config.json); a config naming an unknown class or
        holding a Lambda (refused under safe_mode, nothing run); a Keras model that is not a task.
    """
    import logging
    import os

    import keras

    path = os.fspath(path)
    if os.path.isdir(path):
        from keras_bert_zoo.tasks.legacy import convert_legacy_task, is_legacy_task_dir

        if is_legacy_task_dir(path):
            logging.getLogger(__name__).warning(
                "%s is a keras_bert_zoo 0.1 task directory: rebuilt in memory; save it in the current format with "
                "`bert-zoo convert-task %s OUT.keras`", path, path)
            return convert_legacy_task(path)
        if not os.path.isfile(os.path.join(path, "model.keras")):
            found = sorted(os.listdir(path))
            if "task.json" in found:
                raise TaskError(f"{os.path.join(path, 'model.keras')}: no such file (an incomplete keras_bert_zoo "
                                f"0.1 task directory: task.json without model.keras)")
            hint = ""
            if "config.json" in found and any(n.startswith(("model.safetensors", "pytorch_model")) for n in found):
                hint = "; it looks like a Hugging Face checkpoint: import it with from_preset / `bert-zoo convert`"
            elif any(n.endswith(".index") for n in found):
                hint = "; it looks like a TensorFlow checkpoint: import it with from_preset / `bert-zoo convert`"
            raise TaskError(f"{path}: not a saved task: a directory must hold model.keras (task.save) or "
                            f"model.keras + vocab.txt + task.json (keras_bert_zoo 0.1); it holds "
                            f"{found[:8] if found else 'nothing'}{hint}")
        path = os.path.join(path, "model.keras")
    if not os.path.isfile(path):
        raise TaskError(f"{path}: no such file (expected a .keras file written by task.save)")
    _check_keras_archive(path)
    for class_name in TASK_CLASSES:          # register every task class before deserialising
        _load(class_name)
    try:
        task = keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named
        raise _load_error(path, err) from err
    if not isinstance(task, Task):
        raise TaskError(f"{path} holds a {type(task).__name__}, not a keras_bert_zoo task")
    return task


def __getattr__(name):
    if name in TASK_CLASSES:
        return _load(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
