"""Model Garden BertEncoder (V1 functional and V2) and keras-hub BertBackbone: parity with the real libraries."""

import numpy as np
import pytest

import keras
import tensorflow as tf

from keras_bert_zoo import BertBackbone
from keras_bert_zoo.convert import WeightLoadError, detect_format, from_keras_hub, from_model_garden

from tests.conftest import require

from convert_helpers import TINY, TOL, max_abs, packed_inputs, tiny_vocab_tokens, write_vocab


def _perturb(weights, seed):
    rng = np.random.default_rng(seed)
    return [w + rng.normal(scale=0.05, size=w.shape).astype(w.dtype) for w in weights]


# ------------------------------------------------------------------------------------------- Model Garden
@pytest.mark.parametrize("version", ["BertEncoder", "BertEncoderV2"])
def test_model_garden_parity(tmp_path, version):
    networks = require("official.nlp.modeling.networks")
    tf.random.set_seed(0)  # reproducible reference initialisation (the printed numbers repeat run to run)
    kwargs = dict(vocab_size=99, hidden_size=32, num_layers=2, num_attention_heads=4, inner_dim=37,
                  max_sequence_length=16, type_vocab_size=2)
    if version == "BertEncoder":
        kwargs["dict_outputs"] = True
    encoder = getattr(networks, version)(**kwargs)  # default inner_activation: Model Garden's tanh GELU
    inputs = packed_inputs(seed=8)
    mg_inputs = {"input_word_ids": inputs["token_ids"], "input_mask": inputs["padding_mask"],
                 "input_type_ids": inputs["segment_ids"]}
    encoder(mg_inputs)
    encoder.set_weights(_perturb(encoder.get_weights(), 9))
    ref = encoder(mg_inputs, training=False)
    d = tmp_path / "mg_uncased"
    tf.train.Checkpoint(encoder=encoder).write(str(d / "bert_model.ckpt"))
    TINY.to_google_json(d / "bert_config.json")
    write_vocab(d / "vocab.txt")
    assert detect_format(d) == "garden"
    model, tokenizer = from_model_garden(d)
    assert model.config.activation == "gelu_approximate"
    ours = model(inputs)
    for key in ("sequence_output", "pooled_output"):
        diff = max_abs(ours[key], ref[key].numpy())
        print(f"PARITY garden {version} {key} max_abs={diff:.3g}")
        assert diff <= TOL
    # a config with other shapes is refused with every mis-shaped weight listed
    TINY.replace(num_heads=8).to_google_json(d / "bert_config.json")
    with pytest.raises(WeightLoadError, match=r"_transformer_layers/0/_attention_layer/_query_dense/kernel  "
                                              r"expected shape \[32, 8, 4\]  found \[32, 4, 8\]"):
        from_model_garden(d)


# ---------------------------------------------------------------------------------------------- keras-hub
def _hub_backbone():
    keras_hub = require("keras_hub")
    keras.utils.set_random_seed(0)
    hub = keras_hub.models.BertBackbone(vocabulary_size=99, num_layers=2, num_heads=4, hidden_dim=32,
                                        intermediate_dim=37, max_sequence_length=16, num_segments=2)
    hub.set_weights(_perturb(hub.get_weights(), 10))
    return keras_hub, hub


def test_keras_hub_preset_dir_parity(tmp_path):
    keras_hub, hub = _hub_backbone()
    d = tmp_path / "hub_preset"
    hub.save_to_preset(str(d))
    hub_tokenizer = keras_hub.models.BertTokenizer(vocabulary=tiny_vocab_tokens(cased=True), lowercase=False)
    hub_tokenizer.save_to_preset(str(d))
    assert detect_format(d) == "keras_hub"
    model, tokenizer = from_keras_hub(d)
    assert isinstance(model, BertBackbone)
    assert tokenizer.lowercase is False  # from keras-hub's tokenizer.json
    inputs = packed_inputs(seed=11)
    ref = hub(inputs)
    ours = model(inputs)
    for key in ("sequence_output", "pooled_output"):
        diff = max_abs(ours[key], ref[key])
        print(f"PARITY keras_hub preset {key} max_abs={diff:.3g}")
        assert diff <= TOL


def test_keras_hub_model_object_parity():
    keras_hub, hub = _hub_backbone()
    tok = keras_hub.models.BertTokenizer(vocabulary=tiny_vocab_tokens(), lowercase=True)
    model, tokenizer = from_keras_hub(hub, tokenizer=tok)
    assert tokenizer.lowercase is True
    inputs = packed_inputs(seed=12)
    diff = max(max_abs(model(inputs)[k], hub(inputs)[k]) for k in ("sequence_output", "pooled_output"))
    print(f"PARITY keras_hub object all_outputs max_abs={diff:.3g}")
    assert diff <= TOL
