"""keras_bert_zoo: BERT in Keras 3 — build, pretrain, import, fine-tune and export (SavedModel, TFLite)."""

__version__ = "0.1.0"

from keras_bert_zoo.config import BertConfig, ConfigError
from keras_bert_zoo.models.backbone import BertBackbone


def from_preset(name_or_path, **kwargs):
    """Load a pretrained model (and its tokenizer) from a preset name or a local directory."""
    from keras_bert_zoo import presets

    return presets.from_preset(name_or_path, **kwargs)


__all__ = ["BertConfig", "ConfigError", "BertBackbone", "from_preset", "__version__"]
