"""keras_bert_zoo: BERT in Keras 3 — build, pretrain, import, fine-tune and export (SavedModel, TFLite).

    import keras, keras_bert_zoo as kbz
    clf = kbz.TextClassifier.from_preset("minilm_l6_h384_uncased", labels=["negative", "neutral", "positive"])
    clf.fit(x=texts, y=labels, epochs=1, batch_size=32)       # raw strings in
    clf.save("sentiment.keras")                               # one file, vocabulary inside
    clf = keras.saving.load_model("sentiment.keras")
    clf.export("sentiment")                                   # SavedModel directory, raw strings in
    clf.export("sentiment.tflite", format="litert")           # one .tflite file
    kbz.tune(build, texts, labels, validation_data=(vt, vl), directory="runs/tune", max_trials=6)  # KerasTuner

The names below are resolved on first use, so importing a ground-floor module (``keras_bert_zoo.config``,
``keras_bert_zoo.cache``) or the CLI's entry point does not import Keras or TensorFlow. When Keras is already
imported, importing ``keras_bert_zoo`` registers every task and layer class with Keras, so
``keras.saving.load_model`` finds them in a ``.keras`` file.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# TensorFlow's CPU tensors from its BFC pool instead of malloc/free. With malloc, every step's large buffers are
# mmapped fresh and handed back, and the kernel zero-fills each new page: 69,000 page faults and 25 % of the CPU
# time in the kernel per pretraining step of the zh demo, 52,000 per MiniLM fine-tuning step (issue 29 note,
# ``benchmarks/cpu_allocator.py``). TensorFlow reads the variable when it makes its first CPU tensor, so this
# applies when the package is imported before any TF op has run; a value the user set (``false``) wins.
_os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

#: public name -> module that defines it
_LAZY = {
    "BertConfig": "keras_bert_zoo.config", "ConfigError": "keras_bert_zoo.config",
    "BertBackbone": "keras_bert_zoo.models.backbone",
    "Task": "keras_bert_zoo.tasks", "TaskError": "keras_bert_zoo.tasks", "load_task": "keras_bert_zoo.tasks",
    "TextClassifier": "keras_bert_zoo.tasks", "TextRegressor": "keras_bert_zoo.tasks",
    "TokenClassifier": "keras_bert_zoo.tasks", "QuestionAnswerer": "keras_bert_zoo.tasks",
    "MultipleChoice": "keras_bert_zoo.tasks", "MaskedLM": "keras_bert_zoo.tasks",
    "TextEmbedder": "keras_bert_zoo.tasks", "Pretrainer": "keras_bert_zoo.tasks",
    "tune": "keras_bert_zoo.train.tuning",      # KerasTuner search of the fine-tuning recipe (the `tune` extra)
}

__all__ = sorted(_LAZY) + ["from_preset", "load_backbone", "register_keras_classes", "__version__"]


def from_preset(name_or_path, **kwargs):
    """Load a pretrained model (and its tokenizer) from a preset name or a local directory: the backbone, or
    the task model a checkpoint with a head holds; see :func:`keras_bert_zoo.presets.from_preset`."""
    from keras_bert_zoo import presets

    return presets.from_preset(name_or_path, **kwargs)


def load_backbone(name_or_path, **kwargs):
    """The :class:`BertBackbone` of a preset name or checkpoint directory; see
    :func:`keras_bert_zoo.presets.load_backbone`."""
    from keras_bert_zoo import presets

    return presets.load_backbone(name_or_path, **kwargs)


def register_keras_classes():
    """Import every module that registers Keras-serialisable classes (tasks, layers, optimizers)."""
    import importlib

    from keras_bert_zoo.tasks.registry import load_builtin_tasks

    load_builtin_tasks()
    importlib.import_module("keras_bert_zoo.train.optimizers")


def _task_models():
    from keras_bert_zoo.tasks import task_models

    return task_models()


# The converters sit below the task classes (tests/test_imports.py): they build a checkpoint's head from the
# classes registered here, so convert.from_hf(head_checkpoint) returns the task model (imported when asked for).
from keras_bert_zoo.convert import registry as _convert_registry  # noqa: E402 - import-free module

_convert_registry.register_model_provider(_task_models)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_bert_zoo' has no attribute {name!r}")


def _has_tensorflow():
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


# Keras is loaded anyway: make .keras files of ours loadable right away. Without TensorFlow (a JAX/torch-only
# machine, e.g. benchmarks/gpu.py) only the backbone and layers are usable, and they register on import.
if "keras" in _sys.modules and _has_tensorflow():
    register_keras_classes()
