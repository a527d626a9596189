"""What every importer shares: one checkpoint's files (each opened once), our model for an architecture, the
table groups it owns, the one load sequence (:func:`load_checkpoint`) and the tokenizer built from the
checkpoint's vocabulary and casing.

Every ``from_*`` importer reads its config, opens its tensors once as a :class:`~keras_bert_zoo.convert.table.
TensorReader`, then calls :func:`load_checkpoint`:

    files = CheckpointFiles("path/to/checkpoint")
    config = BertConfig.from_hf_dict(files.json("config.json"))
    model, tokenizer = load_checkpoint(HFReader(files), HF_TABLE, config, "BertForSequenceClassification",
                                       backbone_only=False, num_labels=3, files=files)

All four ``from_*`` take the same keyword arguments (:data:`IMPORT_OPTIONS`); one that a format cannot honour
is an error, never silently ignored.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from keras_bert_zoo.config import BertConfig, ConfigError
from keras_bert_zoo.convert import registry
from keras_bert_zoo.convert.registry import ConversionError
from keras_bert_zoo.convert.table import LoadReport, TensorReader, WeightTable, load_weights
from keras_bert_zoo.models.backbone import BertBackbone

__all__ = ["ARCHITECTURES", "HEAD_GROUPS", "IMPORT_OPTIONS", "CheckpointFiles", "groups_for",
           "build_model", "given_config", "load_checkpoint", "check_options", "find_vocab", "read_vocab", "detect_lowercase",
           "make_tokenizer", "tokenizer_from", "read_file", "open_tf_checkpoint", "open_safetensors",
           "ConversionError", "check_vocab_tokens", "REQUIRED_TOKENS"]

logger = logging.getLogger("keras_bert_zoo.convert")



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


#: The keyword arguments every ``from_*`` importer takes, with their defaults.
IMPORT_OPTIONS = {"architecture": None, "backbone_only": False, "config": None, "lowercase": None,
                  "tokenizer": None, "num_choices": 4, "exact_gelu": False, "dtype": None, "model_classes": None,
                  "allow_vocab_mismatch": False}


def check_options(fmt: str, unsupported: dict, **given) -> None:
    """Raise ConversionError for an option ``fmt`` cannot honour that is set to something else than its
    default (``unsupported``: option name -> why). ``architecture="BertModel"`` is always allowed."""
    bad = []
    for name, why in unsupported.items():
        value = given.get(name, IMPORT_OPTIONS[name])
        if value == IMPORT_OPTIONS[name] or (name == "architecture" and value == "BertModel"):
            continue
        bad.append(f"{name}={value!r} ({why})")
    if bad:
        raise ConversionError(f"{fmt} import: option(s) that do not apply: {'; '.join(bad)}")


# ------------------------------------------------------------------------------------------- file access
def read_file(path: str | os.PathLike) -> bytes:
    """Every small file (JSON, vocabularies) an importer reads goes through here, once per import."""
    with open(path, "rb") as f:
        return f.read()


def open_tf_checkpoint(prefix: str):
    """``tf.train.load_checkpoint(prefix)``: the one place a TF checkpoint is opened."""
    import tensorflow as tf

    return tf.train.load_checkpoint(prefix)


def open_safetensors(path: str | os.PathLike):
    """An open safetensors file (numpy framework); the one place a safetensors file is opened."""
    from safetensors import safe_open

    return safe_open(str(path), framework="numpy")


class CheckpointFiles:
    """The files of one checkpoint directory, each opened at most once per import.

    ``path`` is the directory, or a checkpoint prefix / file inside it. JSON files are parsed once
    (:meth:`json`), the vocabulary is read once (:meth:`vocabulary`), a TF checkpoint is opened once
    (:meth:`tf_checkpoint`), however many steps (format detection, config, tokenizer casing) look at them.

        files = CheckpointFiles("uncased_L-2_H-128_A-2")
        files.json("bert_config.json")["hidden_size"]     # 128
    """

    def __init__(self, path: str | os.PathLike, hint: str | None = None):
        self.path = Path(path)
        self.directory = self.path if self.path.is_dir() else self.path.parent
        self.hint = self.directory.name if hint is None else hint
        self._bytes, self._json, self._tf = {}, {}, {}
        self._vocab = None

    @classmethod
    def of(cls, source) -> "CheckpointFiles":
        return source if isinstance(source, CheckpointFiles) else cls(source)

    def has(self, name: str) -> bool:
        return name in self._bytes or (self.directory / name).is_file()

    def read(self, name: str) -> bytes:
        if name not in self._bytes:
            self._bytes[name] = read_file(self.directory / name)
        return self._bytes[name]

    def json(self, name: str):
        """The parsed JSON file ``name``, or None when the directory has no such file."""
        if name not in self._json:
            if not self.has(name):
                self._json[name] = None
            else:
                try:
                    self._json[name] = json.loads(self.read(name).decode("utf-8"))
                except (json.JSONDecodeError, UnicodeDecodeError) as err:
                    raise ConversionError(f"{self.directory / name}: invalid JSON: {err}") from None
        return self._json[name]

    def vocabulary(self) -> tuple:
        """``(path, tokens)`` of the checkpoint's WordPiece vocabulary (see :func:`find_vocab`)."""
        if self._vocab is None:
            path = find_vocab(self.directory)
            if path.name == "tokenizer.json":
                tokens = _vocab_from_tokenizer_json(self.json("tokenizer.json"), path)
            else:
                tokens = _vocab_lines(self.read(path.relative_to(self.directory).as_posix()), path)
            self._vocab = (path, tokens)
        return self._vocab

    def tf_checkpoint(self, prefix: str):
        if prefix not in self._tf:
            self._tf[prefix] = open_tf_checkpoint(prefix)
        return self._tf[prefix]


def given_config(config) -> BertConfig | None:
    """The ``config=`` option of the importers: a BertConfig, a dict of its fields or a size name; None when
    not given (the checkpoint's config file is read instead)."""
    if config is None or isinstance(config, BertConfig):
        return config
    if isinstance(config, dict):
        return BertConfig.from_dict(config)
    if isinstance(config, str):
        return BertConfig.from_name(config)
    raise ConversionError(f"config= expects a BertConfig, a dict or a size name, got {type(config).__name__}")


def groups_for(architecture: str) -> tuple:
    if architecture not in ARCHITECTURES:
        raise ConversionError(f"Unsupported architecture {architecture!r}; supported: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture]


def build_model(architecture: str, config: BertConfig, num_labels: int = 2, num_choices: int = 4,
                dtype=None, model_classes=None):
    """Our (built) model for ``architecture``: the backbone, or the task model around it built with
    ``model_classes[architecture]`` (default: the classes registered in :mod:`keras_bert_zoo.convert.registry`,
    every task of :mod:`keras_bert_zoo.tasks`)."""
    groups_for(architecture)
    if architecture != "BertModel":
        model_classes = registry.model_classes() if model_classes is None else model_classes
        if architecture not in model_classes:
            raise ConversionError(f"the checkpoint holds a {architecture} (a task head) and no task class is "
                                  f"registered for it (registered: {sorted(model_classes)}): pass "
                                  f"model_classes={{{architecture!r}: <class>}} or backbone_only=True")
    backbone = BertBackbone(config, dtype=dtype)
    if architecture == "BertModel":
        return backbone
    cls = model_classes[architecture]
    if architecture in ("BertForSequenceClassification", "BertForTokenClassification"):
        return cls(backbone, num_classes=num_labels)
    if architecture == "BertForMultipleChoice":
        return cls(backbone, num_choices=num_choices)
    if architecture == "BertForMaskedLM":
        return cls(backbone, use_mask_positions=False)   # logits at every position, as the HF model
    return cls(backbone)


def load_checkpoint(reader: TensorReader, table: WeightTable, config: BertConfig, architecture: str, *,
                    backbone_only: bool = False, num_labels: int = 2, num_choices: int = 4, dtype=None,
                    files: CheckpointFiles | None = None, tokenizer=None, lowercase: bool | None = None,
                    model_classes=None, allow_vocab_mismatch: bool = False):
    """The one import sequence: plan ``table`` against ``reader`` -> build our model -> assign -> tokenizer.

    Args:
        reader: the checkpoint's tensors (opened once by the caller).
        table: the format's weight table.
        config: the encoder's BertConfig (already read).
        architecture: what the checkpoint holds (an :data:`ARCHITECTURES` key).
        backbone_only: build only the :class:`BertBackbone`; head weights present in the checkpoint are
            skipped and logged (``model.load_report.skipped``).
        num_labels / num_choices: head sizes for classifier / multiple-choice architectures.
        dtype: dtype policy of the model.
        files: the checkpoint's files, for the tokenizer (vocabulary and casing); None: no tokenizer unless
            ``tokenizer`` is given.
        tokenizer: a tokenizer whose vocabulary and casing to use instead of the files' (see
            :func:`tokenizer_from`).
        lowercase: force the casing (default: detected, see :func:`detect_lowercase`).
        model_classes: HF architecture -> class of the task models (default: the registry's, see
            :func:`build_model`).
        allow_vocab_mismatch: accept a vocabulary with fewer tokens than the config's ``vocab_size`` (the
            embedding rows past it are never used); by default that is an error, as a vocabulary of the wrong
            checkpoint would make every token past it [UNK]. More tokens than ``vocab_size`` is always an error.
    Returns:
        ``(model, tokenizer)``; ``model.load_report`` is the :class:`~keras_bert_zoo.convert.table.LoadReport`.
    Raises:
        WeightLoadError listing every missing, unexpected and mis-shaped weight (nothing assigned),
        ConversionError for an unsupported architecture, ConfigError for a vocabulary that does not fit the
        config (checked first: nothing is built).
    """
    groups = groups_for(architecture)
    skip = ()
    if backbone_only:
        architecture, groups, skip = "BertModel", ARCHITECTURES["BertModel"], HEAD_GROUPS
    if tokenizer is not None:
        ours = tokenizer_from(tokenizer, lowercase=lowercase, vocab_size=config.vocab_size,
                              allow_vocab_mismatch=allow_vocab_mismatch)
    elif files is not None:
        ours = make_tokenizer(files, lowercase=lowercase, vocab_size=config.vocab_size,
                              allow_vocab_mismatch=allow_vocab_mismatch)
    else:
        ours = None
    model = build_model(architecture, config, num_labels=num_labels, num_choices=num_choices, dtype=dtype,
                        model_classes=model_classes)
    report: LoadReport = load_weights(model, reader, table, config, groups, skip_groups=skip)
    model.load_report = report
    return model, ours


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


def _vocab_from_tokenizer_json(data, path: Path) -> list:
    model = (data or {}).get("model") or {}
    if model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
        raise ConversionError(f"{path}: model.type is {model.get('type')!r}, expected a WordPiece vocab")
    vocab = model["vocab"]
    ordered = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in ordered] != list(range(len(ordered))):
        raise ConversionError(f"{path}: WordPiece ids are not 0..{len(ordered) - 1} without gaps")
    return [token for token, _ in ordered]


def _vocab_lines(data: bytes, path: Path) -> list:
    from keras_bert_zoo.text.tokenizer import parse_vocabulary

    return parse_vocabulary(data, path)


def read_vocab(path: str | os.PathLike) -> list:
    """Tokens of a vocabulary file: a vocab.txt (line i -> id i) or a tokenizer.json WordPiece model."""
    path = Path(path)
    files = CheckpointFiles(path.parent)
    if path.name == "tokenizer.json":
        return _vocab_from_tokenizer_json(files.json(path.name), path)
    return _vocab_lines(files.read(path.name), path)


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


def detect_lowercase(files, vocab_tokens=None, hint: str = "") -> tuple:
    """Whether the checkpoint's tokenizer lowercases, and how we know.

    ``files``: a :class:`CheckpointFiles` or a directory. Order: ``tokenizer_config.json`` ``do_lower_case``;
    ``tokenizer.json`` normalizer; keras-hub ``tokenizer.json`` config ``lowercase``; the name ("uncased" /
    "cased", from ``hint``, ``files.hint`` and the directory name); finally the vocabulary itself (no uppercase
    word pieces outside ``[SPECIAL]`` tokens means an uncased model).
    """
    files = CheckpointFiles.of(files)
    value = (files.json("tokenizer_config.json") or {}).get("do_lower_case")
    if isinstance(value, bool):
        return value, "tokenizer_config.json do_lower_case"
    data = files.json("tokenizer.json")
    if data is not None:
        value = _normalizer_lowercase(data.get("normalizer"))
        if isinstance(value, bool):
            return value, "tokenizer.json normalizer"
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        if isinstance(config.get("lowercase"), bool):  # keras-hub tokenizer.json
            return config["lowercase"], "keras-hub tokenizer.json lowercase"
    name = f"{hint} {files.hint} {files.directory.resolve().name}".lower()
    if "uncased" in name:
        return True, "name contains 'uncased'"
    if "cased" in name:
        return False, "name contains 'cased'"
    if vocab_tokens is not None:
        has_upper = any(t.lower() != t for t in vocab_tokens if not (t.startswith("[") and t.endswith("]")))
        return (not has_upper), "vocabulary has " + ("uppercase" if has_upper else "no uppercase") + " pieces"
    return True, "default"


def _strip_accents(files: CheckpointFiles):
    normalizer = (files.json("tokenizer.json") or {}).get("normalizer") or {}
    if normalizer.get("type") == "BertNormalizer":
        return normalizer.get("strip_accents")
    value = (files.json("tokenizer_config.json") or {}).get("strip_accents")
    return value if isinstance(value, bool) else None


#: the special tokens every BERT vocabulary has (packing and padding need them)
REQUIRED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


def check_vocab_tokens(tokens, where) -> None:
    """A vocabulary's own errors, with the line (line i holds id i - 1): a token on two lines (the tokenizer
    would map it to one of them and the other id would never be produced), or a missing special token."""
    first = {}
    for line, token in enumerate(tokens, start=1):
        if token in first:
            raise ConfigError(f"{where}:{line}: token {token!r} repeats line {first[token]} (id {first[token] - 1}); "
                              f"a vocabulary lists each token once")
        first[token] = line
    missing = [t for t in REQUIRED_TOKENS if t not in first]
    if missing:
        raise ConfigError(f"{where}: the vocabulary ({len(tokens)} lines) has no {', '.join(missing)} token; a BERT "
                          f"vocabulary needs {', '.join(REQUIRED_TOKENS)}")


def _check_vocab_size(tokens, where, vocab_size, config_where="the model config", allow_vocab_mismatch=False):
    if vocab_size is not None and len(tokens) > vocab_size:
        raise ConfigError(f"{where}: {len(tokens)} tokens, but {config_where} says vocab_size="
                          f"{vocab_size} (ids past {vocab_size - 1} would index outside the embeddings)")
    if vocab_size is not None and len(tokens) < vocab_size:
        if not allow_vocab_mismatch:
            raise ConfigError(f"{where}: {len(tokens)} tokens, but {config_where} says vocab_size={vocab_size} "
                              f"(embedding rows {len(tokens)}..{vocab_size - 1} would never be used: is this the "
                              f"checkpoint's own vocabulary?); pass allow_vocab_mismatch=True if it is")
        logger.warning("%s: %d tokens for vocab_size=%d (allow_vocab_mismatch=True); the extra embedding rows "
                       "are unused", where, len(tokens), vocab_size)


def make_tokenizer(files, lowercase=None, vocab_size: int | None = None, allow_vocab_mismatch: bool = False):
    """``keras_bert_zoo.text.WordPieceTokenizer`` for the checkpoint whose files are ``files`` (a
    :class:`CheckpointFiles` or a directory).

    ``lowercase=None`` detects the casing (see :func:`detect_lowercase`). A repeated token or a missing
    special token is an error naming the line (:func:`check_vocab_tokens`). When ``vocab_size`` is given, a
    larger vocabulary is an error (it would index outside the embedding table), and so is a smaller one unless
    ``allow_vocab_mismatch``.
    """
    from keras_bert_zoo.text import WordPieceTokenizer

    files = CheckpointFiles.of(files)
    vocab_path, tokens = files.vocabulary()
    check_vocab_tokens(tokens, vocab_path)
    _check_vocab_size(tokens, vocab_path, vocab_size, f"the model config in {files.directory}",
                      allow_vocab_mismatch)
    if lowercase is None:
        lowercase, why = detect_lowercase(files, tokens)
        logger.info("Tokenizer lowercase=%s (%s)", lowercase, why)
    return WordPieceTokenizer(tokens, lowercase=lowercase, strip_accents=_strip_accents(files))


def tokenizer_from(tokenizer, lowercase=None, vocab_size: int | None = None, allow_vocab_mismatch: bool = False):
    """Our WordPieceTokenizer with the vocabulary and casing of ``tokenizer`` (ours, or a keras-hub /
    keras-nlp tokenizer exposing ``get_vocabulary()`` and ``lowercase``); its size is checked against
    ``vocab_size`` as in :func:`make_tokenizer`."""
    from keras_bert_zoo.text import WordPieceTokenizer

    vocab = list(tokenizer.get_vocabulary())
    where = f"tokenizer {type(tokenizer).__name__}"
    check_vocab_tokens(vocab, where)
    _check_vocab_size(vocab, where, vocab_size, allow_vocab_mismatch=allow_vocab_mismatch)
    case = lowercase if lowercase is not None else bool(getattr(tokenizer, "lowercase", True))
    return WordPieceTokenizer(vocab, lowercase=case, strip_accents=getattr(tokenizer, "strip_accents", None))
