"""One fine-tuning run with plain ``model.fit``: recipe + callbacks + reports, shared by the CLI and the demo.

:func:`fit_task` takes a task model (:mod:`keras_bert_zoo.tasks`), ready tf.data datasets of packed inputs and
a :class:`FitConfig`, and

1. freezes what ``trainable`` says, builds :func:`~keras_bert_zoo.train.optimizers.make_optimizer` (AdamW,
   warm-up + linear decay, layer-wise LR decay, accumulation, clipping) and compiles the task (``jit_compile``);
2. runs ``model.fit`` with Keras progress bars and the callbacks: TensorBoard logs (``<out>/logs``),
   :class:`EpochHistory` (``<out>/history.jsonl``), :class:`NanGuard` (last good weights in
   ``<out>/checkpoints/last_good.weights.h5``), ``BackupAndRestore`` (``<out>/backup``: rerunning the same
   command after a crash resumes from the last completed epoch) and, with a validation set and
   ``early_stopping_patience``, early stopping with best-weights restore;
3. plots the training curves (``<out>/training_curves.png``).

Raises :class:`~keras_bert_zoo.train.callbacks.NanLossError` (after restoring the last good weights) when the
loss becomes NaN/Inf.

    from keras_bert_zoo.train.loop import FitConfig, fit_task
    train_ds = classifier.make_dataset(texts, labels, batch_size=32, training=True)
    result = fit_task(classifier, train_ds, None, "runs/sst2", FitConfig(epochs=2, batch_size=32),
                      train_size=len(texts))
    result.history[-1]["loss"], result.stopped_early            # per-epoch logs; False
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

__all__ = ["FitConfig", "FitResult", "fit_task"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class FitConfig:
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    layer_decay: float = 1.0
    gradient_accumulation_steps: int = 1
    clipnorm: float = 1.0
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


@dataclasses.dataclass
class FitResult:
    history: list
    stopped_early: bool
    nan_message: str | None
    out_dir: Path


def fit_task(task, train_ds, val_ds, out_dir, config: FitConfig, train_size: int, strategy=None,
             extra_callbacks=(), clock=None):
    """Compile ``task`` with the recipe and ``model.fit`` it; see the module docstring. ``clock``: a
    :class:`~keras_bert_zoo.train.callbacks.RunClock` that times the training-curve plot (pass it in
    ``extra_callbacks`` too to split the fit itself)."""
    import contextlib

    import keras

    from keras_bert_zoo.train import callbacks as cb
    from keras_bert_zoo.train.distribute import is_chief, prepare_model
    from keras_bert_zoo.train.optimizers import make_optimizer, set_trainable
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
    updates = max(1, steps * config.epochs // max(1, config.gradient_accumulation_steps))
    num_layers = task.backbone.config.num_layers

    def compile_():
        optimizer = make_optimizer(config.learning_rate, total_steps=updates, warmup_ratio=config.warmup_ratio,
                                   weight_decay=config.weight_decay, layer_decay=config.layer_decay,
                                   num_layers=num_layers, clipnorm=config.clipnorm,
                                   gradient_accumulation_steps=config.gradient_accumulation_steps)
        task.compile(optimizer, jit_compile=config.jit_compile)

    if strategy is not None:
        with strategy.scope():
            compile_()
        prepare_model(task, strategy)
    else:
        compile_()

    chief = is_chief()
    guard = cb.NanGuard(out / "checkpoints" / "last_good.weights.h5" if chief else None)
    per_epoch = train_size if not config.steps_per_epoch else steps * config.batch_size
    throughput = cb.Throughput(per_epoch, config.batch_size, printer=lambda msg: print(msg, flush=True))
    callbacks = [guard, throughput, cb.EpochHistory(out / "history.jsonl")] if chief else [guard]
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
                plot_training_curves(history, out / "training_curves.png")
            except ValueError as err:
                logger.warning("training curves not plotted: %s", err)
    if guard.nan_detected:
        raise cb.NanLossError(guard.message)
    return FitResult(history=history, stopped_early=bool(early and early.stopped_epoch > 0), nan_message=None,
                     out_dir=out)
