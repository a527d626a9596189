"""TF Model Garden (tf-models-official) ``BertEncoder`` / ``BertEncoderV2`` checkpoints: ``from_model_garden``.

Written with ``tf.train.Checkpoint(encoder=...)`` (object-graph keys ending in ``/.ATTRIBUTES/VARIABLE_VALUE``).
``BertEncoderV2`` keys name attributes (``_transformer_layers/3/_attention_layer/_query_dense/kernel``); the
functional ``BertEncoder`` numbers its layers (``layer_with_weights-K``: word, position, type embeddings,
embedding LayerNorm, the L transformer layers, the pooler). The reader maps both to the V2 names the table
uses. Attention kernels are EinsumDense [D, N, H] / [N, H, D]; the hooks merge the head axes. Reading needs
only TensorFlow, not tf-models-official. The config comes from ``bert_config.json`` / ``config.json`` beside
the checkpoint or ``config=``.

    from keras_bert_zoo.convert.garden import from_model_garden
    backbone, tokenizer = from_model_garden("bert_en_uncased_L-12_H-768_A-12")
"""

from __future__ import annotations

import logging
import re

from keras_bert_zoo.convert.common import CheckpointFiles, ConversionError, check_options, load_checkpoint
from keras_bert_zoo.convert.google import TFCheckpointReader, find_checkpoint, read_config
from keras_bert_zoo.convert.table import einsum_encoder_table

__all__ = ["GARDEN_TABLE", "from_model_garden", "garden_key_mapper"]

logger = logging.getLogger("keras_bert_zoo.convert")

GARDEN_TABLE = einsum_encoder_table("TF Model Garden BertEncoder", (
    "_embedding_layer/embeddings", "_position_embedding_layer/embeddings", "_type_embedding_layer/embeddings",
    "_embedding_norm_layer", "_pooler_layer", "_attention_layer/_query_dense", "_attention_layer/_key_dense",
    "_attention_layer/_value_dense", "_attention_layer/_output_dense", "_attention_layer_norm",
    "_intermediate_dense", "_output_dense", "_output_layer_norm"), layer="_transformer_layers/{i}",
    ignore=(r"_CHECKPOINTABLE_OBJECT_GRAPH", r"^save_counter$", r"(^|/)optimizer/", r"/\.OPTIMIZER_SLOT/"))

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
# Functional BertEncoder: layer_with_weights-K -> V2 attribute name (K >= 4 are transformer layers, then pooler).
_V1_FIXED = {0: "_embedding_layer", 1: "_position_embedding_layer", 2: "_type_embedding_layer",
             3: "_embedding_norm_layer"}


def garden_key_mapper(keys, num_layers: int):
    """A function mapping checkpoint keys to table names (or leaving them as they are when foreign)."""
    roots = set()
    for key in keys:
        m = re.match(r"^((?:.*/)?)(_embedding_layer|layer_with_weights-0)/embeddings" + re.escape(_SUFFIX) + "$",
                     key)
        if m:
            roots.add(m.group(1))
    if len(roots) != 1:
        raise ConversionError(f"Cannot find one Model Garden BertEncoder in the checkpoint (found roots "
                              f"{sorted(roots)}); expected keys like 'encoder/_embedding_layer/embeddings"
                              f"{_SUFFIX}' or 'encoder/layer_with_weights-0/embeddings{_SUFFIX}'")
    root = roots.pop()

    def rename(key):
        if not (key.startswith(root) and key.endswith(_SUFFIX)):
            return key
        name = key[len(root): -len(_SUFFIX)]
        m = re.match(r"^layer_with_weights-(\d+)/(.*)$", name)
        if m:
            k, rest = int(m.group(1)), m.group(2)
            if k in _V1_FIXED:
                return f"{_V1_FIXED[k]}/{rest}"
            if 4 <= k < 4 + num_layers:
                return f"_transformer_layers/{k - 4}/{rest}"
            if k == 4 + num_layers:
                return f"_pooler_layer/{rest}"
        return name

    return rename


def from_model_garden(path, *, architecture: str | None = None, backbone_only: bool = False, config=None,
                      lowercase: bool | None = None, tokenizer=None, num_choices: int = 4, exact_gelu: bool = False,
                      dtype=None, model_classes=None, allow_vocab_mismatch: bool = False):
    """Import a Model Garden BertEncoder checkpoint as a :class:`BertBackbone`.

        backbone, tokenizer = from_model_garden("bert_en_uncased_L-12_H-768_A-12", backbone_only=True)

    Args:
        path: a checkpoint directory / prefix (with bert_config.json or config.json and vocab.txt beside it).
        architecture: only ``"BertModel"`` (an encoder checkpoint has no heads); anything else is an error.
        backbone_only: accepted for every format; the result is always the backbone.
        config: BertConfig / dict / size name when no config file is beside the checkpoint.
        lowercase / tokenizer: force the casing / use this tokenizer's vocabulary and casing.
        num_choices: not applicable (no heads).
        exact_gelu: read ``hidden_act: "gelu"`` in the config file as the exact GELU; by default it is Model
            Garden's ``activations.gelu``, the tanh approximation.
        dtype: dtype policy for the model.
    Returns:
        ``(backbone, tokenizer)``.
    """
    check_options("Model Garden", {"architecture": "a BertEncoder checkpoint holds only the encoder",
                                   "num_choices": "no multiple-choice head"},
                  architecture=architecture, num_choices=num_choices)
    files = CheckpointFiles.of(path)
    prefix = find_checkpoint(files.path)
    cfg = read_config(files, config, exact_gelu)
    raw = TFCheckpointReader(prefix, rename=lambda key: None, files=files)  # opens the checkpoint once
    reader = raw.renamed(garden_key_mapper(raw.raw_shapes, cfg.num_layers))
    return load_checkpoint(reader, GARDEN_TABLE, cfg, "BertModel", backbone_only=backbone_only, dtype=dtype,
                           files=files, tokenizer=tokenizer, lowercase=lowercase,
                           allow_vocab_mismatch=allow_vocab_mismatch)
