"""Issue 14 catalogue: data files, vocabularies, checkpoints and saved models that are malformed or hostile.

Each test is one case: the bad input, fed through the public reader / importer / loader, must give the package's
typed error with the file and the line (or field, tensor, class) named, and nothing half-done; or, for inputs
that are valid after all (a UTF-8 BOM, CRLF, a long field, a multi-line quoted text), the correct result.
"""

import json
import logging
import os
import shutil
import zipfile

import numpy as np
import pytest

from keras_bert_zoo.config import ConfigError
from keras_bert_zoo.data.conll import ConllError, read_conll
from keras_bert_zoo.data.labelled import LabelledFileError, read_labelled_file
from keras_bert_zoo.data.squad import SquadError, read_squad
from keras_bert_zoo.data.swag import SwagError, read_swag
from keras_bert_zoo.data.task_files import TaskFileError
from keras_bert_zoo.tasks import read_task_file
from keras_bert_zoo.data.textfile import MAX_FIELD_CHARS
from tests.conftest import TINY, require
from tests.convert.convert_helpers import tiny_vocab_tokens


def write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


# ------------------------------------------------------------------------------------------ CSV / TSV files
def test_csv_unbalanced_quote_names_line(tmp_path):
    path = write(tmp_path / "tweets.csv", 'text,label\ngreat day,pos\n"so bad,neg\nok film,pos\nmeh,neg\n')
    with pytest.raises(LabelledFileError, match=r"tweets\.csv:3: a quoted field opened on this line is never "
                                                r"closed"):
        read_labelled_file(path)
    with pytest.raises(TaskFileError, match=r"tweets\.csv:3: a quoted field"):
        read_task_file("classify", path)


def test_csv_quote_swallowing_rows_names_line(tmp_path):
    # The quote opened on line 3 closes on line 5: lines 4 (and the rest of 5) would be one text.
    path = write(tmp_path / "tweets.csv", 'text,label\ngreat day,pos\n"so bad,neg\nok film,pos\nmeh",neg\n'
                                          'fine,pos\n')
    with pytest.raises(LabelledFileError, match=r"tweets\.csv:3: a quoted field opened on this line runs to "
                                                r"line 5 and holds line\(s\) 4 that look like rows"):
        read_labelled_file(path)


def test_csv_label_with_line_break_is_not_a_new_class(tmp_path):
    # A quote opened in the label column swallows a tweet fragment into the label: before, a new class.
    path = write(tmp_path / "tweets.csv", 'text,label\ngreat day,pos\nso bad,"neg\nok film,pos\nmeh,neg"\n'
                                          'fine,pos\n')
    with pytest.raises(LabelledFileError, match=r"tweets\.csv:3: column 'label' holds a line break"):
        read_labelled_file(path)


def test_csv_stray_quote_after_closing_quote_names_line(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\ngood,pos\n"bad "movie,neg\n')
    with pytest.raises(LabelledFileError, match=r"d\.csv:3: text right after a closing quote"):
        read_labelled_file(path)


def test_csv_multiline_quoted_text_is_kept(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\n"first paragraph\nsecond one, with a comma\nend",pos\n'
                                     '"say ""hi""",neg\n')
    data = read_labelled_file(path)
    assert data.texts == ["first paragraph\nsecond one, with a comma\nend", 'say "hi"']
    assert data.labels == ["pos", "neg"] and data.lines == [2, 5]


def test_csv_megabyte_field_is_read_whole(tmp_path):
    text = "word " * 240_000   # 1.2 MB: over Python's csv default limit (128 KiB), under ours
    data = read_labelled_file(write(tmp_path / "big.csv", f"text,label\n{text},pos\nshort,neg\n"))
    assert data.texts[0] == text and data.labels == ["pos", "neg"]


def test_csv_field_over_limit_names_line_column_and_limit(tmp_path):
    path = write(tmp_path / "huge.csv", "label,text\npos,ok\nneg," + "x" * (MAX_FIELD_CHARS + 1) + "\n")
    with pytest.raises(LabelledFileError, match=rf"huge\.csv:3: column 'text' is longer than the limit of "
                                                rf"{MAX_FIELD_CHARS} characters"):
        read_labelled_file(path)


@pytest.mark.parametrize("encoding, what", [("utf-16", "UTF-16 \\(BOM found\\)"), ("utf-16-le", "UTF-16 \\(no BOM"),
                                            ("utf-16-be", "UTF-16 \\(no BOM"), ("utf-32", "UTF-32 \\(BOM found\\)")])
def test_csv_utf16_utf32_is_named(tmp_path, encoding, what):
    path = write(tmp_path / "excel.csv", "text,label\nhello,pos\n".encode(encoding))
    with pytest.raises(LabelledFileError, match=rf"excel\.csv: file is {what}.*save it as UTF-8"):
        read_labelled_file(path)


def test_utf16_is_named_by_every_reader(tmp_path):
    cases = [
        (lambda p: read_task_file("embed", p), TaskFileError, "anchor,positive\na,b\n", "p.csv"),
        (lambda p: read_task_file("fill_mask", p), TaskFileError, "hello world\n", "t.txt"),
        (read_conll, ConllError, "EU B-ORG\n", "n.conll"),
        (read_squad, SquadError, '{"data": []}', "s.json"),
        (read_swag, SwagError, "sent1,sent2,ending0,ending1,label\na,b,c,d,0\n", "w.csv"),
    ]
    for reader, error, content, name in cases:
        path = write(tmp_path / name, content.encode("utf-16"))
        with pytest.raises(error, match=rf"{name}: file is UTF-16 \(BOM found\); save it as UTF-8"):
            reader(path)


def test_utf8_bom_is_stripped_from_the_header(tmp_path):
    bom = b"\xef\xbb\xbf"
    data = read_labelled_file(write(tmp_path / "d.csv", bom + b"text,label\nhi,pos\n"))
    assert data.texts == ["hi"] and data.lines == [2]
    assert read_labelled_file(write(tmp_path / "d.tsv", bom + b"text\tlabel\nhi\tpos\n")).texts == ["hi"]
    pairs = read_task_file("embed", write(tmp_path / "p.csv", bom + b"anchor,positive\na,b\n"))
    assert pairs.x == {"anchor": ["a"], "positive": ["b"]}
    swag = read_swag(write(tmp_path / "w.csv", bom + b"sent1,sent2,ending0,ending1,label\na,b,c,d,1\n"))
    assert swag[0].context == "a" and swag[0].label == 1
    examples, _ = read_squad(write(tmp_path / "s.json", bom + json.dumps(_squad("abc def", "def", 4)).encode()))
    assert examples[0].answers == (("def", 4),)
    assert read_conll(write(tmp_path / "n.conll", bom + b"EU B-ORG\n"))[0].words == ("EU",)


def test_csv_invalid_utf8_names_file_and_line(tmp_path, caplog):
    path = write(tmp_path / "latin1.csv", b"text,label\nfine,pos\ncaf\xe9,neg\nok,pos\nna\xefve,neg\n")
    with caplog.at_level(logging.WARNING):
        data = read_labelled_file(path)
    assert data.replaced_lines == [3, 5] and data.texts[1] == "caf\ufffd"
    assert "latin1.csv: 2 invalid UTF-8 byte sequence(s) replaced with U+FFFD, on line(s) 3, 5" in caplog.text


@pytest.mark.parametrize("content, message", [
    ("sentence,label\nhi,pos\n", r"d\.csv:1: missing column\(s\) \['text'\] in the header; found columns "
                                 r"\['sentence', 'label'\]"),
    ("", r"d\.csv: the file is empty"),
    ("\n\n", r"d\.csv: the file is empty"),
    ("text,label\n", r"d\.csv: no data rows \(only a header or blank lines\)"),
    ("text,label\nhi,pos\nbye\n", r"d\.csv:3: row has 1 fields, expected 2; column\(s\) \['label'\] missing"),
    ("text,label\nhi,pos\nbye, see you,neg\n", r"d\.csv:3: row has 3 fields, expected 2 .*quote a field that "
                                               r"contains a comma"),
    ("text,label\nhi,pos\nbye,  \n", r"d\.csv:3: empty value in column 'label'"),
])
def test_csv_structure_errors_name_line(tmp_path, content, message):
    path = write(tmp_path / "d.csv", content)
    with pytest.raises(LabelledFileError, match=message):
        read_labelled_file(path)


def test_csv_trailing_empty_fields_are_not_an_error(tmp_path):
    assert read_labelled_file(write(tmp_path / "d.csv", "text,label\nhi,pos,\n")).labels == ["pos"]


@pytest.mark.parametrize("value", ["high", "nan", "inf", ""])
def test_regress_non_numeric_target_names_line(tmp_path, value):
    path = write(tmp_path / "scores.csv", f"text,score\ngood,4.5\nbad,{value}\n")
    message = (r"scores\.csv:3: empty value in column 'score'" if not value else
               rf"scores\.csv:3: column 'score': expected a number \(a regression target\), got '{value}'")
    from keras_bert_zoo.data.task_files import FileOptions

    with pytest.raises(TaskFileError, match=message):
        read_task_file("regress", path, FileOptions(label_column="score"))


def test_csv_crlf_line_endings(tmp_path):
    path = write(tmp_path / "win.csv", b'text,label\r\nhi,pos\r\n"two\r\nlines",neg\r\nlast,pos\r\n')
    data = read_labelled_file(path)
    assert data.texts == ["hi", "two\r\nlines", "last"] and data.labels == ["pos", "neg", "pos"]
    assert data.lines == [2, 3, 5]


def test_pairs_file_structure_errors_name_line(tmp_path):
    with pytest.raises(TaskFileError, match=r"p\.csv:3: row has 3 fields, expected 2"):
        read_task_file("embed", write(tmp_path / "p.csv", "anchor,positive\na,b\nc,d,e\n"))
    with pytest.raises(TaskFileError, match=r"q\.csv:2: a quoted field opened on this line is never closed"):
        read_task_file("embed", write(tmp_path / "q.csv", 'anchor,positive\n"a,b\nc,d\n'))


# ------------------------------------------------------------------------------------- CoNLL / SQuAD / SWAG
@pytest.mark.parametrize("content, message", [
    ("EU B-ORG\nrejects\nGerman B-MISC\n", r"n\.conll:2: expected at least 2 columns \(word \.\.\. tag\), got 1"),
    ("EU NNP B-ORG\nrejects VBZ O\nGerman B-MISC\n", r"n\.conll:3: 2 columns, but line 1 has 3"),
    ("EU ORG\nrejects O\n", r"n\.conll:1: tag 'ORG' is not 'O' or B-/I-/E-/S-TYPE"),
    ("EU B-ORG\n\nrejects U-ORG\n", r"n\.conll:3: tag 'U-ORG' is not 'O' or B-/I-/E-/S-TYPE"),
])
def test_conll_bad_lines_name_line(tmp_path, content, message):
    with pytest.raises(ConllError, match=message):
        read_conll(write(tmp_path / "n.conll", content))


def _squad(context, text, start, qid="q1"):
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": qid, "question": "what?", "answers": [{"text": text, "answer_start": start}]}]}]}]}


@pytest.mark.parametrize("start, message", [
    (40, r"question id 'q1' answers\[0\]: answer_start 40 is outside the context \(7 characters"),
    (-3, r"question id 'q1' answers\[0\]: answer_start -3 is outside the context"),
    (1, r"question id 'q1' answers\[0\]: text 'def' is not at answer_start 1 \(context there reads 'bc '\)"),
    (True, r"question id 'q1' answers\[0\]: field 'answer_start' should be int, got bool"),
])
def test_squad_answer_not_in_context_names_question(tmp_path, start, message):
    path = write(tmp_path / "s.json", json.dumps(_squad("abc def", "def", start)))
    with pytest.raises(SquadError, match=r"s\.json: " + message):
        read_squad(path)


def test_squad_invalid_json_names_line(tmp_path):
    path = write(tmp_path / "s.json", '{"data": [\n  {"title": "x",\n  }\n]}')
    with pytest.raises(SquadError, match=r"s\.json:3:3: invalid JSON: Expecting property name"):
        read_squad(path)


@pytest.mark.parametrize("rows, message", [
    ('"a,b,c,d,0\ne,f,g,h,1\n', r"w\.csv:2: a quoted field opened on this line is never closed"),
    ("a,b,c,d,0,extra\n", r"w\.csv:2: row has 6 fields, expected 5"),
    ("a,b,c,d,0\na,b,c\n", r"w\.csv:3: row has 3 fields, expected 5"),
    ("a,b,c,d,two\n", r"w\.csv:2: column 'label': expected an integer in \[0, 2\), got 'two'"),
])
def test_swag_bad_rows_name_line(tmp_path, rows, message):
    with pytest.raises(SwagError, match=message):
        read_swag(write(tmp_path / "w.csv", "sent1,sent2,ending0,ending1,label\n" + rows))


# ------------------------------------------------------------------------------------------ vocabularies
@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """A tiny Hugging Face directory (config.json, model.safetensors, vocab.txt) exported from our backbone."""
    from keras_bert_zoo.convert.hf import export_hf
    from keras_bert_zoo.models.backbone import BertBackbone

    out = tmp_path_factory.mktemp("ckpt") / "tiny-uncased"
    export_hf(BertBackbone(TINY), out, vocabulary=tiny_vocab_tokens())
    return out


def variant(hf_dir, tmp_path, edit):
    out = tmp_path / hf_dir.name
    shutil.copytree(hf_dir, out)
    edit(out)
    return out


def write_vocab(directory, tokens):
    (directory / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")


def test_vocab_smaller_than_vocab_size_is_an_error(hf_dir, tmp_path, caplog):
    from keras_bert_zoo.convert import from_hf

    d = variant(hf_dir, tmp_path, lambda d: write_vocab(d, tiny_vocab_tokens()[:90]))
    with pytest.raises(ConfigError, match=rf"{d}/vocab\.txt: 90 tokens, but the model config in {d} says "
                                          rf"vocab_size=99 .*allow_vocab_mismatch=True"):
        from_hf(d)
    with caplog.at_level(logging.WARNING):
        model, tokenizer = from_hf(d, allow_vocab_mismatch=True)
    assert tokenizer.vocab_size == 90 and model.config.vocab_size == 99
    assert "90 tokens for vocab_size=99 (allow_vocab_mismatch=True)" in caplog.text


def test_vocab_larger_than_embedding_table_is_always_an_error(hf_dir, tmp_path):
    from keras_bert_zoo.convert import from_hf

    d = variant(hf_dir, tmp_path, lambda d: write_vocab(d, tiny_vocab_tokens() + ["extra1", "extra2"]))
    for allow in (False, True):
        with pytest.raises(ConfigError, match=r"vocab\.txt: 101 tokens, but the model config .* says vocab_size=99 "
                                              r"\(ids past 98 would index outside the embeddings\)"):
            from_hf(d, allow_vocab_mismatch=allow)


def test_vocab_duplicate_token_names_line(hf_dir, tmp_path):
    from keras_bert_zoo.convert import from_hf

    tokens = tiny_vocab_tokens()
    tokens[50] = "cat"      # "cat" is on line 8 (id 7)
    d = variant(hf_dir, tmp_path, lambda d: write_vocab(d, tokens))
    with pytest.raises(ConfigError, match=r"vocab\.txt:51: token 'cat' repeats line 8 \(id 7\)"):
        from_hf(d)


@pytest.mark.parametrize("token", ["[CLS]", "[SEP]", "[UNK]", "[PAD]"])
def test_vocab_missing_special_token_is_named(hf_dir, tmp_path, token):
    from keras_bert_zoo.convert import from_hf

    tokens = [t if t != token else "renamed" for t in tiny_vocab_tokens()]
    d = variant(hf_dir, tmp_path, lambda d: write_vocab(d, tokens))
    with pytest.raises(ConfigError, match=rf"vocab\.txt: the vocabulary \(99 lines\) has no \{token[:-1]}\] token"):
        from_hf(d)


# ------------------------------------------------------------------------------------------- checkpoints
def test_truncated_safetensors_names_file(hf_dir, tmp_path):
    from keras_bert_zoo.convert import ConversionError, from_hf

    def truncate(d):
        weights = d / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:5000])

    d = variant(hf_dir, tmp_path, truncate)
    with pytest.raises(ConversionError, match=rf"{d}/model\.safetensors: not a readable safetensors file .*"
                                              rf"truncated"):
        from_hf(d)


def _to_pytorch_bin(d, extra=None):
    torch = require("torch")
    from keras_bert_zoo.convert.hf import read_hf_weights

    state = {k: torch.tensor(v) for k, v in read_hf_weights(d).items()}
    if extra is not None:
        state["extra"] = extra
    torch.save(state, d / "pytorch_model.bin")
    (d / "model.safetensors").unlink()


def test_pytorch_bin_with_code_is_refused_for_safety(hf_dir, tmp_path):
    from keras_bert_zoo.convert import ConversionError, from_hf

    d = variant(hf_dir, tmp_path, lambda d: _to_pytorch_bin(d, extra=shutil.rmtree))
    with pytest.raises(ConversionError) as info:
        from_hf(d)
    message = str(info.value)
    assert f"{d}/pytorch_model.bin: refused for safety" in message and "shutil.rmtree" in message
    assert "model.safetensors" in message and "weights_only=False" not in message
    assert d.is_dir() and (d / "vocab.txt").is_file()   # and shutil.rmtree was never called


def test_truncated_pytorch_bin_names_file(hf_dir, tmp_path):
    from keras_bert_zoo.convert import ConversionError, from_hf

    def edit(d):
        _to_pytorch_bin(d)
        weights = d / "pytorch_model.bin"
        weights.write_bytes(weights.read_bytes()[:2000])

    d = variant(hf_dir, tmp_path, edit)
    with pytest.raises(ConversionError, match=rf"{d}/pytorch_model\.bin: not a readable PyTorch checkpoint"):
        from_hf(d)


def test_config_json_not_json_names_file(hf_dir, tmp_path):
    from keras_bert_zoo.convert import ConversionError, from_hf

    d = variant(hf_dir, tmp_path, lambda d: (d / "config.json").write_text('{"hidden_size": 32,,}'))
    with pytest.raises(ConversionError, match=rf"{d}/config\.json: invalid JSON"):
        from_hf(d)


def test_config_json_without_hidden_size_names_key(hf_dir, tmp_path):
    from keras_bert_zoo.convert import from_hf

    def edit(d):
        config = json.loads((d / "config.json").read_text())
        del config["hidden_size"]
        (d / "config.json").write_text(json.dumps(config))

    d = variant(hf_dir, tmp_path, edit)
    with pytest.raises(ConfigError, match=rf"{d}/config\.json: missing required config keys \['hidden_size'\]"):
        from_hf(d)


def test_wrong_tensor_shape_names_tensor_and_shapes_and_assigns_nothing(hf_dir, tmp_path):
    from safetensors.numpy import load, save

    from keras_bert_zoo.convert.hf import HF_TABLE, HFReader, from_hf
    from keras_bert_zoo.convert.table import WeightLoadError, load_weights
    from keras_bert_zoo.models.backbone import BertBackbone

    def edit(d):
        tensors = load((d / "model.safetensors").read_bytes())
        tensors["encoder.layer.1.attention.self.query.weight"] = np.ones((32, 31), np.float32)
        tensors["embeddings.word_embeddings.weight"] = np.ones((99, 32), np.float32)   # valid: loaded first
        (d / "model.safetensors").write_bytes(save(tensors, metadata={"format": "pt"}))

    d = variant(hf_dir, tmp_path, edit)
    first_line = (rf"Cannot load {d}/model\.safetensors into \S+ \(Hugging Face format\); nothing was assigned "
                  rf"\(1 mis-shaped; first: encoder\.layer\.1\.attention\.self\.query\.weight expected shape "
                  rf"\[32, 32\] found \[32, 31\]")
    with pytest.raises(WeightLoadError, match=first_line):
        from_hf(d)
    model = BertBackbone(TINY)       # the same load into a model we hold: not one variable changes
    before = [np.array(v) for v in model.weights]
    with pytest.raises(WeightLoadError):
        load_weights(model, HFReader(d), HF_TABLE, TINY, ("backbone", "pooler"))
    assert all(np.array_equal(a, np.array(v)) for a, v in zip(before, model.weights))


# ------------------------------------------------------------------------------------------ saved models
@pytest.fixture(scope="module")
def saved_backbone(tmp_path_factory):
    from keras_bert_zoo.models.backbone import BertBackbone

    path = tmp_path_factory.mktemp("saved") / "backbone.keras"
    BertBackbone(TINY).save(path)
    return path


@pytest.mark.parametrize("kind", ["truncated", "random bytes", "empty"])
def test_corrupt_keras_file_is_named_not_found_no_more(saved_backbone, tmp_path, kind):
    from keras_bert_zoo.tasks import TaskError, load_task

    data = saved_backbone.read_bytes()
    content = {"truncated": data[: len(data) // 2], "random bytes": os.urandom(4096), "empty": b""}[kind]
    path = write(tmp_path / "model.keras", content)
    with pytest.raises(TaskError, match=rf"{path}: not a valid \.keras archive \(not a zip file"):
        load_task(path)
    with pytest.raises(TaskError, match=rf"{path}: not a valid \.keras archive"):
        load_task(tmp_path)      # the directory holding it


def test_keras_zip_without_config_json_is_named(tmp_path):
    from keras_bert_zoo.tasks import TaskError, load_task

    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("model.weights.h5", b"")
    with pytest.raises(TaskError, match=rf"{path}: not a valid \.keras archive \(no config\.json inside; it holds "
                                        rf"\['metadata\.json', 'model\.weights\.h5'\]\)"):
        load_task(path)


def test_keras_config_naming_unknown_class_fails_safely(saved_backbone, tmp_path):
    from keras_bert_zoo.tasks import TaskError, load_task

    path = tmp_path / "evil.keras"
    with zipfile.ZipFile(saved_backbone) as src, zipfile.ZipFile(path, "w") as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                config.update(module="os", class_name="system", registered_name="system")
                data = json.dumps(config)
            out.writestr(item, data)
    with pytest.raises(TaskError, match=rf"{path}: names the class 'system' \(module 'os'\), which is neither a "
                                        rf"keras_bert_zoo nor a registered Keras class; nothing was loaded"):
        load_task(path)


def test_keras_lambda_is_never_executed(tmp_path):
    import keras

    from keras_bert_zoo.tasks import TaskError, load_task

    marker = tmp_path / "ran"

    def hostile(x):
        marker.write_text("the lambda ran")
        return x

    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Lambda(lambda x: hostile(x))(inputs)).save(tmp_path / "lambda.keras")
    marker.unlink()                    # building the model called it once; loading must not
    with pytest.raises(TaskError, match=r"lambda\.keras: holds a Lambda layer with Python code; refused "
                                        r"\(safe_mode=True"):
        load_task(tmp_path / "lambda.keras")
    assert not marker.exists()


def test_directory_that_is_not_a_saved_task_is_named(hf_dir, tmp_path):
    from keras_bert_zoo.tasks import TaskError, load_task

    with pytest.raises(TaskError, match=rf"{tmp_path}: not a saved task: .* it holds nothing"):
        load_task(tmp_path)
    with pytest.raises(TaskError, match=rf"{hf_dir}: not a saved task: .* it holds \['config\.json', "
                                        rf"'model\.safetensors', 'vocab\.txt'\]; it looks like a Hugging Face "
                                        rf"checkpoint"):
        load_task(hf_dir)


def test_keras_file_of_a_backbone_is_not_a_task(saved_backbone):
    from keras_bert_zoo.tasks import TaskError, load_task

    with pytest.raises(TaskError, match=r"backbone\.keras holds a BertBackbone, not a keras_bert_zoo task"):
        load_task(saved_backbone)


def test_csv_quote_closing_lines_later_before_text_names_opening_line(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\ngood,pos\n"so bad,neg\nok film,pos\nmeh" really,neg\n')
    with pytest.raises(LabelledFileError, match=r"d\.csv:3: text right after a closing quote .*\(the quote opened "
                                                r"here closes on line 5\)"):
        read_labelled_file(path)


def test_csv_label_with_stray_quote_names_line(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\nhi,pos\nbye,neg"\n')
    with pytest.raises(LabelledFileError, match=r"d\.csv:3: column 'label' holds a quote \('neg\"'\)"):
        read_labelled_file(path)
