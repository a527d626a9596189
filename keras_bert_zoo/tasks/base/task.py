"""The ``Task`` base: a ``keras.Model`` that holds a ``backbone`` and a ``preprocessor`` and takes raw strings.

A task is a functional ``keras.Model`` on PACKED inputs (``token_ids``, ``segment_ids``, ``padding_mask``, int32
``[B, T]``; multiple choice ``[B, K, T]``) whose outputs are the head's float32 logits, holding ``backbone`` (a
:class:`~keras_bert_zoo.models.BertBackbone`) and ``preprocessor`` (a :class:`~keras_bert_zoo.text.BertPreprocessor`,
or ``None``: packed inputs only).

Raw data (strings, lists, dicts or tuples of columns, typed examples, datasets of strings) reaches ``fit`` /
``evaluate`` / ``predict`` / ``*_on_batch`` by ONE route, :mod:`~keras_bert_zoo.tasks.base.pipeline`, through ONE
hook, :meth:`Task.preprocess_samples`; a subclass declares what the pipeline needs (``text_inputs``,
``training_inputs``, :meth:`from_records`, :meth:`encode_targets`, the class flags below). Packed data goes to
Keras untouched. ``predict`` on raw strings returns what the exported SavedModel's ``serving_default`` returns
(:meth:`decode`: one JSON-ready dict per input). The serving protocol the exporters use (pure TF)::

    serving_input_spec()   {name: TensorSpec([None], tf.string)}
    packed_input_spec()    {name: TensorSpec([None, None], tf.int32)}
    preprocess(inputs)     {name: string [B]} -> packed dict
    serving_fn(inputs)     {name: string [B]} -> {output: tensor}
    packed_serving_fn(p)   packed dict -> {output: tensor} (the batch cut to its longest row, :meth:`trim`)

``compile()`` gives :class:`~keras_bert_zoo.train.recipe.Recipe`'s recipe (its fields are keyword arguments), the
schedule sized by the first ``fit`` unless ``total_steps`` is given. ``save("x.keras")`` writes one file;
``export(filepath)`` a verified SavedModel directory / .tflite file exactly there; LoRA:
:mod:`~keras_bert_zoo.tasks.base.lora`. Test a new task with ``tests/tasks/harness.py``.

Example::

    >>> from keras_bert_zoo import BertBackbone, BertConfig, TextClassifier
    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=37)
    >>> preprocessor = BertPreprocessor(WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=16)
    >>> clf = TextClassifier(BertBackbone(config), preprocessor=preprocessor, labels=["neg", "pos"])
    >>> clf.compile(learning_rate=3e-5)                  # the Recipe, one field changed
    >>> history = clf.fit(["great", "awful"], ["pos", "neg"], epochs=1, batch_size=2, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss']
    >>> out = clf.predict(["what a day"], verbose=0)     # the serving outputs, as numpy arrays
    >>> sorted(out), out["label_names"].shape, out["label_names"][0] in (b"neg", b"pos")
    (['label_ids', 'label_names', 'logits', 'probabilities', 'score'], (1,), True)
    >>> clf.decode(out)                                  # one JSON-ready dict per input
    [{'probabilities': {'neg': ..., 'pos': ...}, 'label': '...', 'score': ...}]
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.models.backbone import INPUT_KEYS, BertBackbone
from keras_bert_zoo.tasks.base import pipeline
from keras_bert_zoo.tasks.base.errors import TaskError
from keras_bert_zoo.tasks.base.lora import LoraMixin
from keras_bert_zoo.tasks.base.outputs import concat_batches, jsonable
from keras_bert_zoo.tasks.base.saving import SavingMixin
from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
from keras_bert_zoo.train.optimizers import build_before_fit, make_optimizer
from keras_bert_zoo.train.recipe import RECIPE_FIELDS, Recipe

__all__ = ["Task", "TaskError"]

logger = logging.getLogger(__name__)

#: raw inputs of export verification when the caller gives none
_SAMPLES = ["a short example.", "Another, slightly longer example sentence with more words in it!",
            "自然语言处理很有趣。", ""]


def check_preprocessor(preprocessor, backbone):
    """``preprocessor`` if it can feed ``backbone``: a BertPreprocessor (or None) whose ``sequence_length`` fits the
    backbone's position embeddings and whose vocabulary fits its token embeddings (else a served model fails on
    every long request, or looks up ids past the table)."""
    if preprocessor is None:
        return None
    if not isinstance(preprocessor, BertPreprocessor):
        raise TaskError(f"preprocessor must be a BertPreprocessor, got {type(preprocessor).__name__}")
    positions, vocab = backbone.config.max_position_embeddings, backbone.config.vocab_size
    if preprocessor.sequence_length > positions:
        raise TaskError(f"sequence_length {preprocessor.sequence_length} is longer than the model's "
                        f"max_position_embeddings {positions}; use sequence_length <= {positions}")
    tokenizer = preprocessor.tokenizer
    if getattr(tokenizer, "_vocabulary", None) is not None and tokenizer.vocab_size > vocab:
        raise TaskError(f"the tokenizer's vocabulary has {tokenizer.vocab_size} tokens, the model's embeddings "
                        f"{vocab}: ids past {vocab - 1} have no embedding (a vocabulary of another model?)")
    return preprocessor


class Task(SavingMixin, LoraMixin, keras.Model):
    """Base of every task model (see the module docstring)."""

    task_type: str = "task"                    # CLI / registry name ("classify", "tag", "qa", ...)
    text_inputs: tuple = ("text",)             # names of the raw-string (serving) inputs, in order
    training_inputs: tuple | None = None       # other names of raw training columns (embedder: anchor, positive)
    output_padding: Mapping[str, Any] = {}     # pads a [B, E, ...] output when predict joins batches
    expands_samples: bool = False              # preprocess_samples gives several rows per sample (windows)
    bucket_by_length: bool = True              # training batches grouped by length
    full_training_batches: bool = False        # training drops a last, smaller batch (in-batch negatives)
    self_supervised: bool = False              # preprocess_samples makes the targets from the inputs
    #: :meth:`packed_serving_fn` cuts the batch (:meth:`trim`); False where packed outputs are per position
    trim_packed_serving: bool = True
    _config_args: tuple = ()                   # constructor arguments saved in get_config, in order

    # ------------------------------------------------------------------ construction
    def _set_parts(self, backbone: BertBackbone, preprocessor):
        # the task computes as its backbone does (its heads take the backbone's policy too), whatever the
        # process-global policy: a copy made from the config with another backbone dtype follows it
        self.dtype_policy = backbone.dtype_policy
        self.backbone = backbone
        self._pending_compile = None
        self._serving_function = None
        self.preprocessor = preprocessor

    @property
    def preprocessor(self) -> BertPreprocessor | None:
        """The tokenizer + packer of raw strings (None: the task takes packed inputs only)."""
        return self._preprocessor

    @preprocessor.setter
    def preprocessor(self, value):
        self._preprocessor = check_preprocessor(value, self.backbone)
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
        # the layer's own graph, called as a TF function: inside tf.data on every Keras backend
        return pre.call(texts[0] if len(texts) == 1 else tuple(texts))

    def postprocess(self, outputs) -> dict:
        """Model outputs -> dict of named tensors (pure TF)."""
        return outputs if isinstance(outputs, dict) else {"outputs": outputs}

    trim = staticmethod(pipeline.trim)

    def packed_serving_fn(self, packed: Mapping) -> dict:
        if self.trim_packed_serving:
            packed = self.trim(packed)
        return self.postprocess(self({k: packed[k] for k in self.packed_input_spec()}, training=False))

    def serving_fn(self, inputs: Mapping) -> dict:
        return self.packed_serving_fn(self.preprocess(inputs))

    def _serving(self):
        # one trace for every batch size and length (serving_fn cuts each batch itself); no AutoGraph
        if self._serving_function is None:
            self._serving_function = tf.function(self.serving_fn, input_signature=[self.serving_input_spec()],
                                                 autograph=False)
        return self._serving_function

    # ------------------------------------------------------------------ what the pipeline reads
    def from_records(self, x):
        """Typed in-memory examples -> ``(inputs as columns, targets they carry or None)``; None when ``x`` is not
        such examples (the default: the task reads only columns of strings)."""
        return None

    def encode_targets(self, y):
        """Targets as given by a user -> the numpy array the loss takes (subclasses map label names)."""
        return np.asarray(y)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """THE raw-data hook, mapped over batches of raw samples in tf.data: ``x`` {name: string [b]} (+ encoded
        targets, + weights) -> ``(packed, y, sample_weight)`` as ``keras.utils.pack_x_y_sample_weight`` packs
        them, the packed batch cut to its longest row."""
        return keras.utils.pack_x_y_sample_weight(self.trim(self.preprocess(x)), y, sample_weight)

    def make_dataset(self, x, y=None, sample_weight=None, *, batch_size: int = 32, training: bool = False,
                     seed: int = 0) -> tf.data.Dataset:
        """Raw inputs (+ targets, + weights) -> ``tf.data.Dataset`` of ``(packed, y[, w])`` batches (or
        ``packed``): :func:`keras_bert_zoo.tasks.base.pipeline.make_dataset`."""
        return pipeline.make_dataset(self, x, y, sample_weight, batch_size=batch_size, training=training, seed=seed)

    def _raw_dataset(self, x, y, sample_weight, batch_size, training):
        if pipeline.is_raw(x):
            return self.make_dataset(x, y, sample_weight, batch_size=batch_size, training=training)

    # ------------------------------------------------------------------ recipe
    def default_loss(self):
        """The task's default loss (for ``compile()``)."""
        raise NotImplementedError(type(self).__name__)

    def default_metrics(self):
        return []

    def default_weighted_metrics(self):
        return None

    def compile(self, optimizer="auto", loss="auto", metrics="auto", *, total_steps: int | None = None,
                weighted_metrics="auto", **kwargs):
        """``keras.Model.compile`` with the recipe's defaults (``"auto"``). ``kwargs`` are the
        :class:`~keras_bert_zoo.train.recipe.Recipe` fields (they apply only when ``optimizer="auto"``) and
        ``keras.Model.compile``'s own (``jit_compile``, ``steps_per_execution``, ...). ``total_steps`` (optimizer
        updates) sizes the schedule; when None, the first ``fit`` sizes it from its epochs and batches."""
        keras_args = dict(kwargs)
        recipe = Recipe.pop_from(keras_args)
        self._pending_compile = None
        if optimizer == "auto":
            optimizer = make_optimizer(total_steps=total_steps or 1, num_layers=self.backbone.config.num_layers,
                                       model=self, **recipe.as_dict())
            pending = None if total_steps is not None else dict(
                keras_args, loss=loss, metrics=metrics, weighted_metrics=weighted_metrics, **recipe.as_dict())
        elif recipe.changed() or total_steps is not None:
            raise TaskError(f"{recipe.changed() or ['total_steps']} configure the default optimizer and do not "
                            f"apply with optimizer={optimizer!r}")
        else:
            pending = None
        super().compile(optimizer=optimizer, loss=self.default_loss() if loss == "auto" else loss,
                        metrics=self.default_metrics() if metrics == "auto" else metrics,
                        weighted_metrics=(self.default_weighted_metrics() if weighted_metrics == "auto"
                                          else weighted_metrics), **keras_args)
        self._pending_compile = pending

    def get_compile_config(self):
        # a loaded task is compiled again by ``compile()`` (or the first ``fit``) with the recipe it needs
        return None

    def _compile_for_fit(self, data, epochs, steps_per_epoch):
        """Compile with the default recipe, its schedule sized to this fit (once; before any update)."""
        args = {} if not self.compiled else self._pending_compile
        if args is None:
            return
        steps = pipeline.batches_per_epoch(data, steps_per_epoch)
        if steps is None:
            logger.warning("the number of batches per epoch is unknown: the default schedule keeps the peak "
                           "learning rate (no warm-up, no decay); pass compile(total_steps=...) to size it")
            self.compile(total_steps=10**9, **dict(args, warmup_ratio=0.0))
            return
        recipe = Recipe(**{k: v for k, v in args.items() if k in RECIPE_FIELDS})
        self.compile(total_steps=recipe.updates(steps, epochs), **args)

    # ------------------------------------------------------------------ Keras API on raw data
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """``keras.Model.fit`` that also takes raw data (module docstring); class_weight keys: ids or label names."""
        class_weight = pipeline.class_weight_ids(self, class_weight)
        ds = self._raw_dataset(x, y, sample_weight, batch_size, training=bool(shuffle))
        if ds is not None:
            if validation_split:
                raise TaskError("validation_split does not apply to raw inputs: pass validation_data=(x, y)")
            x, y, sample_weight, batch_size = ds, None, None, None
        if validation_data is not None:
            vds = self._raw_dataset(*pipeline.validation_parts(validation_data),
                                    batch_size if validation_batch_size is None else validation_batch_size, False)
            validation_data = validation_data if vds is None else vds
        self._compile_for_fit(x, epochs - initial_epoch, steps_per_epoch)
        build_before_fit(self)
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
        ds = self._raw_dataset(x, y, sample_weight, batch_size, training=False)
        if ds is not None:
            x, y, sample_weight, batch_size = ds, None, None, None
        return super().evaluate(x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight,
                                steps=steps, callbacks=callbacks, return_dict=return_dict, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Raw strings -> dict of numpy arrays (the serving outputs); packed inputs -> the model's outputs."""
        if not pipeline.is_raw(x):
            return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)
        if keras.backend.backend() != "tensorflow":
            raise TaskError("predict on raw strings needs the TensorFlow backend; on other backends predict "
                            "on packed inputs (task.make_dataset(x))")
        feeds = pipeline.serving_feeds(self, x, batch_size)
        # a graph pays for its tracing only over several batches; a few batches run eagerly
        fn = self._serving() if len(feeds) > 2 else self.serving_fn
        return concat_batches([{k: np.asarray(v) for k, v in fn(feed).items()} for feed in feeds],
                              self.output_padding)

    def predict_on_batch(self, x):
        if not pipeline.is_raw(x):
            return super().predict_on_batch(x)
        feed = {k: tf.constant(v, tf.string) for k, v in pipeline.columns(self, x).items()}
        return {k: np.asarray(v) for k, v in self.serving_fn(feed).items()}

    def _batch(self, x, y, sample_weight):
        if not self.compiled:
            self.compile()
        if pipeline.is_raw(x) and not isinstance(x, tf.data.Dataset):
            return keras.utils.unpack_x_y_sample_weight(pipeline.one_batch(self, x, y, sample_weight))
        return x, y, sample_weight

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        x, y, sample_weight = self._batch(x, y, sample_weight)
        return super().train_on_batch(x, y, sample_weight=sample_weight, return_dict=return_dict,
                                      class_weight=pipeline.class_weight_ids(self, class_weight))

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        x, y, sample_weight = self._batch(x, y, sample_weight)
        return super().test_on_batch(x, y, sample_weight=sample_weight, return_dict=return_dict)

    # ------------------------------------------------------------------ Python-side results
    def decode(self, outputs: Mapping[str, np.ndarray]) -> list[dict]:
        """Numpy outputs of ``predict`` (raw inputs) -> one JSON-serialisable dict per example."""
        return [{k: jsonable(v[i]) for k, v in outputs.items()} for i in range(len(next(iter(outputs.values()))))]

    def predict_records(self, records: Sequence[Mapping], batch_size: int = 32) -> list[dict]:
        """JSON-style records ({input name: string}) -> one decoded dict each (the CLI's ``predict``)."""
        x = pipeline.record_columns(self, records)
        return self.decode(self.predict(x, batch_size=batch_size, verbose=0)) if records else []

    # ------------------------------------------------------------------ export
    def export(self, filepath, format: str = "saved_model", *, sample_inputs=None, quantize: str = "none",
               overwrite: bool = False, **export_args):
        """Verified raw-strings-in export of :meth:`serving_copy` at ``filepath`` (as ``keras.Model.export``): a
        SavedModel dir (``"saved_model"``/``"tf_saved_model"``), a ``.tflite`` (``"tflite"``/``"litert"``;
        ``quantize``) or packed-ids ``.onnx`` file; ``overwrite`` or refused. ``sample_inputs`` drive the checks;
        ``export_args``: :func:`keras_bert_zoo.export.export_task` (TF Serving dirs: ``export.next_version_dir``)."""
        from keras_bert_zoo import export as export_lib

        self._require_preprocessor()
        feed = pipeline.columns(self, sample_inputs if sample_inputs is not None else self.default_samples())
        return export_lib.export_task(self.serving_copy(), filepath, format=format, feed=feed, quantize=quantize,
                                      overwrite=overwrite, **export_args)

    def default_samples(self):
        """A few raw inputs for export verification when the caller gives none."""
        if len(self.text_inputs) == 1:
            return list(_SAMPLES)
        return {name: _SAMPLES[i:] + _SAMPLES[:i] for i, name in enumerate(self.text_inputs)}

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r} task_type={self.task_type!r}>"
