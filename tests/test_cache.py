"""keras_bert_zoo.cache: unique temporary names, readable permissions, all-or-nothing files and directories."""

import os
import stat
import subprocess
import sys
import threading

import pytest

from keras_bert_zoo import cache


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_mode_and_no_leftovers(tmp_path, umask_022):
    path = tmp_path / "sub" / "a.txt"
    with cache.atomic_write(path, "w", encoding="utf-8") as f:
        f.write("hello")
    assert path.read_text() == "hello"
    assert _mode(path) == 0o644  # not mkstemp's 0600
    with pytest.raises(RuntimeError):
        with cache.atomic_write(path, "w", encoding="utf-8") as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "hello"  # the old file is untouched
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]


def test_atomic_write_respects_umask(tmp_path):
    old = os.umask(0o077)
    try:
        with cache.atomic_write(tmp_path / "private.bin") as f:
            f.write(b"x")
        os.mkdir(tmp_path / "ref")
        with cache.atomic_dir(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert _mode(tmp_path / "private.bin") == 0o600
    assert _mode(tmp_path / "d") == _mode(tmp_path / "ref") == 0o700


def test_concurrent_writers_use_distinct_temporary_files(tmp_path):
    path = tmp_path / "shared.bin"
    barrier = threading.Barrier(2)
    errors = []

    def writer(byte):
        try:
            with cache.atomic_write(path) as f:
                f.write(byte * 1000)
                barrier.wait(timeout=10)  # both temporary files are open at the same time
                f.write(byte * 1000)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(b,)) for b in (b"a", b"b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    data = path.read_bytes()
    assert data in (b"a" * 2000, b"b" * 2000)  # one whole file, never an interleaving
    assert [p.name for p in tmp_path.iterdir()] == ["shared.bin"]


def test_atomic_dir_claims_once_and_overwrites(tmp_path, umask_022):
    target = tmp_path / "v1"
    with cache.atomic_dir(target) as tmp:
        (tmp / "x").write_text("first")
    assert _mode(target) == 0o755 and (target / "x").read_text() == "first"
    with pytest.raises(cache.DirectoryExistsError):
        with cache.atomic_dir(target) as tmp:
            (tmp / "x").write_text("second")
    assert (target / "x").read_text() == "first"
    with cache.atomic_dir(target, overwrite=True) as tmp:
        (tmp / "y").write_text("third")
    assert sorted(p.name for p in target.iterdir()) == ["y"]
    with pytest.raises(ValueError):
        with cache.atomic_dir(tmp_path / "v2"):
            raise ValueError("build failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1"]


def test_cache_imports_no_tensorflow():
    code = ("import sys, keras_bert_zoo.cache, keras_bert_zoo.config; "
            "bad = [m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_extract_tar_strips_the_sdist_folder_and_refuses_escapes(tmp_path):
    import io
    import tarfile

    from keras_bert_zoo import cache

    def make(path, members):
        with tarfile.open(path, "w:gz") as tf:
            for name, data in members:
                info = tarfile.TarInfo(name)
                if data is None:
                    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                    tf.addfile(info)
                else:
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))

    good = tmp_path / "pkg-1.0.tar.gz"
    make(good, [("pkg-1.0/setup.py", b"x"), ("pkg-1.0/pkg/data.txt", b"hello"), ("pkg-1.0/link", None)])
    out = cache.extract_tar(good, tmp_path / "out")
    assert (out / "pkg" / "data.txt").read_bytes() == b"hello" and not (out / "link").exists()
    bad = tmp_path / "evil-1.0.tar.gz"
    make(bad, [("evil-1.0/../../escaped.txt", b"x")])
    with pytest.raises(cache.DownloadError, match="outside the target"):
        cache.extract_tar(bad, tmp_path / "evil")
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "escaped.txt").exists()
