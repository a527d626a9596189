"""BertConfig: the one source of BERT hyper-parameters.

Named sizes (the 24 small BERTs of google-research/bert, base, large, Chinese, multilingual and the MiniLM
shapes) come from :meth:`BertConfig.from_name`; Hugging Face ``config.json`` and Google ``bert_config.json``
files are read and written by ``from_hf_json`` / ``to_hf_json`` and ``from_google_json`` / ``to_google_json``.
Unknown keys are an error that names them, never silently accepted.

    from keras_bert_zoo.config import BertConfig
    config = BertConfig.from_name("bert_uncased_L-4_H-256")        # 4 layers, hidden 256, 4 heads
    config.to_hf_json("config.json", architectures=["BertModel"])
    assert BertConfig.from_hf_json("config.json") == config
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from keras_bert_zoo.cache import atomic_write

__all__ = ["BertConfig", "ConfigError", "NAMED_CONFIGS"]


class ConfigError(ValueError):
    """A configuration file or dict that cannot be turned into a BertConfig."""


_ACTIVATIONS = ("gelu", "gelu_new", "gelu_approximate", "relu", "tanh")


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Hyper-parameters of a BERT encoder.

    Attributes:
        vocab_size: number of WordPiece ids.
        hidden_size: width D of every hidden state.
        num_layers: number of transformer encoder blocks.
        num_heads: attention heads per block (D must be divisible by it).
        intermediate_size: width of the feed-forward layer.
        max_position_embeddings: longest sequence the learned position table covers.
        type_vocab_size: number of segment ids.
        hidden_dropout: dropout after embeddings, attention output and feed-forward output.
        attention_dropout: dropout on attention probabilities.
        layer_norm_eps: LayerNorm epsilon (1e-12 in BERT).
        activation: feed-forward activation; ``"gelu"`` is the exact erf GELU of BERT.
        initializer_range: stddev of the truncated-normal initializer.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    activation: str = "gelu"
    initializer_range: float = 0.02

    def __post_init__(self):
        problems = []
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                     "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                problems.append(f"{name} must be a positive int, got {value!r}")
        for name in ("hidden_dropout", "attention_dropout"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                problems.append(f"{name} must be in [0, 1), got {value!r}")
        if isinstance(self.hidden_size, int) and isinstance(self.num_heads, int) and self.num_heads > 0 \
                and self.hidden_size % self.num_heads:
            problems.append(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.activation not in _ACTIVATIONS:
            problems.append(f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if problems:
            raise ConfigError("Invalid BertConfig: " + "; ".join(problems))

    # ------------------------------------------------------------------ dicts
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "BertConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown BertConfig keys: {unknown}. Known keys: {sorted(known)}")
        return cls(**values)

    def replace(self, **changes) -> "BertConfig":
        return dataclasses.replace(self, **changes)

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    # ------------------------------------------------------------------ names
    @classmethod
    def from_name(cls, name: str) -> "BertConfig":
        key = name.strip().lower().replace("-", "_")
        if key not in _NAMED_BY_KEY:
            raise ConfigError(f"Unknown BERT size {name!r}. Known: {sorted(NAMED_CONFIGS)}")
        return _NAMED_BY_KEY[key]

    @staticmethod
    def names() -> list[str]:
        return sorted(NAMED_CONFIGS)

    # ------------------------------------------------------------ HF / Google
    @classmethod
    def from_hf_dict(cls, values: dict[str, Any], source: str = "Hugging Face config") -> "BertConfig":
        """From the dict of a Hugging Face ``config.json``; ``source`` names it in errors."""
        return cls._from_external(values, _HF_KEYS, _HF_IGNORED, source)

    @classmethod
    def from_google_dict(cls, values: dict[str, Any], source: str = "Google bert_config") -> "BertConfig":
        """From the dict of a google-research/bert ``bert_config.json``; ``source`` names it in errors."""
        return cls._from_external(values, _GOOGLE_KEYS, _GOOGLE_IGNORED, source)

    @classmethod
    def from_hf_json(cls, path: str | os.PathLike) -> "BertConfig":
        return cls.from_hf_dict(_read_json(path), str(path))

    @classmethod
    def from_google_json(cls, path: str | os.PathLike) -> "BertConfig":
        return cls.from_google_dict(_read_json(path), str(path))

    def _to_external(self, key_map: dict[str, str]) -> dict[str, Any]:
        """Our fields under their external names (``key_map``: external -> ours), activation translated."""
        out = {ext: getattr(self, ours) for ext, ours in key_map.items()}
        out["hidden_act"] = _to_external_activation(self.activation)
        return out

    def to_hf_dict(self, architectures: list[str] | None = None, **extra) -> dict[str, Any]:
        out = {"architectures": architectures or ["BertModel"], "model_type": "bert", "pad_token_id": 0,
               "position_embedding_type": "absolute"}
        out.update(self._to_external(_HF_KEYS))
        out.update(extra)
        return out

    def to_google_dict(self) -> dict[str, Any]:
        return self._to_external(_GOOGLE_KEYS)

    def to_hf_json(self, path: str | os.PathLike, **kwargs) -> None:
        _write_json(path, self.to_hf_dict(**kwargs))

    def to_google_json(self, path: str | os.PathLike) -> None:
        _write_json(path, self.to_google_dict())

    @classmethod
    def _from_external(cls, values, key_map, ignored, source) -> "BertConfig":
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
        unknown = sorted(k for k in values if k not in key_map and k not in ignored)
        if unknown:
            raise ConfigError(f"{source}: unknown config keys {unknown}")
        missing = sorted(k for k in _REQUIRED_EXTERNAL if k not in values)
        if missing:
            raise ConfigError(f"{source}: missing required config keys {missing}")
        pos = values.get("position_embedding_type", "absolute")
        if pos != "absolute":
            raise ConfigError(f"{source}: position_embedding_type={pos!r} is not supported (only 'absolute')")
        if values.get("is_decoder") or values.get("add_cross_attention"):
            raise ConfigError(f"{source}: decoder / cross-attention BERT configs are not supported")
        kwargs = {}
        for ext, ours in key_map.items():
            if ext in values and values[ext] is not None:
                kwargs[ours] = values[ext]
        if "activation" in kwargs:
            kwargs["activation"] = _from_external_activation(kwargs["activation"], source)
        try:
            return cls(**kwargs)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None


def _from_external_activation(value, source):
    mapping = {"gelu": "gelu", "gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_approximate",
               "relu": "relu", "tanh": "tanh"}
    if value not in mapping:
        raise ConfigError(f"{source}: unsupported hidden_act {value!r}; supported {sorted(mapping)}")
    return mapping[value]


def _to_external_activation(value):
    return {"gelu_approximate": "gelu_pytorch_tanh"}.get(value, value)


_REQUIRED_EXTERNAL = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                      "intermediate_size")

_GOOGLE_KEYS = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_hidden_layers": "num_layers",
    "num_attention_heads": "num_heads",
    "intermediate_size": "intermediate_size",
    "max_position_embeddings": "max_position_embeddings",
    "type_vocab_size": "type_vocab_size",
    "hidden_dropout_prob": "hidden_dropout",
    "attention_probs_dropout_prob": "attention_dropout",
    "hidden_act": "activation",
    "initializer_range": "initializer_range",
}
# Keys of released bert_config.json files that describe nothing our model needs (the Chinese and
# multilingual releases carry the pooler_* fields of an unused pooler variant).
_GOOGLE_IGNORED = {"directionality", "pooler_fc_size", "pooler_num_attention_heads", "pooler_num_fc_layers",
                   "pooler_size_per_head", "pooler_type", "layer_norm_eps"}
_HF_KEYS = dict(_GOOGLE_KEYS, layer_norm_eps="layer_norm_eps")
# Metadata and task-head keys of HF config.json files; none changes the encoder's arithmetic.
_HF_IGNORED = _GOOGLE_IGNORED | {
    "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "pad_token_id",
    "position_embedding_type", "use_cache", "classifier_dropout", "gradient_checkpointing", "id2label",
    "label2id", "num_labels", "problem_type", "finetuning_task", "output_past", "is_decoder",
    "add_cross_attention", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id",
    "tokenizer_class", "_name_or_path", "output_attentions", "output_hidden_states", "return_dict",
    "chunk_size_feed_forward", "tie_word_embeddings", "do_lower_case", "name_or_path",
}


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None


def _write_json(path, values):
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2, sort_keys=True)
        f.write("\n")


def _named() -> dict[str, BertConfig]:
    named = {}
    for layers in (2, 4, 6, 8, 10, 12):
        for hidden in (128, 256, 512, 768):
            named[f"bert_uncased_L-{layers}_H-{hidden}"] = BertConfig(
                hidden_size=hidden, num_layers=layers, num_heads=hidden // 64, intermediate_size=4 * hidden)
    base = BertConfig()
    named["bert_base_uncased"] = base
    named["bert_base_cased"] = base.replace(vocab_size=28996)
    named["bert_large_uncased"] = base.replace(hidden_size=1024, num_layers=24, num_heads=16,
                                               intermediate_size=4096)
    named["bert_base_chinese"] = base.replace(vocab_size=21128)
    named["bert_base_multilingual_cased"] = base.replace(vocab_size=119547)
    minilm = base.replace(hidden_size=384, num_heads=12, intermediate_size=1536)
    named["minilm_l6_h384_uncased"] = minilm.replace(num_layers=6)
    named["minilm_l12_h384_uncased"] = minilm.replace(num_layers=12)
    return named


NAMED_CONFIGS: dict[str, BertConfig] = _named()
_NAMED_BY_KEY = {k.lower().replace("-", "_"): v for k, v in NAMED_CONFIGS.items()}
