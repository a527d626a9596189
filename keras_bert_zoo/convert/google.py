"""The original google-research/bert release layout: ``from_google``.

A directory with ``bert_config.json``, ``bert_model.ckpt.{index,data-*}`` and ``vocab.txt``, as in Google's
zips (``uncased_L-12_H-768_A-12`` etc.) and checkpoints written by its ``run_pretraining.py`` /
``run_classifier.py`` / ``run_squad.py``. Variables keep TF1 names (``bert/encoder/layer_N/attention/self/
query/kernel``); TF dense kernels are already [in, out] like ours, except the ``output_weights`` matrices of the
heads, which are [out, in]. Optimizer slots (``adam_m`` / ``adam_v``) and ``global_step`` are ignored.

    from keras_bert_zoo.convert.google import from_google
    model, tokenizer = from_google("uncased_L-12_H-768_A-12")                  # BertModel / task by heads
    backbone, tokenizer = from_google("run_classifier_output", backbone_only=True)
"""

from __future__ import annotations

import logging
from pathlib import Path

from keras_bert_zoo.config import BertConfig
from keras_bert_zoo.convert.common import CheckpointFiles, ConversionError, given_config, load_checkpoint
from keras_bert_zoo.convert.table import (BERT_LAYER_NAMES, IDENTITY, TRANSPOSE, Rule, TensorReader, WeightTable,
                                          embedding_rows, encoder_layer_rows, pair)

__all__ = ["GOOGLE_TABLE", "from_google", "TFCheckpointReader", "find_checkpoint", "read_config"]

logger = logging.getLogger("keras_bert_zoo.convert")

_HEAD, _OUT_IN = ("output_weights", "output_bias"), (TRANSPOSE, IDENTITY)


GOOGLE_TABLE = WeightTable(
    format="Google BERT (TF1)",
    rules=tuple(
        embedding_rows("bert/embeddings/word_embeddings", "bert/embeddings/position_embeddings",
                       "bert/embeddings/token_type_embeddings", "bert/embeddings/LayerNorm")
        + encoder_layer_rows("bert/encoder/layer_{i}", BERT_LAYER_NAMES)
        + pair("bert/pooler/dense", "pooler/dense", group="pooler")
        + pair("cls/predictions/transform/dense", "mlm_head/transform", group="mlm")
        + pair("cls/predictions/transform/LayerNorm", "mlm_head/layer_norm", "norm", group="mlm")
        + [Rule("cls/predictions/output_bias", "mlm_head/output_bias", IDENTITY, "mlm")]
        # the heads keep [out, in] ``output_weights``: run_pretraining.py, run_classifier.py, run_squad.py
        + pair("cls/seq_relationship", "nsp_head", names=_HEAD, hooks=_OUT_IN, group="nsp")
        + pair("", "classifier", names=_HEAD, hooks=_OUT_IN, group="classifier")
        + pair("cls/squad", "qa_outputs", names=_HEAD, hooks=_OUT_IN, group="qa_outputs")
    ),
    ignore=(r"^global_step$", r"/adam_[mv]$", r"^good_steps$", r"^loss_scale$", r"_CHECKPOINTABLE_OBJECT_GRAPH"),
)


def find_checkpoint(path) -> str:
    """The checkpoint prefix for ``path``: a prefix itself, a ``.index`` file, or a directory holding one."""
    import tensorflow as tf

    p = Path(path)
    if p.is_dir():
        latest = tf.train.latest_checkpoint(str(p))
        if latest:
            return latest
        indexes = sorted(p.glob("*.index"))
        if len(indexes) == 1:
            return str(indexes[0])[: -len(".index")]
        if not indexes:
            raise ConversionError(f"{p}: no TensorFlow checkpoint (*.index) found")
        raise ConversionError(f"{p}: several checkpoints {[i.name for i in indexes]}; pass the prefix of one")
    if p.suffix == ".index" and p.is_file():
        return str(p)[: -len(".index")]
    if Path(f"{p}.index").is_file():
        return str(p)
    raise ConversionError(f"{p}: not a TensorFlow checkpoint (no {p}.index)")


class TFCheckpointReader(TensorReader):
    """A TF checkpoint's tensors; ``rename`` maps checkpoint keys to table names (None drops a key).

    ``files`` (a :class:`CheckpointFiles`) opens the checkpoint at most once; :meth:`renamed` gives another
    view of the same open checkpoint.
    """

    def __init__(self, prefix: str, rename=None, files: CheckpointFiles | None = None):
        files = files or CheckpointFiles(prefix)
        self.description = prefix
        self._files = files
        self._reader = files.tf_checkpoint(prefix)
        self.raw_shapes = {k: tuple(int(d) for d in shape)
                           for k, shape in self._reader.get_variable_to_shape_map().items()}
        rename = rename or (lambda key: key)
        self._keys, self._shapes = {}, {}
        for key, shape in self.raw_shapes.items():
            name = rename(key)
            if name is None:
                continue
            if name in self._keys:
                raise ConversionError(f"{prefix}: keys {self._keys[name]!r} and {key!r} both map to {name!r}")
            self._keys[name] = key
            self._shapes[name] = shape

    def renamed(self, rename) -> "TFCheckpointReader":
        """The same open checkpoint under other names."""
        return TFCheckpointReader(self.description, rename, self._files)

    def names(self):
        return list(self._keys)

    def shape(self, name):
        return self._shapes[name]

    def get(self, name):
        return self._reader.get_tensor(self._keys[name])


def _detect_architecture(names) -> str:
    names = set(names)
    if "cls/squad/output_weights" in names:
        return "BertForQuestionAnswering"
    if "output_weights" in names:
        return "BertForSequenceClassification"
    if "cls/seq_relationship/output_weights" in names:
        return "BertForPreTraining"
    if "cls/predictions/output_bias" in names:
        return "BertForMaskedLM"
    return "BertModel"


def read_config(files, config=None, exact_gelu: bool = False) -> BertConfig:
    """``config`` (BertConfig / dict / size name, used as given) or the checkpoint's bert_config.json /
    config.json (``files``: a :class:`CheckpointFiles` or a directory).

    In a config file, ``hidden_act: "gelu"`` means what the TensorFlow code that trained the checkpoint
    computes: google-research/bert's ``modeling.gelu`` and Model Garden's ``activations.gelu`` are both the tanh
    approximation, so it becomes ``activation="gelu_approximate"`` unless ``exact_gelu``.
    """
    if config is not None:
        return given_config(config)
    files = CheckpointFiles.of(files)
    for name, loader in (("bert_config.json", BertConfig.from_google_dict), ("config.json",
                                                                             BertConfig.from_hf_dict)):
        values = files.json(name)
        if values is not None:
            cfg = loader(values, source=str(files.directory / name))
            if cfg.activation == "gelu" and not exact_gelu:
                cfg = cfg.replace(activation="gelu_approximate")
            return cfg
    raise ConversionError(f"{files.directory}: no bert_config.json or config.json; pass config=")


def from_google(path, *, architecture: str | None = None, backbone_only: bool = False, config=None,
                lowercase: bool | None = None, tokenizer=None, num_choices: int = 4, exact_gelu: bool = False,
                dtype=None, model_classes=None, allow_vocab_mismatch: bool = False):
    """Import a google-research/bert checkpoint directory (or checkpoint prefix).

    The architecture is detected from the head variables (``cls/predictions`` + ``cls/seq_relationship`` ->
    pretraining, ``output_weights`` -> sequence classification, ``cls/squad`` -> QA, none -> backbone) unless
    given. ``backbone_only`` skips (and logs) the heads. ``config`` overrides bert_config.json; "gelu" there
    is Google's tanh approximation unless ``exact_gelu`` (see :func:`read_config`). ``tokenizer`` replaces the
    checkpoint's vocab.txt and casing. Returns ``(model, tokenizer)``.

        model, tokenizer = from_google("uncased_L-2_H-128_A-2", backbone_only=True)
    """
    files = CheckpointFiles.of(path)
    prefix = find_checkpoint(files.path)
    cfg = read_config(files, config, exact_gelu)
    reader = TFCheckpointReader(prefix, files=files)
    arch = architecture or _detect_architecture(reader.names())
    num_labels = reader.shape("output_weights")[0] if "output_weights" in reader.names() else 2
    return load_checkpoint(reader, GOOGLE_TABLE, cfg, arch, backbone_only=backbone_only, num_labels=num_labels,
                           num_choices=num_choices, dtype=dtype, files=files, tokenizer=tokenizer,
                           lowercase=lowercase, model_classes=model_classes,
                           allow_vocab_mismatch=allow_vocab_mismatch)
