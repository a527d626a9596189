"""keras_bert_zoo: BERT in Keras 3 — build, pretrain, import, fine-tune and export (SavedModel, TFLite).

    import keras_bert_zoo
    backbone, tokenizer = keras_bert_zoo.from_preset("minilm_l6_h384_uncased", backbone_only=True)
    config = keras_bert_zoo.BertConfig.from_name("bert_uncased_L-2_H-128")

The names below are resolved on first use, so importing a ground-floor module (``keras_bert_zoo.config``,
``keras_bert_zoo.cache``) does not import Keras or TensorFlow. Keras finds our classes in a ``.keras`` file once
their module is imported: ``import keras_bert_zoo.models`` (or touch ``keras_bert_zoo.BertBackbone``) before
``keras.saving.load_model``.
"""

__version__ = "0.1.0"

__all__ = ["BertConfig", "ConfigError", "BertBackbone", "from_preset", "load_backbone", "__version__"]


def from_preset(name_or_path, **kwargs):
    """Load a pretrained model (and its tokenizer) from a preset name or a local directory; see
    :func:`keras_bert_zoo.presets.from_preset`."""
    from keras_bert_zoo import presets

    return presets.from_preset(name_or_path, **kwargs)


def load_backbone(name_or_path, **kwargs):
    """The :class:`BertBackbone` of a preset name or checkpoint directory; see
    :func:`keras_bert_zoo.presets.load_backbone`."""
    from keras_bert_zoo import presets

    return presets.load_backbone(name_or_path, **kwargs)


def __getattr__(name):
    if name in ("BertConfig", "ConfigError"):
        from keras_bert_zoo import config

        return getattr(config, name)
    if name == "BertBackbone":
        from keras_bert_zoo.models.backbone import BertBackbone

        return BertBackbone
    raise AttributeError(f"module 'keras_bert_zoo' has no attribute {name!r}")
