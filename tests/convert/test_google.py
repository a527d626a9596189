"""google-research/bert checkpoints: a TF1 checkpoint written here with the reference variable names, from the
weights of a random HF model, must give HF's outputs (HF's ``gelu_pytorch_tanh`` is Google's tanh GELU)."""

import logging

import numpy as np
import pytest

from tests.conftest import require

torch = require("torch")
transformers = require("transformers")
import tensorflow as tf  # noqa: E402

from keras_bert_zoo import BertBackbone  # noqa: E402
from keras_bert_zoo.convert import WeightLoadError, from_google  # noqa: E402

from convert_helpers import TINY, TOL, max_abs, packed_inputs, random_hf_model, torch_inputs, write_vocab  # noqa: E402


def google_names(state):
    """HF state dict -> the variable names and layouts of google-research/bert (modeling.py, run_*.py)."""
    out = {}
    for name, value in state.items():
        value = value.numpy()
        if name.endswith("position_ids") or name.startswith("cls.predictions.decoder."):
            continue  # a buffer; the decoder is tied to the word embeddings (Google has no such variable)
        if name.startswith("bert."):
            g = "bert/" + name[len("bert."):]
        elif name.startswith("cls."):
            g = name
        elif name.startswith("classifier."):
            g = "output_" + ("weights" if name.endswith("weight") else "bias")
            out[g] = value
            continue
        elif name.startswith("qa_outputs."):
            out["cls/squad/output_" + ("weights" if name.endswith("weight") else "bias")] = value
            continue
        else:
            raise AssertionError(name)
        if g.startswith("cls/") or g.startswith("cls."):
            g = g.replace("cls.predictions.bias", "cls/predictions/output_bias")
            if "seq_relationship" in g:
                out["cls/seq_relationship/output_" + ("weights" if g.endswith("weight") else "bias")] = value
                continue  # Google keeps [2, hidden]
        g = g.replace(".", "/").replace("/layer/", "/layer_")
        if "LayerNorm" in g:
            g = g.replace("/weight", "/gamma").replace("/bias", "/beta")
        elif g.endswith("_embeddings/weight"):
            g = g[: -len("/weight")]
        elif g.endswith("/weight"):
            g, value = g[: -len("/weight")] + "/kernel", value.T
        out[g] = value
    return out


def write_tf1_checkpoint(directory, tensors):
    directory.mkdir(parents=True, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.Variable(v, name=k) for k, v in tensors.items()]
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(directory / "bert_model.ckpt"), write_meta_graph=False)


def make_google_dir(tmp_path, arch, with_optimizer=False):
    hf = random_hf_model(arch, seed=5, hidden_act="gelu_pytorch_tanh")
    tensors = google_names(hf.state_dict())
    if "bert/pooler/dense/kernel" not in tensors:  # run_squad.py builds (and saves) the unused pooler too
        rng = np.random.default_rng(0)
        tensors["bert/pooler/dense/kernel"] = rng.normal(size=(32, 32)).astype(np.float32)
        tensors["bert/pooler/dense/bias"] = rng.normal(size=(32,)).astype(np.float32)
    if with_optimizer:
        tensors["global_step"] = np.int64(1000)
        tensors["bert/embeddings/word_embeddings/adam_m"] = np.zeros((99, 32), np.float32)
        tensors["bert/embeddings/word_embeddings/adam_v"] = np.zeros((99, 32), np.float32)
    d = tmp_path / "uncased_L-2_H-32_A-4"
    write_tf1_checkpoint(d, tensors)
    TINY.to_google_json(d / "bert_config.json")
    write_vocab(d / "vocab.txt")
    return hf, d


def test_pretraining_checkpoint_parity(tmp_path):
    hf, d = make_google_dir(tmp_path, "BertForPreTraining", with_optimizer=True)
    assert "bert/encoder/layer_1/attention/self/query/kernel" in dict(tf.train.list_variables(str(d)))
    model, tokenizer = from_google(d)
    assert model.backbone.config.activation == "gelu_approximate"
    inputs = packed_inputs(seed=6)
    positions = np.array([[1, 2, 5], [4, 1, 3]], "int32")
    ours = model(dict(inputs, mask_positions=positions))
    with torch.no_grad():
        ref = hf(**torch_inputs(inputs))
        ref_seq = hf.bert(**torch_inputs(inputs)).last_hidden_state.numpy()
    ref_mlm = np.take_along_axis(ref.prediction_logits.numpy(), positions[:, :, None], axis=1)
    seq = model.backbone(inputs)["sequence_output"]
    for key, a, b in (("sequence_output", seq, ref_seq), ("mlm_logits", ours["mlm_logits"], ref_mlm),
                      ("nsp_logits", ours["nsp_logits"], ref.seq_relationship_logits.numpy())):
        diff = max_abs(a, b)
        print(f"PARITY google BertForPreTraining {key} max_abs={diff:.3g}")
        assert diff <= TOL
    assert tokenizer.lowercase is True  # "uncased" in the directory name
    assert sorted(model.load_report.ignored) == ["bert/embeddings/word_embeddings/adam_m",
                                                 "bert/embeddings/word_embeddings/adam_v", "global_step"]
    # For the note: how far the exact-erf reading of "gelu" is from the reference on this tiny model.
    exact, _ = from_google(d, exact_gelu=True, backbone_only=True)
    print(f"INFO google exact-vs-tanh GELU sequence_output max_abs="
          f"{max_abs(exact(inputs)['sequence_output'], ref_seq):.3g}")


@pytest.mark.parametrize("arch", ["BertForSequenceClassification", "BertForQuestionAnswering"])
def test_fine_tuned_checkpoint_parity(tmp_path, arch):
    hf, d = make_google_dir(tmp_path, arch)
    model, _ = from_google(d)
    inputs = packed_inputs(seed=7)
    ours = model(inputs)
    with torch.no_grad():
        ref = hf(**torch_inputs(inputs))
    if arch == "BertForQuestionAnswering":
        pairs = [("start_logits", ours["start_logits"], ref.start_logits), ("end_logits", ours["end_logits"],
                                                                            ref.end_logits)]
    else:
        pairs = [("logits", ours, ref.logits)]
    for key, a, b in pairs:
        diff = max_abs(a, b.numpy())
        print(f"PARITY google {arch} {key} max_abs={diff:.3g}")
        assert diff <= TOL


def test_backbone_only_and_errors(tmp_path, caplog):
    hf, d = make_google_dir(tmp_path, "BertForPreTraining")
    with caplog.at_level(logging.WARNING, logger="keras_bert_zoo.convert"):
        model, _ = from_google(d, backbone_only=True)
    assert isinstance(model, BertBackbone)
    assert "cls/seq_relationship/output_weights" in caplog.text
    with pytest.raises(WeightLoadError, match="cls/predictions/output_bias"):
        from_google(d, architecture="BertModel")
    # a bert_config.json that disagrees with the checkpoint
    TINY.replace(num_layers=3).to_google_json(d / "bert_config.json")
    with pytest.raises(WeightLoadError, match="bert/encoder/layer_2/attention/self/query/kernel  expected"):
        from_google(d)


def test_google_to_hf_export_keeps_tanh_gelu(tmp_path):
    """Google checkpoint -> ours -> HF directory: transformers reads it back with the same arithmetic."""
    from keras_bert_zoo.convert import export_hf

    hf, d = make_google_dir(tmp_path, "BertForSequenceClassification")
    model, tokenizer = from_google(d)
    out = export_hf(model, tmp_path / "hf_out", vocabulary=tokenizer)
    reloaded = transformers.BertForSequenceClassification.from_pretrained(out).eval()
    assert reloaded.config.hidden_act == "gelu_pytorch_tanh"
    inputs = packed_inputs(seed=14)
    with torch.no_grad():
        a = reloaded(**torch_inputs(inputs)).logits.numpy()
        b = hf(**torch_inputs(inputs)).logits.numpy()
    assert max_abs(a, b) <= 1e-6
