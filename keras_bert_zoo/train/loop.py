"""One fine-tuning run with plain ``model.fit``: recipe + callbacks + reports, shared by the CLI and the demo.

:func:`fit_task` takes a task model (:mod:`keras_bert_zoo.tasks`), ready tf.data datasets of packed inputs and
a :class:`FitConfig`, and

1. freezes what ``trainable`` says (or enables LoRA) and compiles the task with ITS recipe:
   ``task.compile(total_steps=..., jit_compile=..., **recipe)``, the same ``Task.compile`` the Python API calls
   (:class:`~keras_bert_zoo.train.recipe.Recipe`: AdamW, warm-up + linear decay, layer-wise LR decay,
   accumulation, clipping), the schedule sized to ``train_size`` / ``steps_per_epoch`` and ``epochs``;
2. runs ``model.fit`` with Keras progress bars and the callbacks: TensorBoard logs (``<out>/logs``),
   :class:`EpochHistory` (``<out>/history.jsonl``), :class:`StepHistory` (``<out>/steps.jsonl``: logs by
   step), :class:`NanGuard` (last good weights in
   ``<out>/checkpoints/last_good.weights.h5``), ``BackupAndRestore`` (``<out>/backup``: rerunning the same
   command after a crash resumes from the last completed epoch) and, with a validation set and
   ``early_stopping_patience``, early stopping with best-weights restore;
3. plots the training curves (``<out>/training_curves.png``: by step, validation at each epoch's end).

Raises :class:`~keras_bert_zoo.train.callbacks.NanLossError` (after restoring the last good weights) when the
loss becomes NaN/Inf.

    from keras_bert_zoo.train.loop import FitConfig, fit_task
    train_ds = classifier.make_dataset(texts, labels, batch_size=32, training=True)
    config = FitConfig(epochs=2, batch_size=32, learning_rate=3e-5)      # Recipe fields + run options
    result = fit_task(classifier, train_ds, None, "runs/sst2", config, train_size=len(texts))
    result.history[-1]["loss"], result.stopped_early            # per-epoch logs; False
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

from keras_bert_zoo.train.recipe import RECIPE_FIELDS, Recipe

__all__ = ["FitConfig", "FitResult", "fit_task"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FitConfig(Recipe):
    """A fine-tuning run: the :class:`~keras_bert_zoo.train.recipe.Recipe` fields (``learning_rate``,
    ``warmup_ratio``, ...; their defaults are the Recipe's) + the run's options below."""

    epochs: int = 3
    batch_size: int = 32
    trainable: str = "all"            # "all", "feature_extraction", or "k" (top k blocks)
    lora_rank: int = 0                # > 0: LoRA adapters on the attention query/value kernels, base frozen
    lora_alpha: float | None = None   # LoRA scale numerator (default: the rank)
    early_stopping_patience: int = 0  # 0: off
    monitor: str = "val_loss"
    jit_compile: bool = False
    steps_per_epoch: int | None = None
    backup: bool = True
    tensorboard: bool = True
    verbose: int | str = "auto"

    def recipe(self) -> Recipe:
        """The Recipe part of this run (what ``task.compile`` takes)."""
        return Recipe(**{name: getattr(self, name) for name in RECIPE_FIELDS})


@dataclasses.dataclass
class FitResult:
    history: list
    stopped_early: bool
    nan_message: str | None
    out_dir: Path


def fit_task(task, train_ds, val_ds, out_dir, config: FitConfig, train_size: int, strategy=None,
             extra_callbacks=(), clock=None):
    """Compile ``task`` with ``config``'s recipe (``task.compile``) and ``model.fit`` it (see the module
    docstring). ``train_size``: examples per epoch (sizes the schedule unless ``config.steps_per_epoch``);
    ``clock``: a :class:`~keras_bert_zoo.train.clocks.RunClock` that times the training-curve plot (pass it in
    ``extra_callbacks`` too to split the fit itself). ``out_dir`` is claimed for the fit
    (:func:`~keras_bert_zoo.train.run_dir.claim_run_dir`): another process fitting into it raises
    :class:`~keras_bert_zoo.train.run_dir.RunDirBusyError`."""
    from keras_bert_zoo.train.distribute import is_chief

    from keras_bert_zoo.train.run_dir import claim_run_dir

    if not is_chief():
        return _fit_task(task, train_ds, val_ds, out_dir, config, train_size, strategy, extra_callbacks, clock)
    with claim_run_dir(out_dir, owner="fit_task"):     # re-entrant: a no-op inside the CLI's claim of out_dir
        return _fit_task(task, train_ds, val_ds, out_dir, config, train_size, strategy, extra_callbacks, clock)


def _fit_task(task, train_ds, val_ds, out_dir, config: FitConfig, train_size, strategy, extra_callbacks, clock):
    import contextlib

    import keras

    from keras_bert_zoo.train import callbacks as cb
    from keras_bert_zoo.train.clocks import Throughput
    from keras_bert_zoo.train.distribute import is_chief, prepare_model
    from keras_bert_zoo.train.optimizers import set_trainable
    from keras_bert_zoo.viz import plot_training_curves

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trainable = config.trainable
    if isinstance(trainable, str) and trainable.isdigit():
        trainable = int(trainable)
    if config.lora_rank:
        if trainable != "all":
            raise ValueError(f"LoRA trains the adapters and the head; it does not combine with trainable="
                             f"{config.trainable!r}")
        if not task.backbone.lora:   # (set_trainable would unfreeze the base: Keras's trainable setter does)
            task.enable_lora(config.lora_rank, alpha=config.lora_alpha)
    else:
        set_trainable(task, trainable)

    steps = config.steps_per_epoch or max(1, math.ceil(train_size / config.batch_size))

    def compile_():
        task.compile(total_steps=config.updates(steps, config.epochs), jit_compile=config.jit_compile,
                     **config.recipe().as_dict())

    if strategy is not None:
        with strategy.scope():
            compile_()
        prepare_model(task, strategy)
    else:
        compile_()

    chief = is_chief()
    guard = cb.NanGuard(out / "checkpoints" / "last_good.weights.h5" if chief else None)
    per_epoch = train_size if not config.steps_per_epoch else steps * config.batch_size
    throughput = Throughput(per_epoch, config.batch_size, printer=lambda msg: print(msg, flush=True))
    callbacks = [guard, throughput, cb.EpochHistory(out / "history.jsonl"),
                 cb.StepHistory(out / "steps.jsonl")] if chief else [guard]
    if config.backup:
        callbacks.append(cb.backup_and_restore(out / "backup"))
    if config.tensorboard and chief:
        callbacks.append(keras.callbacks.TensorBoard(str(out / "logs"), update_freq="epoch"))
    early = None
    if val_ds is not None and config.early_stopping_patience > 0:
        early = cb.early_stopping(config.monitor, config.early_stopping_patience)
        callbacks.append(early)
    callbacks.extend(extra_callbacks)

    task.fit(train_ds, validation_data=val_ds, epochs=config.epochs, steps_per_epoch=config.steps_per_epoch,
                   callbacks=callbacks, verbose=config.verbose)
    history = cb.read_history(out / "history.jsonl") if chief else []
    if history and chief:
        with clock.phase("training curves") if clock is not None else contextlib.nullcontext():
            try:
                plot_training_curves(history, out / "training_curves.png",
                                     steps=cb.read_history(out / "steps.jsonl"))
            except ValueError as err:
                logger.warning("training curves not plotted: %s", err)
    if guard.nan_detected:
        raise cb.NanLossError(guard.message)
    return FitResult(history=history, stopped_early=bool(early and early.stopped_epoch > 0), nan_message=None,
                     out_dir=out)
