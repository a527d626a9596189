"""`bert-zoo convert` and `bert-zoo presets`, run as real subprocesses (the absl flags stay in their process)."""

import json

import keras
import numpy as np

from keras_bert_zoo import BertBackbone
from keras_bert_zoo.convert import export_hf
from keras_bert_zoo.tasks import TextClassifier

from convert_helpers import TINY, packed_inputs, tiny_vocab_tokens
from tests.cli.runner import bert_zoo, environment


def _run(args, env_extra=None):
    return bert_zoo(*args, env=environment(**(env_extra or {})), timeout=300)


def test_convert_hf_to_keras_file(tmp_path):
    model = TextClassifier(BertBackbone(TINY), num_classes=3)
    src = export_hf(model, tmp_path / "hf_src", vocabulary=tiny_vocab_tokens(cased=True))
    out = tmp_path / "out"
    proc = _run(["convert", "--from=hf", str(src), "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TextClassifier, 41 variables assigned" in proc.stdout
    assert "reloaded max abs diff 0" in proc.stdout
    loaded = keras.saving.load_model(out / "model.keras", safe_mode=True)
    inputs = packed_inputs(seed=13)
    np.testing.assert_allclose(np.asarray(loaded(inputs)), np.asarray(model(inputs)), atol=1e-6)
    assert (out / "vocab.txt").read_text(encoding="utf-8").split("\n")[:99] == tiny_vocab_tokens(cased=True)
    assert json.loads((out / "tokenizer_config.json").read_text()) == {"do_lower_case": False}


def test_presets_lists_names_and_cache_state(tmp_path):
    proc = _run(["presets"], {"KERAS_BERT_ZOO_CACHE": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[2:]}
    assert lines["minilm_l6_h384_uncased"][1:3] == ["hf", "no"]
    assert lines["bert_base_uncased"][1:3] == ["google", "no"]
    assert str(tmp_path) in proc.stdout.splitlines()[0]
