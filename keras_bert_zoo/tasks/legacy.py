"""Task directories of keras_bert_zoo 0.1 (``model.keras`` + ``vocab.txt`` + ``task.json``) -> one ``.keras`` file.

    bert-zoo convert-task runs/old/model runs/old/model.keras
    task = convert_legacy_task("runs/old/model")           # the task model, ready to save / fit / export

The 0.1 format held a packed-input model (``BertClassifier``, ``BertTokenClassifier``, ...) whose classes no
longer exist; its weights file has the same layer structure as the task model that replaces it, so the
converter rebuilds that task from ``task.json`` and the saved backbone config and loads the weights as they
are (all of them, or it fails naming what did not fit).
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

#: 0.1 task_type -> (0.1 model class, task class name, task.json "config" keys the new class takes)
_LEGACY = {
    "classify": ("BertClassifier", "TextClassifier", ("pairs", "multi_label", "threshold", "label_separator",
                                                      "window_stride")),
    "regress": ("BertClassifier", "TextRegressor", ("pairs",)),
    "tag": ("BertTokenClassifier", "TokenClassifier", ("stride",)),
    "qa": ("BertQuestionAnswerer", "QuestionAnswerer", ("stride", "max_query_length", "max_answer_length", "n_best",
                                                        "version_2", "null_threshold")),
    "choice": ("BertMultipleChoice", "MultipleChoice", ("num_choices",)),
    "fill_mask": ("BertMaskedLM", "MaskedLM", ("top_k", "mask_token", "masked_lm_prob", "seed")),
    "embed": ("Functional", "TextEmbedder", ("scale",)),
}


def is_legacy_task_dir(path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "task.json").is_file() and (path / "model.keras").is_file()


def convert_legacy_task(directory, out_path=None):
    """Rebuild the task saved in a 0.1 directory; with ``out_path``, also save it there (one ``.keras`` file)."""
    import importlib

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
    task_type = meta.get("task_type")
    if task_type not in _LEGACY:
        raise TaskError(f"{directory}/task.json: unknown task_type {task_type!r}")
    old_class, new_class, keys = _LEGACY[task_type]
    if model_config.get("class_name") != old_class:
        raise TaskError(f"{directory}/model.keras holds a {model_config.get('class_name')}, expected {old_class}")
    cfg = model_config["config"]
    backbone_cfg = cfg.get("backbone")
    if backbone_cfg is None:          # 0.1 embedder: a plain functional model around the backbone
        backbone_cfg = next(layer for layer in cfg["layers"] if layer["class_name"] == "BertBackbone")
        pooling = next(layer for layer in cfg["layers"] if layer["class_name"] == "EmbeddingPooling")["config"]
    import keras_bert_zoo.models.backbone  # noqa: F401  (registers BertBackbone)

    backbone = keras.saving.deserialize_keras_object(backbone_cfg)
    tokenizer = WordPieceTokenizer(str(directory / "vocab.txt"), **meta.get("tokenizer", {}))
    preprocessor = BertPreprocessor(tokenizer, sequence_length=meta["sequence_length"],
                                    truncate=meta.get("truncate", "longest_first"))
    args = {k: v for k, v in meta.get("config", {}).items() if k in keys}
    if task_type in ("classify", "tag"):
        args["labels"] = meta["labels"]
    if task_type in ("classify", "regress", "tag", "choice"):
        args["dropout"] = cfg.get("dropout", 0.1)
    if task_type == "choice":
        args["num_choices"] = cfg["num_choices"]
    if task_type == "fill_mask":
        args["use_mask_positions"] = cfg.get("use_mask_positions", True)
    if task_type == "embed":
        args.update(pooling=pooling["mode"], normalize=pooling["normalize"])
    module = {"TextClassifier": "text_classifier", "TextRegressor": "text_classifier",
              "TokenClassifier": "token_classifier", "QuestionAnswerer": "question_answerer",
              "MultipleChoice": "multiple_choice", "MaskedLM": "masked_lm", "TextEmbedder": "text_embedder"}[new_class]
    task_cls = getattr(importlib.import_module(f"keras_bert_zoo.tasks.{module}"), new_class)
    task = task_cls(backbone, preprocessor=preprocessor, **args)
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
