"""`bert-zoo demo --lang zh` (issue 13, item 5) as a command: flag checks and help fast, the whole command end to
end with a tiny budget (slow). The app's pieces: tests/apps/test_demo_zh.py."""

import json
import os
import subprocess
import sys

import pytest


def bert_zoo(*args, timeout=900, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd()] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                         if p])
    return subprocess.run([sys.executable, "-m", "keras_bert_zoo.cli.main", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=cwd)


@pytest.mark.parametrize("args,message", [
    (["--lang=zh", "--epochs=2"], "flag(s) --epochs do not apply to --lang=zh"),
    (["--time_budget_min=3"], "flag(s) --time_budget_min do not apply to --lang=en"),
    (["--lang=zh", "--lr_grid=fast"], "--lr_grid must be numbers"),
    (["--lang=zh", "--ner_lr_grid=1e-3,x"], "--ner_lr_grid must be numbers"),
])
def test_flags_of_the_other_language_are_refused(args, message, tmp_path):
    r = bert_zoo("demo", *args, f"--out={tmp_path / 'run'}", timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]
    assert message in r.stderr
    assert not (tmp_path / "run").exists()


def test_help_lists_the_zh_flags():
    r = bert_zoo("demo", "--help", timeout=120)
    assert r.returncode == 0
    for name in ("--lang", "--time_budget_min", "--pretrain_size", "--lr_grid", "--max_train_examples"):
        assert name in r.stdout


# ------------------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_demo_zh_end_to_end_tiny_budget(tmp_path):
    out, export = tmp_path / "run", tmp_path / "exports"
    r = bert_zoo("demo", "--lang=zh", "--time_budget_min=1", "--pretrain_size=bert_uncased_L-2_H-128",
                 "--max_pretrain_documents=400", "--max_train_examples=200", "--max_eval_examples=40",
                 "--lr_grid=3e-4", "--ner_lr_grid=1e-3", "--curve_points=2", "--sequence_length=64", f"--out={out}",
                 f"--export={export}", timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    corpora = summary["corpora"]
    assert corpora["sentiment"]["unique_texts"] == 17363 and corpora["ner"]["unique_paragraphs"] == 18994
    assert corpora["pretraining"]["characters"] > 2_000_000 and corpora["pretraining"]["documents_used"] == 400
    assert summary["vocabulary"]["cjk_tokens"] > 4000 and summary["vocabulary"]["character_coverage"] > 0.999
    curve = summary["pretraining"]["curve"]
    assert len(curve) >= 2 and curve[0]["steps"] == 0 and curve[-1]["steps"] > 0
    assert summary["pretraining"]["tokens_per_second"] > 0
    for row in curve[1:]:                                          # a backbone snapshot per curve point
        assert (out / "snapshots" / row["snapshot"]).exists()
    for kind in ("sentiment", "ner"):                              # runs sized from the measured step time
        ft = summary["finetuning"][kind]
        assert ft["step_seconds_measured"] > 0 and ft["steps_per_run"] >= 2 and ft["epochs_per_run"] > 0
        # one learning rate per task: no probes, the arm's one long run at it, scored along the way
        assert ft["pretrained"]["grid"] == [] and ft["pretrained"]["learning_rate"] == (3e-4 if kind == "sentiment"
                                                                                         else 1e-3)
        long_run = ft["pretrained"]["long_run"]
        assert 1 <= len(long_run["evaluations"]) <= ft["evaluations_per_run"]
        assert ft["pretrained"]["validation"] == max(e["validation"] for e in long_run["evaluations"])
    table = summary["table"]
    for arm in ("pretrained", "random_init", "tfidf_char_lr"):
        assert 0.0 <= table["sentiment"][arm]["accuracy"] <= 1.0 and "macro_f1" in table["sentiment"][arm]
    for arm in ("pretrained", "random_init"):
        assert {"entity_precision", "entity_recall", "entity_f1"} <= set(table["ner"][arm])
    assert "char_crf" in table["ner"]
    for phase in ("corpora", "vocabulary", "pretraining", "fine-tuning sentiment", "fine-tuning ner",
                  "test evaluation", "baselines", "attention map", "exports"):
        assert phase in summary["phase_seconds"], phase
    for name in ("vocab.txt", "attention.png", "attention_tokens.txt", "ner_examples.txt", "ner_examples.json",
                 "pretrained_backbone.keras", "sentiment/pretrained/test/report.json",
                 "sentiment/pretrained/test/confusion_matrix.png", "sentiment/random_init/test/predictions.csv",
                 "ner/pretrained/test/entity_report.csv", "ner/random_init/test/predictions.conll"):
        assert (out / name).exists(), name
    attention = json.loads((out / "attention.json").read_text(encoding="utf-8"))     # report.html's explorer
    tokens = attention["examples"][0]["tokens"]                                      # characters, not U+XXXX
    assert "酒店" in "".join(tokens) and sum(len(t) == 1 and ord(t) > 0x2e7f for t in tokens) >= 10
    assert (out / "report.html").exists()
    examples = json.loads((out / "ner_examples.json").read_text(encoding="utf-8"))
    assert examples and {"text", "gold", "predicted"} <= set(examples[0])
    exports = summary["exports"]
    assert (export / "zh_sentiment" / "1" / "saved_model.pb").exists()
    assert (export / "zh_ner" / "1" / "saved_model.pb").exists()
    assert "tflite" in exports["zh_sentiment"] and (export / "zh_sentiment-tflite-fp32" / "1" / "model.tflite").exists()
    assert (export / "zh_ner-tflite-fp32" / "1" / "model.tflite").exists(), exports["zh_ner"]   # no Flex ops
