"""Sentence embeddings: mean or [CLS] pooling of the backbone's sequence output, optionally L2-normalised.

``mean`` pooling averages the token vectors where ``padding_mask`` is 1 ([CLS] and [SEP] included, as
sentence-transformers does), ``cls`` takes the first token's vector (before the pooler's dense+tanh).

Fine-tuning with ``model.fit`` uses (anchor, positive) text pairs and in-batch negatives: the cosine
similarities between every anchor and every positive of the batch, times ``scale`` (20), are the logits of a
softmax cross-entropy whose target for anchor i is positive i (the "multiple negatives ranking" loss). The
training model shares the backbone and pooling with :attr:`SentenceEmbedder.model`. Pair files: CSV/TSV with
columns ``anchor`` and ``positive`` (names configurable).

Serving: ``{"text": [B]}`` -> ``embeddings`` float32 [B, D].
"""

from __future__ import annotations

import csv
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_bert_zoo.tasks import register_task
from keras_bert_zoo.tasks.base import BertTask, TaskError

__all__ = ["SentenceEmbedder", "EmbeddingPooling", "build_embedding_model", "read_pairs"]


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class EmbeddingPooling(keras.layers.Layer):
    """[B, T, D] sequence + [B, T] padding mask -> [B, D] (``mode`` "mean" or "cls"; ``normalize``: L2)."""

    def __init__(self, mode="mean", normalize=True, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "cls"):
            raise ValueError(f"pooling mode must be 'mean' or 'cls', got {mode!r}")
        self.mode = mode
        self.normalize = normalize

    def call(self, sequence, padding_mask):
        sequence = ops.cast(sequence, "float32")
        if self.mode == "cls":
            pooled = sequence[:, 0, :]
        else:
            m = ops.cast(padding_mask, "float32")[:, :, None]
            pooled = ops.sum(sequence * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1e-9)
        if self.normalize:
            pooled = pooled / ops.maximum(ops.sqrt(ops.sum(pooled * pooled, axis=-1, keepdims=True)), 1e-12)
        return pooled

    def compute_output_shape(self, sequence_shape, padding_mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, normalize=self.normalize)
        return config


def build_embedding_model(backbone, pooling="mean", normalize=True):
    """Functional keras.Model: packed inputs -> embeddings [B, D]."""
    from keras_bert_zoo.models.backbone import INPUT_KEYS

    inputs = {k: keras.Input(shape=(None,), dtype="int32", name=k) for k in INPUT_KEYS}
    seq = backbone(inputs)["sequence_output"]
    out = EmbeddingPooling(pooling, normalize, name="pooling")(seq, inputs["padding_mask"])
    return keras.Model(inputs, out, name="sentence_embedder")


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class _InBatchSimilarity(keras.layers.Layer):
    """[B, D] anchors, [B, D] positives -> scale * cosine similarity [B, B]."""

    def __init__(self, scale=20.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, a, p):
        a = a / ops.maximum(ops.sqrt(ops.sum(a * a, axis=-1, keepdims=True)), 1e-12)
        p = p / ops.maximum(ops.sqrt(ops.sum(p * p, axis=-1, keepdims=True)), 1e-12)
        return self.scale * ops.matmul(a, ops.transpose(p))

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale)
        return config


def read_pairs(path, anchor_column="anchor", positive_column="positive") -> tuple[list, list]:
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"{path}: no such file")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        header = reader.fieldnames or []
        missing = [c for c in (anchor_column, positive_column) if c not in header]
        if missing:
            raise TaskError(f"{path}:1: missing column(s) {missing}; header is {header}")
        anchors, positives = [], []
        for row in reader:
            if row.get(anchor_column) is None or row.get(positive_column) is None:
                raise TaskError(f"{path}:{reader.line_num}: too few fields")
            anchors.append(row[anchor_column])
            positives.append(row[positive_column])
    if not anchors:
        raise TaskError(f"{path}: no rows")
    return anchors, positives


@register_task
class SentenceEmbedder(BertTask):
    """Args (beyond :class:`BertTask`'s): ``pooling`` ("mean" | "cls"), ``normalize`` (L2, True),
    ``scale`` of the in-batch similarity loss (20)."""

    task_type = "embed"
    text_inputs = ("text",)

    def __init__(self, model, tokenizer, sequence_length=128, labels=None, truncate="longest_first",
                 preprocessor=None, pooling=None, normalize=None, scale=20.0):
        pool = model.get_layer("pooling") if any(l.name == "pooling" for l in model.layers) else None
        if pool is None:
            raise TaskError("SentenceEmbedder needs a model from build_embedding_model (no 'pooling' layer)")
        super().__init__(model, tokenizer, sequence_length, None, truncate, preprocessor)
        self.pooling = pool.mode
        self.normalize = pool.normalize
        self.scale = float(scale)
        self._train_model = None

    def get_config(self):
        return {"pooling": self.pooling, "normalize": self.normalize, "scale": self.scale}

    @classmethod
    def build(cls, backbone, tokenizer, sequence_length=128, pooling="mean", normalize=True, scale=20.0):
        return cls(build_embedding_model(backbone, pooling, normalize), tokenizer, sequence_length=sequence_length,
                   scale=scale)

    @classmethod
    def from_train_file(cls, path, backbone, tokenizer, *, sequence_length=128, pooling="mean", normalize=True,
                        scale=20.0, anchor_column="anchor", positive_column="positive", **options):
        read_pairs(path, anchor_column, positive_column)
        return cls.build(backbone, tokenizer, sequence_length, pooling, normalize, scale)

    @property
    def train_model(self):
        """keras.Model {"anchor": packed, "positive": packed} -> similarity logits [B, B] (shares weights)."""
        if self._train_model is None:
            from keras_bert_zoo.models.backbone import INPUT_KEYS

            inputs = {side: {k: keras.Input(shape=(None,), dtype="int32", name=f"{side}_{k}") for k in INPUT_KEYS}
                      for side in ("anchor", "positive")}
            sim = _InBatchSimilarity(self.scale, name="similarity")(self.model(inputs["anchor"]),
                                                                    self.model(inputs["positive"]))
            self._train_model = keras.Model(inputs, sim, name="embedding_trainer")
        return self._train_model

    def compile(self, optimizer="adam", **kwargs):
        kwargs.setdefault("loss", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        kwargs.setdefault("metrics", [keras.metrics.SparseCategoricalAccuracy(name="in_batch_accuracy")])
        self.train_model.compile(optimizer=optimizer, **kwargs)
        return self.train_model

    def postprocess(self, outputs):
        return {"embeddings": outputs}

    def decode(self, outputs):
        return [{"embedding": [float(x) for x in row]} for row in outputs["embeddings"]]

    def embed(self, texts, batch_size=32) -> np.ndarray:
        """Python strings -> float32 [N, D] numpy array."""
        fn = tf.function(self.serving_fn, reduce_retracing=True)
        chunks = [np.asarray(fn({"text": tf.constant(list(texts[i:i + batch_size]))})["embeddings"])
                  for i in range(0, len(texts), batch_size)]
        return np.concatenate(chunks, 0) if chunks else np.zeros([0, self.model.output_shape[-1]], np.float32)

    # ------------------------------------------------------------------ data
    def dataset_from_pairs(self, anchors, positives, *, batch_size=16, training=False, seed=0):
        ds = tf.data.Dataset.from_tensor_slices((tf.constant(anchors), tf.constant(positives)))
        if training:
            ds = ds.shuffle(len(anchors), seed=seed, reshuffle_each_iteration=True)

        def pack(a, p):
            x = {"anchor": self.preprocessor(a), "positive": self.preprocessor(p)}
            return x, tf.range(tf.shape(a)[0])

        return ds.batch(batch_size, drop_remainder=training).map(pack).prefetch(tf.data.AUTOTUNE)

    def dataset_from_file(self, path, *, batch_size=16, training=False, anchor_column="anchor",
                          positive_column="positive", **options):
        a, p = read_pairs(path, anchor_column, positive_column)
        return self.dataset_from_pairs(a, p, batch_size=batch_size, training=training)

    def evaluate_file(self, path, *, out_dir=None, batch_size=16, anchor_column="anchor", positive_column="positive",
                      **options):
        """Retrieval over the file: each anchor's nearest positive (cosine) among all positives.
        Returns top-1 accuracy, mean reciprocal rank, and mean cosine of the true pairs."""
        a, p = read_pairs(path, anchor_column, positive_column)
        ea, ep = self.embed(a, batch_size), self.embed(p, batch_size)
        ea = ea / np.maximum(np.linalg.norm(ea, axis=1, keepdims=True), 1e-12)
        ep = ep / np.maximum(np.linalg.norm(ep, axis=1, keepdims=True), 1e-12)
        sim = ea @ ep.T
        true = np.diag(sim)
        rank = 1 + (sim > true[:, None]).sum(axis=1)
        return {"top1_accuracy": float((rank == 1).mean()), "mrr": float((1.0 / rank).mean()),
                "mean_pair_cosine": float(true.mean()), "num_pairs": len(a)}
