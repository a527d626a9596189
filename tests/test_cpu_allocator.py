"""Importing the package puts TensorFlow's CPU tensors in TF's BFC pool (``TF_CPU_ALLOCATOR_USE_BFC``; why: the
issue 29 note and ``benchmarks/cpu_allocator.py``), unless the user chose otherwise. TensorFlow keeps allocator
statistics only for a pool allocator, so ``get_memory_info`` tells which one the process got: a BFC pool counts a
peak; malloc has no statistics, or (where TensorFlow's oneDNN build wraps the CPU allocator: AVX512-VNNI/BF16 and
AMX CPUs) statistics that stay at 0."""

import os
import subprocess
import sys

PROBE = """
import keras_bert_zoo, tensorflow as tf
tf.ones([64, 64]) + 1
try:
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
except ValueError:
    peak = 0
print("bfc" if peak > 0 else "malloc", peak)
"""


def _probe(value):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    if value is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = value
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.split()[:2]


def test_the_package_default_is_the_bfc_pool_and_the_users_choice_wins():
    assert _probe(None)[0] == "bfc"
    assert _probe("false")[0] == "malloc"
