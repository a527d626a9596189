"""Sentence embeddings as a Keras model: mean or [CLS] pooling of the sequence output, optionally L2-normalised.

    emb = TextEmbedder.from_preset("minilm_l6_h384_uncased", sequence_length=128)
    vectors = emb.predict(["a sentence", "another one"])["embeddings"]          # [2, 384]
    emb.fit({"anchor": questions, "positive": answers}, epochs=1)              # in-batch negatives

``mean`` pooling averages the token vectors where ``padding_mask`` is 1 ([CLS] and [SEP] included, as
sentence-transformers does); ``cls`` takes the first token's vector (before the pooler's dense+tanh).

Training uses (anchor, positive) text pairs and in-batch negatives ("multiple negatives ranking"): each batch
packs the anchors and then the positives into one ``[2b, T]`` batch; the loss splits the embeddings in halves
and takes the softmax cross-entropy of ``scale`` x cosine similarity of every anchor with every positive,
the target of anchor i being positive i. Serving: ``{"text": [B]}`` -> ``embeddings`` float32 [B, D].
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_bert_zoo.tasks.base import Task, packed_inputs

__all__ = ["TextEmbedder", "EmbeddingPooling", "InBatchNegativesLoss"]


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class EmbeddingPooling(keras.layers.Layer):
    """sequence [B, T, D] + padding_mask [B, T] -> [B, D] (``mean`` over real tokens or ``cls``), L2-normalised
    when ``normalize``."""

    def __init__(self, mode="mean", normalize=True, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {mode!r}")
        self.mode = mode
        self.normalize = bool(normalize)

    def call(self, sequence, padding_mask):
        sequence = ops.cast(sequence, "float32")
        if self.mode == "cls":
            out = sequence[:, 0]
        else:
            mask = ops.cast(padding_mask, "float32")[..., None]
            out = ops.sum(sequence * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1e-9)
        if self.normalize:
            out = out / ops.maximum(ops.sqrt(ops.sum(out * out, axis=-1, keepdims=True)), 1e-12)
        return out

    def compute_output_shape(self, sequence_shape, padding_mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, normalize=self.normalize)
        return config


def _similarities(y_pred, scale):
    """[2b, D] embeddings (anchors then positives) -> scale * cosine [b, b]."""
    y_pred = ops.cast(y_pred, "float32")
    half = ops.shape(y_pred)[0] // 2
    a, p = y_pred[:half], y_pred[half:]
    a = a / ops.maximum(ops.sqrt(ops.sum(a * a, axis=-1, keepdims=True)), 1e-12)
    p = p / ops.maximum(ops.sqrt(ops.sum(p * p, axis=-1, keepdims=True)), 1e-12)
    return scale * ops.matmul(a, ops.transpose(p))


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class InBatchNegativesLoss(keras.losses.Loss):
    """Multiple-negatives ranking loss on a batch of anchors followed by their positives (targets unused)."""

    def __init__(self, scale=20.0, name="in_batch_negatives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = float(scale)

    def call(self, y_true, y_pred):
        sim = _similarities(y_pred, self.scale)
        target = ops.arange(ops.shape(sim)[0])
        return keras.losses.sparse_categorical_crossentropy(target, sim, from_logits=True)

    def get_config(self):
        return dict(super().get_config(), scale=self.scale)


def _in_batch_accuracy(y_true, y_pred):
    sim = _similarities(y_pred, 1.0)
    return ops.cast(ops.equal(ops.argmax(sim, axis=-1), ops.arange(ops.shape(sim)[0])), "float32")


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TextEmbedder(Task):
    """Sentence-embedding task.

    Args:
        backbone, preprocessor: as every task.
        pooling: ``"mean"`` or ``"cls"``.
        normalize: L2-normalise the embeddings.
        scale: similarity scale of the in-batch-negatives loss (20, as sentence-transformers).
    """

    task_type = "embed"
    training_inputs = ("anchor", "positive")
    bucket_by_length = False
    full_training_batches = True       # a last batch of one pair has no negatives
    self_supervised = True
    _config_args = ("pooling", "normalize", "scale")

    def __init__(self, backbone, *, preprocessor=None, pooling="mean", normalize=True, scale=20.0, name=None,
                 trainable=True):
        inputs = packed_inputs()
        seq = backbone(inputs)["sequence_output"]
        out = EmbeddingPooling(pooling, normalize, name="pooling", dtype=backbone.dtype_policy)(seq, inputs["padding_mask"])
        super().__init__(inputs=inputs, outputs=out, name=name or "text_embedder", trainable=trainable)
        self._set_parts(backbone, preprocessor)
        self.pooling = pooling
        self.normalize = bool(normalize)
        self.scale = float(scale)
        self.labels = None

    def default_loss(self):
        return InBatchNegativesLoss(self.scale)

    def default_metrics(self):
        return [keras.metrics.MeanMetricWrapper(_in_batch_accuracy, name="in_batch_accuracy")]

    # ------------------------------------------------------------------ training data: (anchor, positive) pairs
    def preprocess_samples(self, x, y=None, sample_weight=None):
        """A batch of ``{"anchor", "positive"}`` pairs -> packed ``[anchors; positives]`` ([2b, T]) with dummy
        targets (the in-batch-negatives loss pairs anchor i with positive i); plain texts -> packed texts."""
        if "anchor" not in x:
            return super().preprocess_samples(x, y, sample_weight)
        packed = self.trim(self._require_preprocessor().call(tf.concat([x["anchor"], x["positive"]], axis=0)))
        return packed, tf.zeros([2 * tf.shape(x["anchor"])[0]], tf.int32)

    # ------------------------------------------------------------------ serving
    def postprocess(self, outputs):
        return {"embeddings": outputs}

    def decode(self, outputs):
        return [{"embedding": [float(x) for x in row]} for row in outputs["embeddings"]]


# ------------------------------------------------------------------ the task table (keras_bert_zoo.tasks.registry)
from keras_bert_zoo.data import task_files as _files  # noqa: E402
from keras_bert_zoo.tasks.registry import LegacyFormat, TaskSpec, register_task  # noqa: E402

_EVAL = "keras_bert_zoo.tasks.evaluation:"   # the built-in evaluators


def _legacy_pooling(meta, cfg):
    """The pooling of a 0.1 embedder: its EmbeddingPooling layer's mode and normalisation."""
    pooling = next(layer for layer in cfg["layers"] if layer["class_name"] == "EmbeddingPooling")["config"]
    return {"pooling": pooling["mode"], "normalize": pooling["normalize"]}


register_task(TaskSpec(
    name="embed", task_class=TextEmbedder, reader=_files.pairs_reader,
    file_options=("anchor_column", "positive_column"),
    evaluator=_EVAL + "evaluate_embedder", legacy=LegacyFormat("Functional", ("scale",), _legacy_pooling)))
