"""The shared importer core: every format takes the same keyword arguments (``backbone_only`` included, which
``bert-zoo finetune`` / ``demo`` pass through ``presets.from_preset``), and one import opens each file once."""

import collections
import inspect
import json

import numpy as np
import pytest

from tests.conftest import require

from keras_bert_zoo import BertBackbone, convert, presets
from keras_bert_zoo.convert import common
from keras_bert_zoo.convert.garden import GARDEN_TABLE
from keras_bert_zoo.convert.google import GOOGLE_TABLE
from keras_bert_zoo.convert.table import export_weights

from convert_helpers import TINY, packed_inputs, tiny_vocab_tokens, write_tf_checkpoint, write_vocab

FORMATS = ["hf", "google", "garden", "keras_hub"]


def _pretrainer(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    model = common.build_model("BertForPreTraining", TINY)          # the registry's class: Pretrainer
    model(dict(packed_inputs(), mask_positions=np.zeros((2, 2), "int32")))
    return model


def make_checkpoint(tmp_path, fmt):
    """A tiny checkpoint directory of ``fmt`` (with heads where the format has them) and the encoder it holds."""
    d = tmp_path / f"{fmt}_uncased"
    d.mkdir()
    if fmt == "hf":
        model = _pretrainer()
        convert.export_hf(model, d, vocabulary=tiny_vocab_tokens(), lowercase=True)
        tokens = tiny_vocab_tokens()
        (d / "tokenizer.json").write_text(json.dumps({
            "normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": None},
            "model": {"type": "WordPiece", "vocab": {t: i for i, t in enumerate(tokens)}}}))
        return d, model.backbone
    if fmt == "google":
        model = _pretrainer()
        tensors = export_weights(model, GOOGLE_TABLE, TINY, common.ARCHITECTURES["BertForPreTraining"])
        write_tf_checkpoint(d / "bert_model.ckpt", tensors)
        TINY.to_google_json(d / "bert_config.json")
        write_vocab(d / "vocab.txt")
        return d, model.backbone
    if fmt == "garden":
        backbone = BertBackbone(TINY)
        backbone(packed_inputs())
        tensors = export_weights(backbone, GARDEN_TABLE, TINY, common.ARCHITECTURES["BertModel"])
        write_tf_checkpoint(d / "bert_model.ckpt",
                            {f"encoder/{k}/.ATTRIBUTES/VARIABLE_VALUE": v for k, v in tensors.items()})
        TINY.to_google_json(d / "bert_config.json")
        write_vocab(d / "vocab.txt")
        return d, backbone
    keras_hub = require("keras_hub")
    hub = keras_hub.models.BertBackbone(vocabulary_size=99, num_layers=2, num_heads=4, hidden_dim=32,
                                        intermediate_dim=37, max_sequence_length=16, num_segments=2)
    hub.save_to_preset(str(d))
    keras_hub.models.BertTokenizer(vocabulary=tiny_vocab_tokens(), lowercase=True).save_to_preset(str(d))
    return d, hub


def test_every_importer_takes_the_same_keyword_arguments():
    from keras_bert_zoo.convert import garden, google, hf, keras_hub

    for fn in (hf.from_hf, google.from_google, garden.from_model_garden, keras_hub.from_keras_hub):
        params = list(inspect.signature(fn).parameters.values())
        assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD  # the source
        options = {p.name: p.default for p in params[1:]}
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:]), fn.__name__
        assert options == common.IMPORT_OPTIONS, fn.__name__


@pytest.mark.parametrize("fmt", FORMATS)
def test_from_preset_backbone_only_every_format(tmp_path, fmt):
    """Regression: from_preset(..., backbone_only=True) raised TypeError for Model Garden and keras-hub."""
    d, reference = make_checkpoint(tmp_path, fmt)
    assert convert.detect_format(d) == fmt
    name = f"test_local_{fmt}"  # a registered preset, the way `bert-zoo finetune --preset=NAME` loads it
    presets.register_preset(presets.Preset(name, presets.LocalSource(str(d)), fmt), overwrite=True)
    try:
        model, tokenizer = presets.from_preset(name, backbone_only=True)
    finally:
        del presets.PRESETS[name]
    assert isinstance(model, BertBackbone)
    model, tokenizer = presets.from_preset(str(d), backbone_only=True)  # a directory: detected format
    assert isinstance(model, BertBackbone)
    assert tokenizer is not None and tokenizer.vocabulary == tiny_vocab_tokens() and tokenizer.lowercase
    inputs = packed_inputs(seed=3)
    np.testing.assert_allclose(np.asarray(model(inputs)["sequence_output"]),
                               np.asarray(reference(inputs)["sequence_output"]), atol=1e-5)
    if fmt in ("hf", "google"):
        assert any("seq_relationship" in name for name in model.load_report.skipped)
    # the same keywords work through convert.load and load_backbone
    again = presets.load_backbone(str(d), lowercase=True)
    assert isinstance(again, BertBackbone)


@pytest.mark.parametrize("fmt", ["garden", "keras_hub"])
def test_options_a_format_cannot_honour_are_errors(tmp_path, fmt):
    d, _ = make_checkpoint(tmp_path, fmt)
    with pytest.raises(convert.ConversionError, match="architecture='BertForMaskedLM'"):
        convert.load(fmt, d, architecture="BertForMaskedLM")
    model, _ = convert.load(fmt, d, architecture="BertModel")
    assert isinstance(model, BertBackbone)


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_import_opens_each_file_once(tmp_path, checkpoint_opens, fmt):
    d, _ = make_checkpoint(tmp_path, fmt)
    opened = checkpoint_opens
    model, tokenizer = convert.load("auto", d, backbone_only=True)  # detection + import
    assert isinstance(model, BertBackbone) and tokenizer is not None
    twice = {k: n for k, n in opened.items() if n > 1}
    assert not twice, f"opened more than once: {twice}"
    kinds = collections.Counter(name for name, _ in opened)
    expected = {"hf": {"read_file": 4, "open_safetensors": 1},  # config, vocab, tokenizer_config, tokenizer.json
                "google": {"read_file": 2, "open_tf_checkpoint": 1},  # bert_config.json, vocab.txt
                "garden": {"read_file": 2, "open_tf_checkpoint": 1},
                "keras_hub": {"read_file": 3}}[fmt]  # config.json (detection), vocabulary.txt, tokenizer.json
    assert dict(kinds) == expected, opened
