"""The fine-tuning recipe: schedule, AdamW decay exclusions, layer-wise LR decay, accumulation, clipping,
freezing, metrics (against scikit-learn / SciPy), class weights, re-sampling and the NaN guard."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.metrics import classification as M
from keras_bert_zoo.train.callbacks import NanGuard
from keras_bert_zoo.train.optimizers import (BertAdamW, WarmupLinearDecay, layer_lr_multiplier, make_optimizer,
                                             set_trainable)
from tests.train.workers import fixed_data, tiny_task_model


def test_warmup_linear_decay_shape():
    s = WarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10, end_learning_rate=0.0)
    got = [float(s(i)) for i in (0, 5, 10, 55, 100, 150)]
    np.testing.assert_allclose(got, [0.0, 5e-4, 1e-3, 5e-4, 0.0, 0.0], atol=1e-9)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
    assert float(again(55)) == pytest.approx(5e-4)
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupLinearDecay(1e-3, total_steps=10, warmup_steps=11)


def _one_step(optimizer, model, grads_fn):
    optimizer.build(model.trainable_variables)
    before = {v.path: np.array(v) for v in model.trainable_variables}
    optimizer.apply([grads_fn(v) for v in model.trainable_variables], model.trainable_variables)
    return before, {v.path: np.array(v) for v in model.trainable_variables}


def test_weight_decay_skips_layer_norm_and_biases():
    model = tiny_task_model()
    opt = BertAdamW(learning_rate=0.1, weight_decay=0.5)
    before, after = _one_step(opt, model, lambda v: tf.zeros(v.shape))   # zero gradients: only decay acts
    decayed = [p for p in before if not np.allclose(before[p], after[p])]
    kept = [p for p in before if np.allclose(before[p], after[p])]
    assert decayed and all(p.endswith(("kernel", "embeddings", "position_embedding")) for p in decayed), decayed
    assert all(p.endswith(("bias", "gamma", "beta")) for p in kept), kept
    kernel = next(p for p in decayed if p.endswith("kernel"))
    np.testing.assert_allclose(after[kernel], before[kernel] * (1 - 0.1 * 0.5), rtol=1e-5)


def _train_steps(optimizer, model, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    variables = model.trainable_variables
    optimizer.build(variables)
    for _ in range(steps):
        optimizer.apply([tf.constant(rng.normal(size=v.shape), v.dtype) for v in variables], variables)
    return {v.path: np.array(v) for v in variables}


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_update_equals_keras_adamw_and_traces_the_step_scalars_once(amsgrad):
    """BertAdamW (layer_decay 1) takes Keras AdamW's steps (with its LayerNorm/bias exclusions), and a traced
    update builds the schedule and bias corrections once per step, not once per variable.

    Under TensorFlow (no AMSGrad) the update is TF's fused Adam kernel, whose ``1 - beta_2`` is float32 like its
    bias correction's ``beta_2 ** t``; Keras computes ``1 - beta_2`` in float64 and the bias correction in
    float32, so its step size is off by ~7e-6 relative (the fused step is the closer one to the float64 Adam
    step, ``test_fused_adam_step_is_closer_to_float64_adam``): a few 1e-7 after 3 steps of size ~1e-2. AMSGrad
    runs Keras's element-wise ops: equal to Keras at float32 rounding."""
    schedule = WarmupLinearDecay(1e-2, total_steps=10, warmup_steps=2)
    model = tiny_task_model()
    start = model.get_weights()
    ours = _train_steps(BertAdamW(learning_rate=schedule, weight_decay=0.1, amsgrad=amsgrad), model)
    model.set_weights(start)
    reference = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.1, epsilon=1e-6, amsgrad=amsgrad)
    reference.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    theirs = _train_steps(reference, model)
    assert ours.keys() == theirs.keys()
    for path in ours:
        np.testing.assert_allclose(ours[path], theirs[path], rtol=1e-6, atol=1e-7 if amsgrad else 5e-7,
                                   err_msg=path)

    def ops_in_traced_update(optimizer):
        model = tiny_task_model()
        variables = model.trainable_variables
        optimizer.build(variables)
        grads = [tf.zeros(v.shape, v.dtype) for v in variables]
        graph = tf.function(lambda: optimizer.apply(grads, variables)).get_concrete_function().graph
        return len(graph.get_operations()), len(variables)

    n_ours, n_vars = ops_in_traced_update(BertAdamW(learning_rate=schedule, weight_decay=0.1, amsgrad=amsgrad))
    n_keras, _ = ops_in_traced_update(keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.1,
                                                             amsgrad=amsgrad))
    assert n_ours < 0.75 * n_keras, (n_ours, n_keras, n_vars)


def test_fused_adam_step_is_closer_to_float64_adam():
    """One step of BertAdamW under TensorFlow (the fused ``ResourceApplyAdam`` kernel, one per variable) against
    Adam computed in float64: < 1e-5 relative, and never farther than Keras's own element-wise update of the
    same step; the traced update holds the fused kernel, not the element-wise ops."""
    model = tiny_task_model()
    variables = model.trainable_variables
    rng = np.random.default_rng(0)
    grads = [tf.constant(rng.normal(size=v.shape), v.dtype) for v in variables]
    start = [np.array(v, dtype="float64") for v in variables]
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-6
    exact = [-(lr * np.sqrt(1 - b2) / (1 - b1)) * ((1 - b1) * g.numpy().astype("float64"))
             / (np.sqrt((1 - b2) * g.numpy().astype("float64") ** 2) + eps) for g in grads]

    def step_error(optimizer):
        for v, s in zip(variables, start):
            v.assign(s)
        optimizer.build(variables)
        optimizer.apply(grads, variables)
        return max(float(np.max(np.abs((np.array(v, dtype="float64") - s - e) / e)))
                   for v, s, e in zip(variables, start, exact))

    fused = step_error(BertAdamW(learning_rate=lr, weight_decay=0.0, epsilon=eps))
    keras_adam = step_error(keras.optimizers.Adam(learning_rate=lr, epsilon=eps))
    assert fused < 1e-5 and fused <= keras_adam, (fused, keras_adam)

    optimizer = BertAdamW(learning_rate=lr, weight_decay=0.1)
    optimizer.build(variables)
    graph = tf.function(lambda: optimizer.apply(grads, variables)).get_concrete_function().graph
    kinds = [op.type for op in graph.get_operations()]
    assert kinds.count("ResourceApplyAdam") == len(variables), kinds.count("ResourceApplyAdam")


def test_layer_wise_learning_rate_decay():
    model = tiny_task_model()
    assert layer_lr_multiplier("bert_backbone/encoder_layer_1/attention/query/kernel", 2, 0.5) == 0.5
    opt = BertAdamW(learning_rate=1e-2, weight_decay=0.0, layer_decay=0.5, num_layers=2)
    before, after = _one_step(opt, model, lambda v: tf.ones(v.shape))
    # Adam's first step moves every weight by ~lr * multiplier (gradient sign)
    step = {p: float(np.abs(after[p] - before[p]).mean()) for p in before}

    def find(*parts):
        return next(step[p] for p in step if all(x in p for x in parts))

    head = find("classifier", "kernel")
    assert find("encoder_layer_1", "query", "kernel") / head == pytest.approx(0.5, rel=1e-3)
    assert find("encoder_layer_0", "query", "kernel") / head == pytest.approx(0.25, rel=1e-3)
    assert find("embeddings", "token_embedding") / head == pytest.approx(0.125, rel=1e-3)
    assert find("pooler", "kernel") / head == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError, match="num_layers"):
        BertAdamW(layer_decay=0.8)


@pytest.fixture
def mixed_float16_policy():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _fp16_fit_moves_weights(optimizer):
    """One fit step of a float16 model whose loss is scaled by 1e-8: its gradients (~1e-8) are below
    float16's smallest subnormal (6e-8) and flush to zero unless the loss is scaled up first."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    assert model.layers[0].compute_dtype == "float16"

    def tiny_loss(y_true, y_pred):
        return 1e-8 * keras.ops.mean(keras.ops.square(y_true - keras.ops.cast(y_pred, "float32")))

    # auto_scale_loss=False: Keras would otherwise wrap the unscaled control optimizer itself
    model.compile(optimizer=optimizer, loss=tiny_loss, auto_scale_loss=False)
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(np.ones((8, 4), "float32"), np.full((8, 1), 3.0, "float32"), batch_size=8, epochs=1,
                        verbose=0)
    after = [np.array(w) for w in model.trainable_weights]
    assert all(np.isfinite(w).all() for w in after) and np.isfinite(history.history["loss"][-1])
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


def test_float16_optimizer_scales_the_loss(mixed_float16_policy):
    opt = make_optimizer(1e-3, total_steps=10, warmup_ratio=0.0, weight_decay=0.0)
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer) and isinstance(opt.inner_optimizer, BertAdamW)
    assert _fp16_fit_moves_weights(opt)
    # the same step without loss scaling: every gradient underflows to zero and nothing trains
    unscaled = make_optimizer(1e-3, total_steps=10, warmup_ratio=0.0, weight_decay=0.0, loss_scale=False)
    assert isinstance(unscaled, BertAdamW)
    assert not _fp16_fit_moves_weights(unscaled)
    from keras_bert_zoo.train.pretraining import make_pretraining_optimizer
    for name in ("adamw", "lamb"):
        assert isinstance(make_pretraining_optimizer(name, total_steps=10), keras.optimizers.LossScaleOptimizer)


def test_float32_optimizer_is_not_wrapped():
    assert isinstance(make_optimizer(1e-3, total_steps=10), BertAdamW)
    with pytest.raises(ValueError, match="loss_scale"):
        make_optimizer(1e-3, total_steps=10, loss_scale="yes")


def test_loss_scaling_keeps_decay_exclusions_and_layer_wise_rates():
    model = tiny_task_model()
    opt = make_optimizer(0.1, total_steps=10, warmup_ratio=0.0, weight_decay=0.5, clipnorm=None, loss_scale=True)
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    before, after = _one_step(opt, model, lambda v: tf.zeros(v.shape))   # zero gradients: only decay acts
    kept = [p for p in before if np.allclose(before[p], after[p])]
    assert kept and all(p.endswith(("bias", "gamma", "beta")) for p in kept), kept
    kernel = next(p for p in before if p.endswith("kernel"))
    np.testing.assert_allclose(after[kernel], before[kernel] * (1 - 0.1 * 0.5), rtol=1e-5)

    model = tiny_task_model()
    opt = make_optimizer(1e-2, total_steps=10, warmup_ratio=0.0, weight_decay=0.0, layer_decay=0.5, num_layers=2,
                         clipnorm=None, loss_scale=True)
    before, after = _one_step(opt, model, lambda v: tf.ones(v.shape))
    step = {p: float(np.abs(after[p] - before[p]).mean()) for p in before}
    head = next(step[p] for p in step if "classifier" in p and p.endswith("kernel"))
    query0 = next(step[p] for p in step if "encoder_layer_0" in p and "query" in p and p.endswith("kernel"))
    assert query0 / head == pytest.approx(0.25, rel=1e-3)


def test_gradient_accumulation_equals_the_big_batch():
    packed, y = fixed_data(n=8)

    def train(batch, accum):
        keras.utils.set_random_seed(7)
        model = tiny_task_model()
        opt = BertAdamW(learning_rate=1e-3, global_clipnorm=1.0,
                        gradient_accumulation_steps=accum if accum > 1 else None)
        model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(tf.data.Dataset.from_tensor_slices((packed, y)).batch(batch), epochs=1, verbose=0)
        return model.get_weights()

    big = train(8, 1)
    accumulated = train(4, 2)
    assert max(float(np.abs(a - b).max()) for a, b in zip(big, accumulated)) < 1e-6


def test_global_norm_clipping():
    opt = make_optimizer(1e-3, total_steps=10, clipnorm=0.5)
    assert opt.global_clipnorm == 0.5
    grads = [tf.fill((3, 4), 10.0), tf.fill((5,), -10.0)]
    clipped = opt._clip_gradients(grads)
    assert float(tf.linalg.global_norm(clipped)) == pytest.approx(0.5, rel=1e-5)


def test_freezing_modes():
    model = tiny_task_model()
    n_all = set_trainable(model, "all")
    n_frozen = set_trainable(model, "feature_extraction")
    assert n_frozen == 2                                          # only the head (kernel + bias) trains
    n_top1 = set_trainable(model, 1)
    names = [w.path for w in model.trainable_weights]
    assert any("encoder_layer_1" in n for n in names) and not any("encoder_layer_0" in n for n in names)
    assert not any("embeddings" in n for n in names) and any("pooler" in n for n in names)
    assert n_frozen < n_top1 < n_all
    with pytest.raises(ValueError, match="top-k"):
        set_trainable(model, 3)


def test_classification_metrics_match_sklearn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    p[:120] = y[:120]
    r = M.classification_report(y, p, ["a", "b", "c", "d"])
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert r["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro"))
    assert r["micro_f1"] == pytest.approx(skm.f1_score(y, p, average="micro"))
    assert r["weighted_f1"] == pytest.approx(skm.f1_score(y, p, average="weighted"))
    assert r["mcc"] == pytest.approx(skm.matthews_corrcoef(y, p))
    prec, rec, f1, sup = skm.precision_recall_fscore_support(y, p)
    for i, name in enumerate("abcd"):
        assert r["per_class"][name] == pytest.approx({"precision": prec[i], "recall": rec[i], "f1": f1[i],
                                                      "support": sup[i]})
    yt, yp = rng.integers(0, 2, (50, 3)), rng.integers(0, 2, (50, 3))
    ml = M.multilabel_report(yt, yp, ["x", "y", "z"])
    assert ml["micro_f1"] == pytest.approx(skm.f1_score(yt, yp, average="micro"))
    assert ml["macro_f1"] == pytest.approx(skm.f1_score(yt, yp, average="macro"))
    assert ml["subset_accuracy"] == pytest.approx(skm.accuracy_score(yt, yp))
    assert ml["hamming_loss"] == pytest.approx(skm.hamming_loss(yt, yp))


def test_regression_metrics_match_scipy():
    from scipy import stats

    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, 100).astype(float)                 # many ties for Spearman
    y = x + rng.normal(0, 1.5, 100)
    r = M.regression_report(x, y)
    assert r["pearson"] == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    assert r["spearman"] == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    assert r["mse"] == pytest.approx(np.mean((x - y) ** 2))


def test_class_weights_and_resampling():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 6 + [1] * 3 + [2])
    w = M.class_weights(y, 3)
    np.testing.assert_allclose([w[c] for c in range(3)], compute_class_weight("balanced", classes=np.arange(3), y=y))
    over = M.resample_indices(y, "oversample", seed=0)
    assert np.bincount(y[over]).tolist() == [6, 6, 6]
    under = M.resample_indices(y, "undersample", seed=0)
    assert np.bincount(y[under]).tolist() == [1, 1, 1]
    np.testing.assert_array_equal(over, M.resample_indices(y, "oversample", seed=0))   # deterministic


def test_nan_loss_stops_and_keeps_the_last_good_weights(tmp_path):
    """Batches 0-1 are finite (epoch 1), batch 2 has a NaN target (epoch 2): training stops there, the model
    holds the epoch-1 weights and the checkpoint on disk is those same weights."""
    packed, _ = fixed_data(n=24)
    y = np.ones((24, 1), "float32")
    y[16:] = np.nan
    keras.utils.set_random_seed(3)
    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.tasks import TextRegressor

    model = TextRegressor(BertBackbone(tiny_task_model().backbone.config), dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    ds = tf.data.Dataset.from_tensor_slices((packed, y)).batch(8).repeat()
    ckpt = tmp_path / "last_good.weights.h5"
    epoch_end_weights = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epoch_end_weights.append([np.array(w) for w in self.model.get_weights()])

    guard = NanGuard(ckpt)
    model.fit(ds, epochs=5, steps_per_epoch=2, callbacks=[Record(), guard], verbose=0)
    assert guard.nan_detected
    assert "the loss became nan at batch 1 of epoch 2" in guard.message
    assert "the end of epoch 1" in guard.message and str(ckpt) in guard.message
    assert len(epoch_end_weights) == 2                        # stopped during epoch 2
    for a, b in zip(model.get_weights(), epoch_end_weights[0]):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    fresh = TextRegressor(BertBackbone(model.backbone.config), dropout=0.0)
    fresh.load_weights(ckpt)
    for a, b in zip(fresh.get_weights(), epoch_end_weights[0]):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------- one recipe
RUN = dict(learning_rate=3e-4, warmup_ratio=0.2, weight_decay=0.02, layer_decay=0.9, clipnorm=0.5)


def _recipe_task_and_data():
    import random

    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.text import BertPreprocessor
    from tests.tasks.tiny_classify import sentence, tiny_backbone_and_tokenizer

    keras.utils.set_random_seed(0)
    backbone, tokenizer = tiny_backbone_and_tokenizer()
    labels = ["negative", "neutral", "positive"]
    task = TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=16), labels=labels)
    rng = random.Random(0)
    y = [labels[i % 3] for i in range(22)]
    return task, [sentence(rng, label) for label in y], y


def _trained(route, tmp_path):
    """The same run through the CLI's route (fit_task) or the Python API (compile + fit)."""
    from keras_bert_zoo.train.loop import FitConfig, fit_task

    task, x, y = _recipe_task_and_data()
    if route == "cli":
        train_ds = task.make_dataset(x, y, batch_size=4, training=True)
        fit_task(task, train_ds, None, tmp_path / "run", FitConfig(epochs=2, batch_size=4, backup=False,
                                                                    tensorboard=False, verbose=0, **RUN),
                 train_size=len(x))
    else:
        task.compile(**RUN)
        task.fit(x, y, epochs=2, batch_size=4, verbose=0)
    optimizer = task.optimizer
    schedule = optimizer.get_config()["learning_rate"]["config"]
    return task, optimizer, schedule


def test_cli_route_and_python_api_train_with_the_same_recipe(tmp_path):
    """bert-zoo finetune's fit_task and task.compile(); task.fit(...) build the same optimizer, schedule and
    learning rates, and train to the same weights."""
    cli, cli_opt, cli_schedule = _trained("cli", tmp_path)
    api, api_opt, api_schedule = _trained("api", tmp_path)
    assert type(cli_opt) is type(api_opt) is BertAdamW
    updates = 2 * -(-22 // 4)                                  # 2 epochs of ceil(22 / 4) batches
    want = {"peak_learning_rate": RUN["learning_rate"], "total_steps": updates,
            "warmup_steps": int(np.ceil(RUN["warmup_ratio"] * updates)), "end_learning_rate": 0.0}
    assert cli_schedule == api_schedule == want
    for key in ("weight_decay", "layer_decay", "num_layers", "global_clipnorm", "beta_1", "beta_2", "epsilon"):
        assert cli_opt.get_config()[key] == api_opt.get_config()[key], key
    assert cli_opt.get_config()["layer_decay"] == RUN["layer_decay"]
    assert cli_opt.get_config()["weight_decay"] == RUN["weight_decay"]
    assert int(cli_opt.iterations) == int(api_opt.iterations) == updates
    for a, b in zip(cli.get_weights(), api.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_recipe_defaults_are_stated_once():
    import inspect

    from keras_bert_zoo.train.loop import FitConfig
    from keras_bert_zoo.train.recipe import RECIPE_FIELDS, Recipe

    assert Recipe().learning_rate == 5e-5
    defaults = Recipe().as_dict()
    assert {k: getattr(FitConfig(), k) for k in RECIPE_FIELDS} == defaults
    opt = inspect.signature(make_optimizer).parameters
    assert {k: opt[k].default for k in RECIPE_FIELDS} == defaults
    adamw = inspect.signature(BertAdamW).parameters
    assert adamw["learning_rate"].default == defaults["learning_rate"]
    assert adamw["weight_decay"].default == defaults["weight_decay"]
    with pytest.raises(ValueError, match="warmup_ratio"):
        Recipe(warmup_ratio=1.5)


def test_first_fit_compiles_once_with_a_sized_schedule():
    task, x, y = _recipe_task_and_data()
    calls = []
    compile_ = task.compile
    task.compile = lambda *a, **k: (calls.append(k.get("total_steps")), compile_(*a, **k))[1]
    task.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert calls == [3 * 6]
    assert task.optimizer.get_config()["learning_rate"]["config"]["total_steps"] == 18


def test_compile_refuses_recipe_fields_with_an_explicit_optimizer():
    from keras_bert_zoo.tasks import TaskError

    task, _, _ = _recipe_task_and_data()
    with pytest.raises(TaskError, match="learning_rate"):
        task.compile(optimizer="adam", learning_rate=1e-3)
