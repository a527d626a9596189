"""``Task.save``: one ``.keras`` file, written atomically.

Keras writes ``model.save(path)`` in place, so a process killed while replacing a good file left a stub and
the previous model was gone; and ``save("m.h5")`` succeeded but wrote a file that cannot be loaded as a task
(the task class and the vocabulary are lost). A task saves only to ``.keras``, through a temporary file in the
same directory that is fsynced and renamed over the target: the target is the old file or the complete new
one, never a mix.
"""

from __future__ import annotations

import os

from keras_bert_zoo.tasks.base.errors import TaskError

__all__ = ["SavingMixin"]


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
        with cache.atomic_path(path, suffix=".part.keras") as tmp:    # Keras writes only to a .keras name
            super().save(os.fspath(tmp), overwrite=True, **kwargs)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
