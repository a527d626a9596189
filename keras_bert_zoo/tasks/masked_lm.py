"""Masked language modelling as a Keras model: fill-mask predictions and MLM fine-tuning on raw strings.

    mlm = MaskedLM.from_preset("minilm_l6_h384_uncased", sequence_length=64, top_k=5)
    mlm.fit(texts, epochs=1)                       # masks drawn in tf.data (BERT's 80/10/10 rule)
    mlm.predict(["paris is the [MASK] of france ."])["tokens"]       # [B, P, top_k]

Graph (HF ``BertForMaskedLM``): the MLM head (layer ``"mlm_head"``, decoder tied to the token embedding) on the
sequence output; with ``use_mask_positions`` (default) the model also takes ``mask_positions`` int32 [B, P] and
computes logits only there ([B, P, V]); without, logits for every position ([B, T, V], what a converted HF
checkpoint is compared with).

Raw inputs: ``text`` with ``[MASK]`` written literally where a prediction is wanted: fill-mask tokenizes with
``special_tokens_in_strings=True`` (the ``[MASK]``, ``[SEP]``, ... written in a text become their ids, as in HF's
fill-mask pipeline; see :class:`~keras_bert_zoo.text.WordPieceTokenizer`). Serving outputs: ``token_ids`` / ``tokens`` /
``scores`` [B, P, top_k] and ``num_masks`` [B].
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_bert_zoo.layers.heads import MaskedLMHead
from keras_bert_zoo.models.backbone import INPUT_KEYS
from keras_bert_zoo.tasks.base import Task, TaskError, packed_inputs
from keras_bert_zoo.text.tokenizer import SPECIAL_TOKENS

__all__ = ["MaskedLM", "mlm_head"]


def mlm_head(backbone):
    """The masked-LM head of ``backbone`` (decoder tied to its token embedding)."""
    c = backbone.config
    return MaskedLMHead(c.vocab_size, c.hidden_size, token_embedding=backbone.token_embedding,
                        activation=c.activation, layer_norm_eps=c.layer_norm_eps,
                        initializer_range=c.initializer_range, name="mlm_head", dtype=backbone.dtype_policy)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class MaskedLM(Task):
    """Masked LM / fill-mask task.

    Args:
        backbone, preprocessor: as every task.
        use_mask_positions: take ``mask_positions`` [B, P] and compute logits there only.
        top_k: predictions per mask in the serving outputs.
        mask_token: the mask token of the vocabulary (one of the special tokens the tokenizer recognises in
            text: ``[MASK]`` for every BERT vocabulary).
        masked_lm_prob: fraction of tokens masked in ``fit`` data (at most ``round(T * prob)`` per sequence).
        seed: seed of the masks drawn for ``fit`` / ``evaluate`` data.
    """

    hf_architecture = "BertForMaskedLM"
    task_type = "fill_mask"
    output_padding = {"token_ids": -1, "tokens": b"", "scores": 0.0}
    bucket_by_length = False
    self_supervised = True
    _config_args = ("use_mask_positions", "top_k", "mask_token", "masked_lm_prob", "seed")

    def __init__(self, backbone, *, preprocessor=None, use_mask_positions=True, top_k=5, mask_token="[MASK]",
                 masked_lm_prob=0.15, seed=0, name=None, trainable=True):
        if not 0.0 < float(masked_lm_prob) <= 1.0:
            raise TaskError(f"masked_lm_prob must be in (0, 1], got {masked_lm_prob}")
        if mask_token not in SPECIAL_TOKENS:
            raise TaskError(f"mask_token must be one of the special tokens {list(SPECIAL_TOKENS)} (the tokenizer "
                            f"recognises only those written in text), got {mask_token!r}")
        inputs = packed_inputs(("mask_positions",) if use_mask_positions else ())
        seq = backbone({k: inputs[k] for k in INPUT_KEYS})["sequence_output"]
        head = mlm_head(backbone)
        logits = head(seq, mask_positions=inputs.get("mask_positions"))
        super().__init__(inputs=inputs, outputs=logits, name=name or "masked_lm", trainable=trainable)
        self._set_parts(backbone, preprocessor)
        self.mlm_head = head
        self.use_mask_positions = bool(use_mask_positions)
        self.top_k = int(top_k)
        self.mask_token = mask_token
        self.masked_lm_prob = float(masked_lm_prob)
        self.seed = int(seed)
        self.labels = None

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")

    def default_weighted_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="mlm_accuracy")]

    @property
    def mask_id(self) -> int:
        try:
            return int(self._require_preprocessor().tokenizer.token_to_id(self.mask_token))
        except KeyError:
            raise TaskError(f"the vocabulary has no {self.mask_token!r} token") from None

    # ------------------------------------------------------------------ serving graph
    def packed_input_spec(self):
        spec = super().packed_input_spec()
        spec["mask_positions"] = tf.TensorSpec([None, None], tf.int32, name="mask_positions")
        spec["num_masks"] = tf.TensorSpec([None], tf.int32, name="num_masks")
        return spec

    def preprocess(self, inputs):
        pre = self._require_preprocessor()
        texts = tf.convert_to_tensor(inputs["text"] if isinstance(inputs, dict) else inputs, tf.string)
        mask_id = self.mask_id
        # special tokens written in the text (the masks) map to their ids, as in HF's fill-mask pipeline
        per_text = pre.tokenizer.tokenize(texts, special_tokens_in_strings=True)
        packed = dict(pre.pack_ids(per_text))
        is_mask = tf.equal(packed["token_ids"], mask_id)
        positions = tf.ragged.boolean_mask(tf.broadcast_to(tf.range(tf.shape(is_mask)[1]), tf.shape(is_mask)),
                                           is_mask)
        dense = positions.to_tensor(default_value=0)
        packed["mask_positions"] = tf.pad(dense, [[0, 0], [0, tf.maximum(1 - tf.shape(dense)[1], 0)]])
        packed["num_masks"] = tf.cast(positions.row_lengths(), tf.int32)
        return packed

    def packed_serving_fn(self, packed):
        """packed ids + ``mask_positions`` [B, P] + ``num_masks`` [B] -> the serving outputs (the batch cut to
        its longest real sequence first, keeping every position ``mask_positions`` points at)."""
        packed = self.trim(packed)
        keys = INPUT_KEYS + (("mask_positions",) if self.use_mask_positions else ())
        logits = self({k: packed[k] for k in keys}, training=False)
        if not self.use_mask_positions:
            logits = tf.gather(logits, packed["mask_positions"], batch_dims=1)
        out = self.postprocess(logits)
        if "num_masks" in packed:
            # positions past a row's last mask are padding: fixed values, whatever the batch
            valid = tf.range(tf.shape(out["token_ids"])[1])[None, :] < packed["num_masks"][:, None]   # [B, P]
            valid = tf.broadcast_to(valid[:, :, None], tf.shape(out["token_ids"]))
            out = {"token_ids": tf.where(valid, out["token_ids"], -1), "tokens": tf.where(valid, out["tokens"], ""),
                   "scores": tf.where(valid, out["scores"], 0.0), "num_masks": packed["num_masks"]}
        return out

    def postprocess(self, outputs):
        vocab = tf.constant(self._require_preprocessor().tokenizer.vocabulary)
        scores, ids = tf.math.top_k(tf.nn.softmax(tf.cast(outputs, tf.float32), axis=-1), k=self.top_k)
        return {"token_ids": ids, "tokens": tf.gather(vocab, ids), "scores": scores}

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

    def default_samples(self):
        return [f"the capital of france is {self.mask_token} .", f"{self.mask_token} {self.mask_token} a",
                f"自然{self.mask_token}言处理", "no mask here"]

    # ------------------------------------------------------------------ training data
    def preprocess_samples(self, x, y=None, sample_weight=None):
        """A batch of raw texts -> (packed + ``mask_positions``, masked ids, weights): BERT masking (80/10/10)
        drawn in tf.data, stateless, from ``seed`` and the batch's texts (the same seed gives the same masks)."""
        from keras_bert_zoo.data.pretraining import PretrainingDataConfig, TokenIds, mask_batch

        if not self.use_mask_positions:
            raise TaskError("fill_mask training needs use_mask_positions=True")
        pre = self._require_preprocessor()
        L = pre.sequence_length
        max_pred = max(1, int(round(L * self.masked_lm_prob)))
        config = PretrainingDataConfig(max_seq_length=L, max_predictions_per_seq=max_pred,
                                       masked_lm_prob=self.masked_lm_prob)
        ids = TokenIds.from_vocabulary(pre.tokenizer.vocabulary, mask_token=self.mask_token)
        texts = x["text"] if isinstance(x, dict) else x
        packed = pre.call(texts)
        lengths = tf.reduce_sum(packed["padding_mask"], axis=1)
        rag = tf.RaggedTensor.from_tensor(packed["token_ids"], lengths=lengths)
        starts = rag.with_flat_values(tf.logical_not(tf.gather(tf.constant(ids.continuation), rag.flat_values)))
        content = tf.strings.to_hash_bucket_fast(tf.strings.reduce_join(texts, separator="\n"), 2 ** 31 - 1)
        seed = tf.random.experimental.stateless_fold_in(tf.constant([self.seed, 0], tf.int64), content)
        masked, positions, mask_ids = mask_batch(rag, starts, seed, config, ids)
        xb = self.trim({"token_ids": masked.to_tensor(ids.pad_id, shape=[None, L]),
                        "segment_ids": packed["segment_ids"], "padding_mask": packed["padding_mask"],
                        "mask_positions": positions.to_tensor(0, shape=[None, max_pred])})
        yb = mask_ids.to_tensor(0, shape=[None, max_pred])
        wb = tf.ones_like(mask_ids, tf.float32).to_tensor(0.0, shape=[None, max_pred])
        return xb, yb, wb


def _s(v):
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)


# ------------------------------------------------------------------ the task table (keras_bert_zoo.tasks.registry)
from keras_bert_zoo.data import task_files as _files  # noqa: E402
from keras_bert_zoo.tasks.registry import LegacyFormat, TaskSpec, register_task  # noqa: E402

_EVAL = "keras_bert_zoo.tasks.evaluation:"   # the built-in evaluators

register_task(TaskSpec(
    name="fill_mask", task_class=MaskedLM, hf_architecture="BertForMaskedLM", reader=_files.lines_reader,
    evaluator=_EVAL + "evaluate_masked_lm",
    legacy=LegacyFormat("BertMaskedLM", ("top_k", "mask_token", "masked_lm_prob", "seed"),
                        lambda meta, cfg: {"use_mask_positions": cfg.get("use_mask_positions", True)})))
