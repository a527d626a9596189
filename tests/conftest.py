"""Shared test fixtures: tiny odd-shaped configs catch transposes that square shapes hide."""

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers share the cores: one TF thread pool thread each keeps them from oversubscribing (the CLI
    # subprocesses the tests start inherit it). A test that measures threads sets its own.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import numpy as np
import pytest

from keras_bert_zoo.config import BertConfig

TINY = BertConfig(vocab_size=99, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=37,
                  max_position_embeddings=16, type_vocab_size=2)

#: TINY with room for 64 positions, for the task tests whose raw-text examples pack to more than 16 tokens.
#: Other sizes are ``TINY.replace(field=...)`` at the test that needs them, so each difference is visible.
TINY_LONG = TINY.replace(max_position_embeddings=64)


#: the pyproject extra that installs each optional test dependency (top-level module name -> extra)
EXTRAS = {"torch": "test", "transformers": "test", "tokenizers": "test", "jax": "test", "sklearn": "test",
          "seqeval": "test", "tf2onnx": "onnx", "onnxruntime": "onnx", "keras_hub": "hub", "official": "garden",
          "ai_edge_litert": "litert", "sklearn_crfsuite": "test", "keras_tuner": "tune", "regex": "test",
          "selenium": "test", "nbclient": "test", "nbformat": "test", "ipykernel": "test", "apache_beam": "beam"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def require(module: str):
    """Import and return ``module`` (dotted names too) for a test that needs an optional dependency.

    Missing, it skips the test (or the whole module, when called at module level) with the extra to install,
    but under ``CI=true`` it FAILS instead: CI installs every extra, so a missing module there is a broken
    install that a skip would hide. (At module level the failure is a collection error, which stops the run.)
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra = EXTRAS.get(module.split(".")[0], "all")
        msg = f"optional dependency {module} is missing ({e}): pip install -e '.[{extra}]'"
        if in_ci():
            pytest.fail(f"CI=true and {msg}", pytrace=False)
        pytest.skip(msg, allow_module_level=True)


@pytest.fixture(autouse=True)
def _global_dtype_policy_is_left_as_found():
    """A test that leaves Keras's global dtype policy changed fails, and the policy is reset for the next test
    of the worker. (``run_finetune`` once left it at ``mixed_bfloat16`` on AMX CPUs, where ``auto`` picks bf16:
    every later test of that worker then built bf16 models and 28 unrelated tests failed.)"""
    import keras

    before = keras.config.dtype_policy().name
    yield
    after = keras.config.dtype_policy().name
    if after != before:
        keras.config.set_dtype_policy(before)
        pytest.fail(f"the test left the global Keras dtype policy at {after!r} (it was {before!r})", pytrace=False)


@pytest.fixture
def tiny_config():
    return TINY


@pytest.fixture
def checkpoint_opens(monkeypatch):
    """A ``collections.Counter`` of ``(reader, path)`` for every file the importers open from here on: the
    three readers of ``keras_bert_zoo.convert.common`` (small files, TF checkpoints, safetensors) counted."""
    import collections

    from keras_bert_zoo.convert import common

    opened = collections.Counter()

    def counting(name, real):
        def wrapper(path, *args, **kwargs):
            opened[(name, str(path))] += 1
            return real(path, *args, **kwargs)
        return wrapper

    for name in ("read_file", "open_tf_checkpoint", "open_safetensors"):
        monkeypatch.setattr(common, name, counting(name, getattr(common, name)))
    return opened


def packed_inputs(batch=3, seq=7, vocab=99, seed=0, pad_from=None):
    """Random valid packed inputs; row 1 is padded from ``pad_from`` when given."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(batch, seq)).astype("int32")
    segments = np.zeros((batch, seq), "int32")
    segments[:, seq // 2:] = 1
    mask = np.ones((batch, seq), "int32")
    if pad_from is not None:
        ids[1, pad_from:] = 0
        segments[1, pad_from:] = 0
        mask[1, pad_from:] = 0
    return {"token_ids": ids, "segment_ids": segments, "padding_mask": mask}


# --- scheduling over pytest-xdist workers (pyproject: -n auto --dist loadfile --no-loadscope-reorder) ---------
#: test files that take the most time, started first so the workers finish together (the tail of a run is
#: otherwise one long file started last); ordered by each file's total time in the combined run of `.ci/run`
#: (`--junitxml` of `pytest -m "not slow or slow"`, docs/notes/issue-29.md round 5)
HEAVY_FIRST = (
    "tests/cli/test_demo_zh.py", "tests/batch/test_beam.py", "tests/cli/test_finetune_cli.py",
    "tests/export/test_serving_trim.py", "tests/tasks/test_question_answerer.py",
    "tests/tasks/test_token_classifier.py", "tests/reliability/test_runs.py", "tests/export/test_tflite.py",
    "tests/tasks/test_token_classifier_crf.py", "tests/test_backends.py", "tests/cli/test_demo_en.py",
    "tests/cli/test_finetune_tasks_cli.py", "tests/reliability/test_cli.py", "tests/text/test_tokenizer_parity.py",
    "tests/export/test_tflite_spans.py", "tests/cli/test_tune.py", "tests/tasks/test_task_harness.py",
    "tests/export/test_cli.py", "tests/train/test_pretraining.py", "tests/reliability/test_serving.py",
    "tests/train/test_pretraining_cli.py", "tests/cli/test_toy_task.py",
    "tests/examples/test_quickstart_notebook.py", "tests/export/test_keras_export.py",
    "tests/apps/test_demo_zh_pretrain.py", "tests/tasks/test_classification.py",
    "tests/train/test_distribute_faults.py", "tests/train/test_recipe.py", "tests/train/test_tune.py",
    "tests/export/test_concurrent_export.py",
)
#: files whose tests share no module fixture: their tests are spread over the workers one by one; every other
#: file runs whole on one worker, so its module- and session-scoped fixtures are built once
SPREAD = ("tests/tasks/test_task_harness.py", "tests/cli/test_finetune_tasks_cli.py", "tests/train/test_recipe.py",
          "tests/test_backends.py")


def _path_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(_path_of(item.nodeid), len(rank)))   # stable: file order kept otherwise


@pytest.hookimpl(tryfirst=True, optionalhook=True)   # optional: `-p no:xdist` runs without it
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (pyproject's addopts), except that the tests of a SPREAD file are work units of their
    own. (xdist's ``loadgroup`` marks do nothing under pytest 9: xdist 3.8 renames ``item._nodeid``, which pytest 9
    no longer reads, so every module fixture was built once on each worker.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesOrSpread(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = _path_of(nodeid)
            return nodeid if path in SPREAD else path

    return FilesOrSpread(config, log)
