"""`bert-zoo` in a subprocess: the one helper the CLI tests use.

    r = bert_zoo("predict", "--model", path, stdin="a text\n")          # text stdout/stderr, quiet TensorFlow
    r = bert_zoo("predict", "--bogus=1", as_user=True, text=False, importtime=True)

The process runs ``python -m keras_bert_zoo.cli.main`` with this checkout first on ``PYTHONPATH`` (so
``--task_module tests....`` imports, and a checkout run never falls back to another installed tree).
``as_user``: the environment a person has — without the tests' TF_CPP_MIN_LOG_LEVEL, CUDA_VISIBLE_DEVICES and
BERT_ZOO_TRACEBACK — to see the noise and the errors a user would see; otherwise TensorFlow's C++ log is quiet
and no GPU is probed. ``importtime``: run with ``-X importtime`` (which modules were imported before the answer).
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HIDDEN_FROM_USER = ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES", "BERT_ZOO_TRACEBACK")


def environment(as_user: bool = False, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not (as_user and k in HIDDEN_FROM_USER)}
    if not as_user:
        env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env.update(extra)
    return env


def bert_zoo(*args, stdin=None, cwd=None, timeout=600, as_user=False, text=True, importtime=False, env=None):
    """The finished ``bert-zoo ARGS`` process (``subprocess.CompletedProcess``; stdout/stderr captured)."""
    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-m", "keras_bert_zoo.cli.main"]
    return subprocess.run(cmd + [str(a) for a in args], input=stdin, capture_output=True, cwd=cwd, text=text,
                          env=env or environment(as_user), timeout=timeout)
