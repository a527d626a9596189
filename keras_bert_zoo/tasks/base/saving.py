"""``Task.save``: one ``.keras`` file, written atomically.

Keras writes ``model.save(path)`` in place, so a process killed while replacing a good file left a stub and
the previous model was gone; and ``save("m.h5")`` succeeded but wrote a file that cannot be loaded as a task
(the task class and the vocabulary are lost). A task saves only to ``.keras``, through a temporary file in the
same directory that is fsynced and renamed over the target: the target is the old file or the complete new
one, never a mix. The compile state is not saved (a loaded task compiles with the default recipe); saving a
task compiled with an optimizer of the user's own logs a warning saying so.
"""

from __future__ import annotations

import logging
import os

from keras_bert_zoo.tasks.base.errors import TaskError

logger = logging.getLogger(__name__)

__all__ = ["SavingMixin"]


def _warn_unsaved_optimizer(task, path):
    """A task saves no compile state (``get_compile_config`` is None: a loaded task compiles with the recipe it
    needs); an optimizer of the user's own would be dropped silently, so say so."""
    from keras_bert_zoo.train.optimizers import BertAdamW

    optimizer = getattr(task, "optimizer", None) if getattr(task, "compiled", False) else None
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if inner is not None and not isinstance(inner, BertAdamW):
        logger.warning("%s: the optimizer (%s) is not saved: a loaded task compiles with the default recipe; "
                       "compile it again with yours after load_task", path, type(inner).__name__)


class SavingMixin:
    """The ``save`` of a task (a ``keras.Model``)."""

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Save the task to ONE ``.keras`` file (weights, config, the vocabulary as an asset), atomically.

        ``overwrite=False`` refuses an existing file (a TaskError naming it, never an interactive prompt)."""
        from keras_bert_zoo import cache

        path = os.fspath(filepath)
        if not path.endswith(".keras"):
            suffix = os.path.splitext(path)[1] or "no suffix"
            raise TaskError(f"{path}: a task saves to one .keras file (got {suffix}); other formats lose the task "
                            f"class and its vocabulary (for weights only, use save_weights)")
        if zipped is False:
            raise TaskError(f"{path}: a task saves as a zipped .keras file (zipped=False is not supported)")
        if os.path.isdir(path):
            raise TaskError(f"{path}: is a directory, not a .keras file")
        if os.path.exists(path) and not overwrite:
            raise TaskError(f"{path}: exists; pass overwrite=True to replace it")
        _warn_unsaved_optimizer(self, path)
        with cache.atomic_path(path, suffix=".part.keras") as tmp:    # Keras writes only to a .keras name
            super().save(os.fspath(tmp), overwrite=True, **kwargs)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
