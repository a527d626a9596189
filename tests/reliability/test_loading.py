"""Loading files from someone else (issue 27): a loader opens nothing that a config names.

Case 1 of the third catalogue round: a ``.keras`` file whose tokenizer config names a ``vocabulary`` path made
the loader open that path under ``safe_mode`` (``/etc/passwd`` was read; a FIFO hung ``load_task``).
"""

import json
import os
import threading
import zipfile

import keras
import pytest

from keras_bert_zoo import BertBackbone
from keras_bert_zoo.tasks import TaskError, load_task
from keras_bert_zoo.tasks.text_classifier import TextClassifier
from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
from tests.conftest import TINY

TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(TINY.vocab_size - 5)]


def _saved_task(tmp_path):
    task = TextClassifier(BertBackbone(TINY), num_classes=2,
                          preprocessor=BertPreprocessor(WordPieceTokenizer(TOKENS), sequence_length=8))
    path = tmp_path / "good.keras"
    task.save(path)
    return path


def _with_config(path, out, edit):
    """A copy of the .keras file ``path`` at ``out`` whose config.json text is ``edit(text)``."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                data = edit(data.decode("utf-8")).encode("utf-8")
            dst.writestr(item, data)
    return out


def _with_vocabulary_field(path, value, out):
    """A copy of the .keras file ``path`` whose tokenizer config's ``vocabulary`` is ``value``."""
    def edit(text):
        assert text.count('"vocabulary": null') == 1, "one tokenizer config in the file"
        return text.replace('"vocabulary": null', f'"vocabulary": {json.dumps(value)}')
    return _with_config(path, out, edit)


@pytest.mark.parametrize("value", ["/etc/passwd", ["[PAD]", "[UNK]", "x"]])
def test_a_config_naming_a_vocabulary_is_refused_and_nothing_is_opened(tmp_path, value, monkeypatch):
    bad = _with_vocabulary_field(_saved_task(tmp_path), value, tmp_path / "bad.keras")
    opened = []
    real_open = open

    def spy(file, *args, **kwargs):
        opened.append(os.fspath(file) if isinstance(file, (str, os.PathLike)) else file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    with pytest.raises(TaskError) as err:
        load_task(bad)
    message = str(err.value)
    assert "\n" not in message and str(bad) in message
    assert "field 'vocabulary'" in message and "refusing to load" in message
    assert "/etc/passwd" not in opened


def test_a_fifo_named_as_vocabulary_does_not_hang_the_loader(tmp_path):
    fifo = tmp_path / "vocab.fifo"
    os.mkfifo(fifo)
    bad = _with_vocabulary_field(_saved_task(tmp_path), str(fifo), tmp_path / "fifo.keras")
    outcome = {}

    def load():
        try:
            load_task(bad)
        except TaskError as err:
            outcome["error"] = str(err)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():     # unblock the reader so the test process can end, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("load_task blocked on a FIFO named by the config")
    assert "field 'vocabulary'" in outcome["error"]


def test_the_good_file_still_loads_with_its_vocabulary_asset(tmp_path):
    task = load_task(_saved_task(tmp_path))
    assert task.tokenizer.vocabulary == TOKENS


def test_keras_deserialisation_of_the_layer_alone_is_refused_too():
    config = keras.saving.serialize_keras_object(WordPieceTokenizer(TOKENS))
    config["config"]["vocabulary"] = "/etc/passwd"
    with pytest.raises(ValueError, match="field 'vocabulary' holds the path '/etc/passwd'"):
        keras.saving.deserialize_keras_object(config, safe_mode=True)


def test_a_config_argument_the_class_does_not_take_is_named_in_the_load_error(tmp_path):
    """Weak case: only the first line of Keras's TypeError was kept, so the cause ("unexpected keyword argument
    'foo'") was lost; the TaskError now names it, and keeps Keras's error as its __cause__."""
    good = _saved_task(tmp_path)
    def add_foo(text):
        config = json.loads(text)
        config["config"]["foo"] = 1
        return json.dumps(config)

    bad = _with_config(good, tmp_path / "extra_arg.keras", add_foo)
    with pytest.raises(TaskError) as err:
        load_task(bad)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{bad}: cannot be loaded")
    assert "got an unexpected keyword argument 'foo'" in message
    assert isinstance(err.value.__cause__, TypeError)


def test_unpacking_onto_a_file_of_the_target_name_is_an_error_not_a_missing_directory(tmp_path):
    """Weak case: extract_zip returned its target even when the unpacked directory could not be put there."""
    from keras_bert_zoo.cache import DownloadError, extract_zip

    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("vocab.txt", "[PAD]\n")
    target = tmp_path / "unpacked"
    target.write_text("a file in the way")
    with pytest.raises(DownloadError, match="unpacked: cannot unpack there: it exists and is not a directory"):
        extract_zip(archive, target)
    assert target.read_text() == "a file in the way" and sorted(p.name for p in tmp_path.iterdir()) == [
        "a.zip", "unpacked"]
    assert extract_zip(archive, tmp_path / "fresh").joinpath("vocab.txt").read_text() == "[PAD]\n"
