"""Keras task models: a backbone + head ``keras.Model`` with a preprocessor, trained and run on raw strings.

    TextClassifier     "classify"   single texts / pairs, multi-class / multi-label   (BertForSequenceClassification)
    TextRegressor      "regress"    one score per text or pair
    TokenClassifier    "tag"        NER: entity spans with character offsets          (BertForTokenClassification)
    QuestionAnswerer   "qa"         extractive QA, SQuAD v1/v2, answers with offsets   (BertForQuestionAnswering)
    MultipleChoice     "choice"     K choices per context                              (BertForMultipleChoice)
    MaskedLM           "fill_mask"  fill-mask predictions                              (BertForMaskedLM)
    TextEmbedder       "embed"      sentence embeddings                                (BertModel + pooling)
    Pretrainer         "pretrain"   masked LM + next-sentence prediction               (BertForPreTraining)

See :mod:`keras_bert_zoo.tasks.base.task` for the contract. Each task module registers its tasks' :class:`TaskSpec`
(class, CLI name, Hugging Face architecture, file reader, evaluator, CLI flags) with
:func:`~keras_bert_zoo.tasks.registry.register_task` at its end; ``get_task_class(task_type)`` (the CLI's
``--task``), ``task_names()``, ``task_models()`` (the Hugging Face architecture names -> classes, what the
converters build) and ``read_task_file(task_type, path)`` look tasks up there (:mod:`keras_bert_zoo.tasks.registry`).

Example::

    >>> from keras_bert_zoo import BertBackbone, BertConfig
    >>> from keras_bert_zoo.tasks import get_task_class, task_names
    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> [name for name in task_names() if name in ("classify", "tag", "qa")]   # + tasks registered by your modules
    ['classify', 'qa', 'tag']
    >>> config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=37)
    >>> preprocessor = BertPreprocessor(WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=16)
    >>> classifier = get_task_class("classify")(BertBackbone(config), preprocessor=preprocessor, labels=["neg", "pos"])
    >>> classifier
    <TextClassifier 'text_classifier' task_type='classify'>
    >>> classifier.predict(["what a day"], verbose=0)["probabilities"].shape      # raw strings in
    (1, 2)
"""

from __future__ import annotations

from keras_bert_zoo.tasks.registry import (TaskSpec, get_spec, get_task_class, read_task_file, register_task,
                                           spec_of, task_models, task_names)
from keras_bert_zoo.tasks.base import Task, TaskError

__all__ = ["Task", "TaskError", "TaskSpec", "register_task", "get_spec", "spec_of", "get_task_class", "task_names",
           "task_models", "read_task_file", "load_task"]


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
    roots = re.findall(r"Exception encountered: (.+)", text)     # Keras's deserialisation error: the cause last
    if roots:
        return TaskError(f"{path}: cannot be loaded as a Keras model: its config does not fit the class "
                         f"({roots[-1].strip()})")
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
    from keras_bert_zoo.tasks.registry import load_builtin_tasks

    load_builtin_tasks()                     # register every task class before deserialising
    try:
        task = keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named
        raise _load_error(path, err) from err
    if not isinstance(task, Task):
        raise TaskError(f"{path} holds a {type(task).__name__}, not a keras_bert_zoo task")
    return task


def __getattr__(name):
    """A registered task class by its class name (``keras_bert_zoo.tasks.TextClassifier``)."""
    if name[:1].isupper():
        from keras_bert_zoo.tasks.registry import specs

        for spec in specs():
            if spec.task_class.__name__ == name:
                return spec.task_class
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
