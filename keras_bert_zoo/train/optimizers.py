"""The BERT fine-tuning recipe: AdamW + linear warm-up/decay, layer-wise LR decay, accumulation, clipping, freezing.

* :class:`WarmupLinearDecay` — learning-rate schedule: 0 -> peak linearly over ``warmup_steps``, then linearly
  to ``end_learning_rate`` at ``total_steps`` (the google-research/bert ``optimization.py`` shape).
* :class:`BertAdamW` — ``keras.optimizers.AdamW`` whose weight decay skips LayerNorm parameters and biases
  (``gamma``, ``beta``, ``bias``), and with optional layer-wise learning-rate decay: a variable in encoder
  block ``i`` (of ``L``) gets ``lr * layer_decay ** (L - i)``, the embeddings ``lr * layer_decay ** (L + 1)``,
  the pooler and the task head the full ``lr``. Gradient accumulation (``gradient_accumulation_steps``) and
  clipping (``global_clipnorm``) are Keras's own optimizer options.
* :func:`make_optimizer` — the one-call recipe; its defaults are :class:`~keras_bert_zoo.train.recipe.Recipe`'s
  (``Task.compile()`` and ``train.loop.fit_task`` build their optimizer through it). Under float16 compute (a global ``mixed_float16`` policy) it
  returns the optimizer wrapped in ``keras.optimizers.LossScaleOptimizer`` (:func:`with_loss_scale`), so fp16
  gradients do not underflow; the inner BertAdamW keeps its decay exclusions and layer-wise rates (the wrapper
  unscales the gradients and hands them to the inner optimizer's own ``apply``).
* :func:`set_trainable` — "all" (fine-tune everything), "none" / "feature_extraction" (frozen backbone, head
  trains), or an int ``k`` (only the top ``k`` encoder blocks + pooler train).

Decoupled weight decay is applied by Keras with the base learning rate (not the layer-decayed one).

    from keras_bert_zoo.train.optimizers import make_optimizer, set_trainable
    set_trainable(classifier, "feature_extraction")             # frozen backbone, the head trains
    optimizer = make_optimizer(learning_rate=3e-5, total_steps=2000, warmup_ratio=0.1, layer_decay=0.9,
                               num_layers=classifier.backbone.config.num_layers)
    classifier.compile(optimizer=optimizer)     # lr: 0 -> 3e-5 over 200 steps (10 %), then -> 0 at 2000
"""

from __future__ import annotations

import contextlib
import math
import re

import keras
from keras import ops

from keras_bert_zoo.train.recipe import Recipe

__all__ = ["WarmupLinearDecay", "BertAdamW", "make_optimizer", "set_trainable", "layer_lr_multiplier",
           "NO_DECAY_PATTERNS", "computes_in_float16", "with_loss_scale", "build_before_fit"]

#: variable names excluded from weight decay (LayerNorm gamma/beta and every bias)
NO_DECAY_PATTERNS = ("gamma", "beta", "bias")

_DEFAULTS = Recipe()

_BLOCK_RE = re.compile(r"encoder_layer_(\d+)(/|$)")


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak_learning_rate`` over ``warmup_steps``, then linear decay to
    ``end_learning_rate`` at ``total_steps`` (constant afterwards)."""

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0, end_learning_rate=0.0):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}")
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.end_learning_rate = float(end_learning_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak, end = self.peak_learning_rate, self.end_learning_rate
        warm = float(max(self.warmup_steps, 1))
        warmup_lr = peak * step / warm
        decay_span = float(max(self.total_steps - self.warmup_steps, 1))
        frac = ops.clip((step - self.warmup_steps) / decay_span, 0.0, 1.0)
        decay_lr = peak + (end - peak) * frac
        if self.warmup_steps == 0:
            return decay_lr
        return ops.where(step < self.warmup_steps, warmup_lr, decay_lr)

    def get_config(self):
        return {"peak_learning_rate": self.peak_learning_rate, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "end_learning_rate": self.end_learning_rate}


def layer_lr_multiplier(path: str, num_layers: int, layer_decay: float) -> float:
    """Learning-rate multiplier of the variable at ``path`` under layer-wise decay."""
    if layer_decay == 1.0 or num_layers <= 0:
        return 1.0
    m = _BLOCK_RE.search(path)
    if m:
        return layer_decay ** (num_layers - int(m.group(1)))
    if "embeddings/" in path or path.startswith("embeddings"):
        return layer_decay ** (num_layers + 1)
    return 1.0


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertAdamW(keras.optimizers.AdamW):
    """AdamW without weight decay on LayerNorm/bias variables, with optional layer-wise LR decay.

    Args:
        layer_decay: multiplier per layer below the top (1.0 disables it; 0.65-0.95 are typical).
        num_layers: number of encoder blocks of the backbone (needed when ``layer_decay != 1``).
        **kwargs: everything ``keras.optimizers.AdamW`` takes (``learning_rate`` may be a schedule,
            ``global_clipnorm``, ``gradient_accumulation_steps``, ...).
    """

    def __init__(self, learning_rate=_DEFAULTS.learning_rate, weight_decay=_DEFAULTS.weight_decay, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-6, layer_decay=_DEFAULTS.layer_decay, num_layers=0, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, **kwargs)
        if layer_decay != 1.0 and num_layers <= 0:
            raise ValueError("layer_decay needs num_layers (the backbone's number of encoder blocks)")
        self.layer_decay = float(layer_decay)
        self.num_layers = int(num_layers)
        self.exclude_from_weight_decay(var_names=list(NO_DECAY_PATTERNS))
        self._lr_multipliers = []

    def build(self, var_list):
        super().build(var_list)
        self._lr_multipliers = [layer_lr_multiplier(v.path, self.num_layers, self.layer_decay)
                                for v in var_list]

    # One optimizer step builds the step's scalars (learning rate, bias corrections) once and shares them
    # across the variables: Keras's AdamW rebuilds them for every variable (and evaluates the learning-rate
    # schedule once per decayed variable), which made tracing the first step's update cost O(variables x 20)
    # graph ops. The cache lives only while one step's updates are being built (``_step_cache``).
    _step_cache = None

    def _cached(self, key, build):
        if self._step_cache is None:
            return build()
        if key not in self._step_cache:
            self._step_cache[key] = build()
        return self._step_cache[key]

    def _with_step_cache(self, fn, *args):
        self._step_cache = {}
        try:
            return fn(*args)
        finally:
            self._step_cache = None

    def _get_current_learning_rate(self):
        return self._cached("learning_rate", super()._get_current_learning_rate)

    def _apply_weight_decay(self, variables):
        return self._with_step_cache(self._decay_weights, variables)

    def _decay_weights(self, variables):
        """Decoupled weight decay, ``w -= w * (weight_decay * lr)``: under TensorFlow (no distribution strategy)
        as one multiply and one in-place subtract per variable (Keras's ``w - w * wd * lr`` makes three passes
        and two temporaries the size of the variable: the 11.7 M-entry token embedding included)."""
        if self.weight_decay is None or not self._tf_fused():
            return super()._apply_weight_decay(variables)
        for variable in variables:
            if self._use_weight_decay(variable):
                dtype = variable.dtype
                rate = self._cached(("decay_rate", str(dtype)), lambda: ops.multiply(
                    ops.cast(self.learning_rate, dtype), ops.cast(self.weight_decay, dtype)))
                self.assign_sub(variable, ops.multiply(variable, rate))

    def _tf_fused(self) -> bool:
        """True where the TensorFlow fast paths apply: the TensorFlow backend, no distribution strategy (its
        mirrored variables update per replica through Keras's own path), no AMSGrad."""
        if self.amsgrad or keras.backend.backend() != "tensorflow":
            return False
        import tensorflow as tf

        return not tf.distribute.has_strategy()

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        return self._with_step_cache(super()._backend_update_step, grads, trainable_variables, learning_rate)

    def _beta_powers(self, dtype):
        """(beta_1 ** t, beta_2 ** t) of this step in ``dtype`` (t = iterations + 1), built once per step."""
        def build():
            local_step = ops.cast(self.iterations + 1, dtype)
            return (ops.power(ops.cast(self.beta_1, dtype), local_step),
                    ops.power(ops.cast(self.beta_2, dtype), local_step))
        return self._cached(("beta_powers", str(dtype)), build)

    def _step_scalars(self, learning_rate, dtype):
        """(alpha, 1 - beta_1, 1 - beta_2) of this step in ``dtype``: Adam's bias-corrected step size."""
        def build():
            beta_1_power, beta_2_power = self._beta_powers(dtype)
            alpha = ops.cast(learning_rate, dtype) * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
            return alpha, ops.cast(1 - self.beta_1, dtype), ops.cast(1 - self.beta_2, dtype)
        return self._cached(("adam", str(dtype)), build)

    def update_step(self, gradient, variable, learning_rate):
        """Adam's update of ``variable`` (the same arithmetic as ``keras.optimizers.Adam``), at the layer's rate:
        TensorFlow's fused kernel where it applies (:meth:`_fused_tf_adam`), element-wise ``keras.ops`` elsewhere."""
        index = self._get_variable_index(variable)
        mult = self._lr_multipliers[index] if self.layer_decay != 1.0 else 1.0
        m, v = self._momentums[index], self._velocities[index]
        if self._fused_tf_adam(gradient, variable, m, v, learning_rate, mult):
            return
        alpha, one_minus_beta_1, one_minus_beta_2 = self._step_scalars(learning_rate, variable.dtype)
        if mult != 1.0:
            alpha = alpha * mult
        gradient = ops.cast(gradient, variable.dtype)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), one_minus_beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), one_minus_beta_2))
        if self.amsgrad:
            v_hat = self._velocity_hats[index]
            self.assign(v_hat, ops.maximum(v_hat, v))
            v = v_hat
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))

    def _fused_tf_adam(self, gradient, variable, m, v, learning_rate, mult) -> bool:
        """Under the TensorFlow backend (no distribution strategy, no AMSGrad), the whole update of one variable as
        TensorFlow's fused Adam kernel (``ResourceApplyAdam``: the m, v and variable updates in one multithreaded
        pass over the tensors, the same arithmetic as :meth:`update_step`'s) instead of ~11 element-wise ops, each
        a pass over the tensor and a temporary the size of the variable. On MiniLM-L6 (22.7 M parameters) those ops
        were ~30 % of a fine-tuning step's CPU time (issue 29's profile). -> True when it applied the update."""
        if not self._tf_fused():
            return False
        import tensorflow as tf

        var = variable.value if isinstance(variable, keras.Variable) else variable
        dtype = var.dtype

        beta_1_power, beta_2_power = self._beta_powers(dtype)
        beta_1, beta_2, epsilon = self._cached(("adam_constants", str(dtype)), lambda: (
            ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype), ops.cast(self.epsilon, dtype)))
        lr = self._cached(("adam_lr", str(dtype)), lambda: ops.cast(learning_rate, dtype))
        if mult != 1.0:
            lr = lr * ops.cast(mult, dtype)
        grad = tf.cast(tf.convert_to_tensor(gradient), dtype)       # IndexedSlices -> dense, as update_step's ops
        tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.value.handle, v=v.value.handle, beta1_power=beta_1_power,
                                     beta2_power=beta_2_power, lr=lr, beta1=beta_1, beta2=beta_2, epsilon=epsilon,
                                     grad=grad, use_locking=False, use_nesterov=False)
        return True

    def get_config(self):
        config = super().get_config()
        config.update(layer_decay=self.layer_decay, num_layers=self.num_layers)
        return config


def _layers(layer):
    yield layer
    for sub in getattr(layer, "layers", None) or ():
        yield from _layers(sub)


def computes_in_float16(model=None) -> bool:
    """True when the global dtype policy computes in float16 (``mixed_float16``), or ``model`` or any of its
    (nested) layers does. Pass the model: a task built on a backbone made with ``dtype="mixed_float16"`` under a
    float32 global policy computes in float16 although its own (functional) ``dtype_policy`` reads float32;
    ``Task.compile`` and ``compile_pretrainer`` check the model they compile."""
    if keras.config.dtype_policy().compute_dtype == "float16":
        return True
    if model is None:
        return False
    return any(getattr(layer, "compute_dtype", None) == "float16" for layer in _layers(model))


def with_loss_scale(optimizer, model=None, loss_scale="auto"):
    """``optimizer`` wrapped in ``keras.optimizers.LossScaleOptimizer`` when ``loss_scale`` is True, or is
    ``"auto"`` and :func:`computes_in_float16` (``model``); unchanged otherwise (or when already wrapped)."""
    if loss_scale not in ("auto", True, False):
        raise ValueError(f"loss_scale must be 'auto', True or False, got {loss_scale!r}")
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    if loss_scale is True or (loss_scale == "auto" and computes_in_float16(model)):
        return keras.optimizers.LossScaleOptimizer(optimizer, name="loss_scale_optimizer")
    return optimizer


def make_optimizer(learning_rate=_DEFAULTS.learning_rate, total_steps=1000, warmup_ratio=_DEFAULTS.warmup_ratio,
                   weight_decay=_DEFAULTS.weight_decay, layer_decay=_DEFAULTS.layer_decay, num_layers=0,
                   clipnorm=_DEFAULTS.clipnorm, gradient_accumulation_steps=_DEFAULTS.gradient_accumulation_steps,
                   end_learning_rate=0.0, loss_scale="auto", model=None):
    """The BERT fine-tuning optimizer: BertAdamW on a WarmupLinearDecay schedule (defaults: :class:`Recipe`).

    ``total_steps`` counts optimizer updates (batches / ``gradient_accumulation_steps``). ``loss_scale``:
    ``"auto"`` wraps it in a ``LossScaleOptimizer`` when the global dtype policy, or ``model``, computes in
    float16; True / False force it on / off (see :func:`with_loss_scale`).
    """
    total_steps = max(int(total_steps), 1)
    schedule = WarmupLinearDecay(learning_rate, total_steps, warmup_steps=int(math.ceil(warmup_ratio * total_steps)),
                                 end_learning_rate=end_learning_rate)
    if gradient_accumulation_steps is not None and gradient_accumulation_steps <= 1:
        gradient_accumulation_steps = None
    optimizer = BertAdamW(learning_rate=schedule, weight_decay=weight_decay, layer_decay=layer_decay,
                          num_layers=num_layers, global_clipnorm=clipnorm or None,
                          gradient_accumulation_steps=gradient_accumulation_steps)
    return with_loss_scale(optimizer, model, loss_scale=loss_scale)


def build_before_fit(model):
    """Create ``model.optimizer``'s variables now, eagerly (under the model's distribution strategy), for the
    variables that train now; a no-op when it is built already or the model is not compiled.

    Keras otherwise creates them while it traces the first train step, where each variable costs ~20x more
    (MiniLM-L6: 207 slot variables, 0.4 s eagerly vs ~6 s inside the trace of the first step)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or optimizer.built:
        return
    strategy = getattr(model, "distribute_strategy", None)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        optimizer.build(model.trainable_variables)


def _find_backbone(model):
    backbone = getattr(model, "backbone", None)
    if backbone is not None:
        return backbone
    if hasattr(model, "encoder_blocks"):
        return model
    raise ValueError(f"{type(model).__name__} has no .backbone")


def set_trainable(model, mode="all"):
    """Choose what trains: ``"all"``; ``"none"``/``"feature_extraction"`` (backbone frozen, head trains);
    or an int ``k`` (top ``k`` encoder blocks and the pooler train; embeddings and lower blocks frozen).

    Call before ``compile``. Returns the number of trainable weights.
    """
    backbone = _find_backbone(model)
    if isinstance(mode, str) and mode.isdigit():
        mode = int(mode)
    if mode == "all":
        backbone.trainable = True
        for layer in backbone.layers:
            layer.trainable = True
    elif mode in ("none", "feature_extraction", "frozen"):
        backbone.trainable = False
    elif isinstance(mode, int) and not isinstance(mode, bool):
        blocks = backbone.encoder_blocks
        if not 0 <= mode <= len(blocks):
            raise ValueError(f"top-k must be in [0, {len(blocks)}], got {mode}")
        backbone.trainable = True
        for layer in backbone.layers:
            layer.trainable = False
        for block in blocks[len(blocks) - mode:]:
            block.trainable = True
        backbone.pooler.trainable = mode > 0
    else:
        raise ValueError(f"trainable mode must be 'all', 'feature_extraction' or an int k, got {mode!r}")
    return len(model.trainable_weights)
