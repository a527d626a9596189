"""The ``Task`` base: a ``keras.Model`` that holds a ``backbone`` and a ``preprocessor`` and takes raw strings.

A task is a functional ``keras.Model`` on PACKED inputs (``token_ids``, ``segment_ids``, ``padding_mask``, int32
``[B, T]``; multiple choice ``[B, K, T]``) whose outputs are the head's float32 logits. Beside the graph it holds

* ``backbone`` — the :class:`~keras_bert_zoo.models.BertBackbone` the head sits on;
* ``preprocessor`` — a :class:`~keras_bert_zoo.text.BertPreprocessor` (tokenizer + packer, pure TF graph) or
  ``None`` for a task that only ever sees packed inputs (e.g. what a converter builds before a tokenizer is
  attached).

With a preprocessor, ``fit`` / ``evaluate`` / ``predict`` / ``train_on_batch`` / ``test_on_batch`` /
``predict_on_batch`` accept raw data: a string, a list or array of strings, a dict of them (``text`` /
``text_pair``, ``question`` / ``context``, ``context`` / ``choice_k``), a tuple of two lists for pairs, or a
``tf.data.Dataset`` of such strings (batched or not, with or without targets). The preprocessor is mapped
into ``tf.data`` (:meth:`make_dataset`): training batches are grouped by length and every batch is cut to
its longest example (exact for BERT). Packed dicts and datasets of packed dicts pass through untouched. The
serving graphs cut the same way (:meth:`packed_serving_fn`, :meth:`trim`): ``predict`` and every export run the
backbone on each batch's longest real sequence.

``predict`` on raw strings returns the task's named outputs — exactly what the exported SavedModel's
``serving_default`` signature returns for the same strings (e.g. ``probabilities``, ``label_ids``,
``label_names``) — as a dict of numpy arrays; :meth:`decode` turns them into one JSON-ready dict per input.
On packed inputs it returns the model's raw outputs, as ``keras.Model.predict`` does.

``compile()`` with no arguments gives the fine-tuning recipe: :class:`~keras_bert_zoo.train.optimizers.BertAdamW`
(no decay on LayerNorm/bias, optional layer-wise decay) on a warm-up + linear-decay schedule sized by the first
``fit`` call, global-norm clipping, the task's :meth:`loss` and :meth:`metrics`.

Saving: ``task.save("x.keras")`` writes ONE file (weights, config, and the vocabulary as the tokenizer's asset);
``keras.saving.load_model("x.keras")`` restores it (``safe_mode=True``) once ``keras_bert_zoo`` is imported.
``task.export(path)`` writes a verified SavedModel (raw strings in) or TFLite file.

The serving protocol the exporters use (pure TF; documented in :mod:`keras_bert_zoo.export.saved_model`)::

    serving_input_spec()   {name: TensorSpec([None], tf.string)}
    packed_input_spec()    {name: TensorSpec([None, None], tf.int32)}
    preprocess(inputs)     {name: string [B]} -> packed dict
    serving_fn(inputs)     {name: string [B]} -> {output: tensor}
    packed_serving_fn(p)   packed dict -> {output: tensor}

Subclasses build their graph in ``__init__`` (calling ``super().__init__(inputs=..., outputs=...)``), set
``task_type`` (the CLI name) and ``text_inputs``, and supply ``loss()``, ``metrics()``, ``postprocess()``,
``decode()``; tasks whose training data is not "strings + one target per example" (NER, QA, fill-mask,
embeddings, pretraining) override :meth:`make_dataset`. Test a new task with
``tests/tasks/harness.py::run_task_test``.

Example::

    clf = TextClassifier.from_preset("minilm_l6_h384_uncased", labels=["neg", "pos"], sequence_length=64)
    clf.compile()
    clf.fit(["great", "awful"], ["pos", "neg"], epochs=1, batch_size=2)
    clf.predict(["what a day"])["label_names"]          # array([b'pos'])
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.models.backbone import INPUT_KEYS, BertBackbone
from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer

__all__ = ["Task", "TaskError", "packed_inputs", "head_initializer", "classifier_head"]

logger = logging.getLogger(__name__)


class TaskError(ValueError):
    """Bad task input: an unknown label or option, mismatched inputs, a malformed file."""


def head_initializer(backbone):
    return keras.initializers.TruncatedNormal(stddev=backbone.config.initializer_range)


def classifier_head(backbone, features, units: int, dropout: float):
    """``dense(dropout(features))`` as float32 logits, with layers named as the HF heads' weights map to
    (``classifier_dropout``, ``classifier``) and computing in the backbone's dtype policy; returns
    ``(logits, dense layer)``. The head of the sequence, token and multiple-choice classifiers."""
    head_dropout = keras.layers.Dropout(dropout, name="classifier_dropout", dtype=backbone.dtype_policy)
    head = keras.layers.Dense(units, kernel_initializer=head_initializer(backbone), name="classifier",
                              dtype=backbone.dtype_policy)
    return keras.ops.cast(head(head_dropout(features)), "float32"), head


def packed_inputs(extra=(), shape=(None,)):
    """Symbolic packed inputs of a task graph: int32 ``[B, *shape]`` for each backbone key (+ ``extra``)."""
    return {k: keras.Input(shape=shape, dtype="int32", name=k) for k in INPUT_KEYS + tuple(extra)}


def _is_string_like(values) -> bool:
    if isinstance(values, (str, bytes)):
        return True
    if isinstance(values, np.ndarray):
        return values.dtype.kind in "USO"
    if isinstance(values, (tf.Tensor, tf.RaggedTensor)):
        return values.dtype == tf.string
    if isinstance(values, (list, tuple)):
        return len(values) > 0 and all(isinstance(v, (str, bytes, np.str_, np.bytes_)) for v in values)
    return False


def _spec_is_strings(spec) -> bool:
    specs = tf.nest.flatten(spec)
    return bool(specs) and all(getattr(s, "dtype", None) == tf.string for s in specs)


class Task(keras.Model):
    """Base of every task model (see the module docstring)."""

    #: CLI / registry name ("classify", "tag", "qa", ...)
    task_type: str = "task"
    #: names of the raw-string inputs, in order
    text_inputs: tuple = ("text",)
    #: value used to pad a ``[B, E, ...]`` output when ``predict`` concatenates batches of different widths
    output_padding: Mapping[str, Any] = {}

    # ------------------------------------------------------------------ construction
    def _set_parts(self, backbone: BertBackbone, preprocessor):
        self.backbone = backbone
        self._auto_schedule = None
        self._serving_function = None
        self.preprocessor = preprocessor

    @property
    def preprocessor(self) -> BertPreprocessor | None:
        """The tokenizer + packer of raw strings (None: the task takes packed inputs only)."""
        return self._preprocessor

    @preprocessor.setter
    def preprocessor(self, value):
        if value is not None and not isinstance(value, BertPreprocessor):
            raise TaskError(f"preprocessor must be a BertPreprocessor, got {type(value).__name__}")
        self._preprocessor = value
        self._serving_function = None

    @property
    def tokenizer(self) -> WordPieceTokenizer | None:
        return None if self.preprocessor is None else self.preprocessor.tokenizer

    @property
    def sequence_length(self) -> int | None:
        return None if self.preprocessor is None else self.preprocessor.sequence_length

    @classmethod
    def make_preprocessor(cls, tokenizer: WordPieceTokenizer, sequence_length: int = 128,
                          truncate: str = "longest_first") -> BertPreprocessor:
        return BertPreprocessor(tokenizer, sequence_length=sequence_length, truncate=truncate)

    @classmethod
    def from_preset(cls, preset: str, *, sequence_length: int = 128, truncate: str = "longest_first",
                    cache_dir: str | None = None, **task_args):
        """Backbone + tokenizer of a preset name or checkpoint directory (any format the converters read),
        with a new head of this task. ``task_args`` are the task constructor's named arguments."""
        from keras_bert_zoo import presets

        backbone, tokenizer = presets.from_preset(preset, backbone_only=True, cache_dir=cache_dir)
        return cls(backbone, preprocessor=cls.make_preprocessor(tokenizer, sequence_length, truncate), **task_args)

    # ------------------------------------------------------------------ serialisation
    #: constructor arguments (besides backbone / preprocessor) saved in get_config, in order
    _config_args: tuple = ()

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable,
                  "backbone": keras.saving.serialize_keras_object(self.backbone),
                  "preprocessor": (None if self.preprocessor is None
                                   else keras.saving.serialize_keras_object(self.preprocessor))}
        config.update({a: getattr(self, a) for a in self._config_args})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        return cls(**config)

    # ------------------------------------------------------------------ serving protocol (pure TF)
    def serving_input_spec(self) -> dict:
        return {name: tf.TensorSpec([None], tf.string, name=name) for name in self.text_inputs}

    def packed_input_spec(self) -> dict:
        return {k: tf.TensorSpec([None, None], tf.int32, name=k) for k in INPUT_KEYS}

    def _require_preprocessor(self):
        if self.preprocessor is None:
            raise TaskError(f"{type(self).__name__} has no preprocessor: raw strings need one (build it with "
                            f"preprocessor=BertPreprocessor(tokenizer, ...) or from_preset)")
        return self.preprocessor

    def preprocess(self, inputs: Mapping):
        """{name: string tensor [B]} -> packed dict (pure TF)."""
        pre = self._require_preprocessor()
        missing = [n for n in self.text_inputs if n not in inputs]
        if missing:
            raise TaskError(f"{self.task_type}: missing input(s) {missing}; expected {list(self.text_inputs)}")
        texts = [tf.convert_to_tensor(inputs[name], tf.string) for name in self.text_inputs]
        # the layer's own graph, called as a TF function: inside tf.data on every Keras backend (Keras's
        # __call__ would convert the string tensors to the backend's arrays)
        return pre.call(texts[0] if len(texts) == 1 else tuple(texts))

    def postprocess(self, outputs) -> dict:
        """Model outputs -> dict of named tensors (pure TF)."""
        return outputs if isinstance(outputs, dict) else {"outputs": outputs}

    #: :meth:`packed_serving_fn` cuts the packed batch to its longest real sequence (:meth:`trim`) before the model
    #: runs. False for tasks whose packed outputs are per position (``[B, T, ...]``: QA, token classification):
    #: there the values at padding positions are the model's outputs on ``[PAD]`` tokens, which a cut cannot
    #: reproduce (their raw-string ``serving_fn`` cuts the windows itself: its outputs are spans, not positions).
    trim_packed_serving: bool = True

    def packed_serving_fn(self, packed: Mapping) -> dict:
        if self.trim_packed_serving:
            packed = self.trim(packed)
        return self.postprocess(self({k: packed[k] for k in self.packed_input_spec()}, training=False))

    def serving_fn(self, inputs: Mapping) -> dict:
        return self.packed_serving_fn(self.preprocess(inputs))

    # ------------------------------------------------------------------ raw data -> tf.data
    def _is_raw(self, x) -> bool:
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            first = spec[0] if isinstance(spec, tuple) else spec
            return _spec_is_strings(first)
        if isinstance(x, Mapping):
            return bool(x) and set(x) <= set(self.text_inputs) and all(_is_string_like(v) for v in x.values())
        if isinstance(x, tuple) and x and all(not isinstance(v, (str, bytes)) for v in x):
            return all(_is_string_like(v) for v in x)
        return _is_string_like(x)

    def features(self, x) -> dict:
        """Raw in-memory inputs -> {text input name: list of str}; errors name what was expected."""
        names = self.text_inputs
        if isinstance(x, (str, bytes)):
            x = [x]
        if isinstance(x, Mapping):
            unknown = sorted(set(x) - set(names))
            missing = [n for n in names if n not in x]
            if unknown or missing:
                raise TaskError(f"{self.task_type}: inputs {sorted(x)} do not match the task's inputs "
                                f"{list(names)} (missing {missing}, unknown {unknown})")
            cols = {n: x[n] for n in names}
        elif isinstance(x, tuple) and x and all(not isinstance(v, (str, bytes)) for v in x):
            if len(x) != len(names):
                raise TaskError(f"{self.task_type}: got a tuple of {len(x)} segments; the task takes "
                                f"{len(names)} ({list(names)})")
            cols = dict(zip(names, x))
        else:
            if len(names) != 1:
                raise TaskError(f"{self.task_type}: the task takes inputs {list(names)}; pass a dict of them")
            cols = {names[0]: x}
        out = {}
        for name, values in cols.items():
            if isinstance(values, (str, bytes)):
                values = [values]
            values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in np.asarray(values,
                                                                                                    object).tolist()]
            bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
            if bad:
                raise TaskError(f"{self.task_type}: input {name!r} row {bad[0]}: expected a string, got "
                                f"{type(values[bad[0]]).__name__}")
            out[name] = values
        lengths = {k: len(v) for k, v in out.items()}
        if len(set(lengths.values())) > 1:
            raise TaskError(f"{self.task_type}: inputs have different lengths {lengths}")
        if not next(iter(lengths.values())):
            raise TaskError(f"{self.task_type}: no examples (empty input)")
        return out

    def encode_targets(self, y):
        """Targets as given by a user -> numpy array the loss takes (subclasses map label names)."""
        return np.asarray(y)

    @staticmethod
    def trim(packed: Mapping) -> dict:
        """Cut ``token_ids``/``segment_ids``/``padding_mask`` (``[B, T]``, or ``[B, K, T]``) to the batch's longest
        real sequence: up to the last position where any row's ``padding_mask`` is 1, + 1 (at least 1; and past
        every position ``mask_positions`` points at, when given). Other entries pass unchanged. Exact for BERT:
        the positions cut are padding in every row, and padding is masked out of attention. Used by training
        batches and by every serving graph (:meth:`packed_serving_fn`), so a request of short texts runs the
        backbone on its own length, not the preprocessor's ``sequence_length``."""
        mask = tf.convert_to_tensor(packed["padding_mask"])
        seq = tf.shape(mask)[-1]
        real = tf.reduce_any(tf.not_equal(tf.reshape(mask, [-1, seq]), 0), axis=0)                 # [T]
        longest = tf.reduce_max(tf.where(real, tf.range(1, seq + 1), 0))   # last real position + 1 (0 if none)
        if "mask_positions" in packed:
            longest = tf.maximum(longest, tf.reduce_max(tf.cast(packed["mask_positions"], tf.int32)) + 1)
        longest = tf.maximum(longest, 1)
        return {k: (v[..., :longest] if k in INPUT_KEYS else v) for k, v in packed.items()}

    def make_dataset(self, x, y=None, sample_weight=None, *, batch_size: int = 32, training: bool = False,
                     seed: int = 0):
        """Raw inputs (+ targets, + weights) -> ``tf.data.Dataset`` of ``(packed, y[, w])`` (or ``packed``).

        ``training``: shuffle each epoch and group examples of similar length (windows of 64 batches sorted by
        length, cut into batches, batches shuffled); always: each batch cut to its longest example.
        """
        if isinstance(x, tf.data.Dataset):
            return self._map_dataset(x, batch_size)
        feats = self.features(x)
        n = len(next(iter(feats.values())))
        parts = [{k: tf.constant(v, tf.string) for k, v in feats.items()}]
        if y is not None:
            targets = self.encode_targets(y)
            if len(targets) != n:
                raise TaskError(f"{self.task_type}: {n} inputs but {len(targets)} targets")
            parts.append(targets)
        if sample_weight is not None:
            w = np.asarray(sample_weight, "float32")
            if len(w) != n:
                raise TaskError(f"{self.task_type}: {n} inputs but {len(w)} sample weights")
            parts.append(w)
        ds = tf.data.Dataset.from_tensor_slices(tuple(parts) if len(parts) > 1 else parts[0])
        num_batches = (n + batch_size - 1) // batch_size
        if training:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)

            def sort_window(*w):
                length = tf.add_n([tf.strings.length(v) for v in w[0].values()])
                order = tf.argsort(length, stable=True)
                return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(lambda t: tf.gather(t, order), w))

            ds = ds.batch(batch_size * 64).flat_map(sort_window).batch(batch_size)
            ds = ds.apply(tf.data.experimental.assert_cardinality(num_batches))
            ds = ds.shuffle(max(1, num_batches), seed=seed + 1, reshuffle_each_iteration=True)
        else:
            ds = ds.batch(batch_size)
        return self._pack(ds)

    def _pack(self, batched: tf.data.Dataset) -> tf.data.Dataset:
        def pack(*batch):
            packed = self.trim(self.preprocess(batch[0]))
            return (packed,) + tuple(batch[1:]) if len(batch) > 1 else packed

        return batched.map(pack, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def _map_dataset(self, ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
        """A user's dataset of raw strings (x or (x, y[, w]); x a string tensor or a dict of them)."""
        spec = ds.element_spec
        first = spec[0] if isinstance(spec, tuple) else spec
        if tf.nest.flatten(first)[0].shape.rank == 0:
            ds = ds.batch(batch_size)

        def as_dict(*e):
            x = e[0]
            if not isinstance(x, dict):
                if len(self.text_inputs) != 1:
                    raise TaskError(f"{self.task_type}: dataset elements must be dicts of {list(self.text_inputs)}")
                x = {self.text_inputs[0]: x}
            return (x,) + tuple(e[1:]) if len(e) > 1 else x

        return self._pack(ds.map(as_dict))

    def _dataset(self, x, y, sample_weight, batch_size, training, seed=0):
        if x is None or not self._is_raw(x):
            return None
        return self.make_dataset(x, y, sample_weight, batch_size=batch_size or 32, training=training, seed=seed)

    # ------------------------------------------------------------------ Keras API on raw data
    def default_loss(self):
        """The task's default loss (for ``compile()``)."""
        raise NotImplementedError(type(self).__name__)

    def default_metrics(self):
        """The task's default metrics (for ``compile()``)."""
        return []

    def default_weighted_metrics(self):
        return None

    def compile(self, optimizer="auto", loss="auto", metrics="auto", *, learning_rate: float = 5e-5,
                warmup_ratio: float = 0.1, weight_decay: float = 0.01, layer_decay: float = 1.0,
                clipnorm: float | None = 1.0, gradient_accumulation_steps: int = 1, total_steps: int | None = None,
                weighted_metrics="auto", **keras_compile_args):
        """``keras.Model.compile`` with the recipe's defaults (``"auto"``): see the module docstring.

        ``total_steps`` (optimizer updates) sizes the warm-up + decay schedule; when None, the first ``fit``
        sizes it from its epochs and batches. The recipe arguments apply only when ``optimizer="auto"``.
        ``keras_compile_args`` are ``keras.Model.compile``'s own (``jit_compile``, ``steps_per_execution``, ...).
        """
        recipe = {"learning_rate": learning_rate, "warmup_ratio": warmup_ratio, "weight_decay": weight_decay,
                  "layer_decay": layer_decay, "clipnorm": clipnorm,
                  "gradient_accumulation_steps": gradient_accumulation_steps}
        self._auto_schedule = None
        if optimizer == "auto":
            from keras_bert_zoo.train.optimizers import make_optimizer

            optimizer = make_optimizer(total_steps=total_steps or 1, num_layers=self.backbone.config.num_layers,
                                       **recipe)
            if total_steps is None:   # sized by the first fit (see _size_schedule)
                self._auto_schedule = dict(recipe, loss=loss, metrics=metrics, weighted_metrics=weighted_metrics,
                                           **keras_compile_args)
        else:
            defaults = {"learning_rate": 5e-5, "warmup_ratio": 0.1, "weight_decay": 0.01, "layer_decay": 1.0,
                        "clipnorm": 1.0, "gradient_accumulation_steps": 1}
            changed = sorted(k for k, v in recipe.items() if v != defaults[k])
            if changed or total_steps is not None:
                raise TaskError(f"{changed or ['total_steps']} configure the default optimizer and do not apply "
                                f"with optimizer={optimizer!r}")
        pending = self._auto_schedule
        super().compile(optimizer=optimizer, loss=self.default_loss() if loss == "auto" else loss,
                        metrics=self.default_metrics() if metrics == "auto" else metrics,
                        weighted_metrics=(self.default_weighted_metrics() if weighted_metrics == "auto"
                                          else weighted_metrics), **keras_compile_args)
        self._auto_schedule = pending

    def get_compile_config(self):
        # a loaded task is compiled again by ``compile()`` (or the first ``fit``) with the recipe it needs
        return None

    def _size_schedule(self, data, epochs, steps_per_epoch):
        """Recompile the default optimizer with a schedule sized to this fit (before any update)."""
        pending = self._auto_schedule
        if pending is None:
            return
        steps = steps_per_epoch
        if steps is None and isinstance(data, tf.data.Dataset):
            card = int(data.cardinality().numpy())
            steps = card if card > 0 else None
        args = dict(pending)
        if steps is None:
            logger.warning("the number of batches per epoch is unknown: the default schedule keeps the peak "
                           "learning rate (no warm-up, no decay); pass compile(total_steps=...) to size it")
            args["warmup_ratio"] = 0.0
            self.compile(total_steps=10**9, **args)
            return
        accum = max(1, int(args.get("gradient_accumulation_steps") or 1))
        self.compile(total_steps=max(1, steps * max(1, epochs) // accum), **args)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """``keras.Model.fit`` that also takes raw strings (see the module docstring)."""
        if not self.compiled:
            self.compile()
        ds = self._dataset(x, y, sample_weight, batch_size, training=bool(shuffle))
        if ds is not None:
            if validation_split:
                raise TaskError("validation_split does not apply to raw inputs: pass validation_data=(x, y)")
            x, y, sample_weight, batch_size = ds, None, None, None
        if validation_data is not None:
            if not isinstance(validation_data, tuple) and (self._is_raw(validation_data) or
                                                           not isinstance(validation_data, list)):
                vx, vy, vw = validation_data, None, None      # inputs only (e.g. records carrying targets)
            else:
                vx, vy, vw = keras.utils.unpack_x_y_sample_weight(tuple(validation_data))
            vds = self._dataset(vx, vy, vw, validation_batch_size or batch_size or 32, training=False)
            if vds is not None:
                validation_data = vds
        self._size_schedule(x, epochs - initial_epoch, steps_per_epoch)
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                           validation_split=validation_split, validation_data=validation_data,
                           shuffle=shuffle and not isinstance(x, tf.data.Dataset),
                           class_weight=class_weight, sample_weight=sample_weight, initial_epoch=initial_epoch,
                           steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                           validation_batch_size=validation_batch_size if ds is None else None,
                           validation_freq=validation_freq)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        if not self.compiled:
            self.compile()
        ds = self._dataset(x, y, sample_weight, batch_size, training=False)
        if ds is not None:
            x, y, sample_weight, batch_size = ds, None, None, None
        return super().evaluate(x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight,
                                steps=steps, callbacks=callbacks, return_dict=return_dict, **kwargs)

    def _serving(self):
        # one trace for every batch size and length (serving_fn cuts each batch to its longest example itself)
        if self._serving_function is None:
            # pure TF graph code: no AutoGraph conversion (faster tracing, Python control flow is trace-time)
            self._serving_function = tf.function(self.serving_fn, input_signature=[self.serving_input_spec()],
                                                 autograph=False)
        return self._serving_function

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Raw strings -> dict of numpy arrays (the serving outputs); packed inputs -> the model's outputs."""
        if not self._is_raw(x):
            return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)
        if keras.backend.backend() != "tensorflow":
            raise TaskError("predict on raw strings needs the TensorFlow backend; on other backends predict "
                            "on packed inputs (task.make_dataset(x))")
        batch_size = batch_size or 32
        if isinstance(x, tf.data.Dataset):
            batches = x.map(lambda *e: e[0]) if isinstance(x.element_spec, tuple) else x
            if tf.nest.flatten(batches.element_spec)[0].shape.rank == 0:
                batches = batches.batch(batch_size)
            feeds = [(b if isinstance(b, dict) else {self.text_inputs[0]: b}) for b in batches]
        else:
            feats = self.features(x)
            n = len(next(iter(feats.values())))
            feeds = [{k: tf.constant(v[i:i + batch_size], tf.string) for k, v in feats.items()}
                     for i in range(0, n, batch_size)]
        # a graph pays for its tracing only over several batches; a few batches run eagerly
        fn = self._serving() if len(feeds) > 2 else self.serving_fn
        outs = [{k: np.asarray(v) for k, v in fn(feed).items()} for feed in feeds]
        return self._concat(outs)

    def _concat(self, outs: list) -> dict:
        result = {}
        for key in outs[0]:
            arrays = [o[key] for o in outs]
            if arrays[0].ndim >= 2 and len({a.shape[1:] for a in arrays}) > 1:
                width = max(a.shape[1] for a in arrays)
                pad = self.output_padding.get(key, b"" if arrays[0].dtype.kind in "SO" else 0)
                arrays = [np.concatenate([a, np.full((a.shape[0], width - a.shape[1]) + a.shape[2:], pad, a.dtype)],
                                         axis=1) if a.shape[1] < width else a for a in arrays]
            result[key] = np.concatenate(arrays, axis=0)
        return result

    def predict_on_batch(self, x):
        if not self._is_raw(x):
            return super().predict_on_batch(x)
        feats = self.features(x)
        return {k: np.asarray(v) for k, v in self.serving_fn({k: tf.constant(v, tf.string)
                                                              for k, v in feats.items()}).items()}

    def _one_batch(self, x, y, sample_weight):
        n = len(next(iter(self.features(x).values())))
        ds = self.make_dataset(x, y, sample_weight, batch_size=max(n, 1), training=False)
        return next(iter(ds))

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        if not self.compiled:
            self.compile()
        if self._is_raw(x) and not isinstance(x, tf.data.Dataset):
            batch = self._one_batch(x, y, sample_weight)
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        return super().train_on_batch(x, y, sample_weight=sample_weight, class_weight=class_weight,
                                      return_dict=return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        if not self.compiled:
            self.compile()
        if self._is_raw(x) and not isinstance(x, tf.data.Dataset):
            batch = self._one_batch(x, y, sample_weight)
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        return super().test_on_batch(x, y, sample_weight=sample_weight, return_dict=return_dict)

    # ------------------------------------------------------------------ Python-side results
    def decode(self, outputs: Mapping[str, np.ndarray]) -> list[dict]:
        """Numpy outputs of ``predict`` (raw inputs) -> one JSON-serialisable dict per example."""
        n = len(next(iter(outputs.values())))
        return [{k: _jsonable(v[i]) for k, v in outputs.items()} for i in range(n)]

    def predict_records(self, records: Sequence[Mapping], batch_size: int = 32) -> list[dict]:
        """JSON-style records ({input name: string}) -> one decoded dict each (the CLI's ``predict``)."""
        for i, rec in enumerate(records):
            missing = [n for n in self.text_inputs if n not in rec]
            if missing:
                raise TaskError(f"record {i + 1}: missing field(s) {missing}; expected {list(self.text_inputs)}")
        if not records:
            return []
        x = {n: [str(r[n]) for r in records] for n in self.text_inputs}
        return self.decode(self.predict(x, batch_size=batch_size, verbose=0))

    # ------------------------------------------------------------------ export
    def export(self, path, format: str = "saved_model", *, sample_inputs=None, quantize: str = "none",
               overwrite: bool = False, **export_args):
        """Write a verified raw-strings-in export of this task to ``path``.

        ``path`` is a TF Serving version directory ``<root>/<name>/<version>``: the SavedModel goes there;
        ``format="tflite"`` writes ``<root>/<name>-tflite-<quantize>/<version>/model.tflite`` (``quantize``:
        none, fp16, int8 (dynamic range), full_int8); the result's ``path`` says where. ``sample_inputs`` (raw
        inputs as ``fit`` takes them; default: a few built-in strings) drive the verification.
        ``export_args`` are the exporter's named options (tolerance, target, ...).
        """
        from keras_bert_zoo import export as export_lib

        self._require_preprocessor()
        feed = self.features(sample_inputs if sample_inputs is not None else self.default_samples())
        return export_lib.export_task(self.serving_copy(), path, format=format, feed=feed, quantize=quantize,
                                      overwrite=overwrite, **export_args)

    # ------------------------------------------------------------------ LoRA
    def enable_lora(self, rank, alpha=None, targets=("query", "value")):
        """LoRA fine-tuning: adapters on the backbone's ``targets`` (see :meth:`BertBackbone.enable_lora`),
        every other backbone variable frozen; the task head stays trainable."""
        self.backbone.enable_lora(rank, alpha=alpha, targets=targets)

    def lora_weights(self) -> dict:
        """What LoRA fine-tuning changed: {variable path: numpy array} of every trainable variable (the
        adapters and the task head)."""
        if not self.backbone.lora:
            raise TaskError("LoRA is not enabled on this task (call enable_lora first)")
        return {v.path: keras.ops.convert_to_numpy(v) for v in self.trainable_variables}

    def save_lora_weights(self, path):
        """Write :meth:`lora_weights` to a safetensors file (atomically), with the LoRA setting as metadata."""
        import json

        from safetensors.numpy import save as save_tensors

        from keras_bert_zoo import cache

        blob = save_tensors(self.lora_weights(), metadata={"lora": json.dumps(self.backbone.lora),
                                                           "task": type(self).__name__})
        with cache.atomic_write(os.fspath(path), "wb") as f:
            f.write(blob)

    def load_lora_weights(self, path):
        """Read a file of :meth:`save_lora_weights` into this task (same base model, same LoRA setting).
        Every tensor is checked (names, shapes, LoRA setting) before any is assigned."""
        import json

        from safetensors import SafetensorError, safe_open

        path = os.fspath(path)
        try:
            with safe_open(path, framework="numpy") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (OSError, SafetensorError) as err:
            raise TaskError(f"{path}: not a readable LoRA weights file ({err})") from None
        saved = json.loads(meta.get("lora", "null"))
        if not self.backbone.lora:
            if not saved:
                raise TaskError(f"{path}: no LoRA setting in the file's metadata")
            self.enable_lora(saved["rank"], alpha=saved["alpha"], targets=saved["targets"])
        elif saved and saved != self.backbone.lora:
            raise TaskError(f"{path}: LoRA setting {saved} differs from this task's {self.backbone.lora}")
        variables = {v.path: v for v in self.trainable_variables}
        missing, extra = sorted(set(variables) - set(tensors)), sorted(set(tensors) - set(variables))
        if missing or extra:
            raise TaskError(f"{path}: tensors do not match this task: missing {missing[:3]}, unexpected "
                            f"{extra[:3]}{' ...' if len(missing) + len(extra) > 6 else ''}")
        bad = [(k, tensors[k].shape, tuple(v.shape)) for k, v in variables.items()
               if tuple(tensors[k].shape) != tuple(v.shape)]
        if bad:
            name, got, want = bad[0]
            raise TaskError(f"{path}: tensor {name} has shape {tuple(got)}, the task expects {want}")
        for name, variable in variables.items():
            variable.assign(tensors[name])

    def merged_lora(self):
        """A copy of this task without LoRA whose kernels are the LoRA-updated ones (``W + alpha/r * A B``):
        the same outputs, plain Dense layers."""
        if not self.backbone.lora:
            raise TaskError("LoRA is not enabled on this task")
        return self._rebuilt(dtype=None)

    def serving_copy(self):
        """What :meth:`export` ships: this task, or where it has LoRA adapters or computes in a mixed policy
        (``mixed_bfloat16`` / ``mixed_float16`` training), a copy with the adapters merged into plain kernels
        that computes in float32 with the same (float32) variables -- the precision servers and TFLite run and
        the exports are verified at (1e-5)."""
        mixed = self.backbone.dtype_policy.compute_dtype != "float32"
        if not self.backbone.lora and not mixed:
            return self
        return self._rebuilt(dtype="float32" if mixed else None)

    def _rebuilt(self, dtype):
        """A copy without LoRA (kernels merged where it had it), computing in ``dtype`` (None: unchanged)."""
        config = self.get_config()
        config["backbone"] = dict(config["backbone"], config=dict(config["backbone"]["config"], lora=None))
        if dtype is not None:
            config["backbone"]["config"]["dtype"] = dtype
        config["preprocessor"] = None    # shared below: its vocabulary is an asset, not part of the config
        policy = keras.config.dtype_policy()
        if dtype is not None:   # also the layers that take the global policy (a mixed one while training)
            keras.config.set_dtype_policy(dtype)
        try:
            copy = type(self).from_config(config)
        finally:
            keras.config.set_dtype_policy(policy)
        copy.preprocessor = self.preprocessor
        values = {v.path: v for v in self.weights}
        for layer in (self.backbone.lora_layers() if self.backbone.lora else ()):
            kernel = next(w for w in layer.weights if w.name == "kernel")
            values[kernel.path] = layer.kernel
        for variable in copy.weights:
            if variable.path not in values:
                raise TaskError(f"copying {self.name}: no value for {variable.path}")
            variable.assign(keras.ops.convert_to_tensor(values[variable.path], variable.dtype))
        return copy

    def default_samples(self):
        """A few raw inputs for export verification when the caller gives none."""
        samples = ["a short example.", "Another, slightly longer example sentence with more words in it!",
                   "自然语言处理很有趣。", ""]
        if len(self.text_inputs) == 1:
            return samples
        return {name: samples[i:] + samples[:i] for i, name in enumerate(self.text_inputs)}

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r} task_type={self.task_type!r}>"


def _jsonable(value):
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            return [_jsonable(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
