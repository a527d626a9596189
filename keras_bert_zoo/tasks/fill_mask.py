"""Masked-LM fill-in: the top-k tokens for each ``[MASK]`` of a raw string.

The text is split on the literal mask string (``[MASK]`` by default) before tokenization, so the mask never
depends on how the tokenizer treats bracketed words; the pieces are tokenized and re-joined with the mask id
and packed by the task's :class:`~keras_bert_zoo.text.BertPreprocessor` (masks beyond the sequence length are
dropped and not reported). :class:`~keras_bert_zoo.models.tasks.BertMaskedLM` (with ``use_mask_positions``)
computes logits only at the masks.

Fine-tuning (``model.fit``): plain-text files, one text per line; tokens are masked with the pretraining
module's masking (:func:`keras_bert_zoo.data.pretraining.mask_batch`: 15% of tokens, 80% ``[MASK]`` / 10% random
/ 10% kept), deterministic for a given seed and batch index.

Serving outputs: ``token_ids`` / ``tokens`` / ``scores`` (softmax probabilities) [B, P, k] for the P masks
(padded; ``num_masks`` [B] says how many are real).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_bert_zoo.tasks import register_task
from keras_bert_zoo.tasks.base import BertTask, TaskError, tokenizer_vocabulary

__all__ = ["FillMask", "read_text_lines"]


def read_text_lines(path) -> list[str]:
    """Non-empty lines of a UTF-8 text file (invalid bytes replaced)."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"{path}: no such file")
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    if not lines:
        raise TaskError(f"{path}: no text lines (empty file?)")
    return lines


@register_task
class FillMask(BertTask):
    """Args (beyond :class:`BertTask`'s): ``top_k`` (5), ``mask_token`` ("[MASK]"), ``masked_lm_prob`` (0.15)
    and ``seed`` for fine-tuning data."""

    task_type = "fill_mask"
    text_inputs = ("text",)

    def __init__(self, model, tokenizer, sequence_length=128, labels=None, truncate="longest_first",
                 preprocessor=None, top_k=5, mask_token="[MASK]", masked_lm_prob=0.15, seed=0):
        model = self._with_mask_positions(model)
        super().__init__(model, tokenizer, sequence_length, None, truncate, preprocessor)
        self.top_k = int(top_k)
        self.mask_token = mask_token
        self.masked_lm_prob = float(masked_lm_prob)
        self.seed = int(seed)
        vocab = tokenizer_vocabulary(tokenizer)
        if mask_token not in vocab:
            raise TaskError(f"the vocabulary has no {mask_token!r} token")
        self.mask_id = vocab.index(mask_token)
        self._vocab = tf.constant(vocab)

    @staticmethod
    def _with_mask_positions(model):
        """A BertMaskedLM without ``use_mask_positions`` (e.g. from a converter) is rebuilt with it, sharing the
        backbone and copying the MLM head's weights."""
        from keras_bert_zoo.models.tasks import BertMaskedLM

        if not isinstance(model, BertMaskedLM):
            raise TaskError(f"fill_mask needs a BertMaskedLM, got {type(model).__name__}")
        if model.use_mask_positions:
            return model
        new = BertMaskedLM(model.backbone, use_mask_positions=True, name=model.name)
        new.mlm_head.set_weights(model.mlm_head.get_weights())
        return new

    def get_config(self):
        return {"top_k": self.top_k, "mask_token": self.mask_token, "masked_lm_prob": self.masked_lm_prob,
                "seed": self.seed}

    @classmethod
    def build(cls, backbone, tokenizer, sequence_length=128, **config):
        from keras_bert_zoo.models.tasks import BertMaskedLM

        return cls(BertMaskedLM(backbone, use_mask_positions=True), tokenizer, sequence_length=sequence_length,
                   **config)

    @classmethod
    def from_train_file(cls, path, backbone, tokenizer, *, sequence_length=128, top_k=5, masked_lm_prob=0.15,
                        seed=0, **options):
        """Note: the MLM head starts from scratch here; to fine-tune a pretrained head, wrap a converted
        ``BertMaskedLM`` with ``FillMask(model, tokenizer, ...)``."""
        read_text_lines(path)
        return cls.build(backbone, tokenizer, sequence_length, top_k=top_k, masked_lm_prob=masked_lm_prob,
                         seed=seed)

    def compile(self, optimizer="adam", **kwargs):
        import keras

        kwargs.setdefault("loss", keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"))
        kwargs.setdefault("weighted_metrics", [keras.metrics.SparseCategoricalAccuracy(name="mlm_accuracy")])
        self.model.compile(optimizer=optimizer, **kwargs)
        return self.model

    # ------------------------------------------------------------------ graph pieces
    def packed_input_spec(self):
        spec = super().packed_input_spec()
        spec["mask_positions"] = tf.TensorSpec([None, None], tf.int32, name="mask_positions")
        return spec

    def preprocess(self, inputs):
        texts = tf.convert_to_tensor(inputs["text"] if isinstance(inputs, dict) else inputs, tf.string)
        pieces = tf.strings.split(texts, sep=self.mask_token)                       # [B, (p)]
        ids = tf.cast(self.tokenizer.tokenize(pieces.flat_values), tf.int32)         # [pieces, (n)]
        is_last = tf.equal(tf.ragged.range(pieces.row_lengths()), pieces.row_lengths()[:, None] - 1).flat_values
        n_mask = tf.where(is_last, 0, 1)
        masks = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(n_mask)], self.mask_id),
                                                 tf.cast(n_mask, tf.int64))
        joined = tf.concat([ids, tf.cast(masks, tf.int32)], axis=1)
        per_text = tf.RaggedTensor.from_row_lengths(joined, pieces.row_lengths()).merge_dims(1, 2)
        packed = self.preprocessor.pack_ids(per_text)
        is_mask = tf.equal(packed["token_ids"], self.mask_id)
        positions = tf.ragged.boolean_mask(tf.broadcast_to(tf.range(tf.shape(is_mask)[1]), tf.shape(is_mask)),
                                           is_mask)
        dense = positions.to_tensor(default_value=0)
        dense = tf.pad(dense, [[0, 0], [0, tf.maximum(1 - tf.shape(dense)[1], 0)]])
        packed = dict(packed)
        packed["mask_positions"] = dense
        packed["num_masks"] = tf.cast(positions.row_lengths(), tf.int32)
        return packed

    def packed_serving_fn(self, packed):
        inputs = {k: packed[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
        out = self.postprocess(self.model(inputs, training=False))
        if "num_masks" in packed:
            out["num_masks"] = packed["num_masks"]
        return out

    def postprocess(self, outputs):
        probs = tf.nn.softmax(outputs, axis=-1)
        scores, ids = tf.math.top_k(probs, k=self.top_k)
        return {"token_ids": ids, "tokens": tf.gather(self._vocab, ids), "scores": scores}

    def decode(self, outputs):
        res = []
        for b in range(len(outputs["num_masks"])):
            masks = []
            for p in range(int(outputs["num_masks"][b])):
                masks.append([{"token": _s(t), "id": int(i), "score": float(s)}
                              for t, i, s in zip(outputs["tokens"][b][p], outputs["token_ids"][b][p],
                                                 outputs["scores"][b][p])])
            res.append({"masks": masks})
        return res

    # ------------------------------------------------------------------ data
    def dataset_from_texts(self, texts, *, batch_size=16, training=False, seed=None):
        from keras_bert_zoo.data.pretraining import PretrainingDataConfig, TokenIds, mask_batch

        seed = self.seed if seed is None else seed
        L = self.sequence_length
        max_pred = max(1, int(round(L * self.masked_lm_prob)))
        config = PretrainingDataConfig(max_seq_length=L, max_predictions_per_seq=max_pred,
                                       masked_lm_prob=self.masked_lm_prob)
        ids = TokenIds.from_vocabulary(tokenizer_vocabulary(self.tokenizer), mask_token=self.mask_token)
        continuation = tf.constant(ids.continuation)
        base = tf.constant([seed, 0], tf.int64)

        def featurize(index, batch):
            packed = self.preprocessor(batch)
            lengths = tf.reduce_sum(packed["padding_mask"], axis=1)
            rag = tf.RaggedTensor.from_tensor(packed["token_ids"], lengths=lengths)
            starts = rag.with_flat_values(tf.logical_not(tf.gather(continuation, rag.flat_values)))
            s = tf.random.experimental.stateless_fold_in(base, index)
            masked, positions, mask_ids = mask_batch(rag, starts, s, config, ids)
            x = {"token_ids": masked.to_tensor(ids.pad_id, shape=[None, L]),
                 "segment_ids": packed["segment_ids"], "padding_mask": packed["padding_mask"],
                 "mask_positions": positions.to_tensor(0, shape=[None, max_pred])}
            y = mask_ids.to_tensor(0, shape=[None, max_pred])
            w = tf.ones_like(mask_ids, tf.float32).to_tensor(0.0, shape=[None, max_pred])
            return x, y, w

        ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
        if training:
            ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).enumerate().map(featurize, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    def dataset_from_file(self, path, *, batch_size=16, training=False, **options):
        return self.dataset_from_texts(read_text_lines(path), batch_size=batch_size, training=training)

    def evaluate_file(self, path, *, out_dir=None, batch_size=16, **options):
        """Masked-LM loss, accuracy and perplexity on the file's lines (masks drawn with the task's seed)."""
        if self.model.optimizer is None or getattr(self.model, "loss", None) is None:
            self.compile()
        ds = self.dataset_from_file(path, batch_size=batch_size, training=False)
        res = self.model.evaluate(ds, return_dict=True, verbose=0)
        res = {k: float(v) for k, v in res.items()}
        res["perplexity"] = float(np.exp(min(res["loss"], 50.0)))
        return res


def _s(v):
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
