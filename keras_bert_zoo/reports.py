"""Evaluation reports of a task on a task file: metrics, and report files for people (the CLI's eval/test dirs).

    data = read_task_file("classify", "test.csv", FileOptions())       # keras_bert_zoo.tasks.read_task_file
    metrics = evaluate_task_file(task, data, out_dir="runs/x/test")

The evaluator is the task's own (its :class:`~keras_bert_zoo.tasks.registry.TaskSpec`); the built-in ones and
the files each writes are described in :mod:`keras_bert_zoo.tasks.evaluation`. Every file is written
atomically (temporary name, then rename: :func:`keras_bert_zoo.cache.atomic_write`).
"""

from __future__ import annotations

from keras_bert_zoo.data.task_files import TaskFile
from keras_bert_zoo.tasks import registry
from keras_bert_zoo.tasks.evaluation import classification_outputs, warn_truncation, write_text_atomic

__all__ = ["evaluate_task_file", "write_text_atomic", "classification_outputs", "warn_truncation"]


def evaluate_task_file(task, data: TaskFile, out_dir=None, batch_size: int = 64) -> dict:
    """Metrics of ``task`` on ``data`` (read with the task's own type), and the report files in ``out_dir``."""
    spec = registry.spec_of(task)
    if data.task_type != spec.name:
        raise registry.TaskError(f"{data.path} was read as a {data.task_type!r} file, the model is a "
                                 f"{spec.name!r} task")
    return spec.evaluate(task, data, out_dir, batch_size)
