"""Helpers for the converter tests: a tiny vocabulary, the tiny odd-shaped config, random inputs, checkpoints."""

import numpy as np

from tests.conftest import TINY  # noqa: F401  (the one tiny config of the test suite)
BATCH, SEQ = 2, 7
TOL = 1e-4


def tiny_vocab_tokens(cased=False):
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = ["the", "a", "cat", "dog", "sat", "on", "mat", "bert", "zoo", "hello", "world", "keras", "is",
             "fun", "run", "##s", "##ing", "##ed", "un", "##able", "中", "文", "字", ".", ",", "!", "?"]
    if cased:
        words += ["The", "Cat", "Hello", "World"]
    tokens = special + words
    tokens += [f"w{i}" for i in range(99 - len(tokens))]
    assert len(tokens) == 99
    return tokens


def write_vocab(path, cased=False):
    path.write_text("\n".join(tiny_vocab_tokens(cased)) + "\n", encoding="utf-8")
    return path


def packed_inputs(seed=0, batch=BATCH, seq=SEQ, vocab=99):
    """Int32 inputs with [CLS]/[SEP], both segment ids and a padded row (odd length 7)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, size=(batch, seq)).astype("int32")
    ids[:, 0] = 2
    segments = np.zeros((batch, seq), "int32")
    segments[:, seq // 2:] = 1
    mask = np.ones((batch, seq), "int32")
    mask[-1, seq - 2:] = 0
    ids[-1, seq - 2:] = 0
    segments[-1, seq - 2:] = 0
    ids[:, seq - 1] = np.where(mask[:, seq - 1] == 1, 3, 0)
    return {"token_ids": ids, "segment_ids": segments, "padding_mask": mask}


def max_abs(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)))




def hf_config(num_labels=3, **overrides):
    import transformers

    values = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                  max_position_embeddings=16, type_vocab_size=2, num_labels=num_labels, hidden_act="gelu")
    values.update(overrides)
    return transformers.BertConfig(**values)


def random_hf_model(arch, seed=0, **overrides):
    """A random HF model of ``arch`` in eval mode; every parameter is perturbed so that a swapped bias or
    LayerNorm parameter shows up."""
    import torch
    import transformers

    torch.manual_seed(seed)
    if arch == "BertForQuestionAnswering":
        overrides.setdefault("num_labels", 2)  # HF splits 2 logits into start / end
    model = getattr(transformers, arch)(hf_config(**overrides)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def torch_inputs(inputs):
    import torch

    names = {"token_ids": "input_ids", "segment_ids": "token_type_ids", "padding_mask": "attention_mask"}
    return {names[k]: torch.tensor(v, dtype=torch.long) for k, v in inputs.items() if k in names}


def write_tf_checkpoint(prefix, tensors):
    """A TF checkpoint at ``prefix`` holding ``tensors`` under exactly these keys (TF1 Saver, any names)."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        variables = {k: tf.compat.v1.Variable(v, name=f"v{i}") for i, (k, v) in enumerate(tensors.items())}
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(prefix), write_meta_graph=False)
