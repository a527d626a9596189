"""`bert-zoo make-pretraining-data` -> `bert-zoo pretrain` (static), then continued pretraining (dynamic)."""

import json
import os

import pytest

from tests.cli.runner import bert_zoo
from tests.conftest import TINY

SENTENCES = ["the cat sat on the mat.", "a dog ran in the park!", "我们今天去北京。", "it was unbelievable?",
             "the sun is hot.", "cats and dogs play."]


def _bert_zoo(*args, cwd):
    proc = bert_zoo(*args, cwd=cwd)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_make_data_pretrain_and_continue(tmp_path):
    words = sorted({w for s in SENTENCES for w in s.replace(".", " .").replace("!", " !").replace("?", " ?").split()
                    if w.isascii()})
    vocab = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "!", "?", "。"] + words
                               + list("我们今天去北京")))
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    text = "\n\n".join(" ".join(SENTENCES[(i + k) % 6] for k in range(4)) for i in range(30))
    (tmp_path / "corpus.txt").write_text(text + "\n", encoding="utf-8")
    config = TINY.replace(vocab_size=len(vocab), max_position_embeddings=32)  # the corpus's vocab, 32 tokens
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()), encoding="utf-8")

    # the old spellings --output_dir / --max_seq_length still work, with a one-line deprecation notice each
    proc = _bert_zoo("make-pretraining-data", "--input=corpus.txt", "--input_format=plain", "--vocab=vocab.txt",
                     "--output_dir=data", "--max_seq_length=32", "--max_predictions_per_seq=5", "--dupe_factor=2",
                     "--num_shards=2", "--whole_word_masking", cwd=tmp_path)
    assert "--output_dir is deprecated" in proc.stderr and "--max_seq_length is deprecated" in proc.stderr
    out = proc.stdout
    meta = json.loads(out[out.index("{"):])
    assert meta["examples"] > 50 and meta["num_shards"] == 2
    _bert_zoo("pretrain", "--data=data", "--vocab=vocab.txt", "--config=config.json", "--out=run",
              "--batch_size=8", "--sequence_length=32", "--max_predictions_per_seq=5", "--steps_per_epoch=5",
              "--epochs=2", "--nojit_compile", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["tokens_per_second"] > 0 and summary["final"]["loss"] > 0
    assert {"backbone.keras", "pretrainer.keras", "vocab.txt", "checkpoints", "config.json", "model.safetensors",
            "tokenizer_config.json"} <= set(os.listdir(tmp_path / "run"))
    # continued pretraining of the saved backbone, dynamic masking from the raw corpus
    _bert_zoo("pretrain", "--init_from=run/backbone.keras", "--corpus=corpus.txt", "--corpus_format=plain",
              "--vocab=vocab.txt", "--out=run2", "--batch_size=8", "--sequence_length=32",
              "--max_predictions_per_seq=5", "--steps_per_epoch=5", "--epochs=1", "--nojit_compile", cwd=tmp_path)
    # ... and of the output directory as a checkpoint (what finetune --preset reads), no --vocab needed
    _bert_zoo("pretrain", "--init_from=run2", "--corpus=corpus.txt", "--corpus_format=plain", "--out=run3",
              "--batch_size=8", "--sequence_length=32", "--mixed_precision=float32", "--max_predictions_per_seq=5", "--steps_per_epoch=2",
              "--epochs=1", "--nojit_compile", cwd=tmp_path)
    import keras
    import numpy as np

    from keras_bert_zoo import presets
    from keras_bert_zoo.models.backbone import BertBackbone

    saved = keras.saving.load_model(str(tmp_path / "run3" / "backbone.keras"), safe_mode=True)
    assert isinstance(saved, BertBackbone)
    loaded, tokenizer = presets.from_preset(str(tmp_path / "run3"), backbone_only=True)
    assert tokenizer.lowercase and list(tokenizer.vocabulary) == vocab
    assert len(loaded.weights) == len(saved.weights)
    for a, b in zip(loaded.weights, saved.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert json.loads((tmp_path / "run3" / "summary.json").read_text())["final"]["loss"] > 0
