"""The layers and the backbone use keras.ops only: their tests pass on the JAX backend too, and a task model
fits there (packed inputs, and raw strings through tf.data)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import require

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("backend", ["jax"])
def test_backbone_suite_on_other_backend(backend):
    require(backend)
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider", "tests/layers",
         "tests/models/test_backbone.py", "tests/test_no_tf_in_layers.py",
         "tests/tasks/test_backend_fit.py",   # a task model fits on packed inputs and raw strings
         # Parameter counts are backend-independent arithmetic, already checked on TF.
         "-k", "not parameter_count and not built_count and not published"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and "failed" not in proc.stdout, tail
