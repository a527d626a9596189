"""Hugging Face BERT directories: import (``from_hf``) and export (``export_hf``).

A directory holds ``config.json``, weights (``model.safetensors``, a sharded ``model.safetensors.index.json``,
or ``pytorch_model.bin`` read only through ``torch.load(weights_only=True)``) and ``vocab.txt`` or
``tokenizer.json``. The architecture comes from ``config.json`` ``architectures``. Task checkpoints prefix the
encoder with ``bert.``; plain ``BertModel`` saves (e.g. sentence-transformers MiniLM) do not; old checkpoints
name LayerNorm parameters ``gamma``/``beta``. The reader normalises all of these to the table's names.

    from keras_bert_zoo.convert.hf import export_hf, from_hf
    classifier, tokenizer = from_hf("bert-base-uncased-sst2")                  # architecture from config.json
    export_hf(classifier, "hf_copy", vocabulary=tokenizer)
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path

import numpy as np

from keras_bert_zoo.cache import atomic_write
from keras_bert_zoo.config import BertConfig
from keras_bert_zoo.convert import common
from keras_bert_zoo.models.backbone import BertBackbone
from keras_bert_zoo.convert.common import (CheckpointFiles, ConversionError, check_options, given_config,
                                           groups_for, load_checkpoint, read_vocab)
from keras_bert_zoo.convert.table import (BERT_LAYER_NAMES, IDENTITY, TRANSPOSE, Rule, TensorReader,
                                          WeightLoadError, WeightTable, embedding_rows, encoder_layer_rows,
                                          export_weights, pair)

__all__ = ["HF_TABLE", "from_hf", "export_hf", "read_hf_weights", "architecture_of", "HFReader"]

logger = logging.getLogger("keras_bert_zoo.convert")


_W = ("weight", "bias")  # torch Linear / LayerNorm parameters; Linear weights are [out, in]
_LINEAR = dict(names=_W, hooks=(TRANSPOSE, IDENTITY), sep=".")

HF_TABLE = WeightTable(
    format="Hugging Face",
    rules=tuple(
        embedding_rows("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                       "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm", norm_names=_W, sep=".")
        + encoder_layer_rows("encoder.layer.{i}", [n.replace("/", ".") for n in BERT_LAYER_NAMES], sep=".",
                             dense_names=_W, norm_names=_W, dense_hooks=(TRANSPOSE, IDENTITY))
        # BertForTokenClassification / QA / MaskedLM are built without a pooler by HF.
        + pair("pooler.dense", "pooler/dense", group="pooler", optional=True, **_LINEAR)
        + pair("classifier", "classifier", group="classifier", **_LINEAR)
        + pair("qa_outputs", "qa_outputs", group="qa_outputs", **_LINEAR)
        + pair("cls.predictions.transform.dense", "mlm_head/transform", group="mlm", **_LINEAR)
        + pair("cls.predictions.transform.LayerNorm", "mlm_head/layer_norm", "norm", names=_W, sep=".", group="mlm")
        + [Rule("cls.predictions.bias", "mlm_head/output_bias", IDENTITY, "mlm")]
        + pair("cls.seq_relationship", "nsp_head", group="nsp", **_LINEAR)
    ),
    ignore=(r"(^|\.)position_ids$", r"(^|\.)token_type_ids$"),
    tied=(("cls.predictions.decoder.weight", "embeddings.word_embeddings.weight"),
          ("cls.predictions.decoder.bias", "cls.predictions.bias")),
)

# Architectures whose HF module has a pooler (their outputs use it, so it must be in the checkpoint).
_POOLED = ("BertForSequenceClassification", "BertForPreTraining", "BertForMultipleChoice")
# Architectures HF builds without a pooler: export leaves it out so a round trip gives the same tensor set.
_NO_POOLER = ("BertForTokenClassification", "BertForQuestionAnswering", "BertForMaskedLM")
_ENCODER_PREFIX = "bert."


# ------------------------------------------------------------------------------------------------- reading
def _normalise(name: str) -> str:
    if name.startswith(_ENCODER_PREFIX):
        name = name[len(_ENCODER_PREFIX):]
    if name.endswith("LayerNorm.gamma"):
        name = name[: -len("gamma")] + "weight"
    elif name.endswith("LayerNorm.beta"):
        name = name[: -len("beta")] + "bias"
    return name


class HFReader(TensorReader):
    """Tensors of an HF directory under normalised names (no ``bert.`` prefix, LayerNorm weight/bias).

    ``source`` is the directory or its :class:`CheckpointFiles`; each safetensors file is opened once.
    """

    def __init__(self, source):
        files = CheckpointFiles.of(source)
        self.directory = d = files.directory
        self._files = {}  # normalised name -> (open safetensors file or None for torch, original name)
        self._shapes = {}
        self._torch_state = None
        if files.has("model.safetensors"):
            self._add_safetensors([d / "model.safetensors"])
            self.description = str(d / "model.safetensors")
        elif files.has("model.safetensors.index.json"):
            index = files.json("model.safetensors.index.json")
            shards = sorted({d / f for f in index.get("weight_map", {}).values()})
            missing = [str(s) for s in shards if not s.is_file()]
            if missing:
                raise ConversionError(f"{d}: shards listed in model.safetensors.index.json are missing: {missing}")
            self._add_safetensors(shards)
            self.description = str(d / "model.safetensors.index.json")
        elif files.has("pytorch_model.bin"):
            self._add_torch(d / "pytorch_model.bin")
            self.description = str(d / "pytorch_model.bin")
        else:
            raise ConversionError(f"{d}: no weights found (model.safetensors, model.safetensors.index.json or "
                                  f"pytorch_model.bin)")

    def _put(self, original, where, shape):
        name = _normalise(original)
        if name in self._files:
            raise ConversionError(f"{self.directory}: weights {self._files[name][1]!r} and {original!r} both "
                                  f"map to {name!r}")
        self._files[name] = (where, original)
        self._shapes[name] = tuple(int(d) for d in shape)

    def _add_safetensors(self, paths):
        for path in paths:
            try:
                handle = common.open_safetensors(path)
            except Exception as err:  # noqa: BLE001 - safetensors raises its own SafetensorError / OSError
                raise ConversionError(f"{path}: not a readable safetensors file ({type(err).__name__}: "
                                      f"{str(err).splitlines()[0] if str(err) else 'no detail'}); the file may be "
                                      f"truncated (an interrupted download?): download it again") from None
            for key in handle.keys():
                self._put(key, handle, handle.get_slice(key).get_shape())

    def _add_torch(self, path):
        try:
            import torch
        except ImportError:
            raise ConversionError(f"{path}: reading pytorch_model.bin needs torch (pip install torch), or convert "
                                  f"it to model.safetensors") from None
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            # torch's message suggests weights_only=False, i.e. running the pickle's code: never here.
            found = str(err).split("Unsupported global:", 1)[-1].split(" was not an allowed global")[0].strip() \
                if "Unsupported global" in str(err) else ""
            raise ConversionError(f"{path}: refused for safety: the pickle holds more than tensors"
                                  f"{' (' + found + ')' if found else ''}, and loading it would run code from the "
                                  f"file; convert the checkpoint to model.safetensors with a trusted tool, or use a "
                                  f"safetensors download") from None
        except Exception as err:  # noqa: BLE001 - a truncated or foreign file: torch raises RuntimeError etc.
            raise ConversionError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: "
                                  f"{str(err).split('. ')[0][:200] if str(err) else 'no detail'}); the file may be "
                                  f"truncated: download it again, or use model.safetensors") from None
        if not isinstance(state, dict) or not all(hasattr(v, "is_floating_point") for v in state.values()):
            raise ConversionError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
        self._torch_state = {k: v.detach().to(torch.float32).numpy() if v.is_floating_point() else v.numpy()
                             for k, v in state.items()}
        for key, value in self._torch_state.items():
            self._put(key, None, value.shape)

    def names(self):
        return list(self._files)

    def original_name(self, name):
        """The checkpoint's own name of the tensor called ``name`` here."""
        return self._files[name][1]

    def shape(self, name):
        return self._shapes[name]

    def get(self, name):
        handle, original = self._files[name]
        if handle is None:
            return self._torch_state[original]
        return handle.get_tensor(original)


def read_hf_weights(directory) -> dict:
    """All tensors of an HF directory by their original names (for tests and tools)."""
    reader = HFReader(directory)
    return {reader.original_name(n): reader.get(n) for n in reader.names()}


def _num_labels(raw: dict) -> int:
    if isinstance(raw.get("id2label"), dict) and raw["id2label"]:
        return len(raw["id2label"])
    return int(raw.get("num_labels", 2))


def read_config(files, config=None) -> tuple:
    """``(raw config.json dict, BertConfig)``; ``config`` (BertConfig / dict / size name) replaces the encoder
    shape of config.json (which still gives the architecture and labels)."""
    files = CheckpointFiles.of(files)
    raw = files.json("config.json")
    if raw is None:
        raise ConversionError(f"{files.directory}: no config.json")
    if raw.get("model_type", "bert") != "bert":
        raise ConversionError(f"{files.directory / 'config.json'}: model_type {raw.get('model_type')!r} is not "
                              f"'bert'")
    if config is not None:
        return raw, given_config(config)
    return raw, BertConfig.from_hf_dict(raw, source=str(files.directory / "config.json"))


def from_hf(path, *, architecture: str | None = None, backbone_only: bool = False, config=None,
            lowercase: bool | None = None, tokenizer=None, num_choices: int = 4, exact_gelu: bool = False,
            dtype=None, model_classes=None, allow_vocab_mismatch: bool = False):
    """Import a Hugging Face BERT directory.

        model, tokenizer = from_hf("all-MiniLM-L6-v2", backbone_only=True)

    Args:
        path: the directory.
        architecture: override ``config.json`` ``architectures[0]`` (one of ``common.ARCHITECTURES``' keys).
        backbone_only: return only the :class:`BertBackbone`; head weights in the checkpoint are skipped and
            logged.
        config: a BertConfig / dict / size name replacing config.json's encoder shape.
        lowercase: force the tokenizer casing (default: detected from the tokenizer files / name / vocab).
        tokenizer: use this tokenizer's vocabulary and casing instead of the directory's.
        num_choices: choices per example for ``BertForMultipleChoice`` (the weights do not fix it).
        exact_gelu: not applicable (HF's "gelu" is already the exact GELU); True is an error.
        dtype: dtype policy for the model.
        allow_vocab_mismatch: accept a vocab.txt with fewer tokens than config.json ``vocab_size`` (an error
            by default; more tokens is always an error).
    Returns:
        ``(model, tokenizer)``.
    Raises:
        WeightLoadError listing every missing / unexpected / mis-shaped weight (nothing is assigned), ConfigError
        for an invalid config, ConversionError for an unsupported architecture or missing files.
    """
    check_options("Hugging Face", {"exact_gelu": "HF's 'gelu' is the exact GELU already"}, exact_gelu=exact_gelu)
    files = CheckpointFiles.of(path)
    raw, cfg = read_config(files, config)
    files.hint = str(raw.get("_name_or_path", ""))
    arch = architecture or (raw.get("architectures") or ["BertModel"])[0]
    reader = HFReader(files)
    if not backbone_only and arch in _POOLED and "pooler.dense.weight" not in reader.names():
        raise WeightLoadError(f"{reader.description}: {arch} uses the pooled output but the checkpoint has no "
                              f"pooler weights (bert.pooler.dense.weight, bert.pooler.dense.bias)")
    return load_checkpoint(reader, HF_TABLE, cfg, arch, backbone_only=backbone_only, num_labels=_num_labels(raw),
                           num_choices=num_choices, dtype=dtype, files=files, tokenizer=tokenizer,
                           lowercase=lowercase, model_classes=model_classes,
                           allow_vocab_mismatch=allow_vocab_mismatch)


# ------------------------------------------------------------------------------------------------- export
def architecture_of(model) -> str:
    """The HF architecture name of one of our models."""
    if isinstance(model, BertBackbone):
        return "BertModel"
    name = getattr(type(model), "hf_architecture", None)
    if name not in common.ARCHITECTURES:
        raise ConversionError(f"{type(model).__name__} has no Hugging Face architecture; expected a BertBackbone "
                              f"or a task model of {sorted(set(common.ARCHITECTURES) - {'BertModel'})}")
    return name


def _vocab_tokens(vocabulary):
    if vocabulary is None:
        return None
    if isinstance(vocabulary, (str, os.PathLike)):
        return read_vocab(Path(vocabulary))
    if hasattr(vocabulary, "get_vocabulary"):
        return list(vocabulary.get_vocabulary())
    if hasattr(vocabulary, "vocabulary") and not isinstance(vocabulary.vocabulary, (str, os.PathLike)):
        return list(vocabulary.vocabulary)
    if hasattr(vocabulary, "vocabulary"):
        return read_vocab(Path(vocabulary.vocabulary))
    return list(vocabulary)


def _write_bytes(path: Path, data: bytes):
    with atomic_write(path) as f:
        f.write(data)


def export_hf(model, out_dir, vocabulary=None, lowercase: bool | None = None, id2label: dict | None = None):
    """Write ``model`` as a Hugging Face directory: config.json, model.safetensors and vocab.txt.

    Args:
        model: a :class:`BertBackbone` or one of our task models.
        out_dir: directory to create / fill (files are written atomically).
        vocabulary: a vocab file path, a list of tokens, or a tokenizer exposing its vocabulary.
        lowercase: written to tokenizer_config.json ``do_lower_case`` when given (or taken from the tokenizer).
        id2label: label names for classifier heads (default ``LABEL_k``).
    Returns:
        the output directory as a Path.
    """
    from safetensors.numpy import save

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arch = architecture_of(model)
    backbone = model if arch == "BertModel" else model.backbone
    config = backbone.config
    groups = [g for g in groups_for(arch) if not (g == "pooler" and arch in _NO_POOLER)]
    tensors = export_weights(model, HF_TABLE, config, groups)
    if arch != "BertModel":
        tensors = {(k if k.startswith(("cls.", "classifier.", "qa_outputs.")) else _ENCODER_PREFIX + k): v
                   for k, v in tensors.items()}
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    extra = {}
    if arch in ("BertForSequenceClassification", "BertForTokenClassification"):
        n = model.num_classes
        labels = id2label or {i: f"LABEL_{i}" for i in range(n)}
        if len(labels) != n:
            raise ConversionError(f"id2label has {len(labels)} entries for a head with {n} classes")
        extra["id2label"] = {str(k): v for k, v in labels.items()}
        extra["label2id"] = {v: int(k) for k, v in labels.items()}
    if arch in ("BertForMaskedLM", "BertForPreTraining"):
        extra["tie_word_embeddings"] = True
    _write_bytes(out / "model.safetensors", save(tensors, metadata={"format": "pt"}))
    _write_bytes(out / "config.json",
                        (json.dumps(config.to_hf_dict(architectures=[arch], **extra), indent=2,
                                    sort_keys=True) + "\n").encode("utf-8"))
    tokens = _vocab_tokens(vocabulary)
    if tokens is not None:
        if len(tokens) > config.vocab_size:
            raise ConversionError(f"vocabulary has {len(tokens)} tokens but the model's vocab_size is "
                                  f"{config.vocab_size}")
        _write_bytes(out / "vocab.txt", ("\n".join(tokens) + "\n").encode("utf-8"))
        if lowercase is None and hasattr(vocabulary, "lowercase"):
            lowercase = bool(vocabulary.lowercase)
    if lowercase is not None:
        _write_bytes(out / "tokenizer_config.json",
                            (json.dumps({"do_lower_case": bool(lowercase), "tokenizer_class": "BertTokenizer"},
                                        indent=2) + "\n").encode("utf-8"))
    return out
