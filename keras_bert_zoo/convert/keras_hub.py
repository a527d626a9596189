"""keras-hub ``BertBackbone`` presets and models: ``from_keras_hub``.

The source is a keras-hub preset directory (config.json + model.weights.h5 [+ tokenizer.json and
assets/tokenizer/vocabulary.txt]) loaded with ``keras_hub.models.BertBackbone.from_preset``, or a
``keras_hub.models.BertBackbone`` object. Weights are read by variable path. keras-hub's encoder uses the
tanh-approximate GELU, so the imported config has ``activation="gelu_approximate"``.

    from keras_bert_zoo.convert.keras_hub import from_keras_hub
    backbone, tokenizer = from_keras_hub("bert_tiny_en_uncased")               # a preset directory
    backbone, tokenizer = from_keras_hub(hub_backbone, tokenizer=hub_tokenizer)  # model objects
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from keras_bert_zoo.config import BertConfig
from keras_bert_zoo.convert.common import CheckpointFiles, ConversionError, check_options, load_checkpoint
from keras_bert_zoo.convert.table import DictReader, einsum_encoder_table

__all__ = ["KERAS_HUB_TABLE", "from_keras_hub", "config_from_keras_hub"]

logger = logging.getLogger("keras_bert_zoo.convert")

KERAS_HUB_TABLE = einsum_encoder_table("keras-hub BertBackbone", (
    "token_embedding/embeddings", "position_embedding/embeddings", "segment_embedding/embeddings",
    "embeddings_layer_norm", "pooled_dense", "self_attention_layer/query", "self_attention_layer/key",
    "self_attention_layer/value", "self_attention_layer/attention_output", "self_attention_layer_norm",
    "feedforward_intermediate_dense", "feedforward_output_dense", "feedforward_layer_norm"),
    layer="transformer_layer_{i}")


def config_from_keras_hub(cfg: dict) -> BertConfig:
    """Our BertConfig from a keras-hub BertBackbone ``get_config()`` dict."""
    known = {"name", "trainable", "dtype", "vocabulary_size", "num_layers", "num_heads", "hidden_dim",
             "intermediate_dim", "dropout", "max_sequence_length", "num_segments"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ConversionError(f"keras-hub BertBackbone config has keys this converter does not know: {unknown}")
    return BertConfig(vocab_size=cfg["vocabulary_size"], hidden_size=cfg["hidden_dim"],
                      num_layers=cfg["num_layers"], num_heads=cfg["num_heads"],
                      intermediate_size=cfg["intermediate_dim"],
                      max_position_embeddings=cfg.get("max_sequence_length", 512),
                      type_vocab_size=cfg.get("num_segments", 2), hidden_dropout=cfg.get("dropout", 0.1),
                      attention_dropout=cfg.get("dropout", 0.1), layer_norm_eps=1e-12,
                      activation="gelu_approximate")


def from_keras_hub(source, *, architecture: str | None = None, backbone_only: bool = False, config=None,
                   lowercase: bool | None = None, tokenizer=None, num_choices: int = 4, exact_gelu: bool = False,
                   dtype=None, model_classes=None, allow_vocab_mismatch: bool = False):
    """Import a keras-hub BertBackbone (preset directory or model object) as our :class:`BertBackbone`.

        backbone, tokenizer = from_keras_hub("bert_tiny_en_uncased_preset_dir", backbone_only=True)

    Args:
        source: a preset directory, or a ``keras_hub.models.BertBackbone``.
        architecture: only ``"BertModel"`` (a BertBackbone has no heads).
        backbone_only: accepted for every format; the result is always the backbone.
        config: not applicable (the config is the model's own); giving one is an error.
        lowercase: force the casing.
        tokenizer: a tokenizer (e.g. a ``keras_hub`` BertTokenizer) whose vocabulary and casing to use; for a
            model object without it the returned tokenizer is None (a preset directory brings its own).
        num_choices / exact_gelu: not applicable (keras-hub's GELU is the tanh approximation).
        dtype: dtype policy for the model.
    Returns:
        ``(backbone, tokenizer)``.
    """
    check_options("keras-hub", {"architecture": "a BertBackbone has no heads", "config": "the model has its own",
                                "num_choices": "no multiple-choice head",
                                "exact_gelu": "keras-hub's BERT uses the tanh GELU"},
                  architecture=architecture, config=config, num_choices=num_choices, exact_gelu=exact_gelu)
    import keras_hub

    files = None
    if isinstance(source, (str, Path, CheckpointFiles)):
        files = CheckpointFiles.of(source)
        if not files.has("config.json"):
            raise ConversionError(f"{files.directory}: not a keras-hub preset directory (no config.json)")
        hub_model = keras_hub.models.BertBackbone.from_preset(str(files.directory))
    else:
        hub_model = source
    if not isinstance(hub_model, keras_hub.models.BertBackbone):
        raise ConversionError(f"expected a keras_hub.models.BertBackbone, got {type(hub_model).__name__}")
    cfg = config_from_keras_hub(hub_model.get_config())
    where = f" ({files.directory})" if files is not None else ""
    reader = DictReader({v.path: np.asarray(v.numpy()) for v in hub_model.weights},
                        description=f"keras-hub {hub_model.name}{where}")
    return load_checkpoint(reader, KERAS_HUB_TABLE, cfg, "BertModel", backbone_only=backbone_only, dtype=dtype,
                           files=files, tokenizer=tokenizer, lowercase=lowercase,
                           allow_vocab_mismatch=allow_vocab_mismatch)
