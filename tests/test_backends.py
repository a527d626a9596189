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
    # XLA's CPU backend at optimisation level 0: the sub-suite compiles ~100 small programs once each, and LLVM's
    # optimisation passes were most of its time (the classifier fit: 55 -> 38 s of CPU); the numbers it checks
    # do not depend on them (XLA's CPU fast-math is off at every level)
    xla_flags = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags)
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
