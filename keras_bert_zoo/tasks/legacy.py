"""Task directories of keras_bert_zoo 0.1 (``model.keras`` + ``vocab.txt`` + ``task.json``) -> one ``.keras`` file.

    bert-zoo convert-task runs/old/model runs/old/model.keras
    task = convert_legacy_task("runs/old/model")           # the task model, ready to save / fit / export

The 0.1 format held a packed-input model (``BertClassifier``, ``BertTokenClassifier``, ...) whose classes no
longer exist; its weights file has the same layer structure as the task model that replaces it, so the
converter rebuilds that task from ``task.json`` and the saved backbone config and loads the weights as they
are (all of them, or it fails naming what did not fit). Which 0.1 class each task replaces, and which
arguments it takes from task.json, is the ``legacy`` field of the task's
:class:`~keras_bert_zoo.tasks.registry.TaskSpec`.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import keras

from keras_bert_zoo.tasks.base import TaskError

__all__ = ["convert_legacy_task", "is_legacy_task_dir"]

def is_legacy_task_dir(path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "task.json").is_file() and (path / "model.keras").is_file()


def _legacy_spec(directory, task_type):
    from keras_bert_zoo.tasks.registry import specs

    for spec in specs():
        if spec.name == task_type and spec.legacy is not None:
            return spec
    raise TaskError(f"{directory}/task.json: unknown task_type {task_type!r}")


def convert_legacy_task(directory, out_path=None):
    """Rebuild the task saved in a 0.1 directory; with ``out_path``, also save it there (one ``.keras`` file)."""
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer

    directory = Path(directory)
    if not is_legacy_task_dir(directory):
        raise TaskError(f"{directory}: not a keras_bert_zoo 0.1 task directory (model.keras + vocab.txt + task.json)")
    try:
        meta = json.loads((directory / "task.json").read_text(encoding="utf-8"))
        with zipfile.ZipFile(directory / "model.keras") as z:
            model_config = json.loads(z.read("config.json"))
            weights = z.read("model.weights.h5")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise TaskError(f"{directory}: unreadable 0.1 task ({type(err).__name__}: {err})") from None
    spec = _legacy_spec(directory, meta.get("task_type"))
    legacy, new_class = spec.legacy, spec.task_class.__name__
    if model_config.get("class_name") != legacy.model_class:
        raise TaskError(f"{directory}/model.keras holds a {model_config.get('class_name')}, expected "
                        f"{legacy.model_class}")
    cfg = model_config["config"]
    backbone_cfg = cfg.get("backbone")
    if backbone_cfg is None:          # 0.1 embedder: a plain functional model around the backbone
        backbone_cfg = next(layer for layer in cfg["layers"] if layer["class_name"] == "BertBackbone")
    import keras_bert_zoo.models.backbone  # noqa: F401  (registers BertBackbone)

    backbone = keras.saving.deserialize_keras_object(backbone_cfg)
    tokenizer = WordPieceTokenizer(str(directory / "vocab.txt"), **meta.get("tokenizer", {}))
    preprocessor = BertPreprocessor(tokenizer, sequence_length=meta["sequence_length"],
                                    truncate=meta.get("truncate", "longest_first"))
    args = {k: v for k, v in meta.get("config", {}).items() if k in legacy.config_keys}
    if legacy.args is not None:
        args.update(legacy.args(meta, cfg))
    task = spec.task_class(backbone, preprocessor=preprocessor, **args)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.weights.h5")
        with open(path, "wb") as f:
            f.write(weights)
        try:
            task.load_weights(path)
        except ValueError as err:
            raise TaskError(f"{directory}/model.keras: the weights do not fit a {new_class}: {err}") from None
    if out_path is not None:
        from keras_bert_zoo.cache import atomic_path

        with atomic_path(out_path, suffix=".keras") as tmp_path:
            task.save(tmp_path)
    return task
