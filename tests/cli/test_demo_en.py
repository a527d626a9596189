"""`bert-zoo demo` (English tweets) end to end on small subsets, with the recipe's flags (slow): the run
writes its reports and summary, and a model fine-tuned under mixed_bfloat16 exports a verified SavedModel."""

import json

import pytest

from tests.cli.test_demo_zh import bert_zoo


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_en_bf16_layer_decay_exports(tmp_path):
    out, export = tmp_path / "run", tmp_path / "exports"
    r = bert_zoo("demo", "--train_examples=96", "--val_examples=32", "--test_examples=64", "--epochs=1",
                 "--mixed_precision=mixed_bfloat16", "--layer_decay=0.9", "--learning_rate=1e-4", "--seed=3",
                 "--nobaseline", f"--out={out}", f"--export={export}", timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["train_examples"] == 96 and summary["test_examples"] == 64
    assert (summary["mixed_precision"], summary["layer_decay"], summary["seed"]) == ("mixed_bfloat16", 0.9, 3)
    assert 0.0 <= summary["minilm"]["accuracy"] <= 1.0
    assert summary["saved_model"].endswith("tweet_sentiment/1")
    assert (export / "tweet_sentiment" / "1" / "saved_model.pb").exists()
    assert (out / "test").is_dir() and (out / "model.keras").exists()
    # report.html: the demo's own numbers, and the attention explorer starting with the demo's sentence
    from keras_bert_zoo.viz.run_data import gather

    page = gather(out)
    assert page["tables"][1]["rows"]["minilm"]["accuracy"] == summary["minilm"]["accuracy"]
    assert page["attention"]["examples"][0]["text"].startswith("I love how smooth")
    assert (out / "report.html").stat().st_size < 1_000_000


def test_demo_refuses_en_flags_with_lang_zh():
    r = bert_zoo("demo", "--lang=zh", "--layer_decay=0.9", timeout=120)
    assert r.returncode != 0 and "--layer_decay" in r.stderr and "do not apply to --lang=zh" in r.stderr


def test_demo_refuses_a_layer_decay_out_of_range():
    r = bert_zoo("demo", "--layer_decay=-1", timeout=120)
    assert r.returncode != 0 and "--layer_decay=-1" in r.stderr and "[0.0, 1.0]" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_flags_are_read_once_into_the_apps_configs():
    """`bert-zoo demo` turns its default flags into exactly the apps' default configs (the apps are the source of
    the defaults the command documents), and an English-only flag reaches EnDemoConfig."""
    import subprocess
    import sys

    code = ("from absl import flags\n"
            "from keras_bert_zoo.cli import demo\n"
            "from keras_bert_zoo.apps.demo_en import EnDemoConfig\n"
            "from keras_bert_zoo.apps.demo_zh import ZhDemoConfig\n"
            "flags.FLAGS(['demo'])\n"
            "assert demo.en_config_from_flags() == EnDemoConfig(), demo.en_config_from_flags()\n"
            "assert demo.zh_config_from_flags() == ZhDemoConfig(), demo.zh_config_from_flags()\n"
            "flags.FLAGS.unparse_flags()\n"
            "flags.FLAGS(['demo', '--class_weight=none', '--sequence_length=48', '--export=', '--seed=4'])\n"
            "c = demo.en_config_from_flags()\n"
            "assert (c.class_weight, c.sequence_length, c.export, c.seed) == (None, 48, '', 4), c\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-3000:]
