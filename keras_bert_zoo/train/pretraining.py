"""Training the MLM + NSP pretrainer with ``model.fit``: its optimizer, time budget, throughput, checkpoints, resume.

The model, its losses and metrics are :class:`keras_bert_zoo.tasks.pretrainer.Pretrainer`'s (MLM cross-entropy
averaged over the real predictions, + ``nsp_weight`` x NSP cross-entropy; ``mlm_logits_accuracy``,
``mlm_logits_perplexity``, ``nsp_logits_accuracy``), compiled by ``compile_pretrainer``; the batches come from
:mod:`keras_bert_zoo.data.pretraining`. This module holds:

* :func:`make_pretraining_optimizer` -- AdamW or LAMB on a linear warm-up + linear decay schedule, no weight
  decay on LayerNorm and bias, a loss-scale optimizer under float16 compute;
* the time budget and throughput callbacks of :mod:`keras_bert_zoo.train.clocks`;
* :func:`fit_pretrainer` -- ``model.fit`` with a ``.keras`` file per epoch and ``BackupAndRestore``, so an
  interrupted run resumes from its last finished epoch with the optimizer state (same ``checkpoint_dir``).

Mixed precision: build with ``dtype="mixed_bfloat16"``/``"mixed_float16"``; XLA: ``jit_compile=True``.

    from keras_bert_zoo.tasks.pretrainer import build_pretrainer, compile_pretrainer
    from keras_bert_zoo.train.pretraining import fit_pretrainer, make_pretraining_optimizer
    model = compile_pretrainer(build_pretrainer(config),
                               make_pretraining_optimizer("lamb", learning_rate=1e-3, total_steps=10_000))
    history = fit_pretrainer(model, dataset, steps_per_epoch=1000, epochs=10, checkpoint_dir="runs/pre")
"""

from __future__ import annotations

import os
import time

import keras

from keras_bert_zoo.train.clocks import StepClock, TimeBudget
from keras_bert_zoo.train.optimizers import NO_DECAY_PATTERNS, BertAdamW, WarmupLinearDecay, with_loss_scale

__all__ = ["make_pretraining_optimizer", "fit_pretrainer", "OPTIMIZERS"]

OPTIMIZERS = ("adamw", "lamb")


def make_pretraining_optimizer(name="adamw", learning_rate=1e-4, total_steps=10_000, warmup_steps=None,
                               weight_decay=0.01, clipnorm=1.0, beta_2=0.999, epsilon=1e-6, loss_scale="auto"):
    """AdamW (BERT's choice; ``train.optimizers.BertAdamW``) or LAMB (large batches) on
    ``train.optimizers.WarmupLinearDecay``; LayerNorm weights and biases are excluded from weight decay.
    ``warmup_steps`` defaults to 1% of ``total_steps`` (BERT: 10k/1M). ``loss_scale="auto"`` wraps it in a
    ``LossScaleOptimizer`` when the global dtype policy computes in float16 (``train.optimizers.with_loss_scale``)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    if warmup_steps is None:
        warmup_steps = max(1, total_steps // 100)
    schedule = WarmupLinearDecay(learning_rate, total_steps, warmup_steps=warmup_steps)
    if name == "adamw":
        opt = BertAdamW(learning_rate=schedule, weight_decay=weight_decay, beta_2=beta_2, epsilon=epsilon,
                        global_clipnorm=clipnorm or None)
    else:
        opt = keras.optimizers.Lamb(schedule, beta_2=beta_2, epsilon=epsilon, weight_decay=weight_decay,
                                    global_clipnorm=clipnorm or None)
        opt.exclude_from_weight_decay(var_names=list(NO_DECAY_PATTERNS))
    return with_loss_scale(opt, loss_scale=loss_scale)


def fit_pretrainer(model, dataset, steps_per_epoch, epochs, checkpoint_dir=None, time_budget_s=None,
                   tokens_per_step=None, callbacks=(), verbose=2, validation_data=None, validation_steps=None):
    """``model.fit`` with checkpoints and resume.

    With ``checkpoint_dir``: ``BackupAndRestore(checkpoint_dir/backup)`` (rerun the same call after an
    interruption and training resumes at the last finished epoch, optimizer state included) and
    ``checkpoint_dir/pretrainer-epochNNN.keras`` after every epoch (``keras.saving.load_model`` reloads it).
    Returns ``(history, info)``; ``info`` has the throughput and whether the time budget stopped training.
    """
    cbs = list(callbacks)
    throughput = StepClock(skip=3, tokens_per_step=tokens_per_step) if tokens_per_step else None
    budget = TimeBudget(time_budget_s) if time_budget_s else None
    cbs += [c for c in (throughput, budget) if c is not None]
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)
        cbs.append(keras.callbacks.BackupAndRestore(os.path.join(checkpoint_dir, "backup"), delete_checkpoint=False))
        cbs.append(keras.callbacks.ModelCheckpoint(os.path.join(checkpoint_dir, "pretrainer-epoch{epoch:03d}.keras")))
    start = time.perf_counter()
    history = model.fit(dataset, steps_per_epoch=steps_per_epoch, epochs=epochs, callbacks=cbs, verbose=verbose,
                        validation_data=validation_data, validation_steps=validation_steps)
    info = {"seconds": time.perf_counter() - start,
            "stopped_by_time_budget": bool(budget and budget.stopped_early)}
    if throughput is not None:
        info.update(tokens_per_second=throughput.tokens_per_second, steps_per_second=throughput.steps_per_second,
                    measured_steps=throughput.timed_steps)
    return history, info

