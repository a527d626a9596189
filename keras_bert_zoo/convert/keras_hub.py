"""keras-hub ``BertBackbone`` presets and models: ``from_keras_hub``.

The source is a keras-hub preset directory (config.json + model.weights.h5 [+ tokenizer.json and
assets/tokenizer/vocabulary.txt]) loaded with ``keras_hub.models.BertBackbone.from_preset``, or a
``keras_hub.models.BertBackbone`` object. Weights are read by variable path. keras-hub's encoder uses the
tanh-approximate GELU, so the imported config has ``activation="gelu_approximate"``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from keras_bert_zoo.config import BertConfig
from keras_bert_zoo.convert.common import ARCHITECTURES, ConversionError, build_model, make_tokenizer
from keras_bert_zoo.convert.table import (IDENTITY, MERGE_HEADS_OUT, SPLIT_HEADS, SPLIT_HEADS_BIAS, DictReader,
                                          Rule, WeightTable, load_weights)

__all__ = ["KERAS_HUB_TABLE", "from_keras_hub", "config_from_keras_hub"]

logger = logging.getLogger("keras_bert_zoo.convert")

_T = "transformer_layer_{i}"
_O = "encoder_layer_{i}"


def _pair(src, ours, names=("kernel", "bias"), hooks=(IDENTITY, IDENTITY), group="backbone"):
    return [Rule(f"{src}/{n}", f"{ours}/{n}", h, group) for n, h in zip(names, hooks)]


_NORM = ("gamma", "beta")
KERAS_HUB_TABLE = WeightTable(
    format="keras-hub BertBackbone",
    rules=tuple(
        [
            Rule("token_embedding/embeddings", "embeddings/token_embedding/embeddings"),
            Rule("position_embedding/embeddings", "embeddings/position_embedding"),
            Rule("segment_embedding/embeddings", "embeddings/segment_embedding/embeddings"),
        ]
        + _pair("embeddings_layer_norm", "embeddings/layer_norm", _NORM)
        + _pair(f"{_T}/self_attention_layer/query", f"{_O}/attention/query", hooks=(SPLIT_HEADS, SPLIT_HEADS_BIAS))
        + _pair(f"{_T}/self_attention_layer/key", f"{_O}/attention/key", hooks=(SPLIT_HEADS, SPLIT_HEADS_BIAS))
        + _pair(f"{_T}/self_attention_layer/value", f"{_O}/attention/value", hooks=(SPLIT_HEADS, SPLIT_HEADS_BIAS))
        + _pair(f"{_T}/self_attention_layer/attention_output", f"{_O}/attention/attention_output",
                hooks=(MERGE_HEADS_OUT, IDENTITY))
        + _pair(f"{_T}/self_attention_layer_norm", f"{_O}/attention_layer_norm", _NORM)
        + _pair(f"{_T}/feedforward_intermediate_dense", f"{_O}/intermediate")
        + _pair(f"{_T}/feedforward_output_dense", f"{_O}/output")
        + _pair(f"{_T}/feedforward_layer_norm", f"{_O}/output_layer_norm", _NORM)
        + _pair("pooled_dense", "pooler/dense", group="pooler")
    ),
)


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


def from_keras_hub(source, tokenizer=None, lowercase: bool | None = None, dtype=None):
    """Import a keras-hub BertBackbone (preset directory or model object) as our :class:`BertBackbone`.

    Args:
        source: a preset directory, or a ``keras_hub.models.BertBackbone``.
        tokenizer: for a model object, an optional ``keras_hub`` BertTokenizer whose vocabulary and casing to
            use (a preset directory brings its own).
        lowercase: force the casing.
    Returns:
        ``(backbone, tokenizer)``; the tokenizer is None only for a model object passed without one.
    """
    import keras_hub

    if isinstance(source, (str, Path)):
        directory = Path(source)
        if not (directory / "config.json").is_file():
            raise ConversionError(f"{directory}: not a keras-hub preset directory (no config.json)")
        hub_model = keras_hub.models.BertBackbone.from_preset(str(directory))
    else:
        directory, hub_model = None, source
    if not isinstance(hub_model, keras_hub.models.BertBackbone):
        raise ConversionError(f"expected a keras_hub.models.BertBackbone, got {type(hub_model).__name__}")
    cfg = config_from_keras_hub(hub_model.get_config())
    reader = DictReader({v.path: np.asarray(v.numpy()) for v in hub_model.weights},
                        description=f"keras-hub {hub_model.name}" + (f" ({directory})" if directory else ""))
    model = build_model("BertModel", cfg, dtype=dtype)
    model.load_report = load_weights(model, reader, KERAS_HUB_TABLE, cfg, ARCHITECTURES["BertModel"])
    ours = None
    if directory is not None:
        ours = make_tokenizer(directory, lowercase=lowercase, hint=directory.name, vocab_size=cfg.vocab_size)
    elif tokenizer is not None:
        from keras_bert_zoo.text import WordPieceTokenizer

        vocab = list(tokenizer.get_vocabulary())
        case = lowercase if lowercase is not None else bool(getattr(tokenizer, "lowercase", True))
        ours = WordPieceTokenizer(vocab, lowercase=case, strip_accents=getattr(tokenizer, "strip_accents", None))
    return model, ours
