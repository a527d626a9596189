"""Hugging Face import / export: parity with transformers for every architecture, round trip, clear errors."""

import json
import logging

import numpy as np
import pytest

from tests.conftest import require

torch = require("torch")
transformers = require("transformers")
transformers.utils.logging.disable_progress_bar()

from keras_bert_zoo import BertBackbone  # noqa: E402
from keras_bert_zoo.convert import WeightLoadError, export_hf, from_hf  # noqa: E402
from keras_bert_zoo.convert.common import build_model, detect_lowercase  # noqa: E402
from keras_bert_zoo.convert.hf import HF_TABLE, HFReader, read_hf_weights  # noqa: E402
from keras_bert_zoo.convert.table import load_weights  # noqa: E402
from keras_bert_zoo.config import BertConfig  # noqa: E402

from convert_helpers import TOL, max_abs, packed_inputs, random_hf_model, torch_inputs, write_vocab  # noqa: E402

NUM_LABELS, NUM_CHOICES = 3, 3


def make_hf_dir(tmp_path, arch, seed=0, **overrides):
    """A random HF model of ``arch`` saved with save_pretrained, plus vocab and tokenizer_config."""
    model = random_hf_model(arch, seed, **overrides)
    directory = tmp_path / arch
    model.save_pretrained(directory)
    write_vocab(directory / "vocab.txt")
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    return model, directory


def report(arch, key, diff):
    print(f"PARITY hf {arch} {key} max_abs={diff:.3g}")


def test_bert_model_parity_and_tokenizer(tmp_path):
    hf, d = make_hf_dir(tmp_path, "BertModel")
    model, tokenizer = from_hf(d)
    assert isinstance(model, BertBackbone)
    inputs = packed_inputs()
    ours = model(inputs)
    with torch.no_grad():
        ref = hf(**torch_inputs(inputs))
    for key, ref_value in (("sequence_output", ref.last_hidden_state), ("pooled_output", ref.pooler_output)):
        diff = max_abs(ours[key], ref_value.numpy())
        report("BertModel", key, diff)
        assert diff <= TOL
    assert tokenizer.lowercase is True


@pytest.mark.parametrize("arch", ["BertForSequenceClassification", "BertForTokenClassification",
                                  "BertForQuestionAnswering", "BertForMaskedLM"])
def test_task_parity(tmp_path, arch):
    hf, d = make_hf_dir(tmp_path, arch)
    model, _ = from_hf(d)
    inputs = packed_inputs(seed=1)
    ours = model(inputs)
    with torch.no_grad():
        ref = hf(**torch_inputs(inputs))
    if arch == "BertForQuestionAnswering":
        pairs = [("start_logits", ours["start_logits"], ref.start_logits), ("end_logits", ours["end_logits"],
                                                                            ref.end_logits)]
        assert tuple(ours["start_logits"].shape) == inputs["token_ids"].shape
    else:
        pairs = [("logits", ours, ref.logits)]
    expected_shape = {"BertForSequenceClassification": (2, NUM_LABELS), "BertForTokenClassification": (2, 7, NUM_LABELS),
                      "BertForMaskedLM": (2, 7, 99)}.get(arch)
    if expected_shape:
        assert tuple(ours.shape) == expected_shape
    for key, a, b in pairs:
        diff = max_abs(a, b.numpy())
        report(arch, key, diff)
        assert diff <= TOL


def test_pretraining_parity(tmp_path):
    hf, d = make_hf_dir(tmp_path, "BertForPreTraining")
    model, _ = from_hf(d)
    inputs = packed_inputs(seed=2)
    positions = np.array([[1, 3, 4], [2, 1, 0]], "int32")
    ours = model(dict(inputs, mask_positions=positions))
    with torch.no_grad():
        ref = hf(**torch_inputs(inputs))
    ref_mlm = np.take_along_axis(ref.prediction_logits.numpy(), positions[:, :, None], axis=1)
    for key, a, b in (("mlm_logits", ours["mlm_logits"], ref_mlm),
                      ("nsp_logits", ours["nsp_logits"], ref.seq_relationship_logits.numpy())):
        diff = max_abs(a, b)
        report("BertForPreTraining", key, diff)
        assert diff <= TOL


def test_multiple_choice_parity(tmp_path):
    hf, d = make_hf_dir(tmp_path, "BertForMultipleChoice")
    model, _ = from_hf(d, num_choices=NUM_CHOICES)
    inputs = packed_inputs(seed=3, batch=NUM_CHOICES)
    stacked = {k: np.stack([v, v[::-1]]) for k, v in inputs.items()}           # [B=2, K=3, T]
    ours = model(stacked)
    with torch.no_grad():
        ref = hf(**{k: torch.tensor(v, dtype=torch.long) for k, v in
                    zip(("input_ids", "token_type_ids", "attention_mask"),
                        (stacked["token_ids"], stacked["segment_ids"], stacked["padding_mask"]))})
    assert tuple(ours.shape) == (2, NUM_CHOICES)
    diff = max_abs(ours, ref.logits.numpy())
    report("BertForMultipleChoice", "logits", diff)
    assert diff <= TOL


@pytest.mark.parametrize("arch", ["BertModel", "BertForSequenceClassification", "BertForTokenClassification",
                                  "BertForQuestionAnswering", "BertForMaskedLM", "BertForPreTraining",
                                  "BertForMultipleChoice"])
def test_round_trip_identical_tensors(tmp_path, arch):
    _, d = make_hf_dir(tmp_path, arch)
    model, tokenizer = from_hf(d)
    out = export_hf(model, tmp_path / "exported", vocabulary=d / "vocab.txt", lowercase=True)
    original, exported = read_hf_weights(d), read_hf_weights(out)
    assert sorted(original) == sorted(exported)
    for name in original:
        assert original[name].dtype == exported[name].dtype, name
        np.testing.assert_array_equal(original[name], exported[name], err_msg=name)
    assert (out / "vocab.txt").read_text() == (d / "vocab.txt").read_text()
    assert json.loads((out / "config.json").read_text())["architectures"] == [arch]
    # transformers itself loads the export without missing or unexpected keys
    _, info = getattr(transformers, arch).from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info


def test_pytorch_bin_weights_only(tmp_path):
    hf, d = make_hf_dir(tmp_path, "BertForSequenceClassification")
    (d / "model.safetensors").unlink()
    torch.save(hf.state_dict(), d / "pytorch_model.bin")
    model, _ = from_hf(d)
    inputs = packed_inputs(seed=4)
    with torch.no_grad():
        ref = hf(**torch_inputs(inputs)).logits.numpy()
    assert max_abs(model(inputs), ref) <= TOL


def test_backbone_only_skips_and_logs_heads(tmp_path, caplog):
    hf, d = make_hf_dir(tmp_path, "BertForPreTraining")
    with caplog.at_level(logging.WARNING, logger="keras_bert_zoo.convert"):
        model, _ = from_hf(d, backbone_only=True)
    assert isinstance(model, BertBackbone)
    assert "cls.seq_relationship.weight" in model.load_report.skipped
    assert "cls.predictions.transform.dense.weight" in caplog.text
    inputs = packed_inputs()
    with torch.no_grad():
        ref = hf.bert(**torch_inputs(inputs))
    assert max_abs(model(inputs)["sequence_output"], ref.last_hidden_state.numpy()) <= TOL
    assert max_abs(model(inputs)["pooled_output"], ref.pooler_output.numpy()) <= TOL


def test_heads_without_backbone_only_are_an_error(tmp_path):
    _, d = make_hf_dir(tmp_path, "BertForPreTraining")
    with pytest.raises(WeightLoadError, match="cls.seq_relationship.weight"):
        from_hf(d, architecture="BertModel")


def test_all_problems_in_one_error_and_nothing_assigned(tmp_path):
    _, d = make_hf_dir(tmp_path, "BertForSequenceClassification")
    tensors = read_hf_weights(d)
    del tensors["bert.encoder.layer.1.attention.self.key.bias"]                          # missing
    tensors["bert.encoder.layer.0.intermediate.dense.weight"] = np.zeros((38, 32), np.float32)  # mis-shaped
    tensors["bert.extra.weight"] = np.zeros((5,), np.float32)                           # unexpected
    from safetensors.numpy import save_file

    save_file(tensors, str(d / "model.safetensors"))
    config = BertConfig.from_hf_json(d / "config.json")
    model = build_model("BertForSequenceClassification", config, num_labels=NUM_LABELS)
    before = [np.array(v) for v in model.weights]
    with pytest.raises(WeightLoadError) as err:
        load_weights(model, HFReader(d), HF_TABLE, config,
                     ("backbone", "pooler", "classifier"))
    text = str(err.value)
    assert "encoder.layer.1.attention.self.key.bias  expected shape [32]" in text
    assert "encoder.layer.0.intermediate.dense.weight  expected shape [37, 32]  found [38, 32]" in text
    assert "extra.weight  found shape [5]" in text
    assert "nothing was assigned" in text
    for b, v in zip(before, model.weights):
        np.testing.assert_array_equal(b, np.array(v))
    with pytest.raises(WeightLoadError):
        from_hf(d)


def test_config_disagreeing_with_weights_is_an_error(tmp_path):
    _, d = make_hf_dir(tmp_path, "BertModel")
    cfg = json.loads((d / "config.json").read_text())
    cfg["intermediate_size"] = 40
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightLoadError, match=r"Mis-shaped weights \(6\)"):
        from_hf(d)


def test_pooled_architecture_without_pooler_is_an_error(tmp_path):
    _, d = make_hf_dir(tmp_path, "BertForSequenceClassification")
    tensors = {k: v for k, v in read_hf_weights(d).items() if "pooler" not in k}
    from safetensors.numpy import save_file

    save_file(tensors, str(d / "model.safetensors"))
    with pytest.raises(WeightLoadError, match="no pooler weights"):
        from_hf(d)


def test_untied_decoder_is_an_error(tmp_path):
    _, d = make_hf_dir(tmp_path, "BertForMaskedLM")
    tensors = read_hf_weights(d)
    tensors["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"] + 1.0
    from safetensors.numpy import save_file

    save_file(tensors, str(d / "model.safetensors"))
    with pytest.raises(WeightLoadError, match="not tied"):
        from_hf(d)


def test_casing_detection(tmp_path):
    d = tmp_path / "some_model"
    d.mkdir()
    write_vocab(d / "vocab.txt", cased=True)
    from keras_bert_zoo.convert.common import read_vocab

    tokens = read_vocab(d / "vocab.txt")
    assert detect_lowercase(d, tokens) == (False, "vocabulary has uppercase pieces")
    (d / "tokenizer.json").write_text(json.dumps({"normalizer": {"type": "BertNormalizer", "lowercase": True}}))
    assert detect_lowercase(d, tokens)[0] is True
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    assert detect_lowercase(d, tokens) == (False, "tokenizer_config.json do_lower_case")
    e = tmp_path / "bert-base-uncased"
    e.mkdir()
    assert detect_lowercase(e, tokens)[0] is True


def test_sharded_safetensors_and_tokenizer_json_only(tmp_path):
    hf = random_hf_model("BertForTokenClassification", seed=6)
    d = tmp_path / "sharded"
    hf.save_pretrained(d, max_shard_size="20KB")
    assert (d / "model.safetensors.index.json").is_file() and not (d / "model.safetensors").exists()
    from convert_helpers import tiny_vocab_tokens

    tokens = tiny_vocab_tokens(cased=True)
    (d / "tokenizer.json").write_text(json.dumps({
        "normalizer": {"type": "BertNormalizer", "lowercase": False, "strip_accents": None},
        "model": {"type": "WordPiece", "vocab": {t: i for i, t in enumerate(tokens)}}}))
    model, tokenizer = from_hf(d)
    assert tokenizer.lowercase is False and list(tokenizer.vocabulary) == tokens
    inputs = packed_inputs(seed=5)
    with torch.no_grad():
        ref = hf(**torch_inputs(inputs)).logits.numpy()
    assert max_abs(model(inputs), ref) <= TOL
