"""The bert-zoo dispatcher: usage, unknown commands, and `info` with real parameter counts."""

import os
import subprocess
import sys

from keras_bert_zoo.cli import main as cli_main


def test_every_command_module_exists():
    import importlib.util

    for name, (module, _) in cli_main.COMMANDS.items():
        assert importlib.util.find_spec(module) is not None, f"bert-zoo {name}: module {module} is missing"


def test_usage_and_unknown_command(capsys):
    assert cli_main.run(["bert-zoo", "--help"]) == 0
    assert "finetune" in capsys.readouterr().out
    assert cli_main.run(["bert-zoo", "no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err


def test_info_prints_published_counts():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-m", "keras_bert_zoo.cli.main", "info"], capture_output=True,
                         text=True, env=env, timeout=300, check=True).stdout
    assert "bert_base_uncased" in out and "109,482,240" in out
    assert "4,385,920" in out  # BERT-Tiny
