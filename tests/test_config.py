import json

import pytest

from keras_bert_zoo.config import NAMED_CONFIGS, BertConfig, ConfigError
from tests.conftest import TINY


def test_small_berts_are_all_named():
    for layers in (2, 4, 6, 8, 10, 12):
        for hidden in (128, 256, 512, 768):
            c = BertConfig.from_name(f"bert_uncased_L-{layers}_H-{hidden}")
            assert (c.num_layers, c.hidden_size, c.num_heads, c.intermediate_size) == (
                layers, hidden, hidden // 64, 4 * hidden)
    assert len([n for n in NAMED_CONFIGS if n.startswith("bert_uncased_L-")]) == 24


@pytest.mark.parametrize("name,expected", [
    ("bert_base_uncased", (30522, 768, 12, 12, 3072)),
    ("bert_base_cased", (28996, 768, 12, 12, 3072)),
    ("bert_large_uncased", (30522, 1024, 24, 16, 4096)),
    ("bert_base_chinese", (21128, 768, 12, 12, 3072)),
    ("bert_base_multilingual_cased", (119547, 768, 12, 12, 3072)),
    ("minilm_l6_h384_uncased", (30522, 384, 6, 12, 1536)),
    ("minilm_l12_h384_uncased", (30522, 384, 12, 12, 1536)),
])
def test_named_sizes(name, expected):
    c = BertConfig.from_name(name)
    assert (c.vocab_size, c.hidden_size, c.num_layers, c.num_heads, c.intermediate_size) == expected
    assert c.layer_norm_eps == 1e-12 and c.activation == "gelu" and c.max_position_embeddings == 512


def test_unknown_name_lists_known():
    with pytest.raises(ConfigError, match="bert_base_uncased"):
        BertConfig.from_name("bert_gigantic")


def test_frozen_and_validated():
    c = BertConfig.from_name("bert_base_uncased")
    with pytest.raises(Exception):
        c.hidden_size = 10
    with pytest.raises(ConfigError, match="not divisible"):
        BertConfig(hidden_size=100, num_heads=3)
    with pytest.raises(ConfigError, match="activation"):
        BertConfig(activation="swishy")


def test_from_dict_names_unknown_keys():
    with pytest.raises(ConfigError, match=r"\['hiden_size'\]"):
        BertConfig.from_dict({"hiden_size": 3})


def test_hf_json_round_trip(tmp_path):
    c = TINY
    c.to_hf_json(tmp_path / "config.json")
    assert BertConfig.from_hf_json(tmp_path / "config.json") == c
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["num_hidden_layers"] == 2 and data["model_type"] == "bert"


def test_google_json_round_trip(tmp_path):
    c = BertConfig.from_name("bert_base_chinese")
    c.to_google_json(tmp_path / "bert_config.json")
    assert BertConfig.from_google_json(tmp_path / "bert_config.json") == c


def test_real_google_chinese_config_keys_accepted(tmp_path):
    # Keys as released in chinese_L-12_H-768_A-12/bert_config.json.
    released = {"attention_probs_dropout_prob": 0.1, "directionality": "bidi", "hidden_act": "gelu",
                "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
                "intermediate_size": 3072, "max_position_embeddings": 512, "num_attention_heads": 12,
                "num_hidden_layers": 12, "pooler_fc_size": 768, "pooler_num_attention_heads": 12,
                "pooler_num_fc_layers": 3, "pooler_size_per_head": 128, "pooler_type": "first_token_transform",
                "type_vocab_size": 2, "vocab_size": 21128}
    (tmp_path / "c.json").write_text(json.dumps(released))
    assert BertConfig.from_google_json(tmp_path / "c.json") == BertConfig.from_name("bert_base_chinese")


def test_unknown_external_keys_are_named(tmp_path):
    bad = BertConfig().to_hf_dict()
    bad["rotary_dim"] = 64
    (tmp_path / "c.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="rotary_dim"):
        BertConfig.from_hf_json(tmp_path / "c.json")
    bad = BertConfig().to_hf_dict(position_embedding_type="relative_key")
    with pytest.raises(ConfigError, match="relative_key"):
        BertConfig.from_hf_dict(bad)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        BertConfig.from_hf_json(tmp_path / "nope.json")
    (tmp_path / "broken.json").write_text("{\"vocab_size\": ")
    with pytest.raises(ConfigError, match="invalid JSON"):
        BertConfig.from_hf_json(tmp_path / "broken.json")
    (tmp_path / "partial.json").write_text(json.dumps({"vocab_size": 10}))
    with pytest.raises(ConfigError, match="hidden_size"):
        BertConfig.from_hf_json(tmp_path / "partial.json")
