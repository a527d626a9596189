"""Smoke test of the INSTALLED package (a wheel in a fresh venv), run from outside the source tree.

It fails when a module or a data file is missing from the wheel: import, `bert-zoo --help`, `bert-zoo make-vocab`,
then a tiny classifier on raw strings: fit, predict, save/load (.keras, safe mode), export (SavedModel, verified).
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import keras_bert_zoo

here = Path(keras_bert_zoo.__file__).resolve()
assert "site-packages" in here.parts, f"keras_bert_zoo imported from {here}, not from the installed wheel"
assert (here.parent / "resources" / "serving_ops").is_dir(), "package data missing: resources/serving_ops"

work = Path(tempfile.mkdtemp(prefix="bert_zoo_smoke_"))
bert_zoo = [sys.executable, "-m", "keras_bert_zoo.cli.main"]
subprocess.run(bert_zoo + ["--help"], check=True, capture_output=True)
words = "a great day it rained an awful film what fun the best movie ever so boring not good at all loved it".split()
corpus = work / "corpus.txt"
corpus.write_text("\n".join(" ".join(words[i:] + words[:i]) for i in range(len(words))) + "\n", encoding="utf-8")
subprocess.run(bert_zoo + ["make-vocab", f"--input={corpus}", f"--out={work / 'vocab.txt'}", "--vocab_size=200",
                           "--min_count=1"], check=True)

import keras  # noqa: E402

from keras_bert_zoo import BertBackbone, BertConfig, TextClassifier  # noqa: E402
from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer  # noqa: E402

tokenizer = WordPieceTokenizer(str(work / "vocab.txt"), lowercase=True)
config = BertConfig(vocab_size=tokenizer.vocabulary_size(), hidden_size=32, num_layers=1, num_heads=2,
                    intermediate_size=37)
clf = TextClassifier(BertBackbone(config), preprocessor=BertPreprocessor(tokenizer, sequence_length=16),
                     labels=["negative", "positive"])
texts, labels = ["a great day", "an awful film", "loved it", "so boring"], ["positive", "negative"] * 2
clf.fit(texts, labels, epochs=1, batch_size=2, verbose=0)
out = clf.predict(["what fun", "not good at all"], verbose=0)
assert out["probabilities"].shape == (2, 2), out
clf.save(work / "clf.keras")
again = keras.saving.load_model(work / "clf.keras", safe_mode=True)
assert again.predict(["what fun"], verbose=0)["probabilities"].shape == (1, 2)
result = clf.export(work / "clf_saved_model", format="tf_saved_model")   # verified in process and in a fresh one
assert (work / "clf_saved_model" / "saved_model.pb").is_file()
# the runtime dependencies only: no tensorflow-serving-api, so no warm-up requests, and the export says so
assert result.info["warmup"].startswith("skipped"), result.info["warmup"]
print(f"smoke test passed: keras_bert_zoo {getattr(keras_bert_zoo, '__version__', '?')} from {here.parent}")
