"""Checkpoint importers and exporters.

Every importer returns ``(model, tokenizer)``: our Keras model (a :class:`BertBackbone`, or for a checkpoint
with a head the task model of its architecture: ``BertForSequenceClassification`` -> ``TextClassifier``, ...,
from :mod:`keras_bert_zoo.convert.registry`, which the package fills with every task class) and a
``keras_bert_zoo.text.WordPieceTokenizer`` built from the checkpoint's vocabulary and casing.

    from_hf(dir)              Hugging Face directory (safetensors; pytorch_model.bin via torch weights_only)
    from_google(dir)          google-research/bert release / run_* checkpoints (TF1 variable names)
    from_model_garden(dir)    tf-models-official BertEncoder / BertEncoderV2 checkpoints
    from_keras_hub(dir|model) keras-hub BertBackbone preset directory or model
    export_hf(model, dir)     back to a Hugging Face directory (config.json, model.safetensors, vocab.txt)
    load(fmt, path)           dispatch on a format name ("hf", "google", "garden", "keras_hub", "auto")
    detect_format(dir)        which of those a directory holds

All four importers take the same keyword arguments (``common.IMPORT_OPTIONS``): ``architecture``,
``backbone_only``, ``config``, ``lowercase``, ``tokenizer``, ``num_choices``, ``exact_gelu``, ``dtype``,
``model_classes`` (override the registry), ``allow_vocab_mismatch`` (a vocabulary smaller than the config's
``vocab_size`` is an error unless set; a larger one, a repeated token or a missing special token always is); an
option a format cannot honour (e.g. ``architecture="BertForMaskedLM"`` for an encoder-only Model Garden
checkpoint) is a :class:`ConversionError`. They share one load sequence, :func:`common.load_checkpoint`.

    from keras_bert_zoo import convert
    backbone, tokenizer = convert.load("auto", "path/to/checkpoint", backbone_only=True)
    ner, tokenizer = convert.from_hf("path/to/hf_ner_checkpoint")      # BertForTokenClassification: a TokenClassifier

Weight names map through declarative tables (:mod:`keras_bert_zoo.convert.table`); a load either assigns every
variable or raises one :class:`WeightLoadError` listing all missing, unexpected and mis-shaped weights.
"""

import os

from keras_bert_zoo.convert.registry import ConversionError

__all__ = ["from_hf", "from_google", "from_model_garden", "from_keras_hub", "export_hf", "load", "FORMATS",
           "detect_format", "WeightLoadError", "ConversionError"]


def __getattr__(name):
    # WeightLoadError lives with the tables (numpy); this package stays import-free for the package root, which
    # registers the task classes here (keras_bert_zoo.convert.registry)
    if name == "WeightLoadError":
        from keras_bert_zoo.convert.table import WeightLoadError

        return WeightLoadError
    raise AttributeError(f"module 'keras_bert_zoo.convert' has no attribute {name!r}")


def from_hf(path, **kwargs):
    from keras_bert_zoo.convert.hf import from_hf as f

    return f(path, **kwargs)


def from_google(path, **kwargs):
    from keras_bert_zoo.convert.google import from_google as f

    return f(path, **kwargs)


def from_model_garden(path, **kwargs):
    from keras_bert_zoo.convert.garden import from_model_garden as f

    return f(path, **kwargs)


def from_keras_hub(source, **kwargs):
    from keras_bert_zoo.convert.keras_hub import from_keras_hub as f

    return f(source, **kwargs)


def export_hf(model, out_dir, **kwargs):
    from keras_bert_zoo.convert.hf import export_hf as f

    return f(model, out_dir, **kwargs)


from_hf.__doc__ = "Import a Hugging Face BERT directory; see :func:`keras_bert_zoo.convert.hf.from_hf`."
from_google.__doc__ = "Import a google-research/bert checkpoint; see :func:`keras_bert_zoo.convert.google.from_google`."
from_model_garden.__doc__ = ("Import a Model Garden BertEncoder checkpoint; see "
                             ":func:`keras_bert_zoo.convert.garden.from_model_garden`.")
from_keras_hub.__doc__ = ("Import a keras-hub BertBackbone; see "
                          ":func:`keras_bert_zoo.convert.keras_hub.from_keras_hub`.")
export_hf.__doc__ = "Write a Hugging Face directory; see :func:`keras_bert_zoo.convert.hf.export_hf`."

FORMATS = {"hf": from_hf, "google": from_google, "garden": from_model_garden, "keras_hub": from_keras_hub}


def detect_format(path) -> str:
    """``"hf"``, ``"google"``, ``"garden"`` or ``"keras_hub"`` for a checkpoint directory (or its
    :class:`~keras_bert_zoo.convert.common.CheckpointFiles`, whose files are then not opened again)."""
    from keras_bert_zoo.convert.common import CheckpointFiles

    files = CheckpointFiles.of(path)
    d = files.directory
    if not d.is_dir():
        raise ConversionError(f"{d}: not a directory")
    data = files.json("config.json")
    if data is not None:
        if str(data.get("registered_name", "")).startswith("keras_hub>") or "keras_hub" in str(data.get("module")):
            return "keras_hub"
        if any(files.has(f) for f in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")):
            return "hf"
    if list(d.glob("*.index")):
        from keras_bert_zoo.convert.google import find_checkpoint

        try:
            prefix = find_checkpoint(d)
        except ConversionError:
            prefix = str(sorted(d.glob("*.index"))[0])[: -len(".index")]
        keys = files.tf_checkpoint(prefix).get_variable_to_shape_map()
        if "bert/embeddings/word_embeddings" in keys:
            return "google"
        if any(k.endswith("/.ATTRIBUTES/VARIABLE_VALUE") for k in keys):
            return "garden"
    raise ConversionError(f"{d}: cannot tell the checkpoint format (no HF config.json + weights, keras-hub "
                          f"config.json, or TensorFlow checkpoint with BERT variables)")


def load(fmt: str, path, **kwargs):
    """``FORMATS[fmt](path, **kwargs)``; ``fmt="auto"`` detects the format (each file is still opened once)."""
    from keras_bert_zoo.convert.common import CheckpointFiles

    if fmt == "auto":
        if isinstance(path, (str, os.PathLike)):
            path = CheckpointFiles(path)
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise ConversionError(f"Unknown format {fmt!r}; expected one of {sorted(FORMATS)} or 'auto'")
    return FORMATS[fmt](path, **kwargs)
