"""Quiet by default (issue 26): a wheel fetch shows one progress line, not pip's chatter; the CLI drops the native
INFO / WARNING lines TensorFlow's libraries print despite TF_CPP_MIN_LOG_LEVEL (keras_bert_zoo.cli.native_log)."""

import hashlib
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(code, *args, env=None, cwd=None, timeout=300):
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True,
                          env=env, cwd=cwd, timeout=timeout)


def _local_index(root: Path) -> str:
    """A one-package index (file:// URL, pip's "simple" layout) holding tinydata-0.1.0-py3-none-any.whl."""
    project = root / "simple" / "tinydata"
    project.mkdir(parents=True)
    wheel = project / "tinydata-0.1.0-py3-none-any.whl"
    files = {"tinydata/data.txt": "hello\n",
             "tinydata-0.1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinydata\nVersion: 0.1.0\n",
             "tinydata-0.1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                              "Tag: py3-none-any\n"}
    record = "".join(f"{name},sha256={hashlib.sha256(text.encode()).hexdigest()},{len(text)}\n"
                     for name, text in files.items()) + "tinydata-0.1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in {**files, "tinydata-0.1.0.dist-info/RECORD": record}.items():
            z.writestr(name, text)
    (project / "index.html").write_text(f'<html><body><a href="{wheel.name}">{wheel.name}</a></body></html>')
    return (root / "simple").as_uri()


def test_a_wheel_fetch_prints_one_line_not_pips_chatter(tmp_path):
    index = _local_index(tmp_path / "index")
    proc = _run("""
        import sys
        from keras_bert_zoo.cache import fetch_pip_package
        path = fetch_pip_package("tinydata", "0.1.0", cache_dir=sys.argv[1], index_url=sys.argv[2])
        print((path / "tinydata" / "data.txt").read_text().strip())
    """, tmp_path / "cache", index)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert proc.stdout.decode().strip() == "hello"
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Fetching tinydata==0.1.0 (pip download) ... "), lines
    assert lines[0].endswith(" s") and "MiB in" in lines[0]
    # a failing fetch still says what pip said
    failed = _run("""
        import sys
        from keras_bert_zoo.cache import DownloadError, fetch_pip_package
        try:
            fetch_pip_package("tinydata", "9.9.9", cache_dir=sys.argv[1], index_url=sys.argv[2], progress=False)
        except DownloadError as err:
            print(err)
    """, tmp_path / "cache", index)
    assert "pip download tinydata==9.9.9 failed" in failed.stdout.decode()
    assert "No matching distribution found for tinydata==9.9.9" in failed.stdout.decode()
    assert failed.stderr.decode() == ""


NATIVE = """
import os, sys
from keras_bert_zoo.cli.main import quiet_environment
quiet_environment(sys.argv[1] == "verbose")
for line in (b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n",
             b"W0000 00:00:1796562815.933208     672 tf_tfl_flatbuffer_helpers.cc:364] Ignored output_format.\\n",
             b"I0000 00:00:1796562816.229341     672 device_compiler.h:188] Compiled cluster using XLA!  This line "
             b"is logged at most once for the lifetime of the process.\\n",
             b"2026-12-06 13:15:02.123456: I tensorflow/core/grappler/optimizers/loop_optimizer.cc:933] Skipping loop "
             b"optimization for Merge node with control input: cond/branch_executed/_8\\n",
             b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n",
             b"E0000 00:00:1796562815.933208     672 some_kernel.cc:12] a real error\\n"):
    os.write(2, line)
print("downloading 50%\\r", end="", file=sys.stderr, flush=True)
print("downloading 100%", file=sys.stderr)
raise SystemExit(3)
"""


@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_the_cli_drops_native_info_and_warning_lines_unless_verbose(mode):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = _run(NATIVE, mode, env=env, timeout=60)
    assert proc.returncode == 3
    err = proc.stderr.decode()
    kept = ["E0000 00:00:1796562815.933208     672 some_kernel.cc:12] a real error", "downloading 50%\r",
            "downloading 100%"]
    for line in kept:
        assert line in err
    noise = ["absl::InitializeLog", "Ignored output_format", "Compiled cluster using XLA", "Skipping loop optimization",
             "XNNPACK"]
    assert [n for n in noise if n in err] == ([] if mode == "quiet" else noise)


def test_a_real_tflite_conversion_is_quiet(tmp_path):
    """The TFLite converter's own lines (absl, before InitializeLog) on a real conversion, through the CLI's
    quiet set-up."""
    proc = _run("""
        from keras_bert_zoo.cli.main import quiet_environment
        quiet_environment(False)
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def f(x):
            return {"y": tf.nn.softmax(x * 2.0)}

        model = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert()
        print(len(model) > 0)
    """, env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert proc.stdout.decode().strip() == "True"
    assert proc.stderr.decode().strip() == "", proc.stderr.decode()
