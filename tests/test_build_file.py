"""BUILD must list every package module and have a py_test for every test module."""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _listed():
    text = open(os.path.join(ROOT, "BUILD"), encoding="utf-8").read()
    return set(re.findall(r'"([^"]+\.py)"', text)), set(re.findall(r'args = \["([^"]+\.py)"\]', text))


def _walk(top):
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "__pycache__"))]
        for f in filenames:
            if f.endswith(".py"):
                yield os.path.relpath(os.path.join(dirpath, f), ROOT)


def test_every_package_module_is_in_build():
    listed, _ = _listed()
    missing = sorted(p for p in _walk("keras_bert_zoo") if p not in listed)
    assert not missing, f"not in BUILD (run python tools/gen_build.py): {missing}"


def test_every_test_module_has_a_py_test():
    _, tested = _listed()
    missing = sorted(p for p in _walk("tests") if os.path.basename(p).startswith("test_") and p not in tested)
    assert not missing, f"no py_test in BUILD (run python tools/gen_build.py): {missing}"


def test_build_lists_no_missing_file():
    listed, _ = _listed()
    gone = sorted(p for p in listed if not os.path.exists(os.path.join(ROOT, p)))
    assert not gone, f"BUILD lists files that do not exist: {gone}"


# ---------------------------------------------------------------------------------------- Bazel itself
# Bazel 4.2.3 (Debian bazel-bootstrap) reads the BUILD file, offline; .ci/run installs it. Batch mode: no
# server is left running; a fixed output root under the temp dir keeps its cache between runs.
OFFLINE = os.path.join(ROOT, "tools", "bazel", "offline")


def _bazel(*args, timeout):
    import shutil
    import subprocess
    import tempfile

    from tests.conftest import in_ci

    bazel = shutil.which("bazel")
    if bazel is None:
        msg = "bazel is not installed (Debian: apt-get install bazel-bootstrap)"
        if in_ci():
            pytest.fail(f"CI=true and {msg}: .ci/run installs it", pytrace=False)
        pytest.skip(msg)
    root = os.path.join(tempfile.gettempdir(), f"keras_bert_zoo_bazel_{os.getuid()}")
    proc = subprocess.run([bazel, "--batch", f"--output_user_root={root}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"bazel {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout


def _labels_to_paths(stdout):
    return {line[len("//:"):] for line in stdout.split() if line.startswith("//:")}


def test_bazel_query_sees_every_module_in_the_right_rule():
    targets = _bazel("query", "//...", "--output=label_kind", timeout=300)
    kinds = {line.split()[-1]: " ".join(line.split()[:-1]) for line in targets.splitlines() if line.strip()}
    assert kinds.get("//:keras_bert_zoo") == "py_library rule", targets
    tests = _labels_to_paths(_bazel("query", "labels(srcs, kind('py_test rule', //...))", timeout=300))
    libraries = _labels_to_paths(_bazel("query", "labels(srcs, kind('py_library rule', //...))", timeout=300))
    test_modules = {p for p in _walk("tests") if os.path.basename(p).startswith("test_")}
    package_modules = set(_walk("keras_bert_zoo"))
    assert not test_modules - tests, f"not the source of any py_test: {sorted(test_modules - tests)}"
    assert not package_modules - libraries, f"not in any py_library: {sorted(package_modules - libraries)}"
    assert not test_modules & libraries, "a test module is a library source"


@pytest.mark.slow
def test_bazel_test_runs_a_small_target_offline():
    import sys

    out = _bazel("test", "//:test_config", "--symlink_prefix=/", "--test_output=errors",
                 "--incompatible_use_python_toolchains=false", f"--python_path={sys.executable}",
                 *(f"--override_repository={name}={os.path.join(OFFLINE, name)}"
                   for name in ("rules_cc", "rules_java", "remote_coverage_tools")), timeout=600)
    assert "//:test_config" in out and "PASSED" in out, out
