"""BertBackbone: the BERT encoder as a functional keras.Model with a dict contract.

Inputs (dict, int, shape [batch, seq], seq <= max_position_embeddings):
    token_ids     WordPiece ids, [CLS] first.
    segment_ids   0 for segment A, 1 for segment B.
    padding_mask  1 for real tokens, 0 for padding.
Outputs (dict, float32):
    sequence_output   [batch, seq, hidden]
    pooled_output     [batch, hidden]           tanh pooler on the first token
    attention_scores  [batch, layers, heads, seq, seq]   only when return_attention_scores=True

    from keras_bert_zoo import BertBackbone, BertConfig
    backbone = BertBackbone(BertConfig.from_name("bert_uncased_L-2_H-128"), dtype="mixed_bfloat16")
    out = backbone(backbone.dummy_inputs(batch_size=2, sequence_length=8))
    out["sequence_output"].shape, out["sequence_output"].dtype            # (2, 8, 128), float32
    backbone.save("backbone.keras")                   # keras.saving.load_model reloads it, policy included
    backbone.enable_lora(8)                           # LoRA on the attention query/value kernels (below)

LoRA (``enable_lora(rank, alpha=None, targets=("query", "value"))``): every target ``Dense`` of every encoder block
gets Keras's low-rank update ``kernel + (alpha / rank) * A @ B`` (B starts at zero: the model is unchanged until
trained) and every other backbone variable is frozen. The attention applies Q/K/V as one fused matmul of the three
layers' ``kernel`` — the effective (LoRA-updated) kernels — so the update takes part there too. The LoRA setting is
part of ``get_config`` (a saved model reloads with its adapters); ``Task.merged_lora()`` folds them into plain
kernels for export.
"""

import keras
from keras import ops

from keras_bert_zoo.config import BertConfig
from keras_bert_zoo.layers import BertEmbeddings, Pooler, TransformerEncoderBlock

__all__ = ["BertBackbone", "INPUT_KEYS", "LORA_TARGETS"]

INPUT_KEYS = ("token_ids", "segment_ids", "padding_mask")
#: LoRA target name -> (sub-layer of TransformerEncoderBlock, Dense attribute)
LORA_TARGETS = {"query": ("attention", "query"), "key": ("attention", "key"), "value": ("attention", "value"),
                "attention_output": ("attention", "output_dense"), "intermediate": (None, "intermediate"),
                "output": (None, "output_dense")}


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertBackbone(keras.Model):
    """The BERT encoder built from :mod:`keras_bert_zoo.layers`.

    Args:
        config: a :class:`BertConfig`, a dict of its fields, or a name accepted by ``BertConfig.from_name``.
        return_attention_scores: also output the per-layer attention probabilities.
        dtype: a dtype policy name (e.g. ``"mixed_float16"``); defaults to the global policy.
    """

    def __init__(self, config, return_attention_scores=False, dtype=None, lora=None, **kwargs):
        if isinstance(config, str):
            config = BertConfig.from_name(config)
        elif isinstance(config, dict):
            config = BertConfig.from_dict(config)
        elif not isinstance(config, BertConfig):
            raise TypeError(f"config must be a BertConfig, dict or name, got {type(config).__name__}")

        # === layers ===
        embeddings = BertEmbeddings(
            config.vocab_size, config.hidden_size, config.max_position_embeddings, config.type_vocab_size,
            dropout=config.hidden_dropout, layer_norm_eps=config.layer_norm_eps,
            initializer_range=config.initializer_range, dtype=dtype, name="embeddings")
        blocks = [
            TransformerEncoderBlock(
                config.hidden_size, config.num_heads, config.intermediate_size, dropout=config.hidden_dropout,
                attention_dropout=config.attention_dropout, layer_norm_eps=config.layer_norm_eps,
                activation=config.activation, initializer_range=config.initializer_range, dtype=dtype,
                name=f"encoder_layer_{i}")
            for i in range(config.num_layers)
        ]
        pooler = Pooler(config.hidden_size, initializer_range=config.initializer_range, dtype=dtype,
                        name="pooler")

        # === functional graph ===
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key) for key in INPUT_KEYS}
        x = embeddings(inputs["token_ids"], inputs["segment_ids"])
        scores = []
        for block in blocks:
            if return_attention_scores:
                x, s = block(x, padding_mask=inputs["padding_mask"], return_scores=True)
                scores.append(s)
            else:
                x = block(x, padding_mask=inputs["padding_mask"])
        outputs = {
            "sequence_output": ops.cast(x, "float32"),
            "pooled_output": ops.cast(pooler(x), "float32"),
        }
        if return_attention_scores:
            outputs["attention_scores"] = ops.stack(scores, axis=1)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        if dtype is not None:
            # Keras's functional Model.__init__ drops ``dtype``: without this the backbone would report (and
            # save, and reload as) the global policy while its layers compute in ``dtype``.
            self.dtype_policy = dtype

        self.config = config
        self.return_attention_scores = return_attention_scores
        self.embeddings = embeddings
        self.encoder_blocks = blocks
        self.pooler = pooler
        self.lora = None
        if lora:
            self.enable_lora(**lora)

    # ------------------------------------------------------------------ LoRA
    def lora_layers(self, targets=None):
        """The ``Dense`` layers LoRA applies to, in block order (default: the enabled targets)."""
        targets = targets or (self.lora or {}).get("targets", ())
        layers = []
        for block in self.encoder_blocks:
            for target in targets:
                parent, attr = LORA_TARGETS[target]
                layers.append(getattr(getattr(block, parent) if parent else block, attr))
        return layers

    def enable_lora(self, rank, alpha=None, targets=("query", "value")):
        """Low-rank adapters on ``targets`` of every encoder block; freezes every other backbone variable."""
        if self.lora:
            raise ValueError(f"LoRA is already enabled on this backbone ({self.lora})")
        rank = int(rank)
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        targets = tuple(targets)
        unknown = [t for t in targets if t not in LORA_TARGETS]
        if unknown or not targets:
            raise ValueError(f"unknown LoRA targets {unknown or targets}: choose from {sorted(LORA_TARGETS)}")
        alpha = float(rank if alpha is None else alpha)
        for variable in self.weights:
            variable.trainable = False
        for layer in self.lora_layers(targets):
            layer.enable_lora(rank, lora_alpha=alpha)
        self.lora = {"rank": rank, "alpha": alpha, "targets": list(targets)}

    @property
    def token_embedding(self):
        """The token embedding layer (the masked-LM output layer is tied to its matrix)."""
        return self.embeddings.token_embedding

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "config": self.config.to_dict(),
            "return_attention_scores": self.return_attention_scores,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "lora": self.lora,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    def dummy_inputs(self, batch_size=2, sequence_length=8):
        """Deterministic valid inputs, handy for building and smoke tests."""
        ids = (ops.arange(batch_size * sequence_length, dtype="int32") % (self.config.vocab_size - 1)) + 1
        ids = ops.reshape(ids, (batch_size, sequence_length))
        return {"token_ids": ids, "segment_ids": ops.zeros_like(ids), "padding_mask": ops.ones_like(ids)}
