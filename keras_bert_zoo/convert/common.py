"""What every importer shares: building our model for an architecture, the groups of weights it owns, and the
tokenizer built from the checkpoint's vocabulary and casing."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from keras_bert_zoo.config import BertConfig, ConfigError
from keras_bert_zoo.models.backbone import BertBackbone

__all__ = ["ARCHITECTURES", "groups_for", "build_model", "find_vocab", "detect_lowercase", "make_tokenizer",
           "ConversionError"]

logger = logging.getLogger("keras_bert_zoo.convert")


class ConversionError(ValueError):
    """A checkpoint directory that cannot be converted (missing files, unsupported architecture...)."""


# Architecture (Hugging Face names, also used for the other formats) -> table groups our model owns.
ARCHITECTURES = {
    "BertModel": ("backbone", "pooler"),
    "BertForSequenceClassification": ("backbone", "pooler", "classifier"),
    "BertForTokenClassification": ("backbone", "pooler", "classifier"),
    "BertForQuestionAnswering": ("backbone", "pooler", "qa_outputs"),
    "BertForMaskedLM": ("backbone", "pooler", "mlm"),
    "BertForPreTraining": ("backbone", "pooler", "mlm", "nsp"),
    "BertForMultipleChoice": ("backbone", "pooler", "classifier"),
}
HEAD_GROUPS = ("classifier", "qa_outputs", "mlm", "nsp")


def groups_for(architecture: str) -> tuple:
    if architecture not in ARCHITECTURES:
        raise ConversionError(f"Unsupported architecture {architecture!r}; supported: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture]


def build_model(architecture: str, config: BertConfig, num_labels: int = 2, num_choices: int = 4,
                dtype=None):
    """Our (built) model for ``architecture``: the backbone or the task model around it."""
    groups_for(architecture)
    backbone = BertBackbone(config, dtype=dtype)
    if architecture == "BertModel":
        return backbone
    from keras_bert_zoo.tasks import task_models

    cls = task_models()[architecture]
    if architecture in ("BertForSequenceClassification", "BertForTokenClassification"):
        return cls(backbone, num_classes=num_labels)
    if architecture == "BertForMultipleChoice":
        return cls(backbone, num_choices=num_choices)
    if architecture == "BertForMaskedLM":
        return cls(backbone, use_mask_positions=False)   # logits at every position, as the HF model
    return cls(backbone)


# -------------------------------------------------------------------------------------------- tokenizer
def find_vocab(directory: str | os.PathLike) -> Path:
    """The WordPiece vocabulary file of a checkpoint directory (``vocab.txt`` or keras-hub's asset)."""
    directory = Path(directory)
    for candidate in ("vocab.txt", "assets/tokenizer/vocabulary.txt", "vocabulary.txt"):
        if (directory / candidate).is_file():
            return directory / candidate
    tokenizer_json = directory / "tokenizer.json"
    if tokenizer_json.is_file():
        return tokenizer_json
    raise ConversionError(f"{directory}: no vocabulary found (looked for vocab.txt, "
                          f"assets/tokenizer/vocabulary.txt, tokenizer.json)")


def _vocab_from_tokenizer_json(path: Path) -> list:
    data = json.loads(path.read_text(encoding="utf-8"))
    model = data.get("model") or {}
    if model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
        raise ConversionError(f"{path}: model.type is {model.get('type')!r}, expected a WordPiece vocab")
    vocab = model["vocab"]
    ordered = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in ordered] != list(range(len(ordered))):
        raise ConversionError(f"{path}: WordPiece ids are not 0..{len(ordered) - 1} without gaps")
    return [token for token, _ in ordered]


def _normalizer_lowercase(normalizer):
    if not isinstance(normalizer, dict):
        return None
    if normalizer.get("type") == "BertNormalizer":
        return normalizer.get("lowercase")
    if normalizer.get("type") == "Lowercase":
        return True
    if normalizer.get("type") == "Sequence":
        found = [_normalizer_lowercase(n) for n in normalizer.get("normalizers", [])]
        return True if any(found) else None
    return None


def detect_lowercase(directory: str | os.PathLike, vocab_tokens=None, hint: str = "") -> tuple:
    """Whether the checkpoint's tokenizer lowercases, and how we know.

    Order: ``tokenizer_config.json`` ``do_lower_case``; ``tokenizer.json`` normalizer; keras-hub
    ``tokenizer.json`` config ``lowercase``; the name ("uncased" / "cased"); finally the vocabulary itself (no
    uppercase word pieces outside ``[SPECIAL]`` tokens means an uncased model).
    """
    directory = Path(directory)
    tok_cfg = directory / "tokenizer_config.json"
    if tok_cfg.is_file():
        value = json.loads(tok_cfg.read_text(encoding="utf-8")).get("do_lower_case")
        if isinstance(value, bool):
            return value, f"{tok_cfg.name} do_lower_case"
    tok_json = directory / "tokenizer.json"
    if tok_json.is_file():
        data = json.loads(tok_json.read_text(encoding="utf-8"))
        value = _normalizer_lowercase(data.get("normalizer"))
        if isinstance(value, bool):
            return value, "tokenizer.json normalizer"
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        if isinstance(config.get("lowercase"), bool):  # keras-hub tokenizer.json
            return config["lowercase"], "keras-hub tokenizer.json lowercase"
    name = f"{hint} {directory.resolve().name}".lower()
    if "uncased" in name:
        return True, "name contains 'uncased'"
    if "cased" in name:
        return False, "name contains 'cased'"
    if vocab_tokens is not None:
        has_upper = any(t.lower() != t for t in vocab_tokens if not (t.startswith("[") and t.endswith("]")))
        return (not has_upper), "vocabulary has " + ("uppercase" if has_upper else "no uppercase") + " pieces"
    return True, "default"


def _strip_accents(directory: Path):
    tok_json = directory / "tokenizer.json"
    if tok_json.is_file():
        normalizer = json.loads(tok_json.read_text(encoding="utf-8")).get("normalizer") or {}
        if normalizer.get("type") == "BertNormalizer":
            return normalizer.get("strip_accents")
    tok_cfg = directory / "tokenizer_config.json"
    if tok_cfg.is_file():
        value = json.loads(tok_cfg.read_text(encoding="utf-8")).get("strip_accents")
        if isinstance(value, bool):
            return value
    return None


def read_vocab(path: Path) -> list:
    if path.name == "tokenizer.json":
        return _vocab_from_tokenizer_json(path)
    return path.read_text(encoding="utf-8").splitlines()


def make_tokenizer(directory: str | os.PathLike, lowercase=None, hint: str = "", vocab_size: int | None = None):
    """``keras_bert_zoo.text.WordPieceTokenizer`` for the checkpoint in ``directory``.

    ``lowercase=None`` detects the casing (see :func:`detect_lowercase`). When ``vocab_size`` is given, a
    vocabulary of another size is an error (it would index outside the embedding table).
    """
    from keras_bert_zoo.text import WordPieceTokenizer

    directory = Path(directory)
    vocab_path = find_vocab(directory)
    tokens = read_vocab(vocab_path)
    if vocab_size is not None and len(tokens) > vocab_size:
        raise ConfigError(f"{vocab_path}: {len(tokens)} tokens, but the model config says vocab_size="
                          f"{vocab_size} (ids past {vocab_size - 1} would index outside the embeddings)")
    if vocab_size is not None and len(tokens) < vocab_size:
        logger.warning("%s: %d tokens for vocab_size=%d; the extra embedding rows are unused",
                       vocab_path, len(tokens), vocab_size)
    if lowercase is None:
        lowercase, why = detect_lowercase(directory, tokens, hint)
        logger.info("Tokenizer lowercase=%s (%s)", lowercase, why)
    vocabulary = str(vocab_path) if vocab_path.name != "tokenizer.json" else tokens
    return WordPieceTokenizer(vocabulary, lowercase=lowercase, strip_accents=_strip_accents(directory))
