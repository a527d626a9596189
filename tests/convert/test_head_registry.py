"""Import any head (issue 26): ``convert.from_hf(head_checkpoint)`` returns the task model with no extra argument.

The converters sit below the task classes (tests/test_imports.py) and never import them: the package root
registers ``keras_bert_zoo.tasks.task_models`` in :mod:`keras_bert_zoo.convert.registry`. The test runs the
import in a fresh process that imports only ``keras_bert_zoo.convert`` (the test process has imported the task
classes already, which would hide a missing registration), for every Hugging Face head architecture and the
google-research/bert heads (pre-training, classifier, SQuAD); Model Garden and keras-hub checkpoints are
encoders (their importers refuse a head architecture, tests/convert/test_import_core.py).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

torch = require("torch")
transformers = require("transformers")

from keras_bert_zoo.config import BertConfig  # noqa: E402
from keras_bert_zoo.convert import ConversionError, registry  # noqa: E402
from keras_bert_zoo.convert.common import ARCHITECTURES, build_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HF_HEADS = sorted(set(ARCHITECTURES) - {"BertModel"})
GOOGLE_HEADS = ["BertForPreTraining", "BertForSequenceClassification", "BertForQuestionAnswering"]

FRESH = """
import json, sys
import keras_bert_zoo.convert as convert
assert "keras_bert_zoo.tasks" not in sys.modules                      # nothing imported the task classes yet
out = {}
for fmt, key, path in json.loads(sys.argv[1]):
    model, tokenizer = convert.load(fmt, path)                         # no model_classes, no extra argument
    out[key] = [type(model).__module__, type(model).__name__, model.load_report.assigned]
print("RESULT" + json.dumps(out))
"""


def test_every_head_imports_as_its_task_model_in_a_fresh_process(tmp_path):
    from test_google import make_google_dir
    from test_hf import make_hf_dir

    from keras_bert_zoo.tasks import task_models

    jobs = [("hf", f"hf/{arch}", str(make_hf_dir(tmp_path / "hf", arch)[1])) for arch in HF_HEADS]
    jobs += [("google", f"google/{arch}", str(make_google_dir(tmp_path / "google" / arch, arch)[1]))
             for arch in GOOGLE_HEADS]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", FRESH, json.dumps(jobs)], capture_output=True, text=True,
                          env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.split("RESULT", 1)[1])
    models = task_models()
    for _, key, _ in jobs:
        arch = key.split("/", 1)[1]
        module, name, assigned = got[key]
        assert (module, name) == (models[arch].__module__, models[arch].__name__), key
        assert assigned > 0, key


def test_model_classes_still_overrides_and_an_unregistered_head_is_one_line():
    from keras_bert_zoo.tasks import TextClassifier, TokenClassifier

    tiny = BertConfig(vocab_size=99, hidden_size=32, num_layers=1, num_heads=4, intermediate_size=37)
    assert type(build_model("BertForSequenceClassification", tiny)) is TextClassifier          # the registry
    model = build_model("BertForSequenceClassification", tiny, model_classes={
        "BertForSequenceClassification": TokenClassifier})
    assert type(model) is TokenClassifier                                                      # the override
    with pytest.raises(ConversionError, match=r"holds a BertForMaskedLM \(a task head\) and no task class is "
                                              r"registered for it \(registered: \[\]\): pass model_classes="
                                              r"\{'BertForMaskedLM': <class>\} or backbone_only=True") as err:
        build_model("BertForMaskedLM", tiny, model_classes={})
    assert "\n" not in str(err.value)


def test_registry_providers():
    def extra():
        return {"BertForSequenceClassification": "theirs"}

    before = list(registry._PROVIDERS)
    try:
        registry.register_model_provider(extra)
        registry.register_model_provider(extra)                     # once only
        assert registry._PROVIDERS.count(extra) == 1
        assert registry.model_classes()["BertForSequenceClassification"] == "theirs"   # the later provider wins
        assert registry.model_classes()["BertForTokenClassification"].__name__ == "TokenClassifier"
    finally:
        registry._PROVIDERS[:] = before
    with pytest.raises(TypeError, match="takes a function"):
        registry.register_model_provider({"BertModel": object})
