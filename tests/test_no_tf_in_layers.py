"""Layers and the backbone must not import TensorFlow (they run on the JAX and torch backends)."""

import ast
import os

import keras

import keras_bert_zoo

PKG = os.path.dirname(keras_bert_zoo.__file__)
BACKEND_FREE = ["layers/attention.py", "layers/embeddings.py", "layers/encoder_block.py", "layers/heads.py",
                "layers/norm.py", "layers/crf.py", "layers/__init__.py", "models/backbone.py", "config.py"]


def _imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_layer_modules_do_not_import_tensorflow():
    for rel in BACKEND_FREE:
        bad = [m for m in _imports(os.path.join(PKG, rel)) if m.split(".")[0] in ("tensorflow", "tensorflow_text")]
        assert not bad, f"{rel} imports {bad}"


def test_backend_in_use():
    assert keras.backend.backend() in ("tensorflow", "jax", "torch")
