"""benchmarks/_common.py: the one FLOP formula, interleaved rounds, the machine record, atomic JSON — and that it
imports without TensorFlow or Keras (benchmarks/gpu.sh runs on a torch/JAX-only machine)."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from keras_bert_zoo.config import BertConfig

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def _load():
    spec = importlib.util.spec_from_file_location("bench_common", BENCHMARKS / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = _load()


def test_flops_formula_counts_the_encoder():
    base = BertConfig.from_name("bert_base_uncased")
    h, i, n, t = base.hidden_size, base.intermediate_size, base.num_layers, 128
    # 6 T L (4h^2 + 2hi) for the dense layers, 12 L T^2 h for the two attention products
    assert common.train_flops_per_sequence(base, t) == 6 * t * n * (4 * h * h + 2 * h * i) + 12 * n * t * t * h
    assert common.train_flops_per_sequence(base, t) / 1e9 == pytest.approx(67.04, abs=0.01)
    # linear in the dense part, quadratic in the attention part
    small = BertConfig.from_name("bert_uncased_L-2_H-128")
    f1, f2 = (common.train_flops_per_sequence(small, L) for L in (64, 128))
    attention = 12 * small.num_layers * small.hidden_size
    assert f2 - 2 * f1 == pytest.approx(attention * (128 ** 2 - 2 * 64 ** 2))


@pytest.mark.parametrize("order,expected", [
    ("alternate", ["a", "b", "c", "c", "b", "a", "a", "b", "c"]),
    ("fixed", ["a", "b", "c"] * 3),
    ("rotate", ["a", "b", "c", "b", "c", "a", "c", "a", "b"]),
])
def test_interleaved_orders_and_warmup(order, expected):
    calls = []

    def impl(name):
        def run(r):
            calls.append(name)
            return 10 * r + ord(name) - ord("a")
        return run

    seen = []
    got = common.interleaved({k: impl(k) for k in "abc"}, rounds=2, order=order, warmup=1,
                             on_round=lambda r, values: seen.append((r, sorted(values))))
    assert calls == expected
    assert got == {"a": [10, 20], "b": [11, 21], "c": [12, 22]}       # the warm-up round dropped
    assert seen == [(0, ["a", "b", "c"]), (1, ["a", "b", "c"])]
    with pytest.raises(ValueError, match="order"):
        common.interleaved({"a": impl("a")}, 1, order="random")


def test_median_ratio_timed():
    assert common.median([3.0, 1.0, 2.0]) == 2.0
    assert common.ratio(3.0, 2.0) == 1.5 and common.ratio(1.0, 0) is None and common.ratio(None, 1.0) is None
    seconds, value = common.timed(lambda x, y=1: x + y, 2, y=3)
    assert value == 5 and seconds >= 0


def test_machine_record(tmp_path):
    info = common.machine(threads=2)
    assert info["threads"] == 2 and info["cpus"] == os.cpu_count() and isinstance(info["cpu"], str) and info["cpu"]
    assert all(f.startswith(common.FLAG_PREFIXES) for f in info["cpu_flags"])
    assert all(f.startswith(("avx512", "amx")) for f in common.cpu_flags(("avx512", "amx")))
    if os.path.exists("/proc/cpuinfo"):
        assert len(common.load_average()) == 3


def test_write_json_is_atomic_and_needs_no_tensorflow(tmp_path):
    """In a fresh process with TensorFlow and Keras unimportable: import _common, write a result."""
    out = tmp_path / "sub" / "r.json"
    code = ("import importlib.abc, sys\n"
            "class Blocked(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'): raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, Blocked())\n"
            f"sys.path.insert(0, {str(BENCHMARKS)!r})\n"
            "import _common\n"
            f"_common.write_json({str(out)!r}, {{'machine': _common.machine(), 'x': [1, 2]}})\n"
            "assert not any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=str(BENCHMARKS.parent))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["x"] == [1, 2]
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]          # no temporary file left behind


def test_every_benchmark_script_uses_common():
    scripts = [p for p in BENCHMARKS.glob("*.py") if p.name != "_common.py"]
    assert scripts
    missing = [p.name for p in scripts if "from _common import" not in p.read_text(encoding="utf-8")]
    assert not missing, missing
