"""tf.data pipelines from CSV / TSV / JSONL: label vocab and errors, invalid UTF-8, empty texts, pairs,
shuffle / cache / bucketing, and the packed output of a real preprocessor."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data.pipelines import Examples, LabelVocabulary, PipelineError, make_dataset, read_examples
from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "very", "!", "not", "a", "b"]


@pytest.fixture(scope="module")
def pre():
    return BertPreprocessor(WordPieceTokenizer(VOCAB), sequence_length=16)


@pytest.fixture()
def csv_file(tmp_path):
    path = tmp_path / "train.csv"
    rows = b"label,text\npos,good movie\nneg,bad \xff\xfe movie\npos,\nneg,\"very, very bad!\"\n"
    path.write_bytes(rows)
    return path


def test_csv_labels_invalid_utf8_and_empty_text(csv_file):
    ex = read_examples(csv_file, text_column="text", label_column="label")
    assert ex.labels.labels == ["neg", "pos"]
    assert ex.label_ids.tolist() == [1, 0, 1, 0]
    assert ex.texts[1] == "bad \ufffd\ufffd movie" and ex.texts[2] == ""
    assert ex.lines == [2, 3, 4, 5]


def test_unknown_label_names_file_line_and_value(tmp_path):
    path = tmp_path / "dev.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"text": "a", "y": "pos"}, {"text": "b", "y": "meh"}]))
    with pytest.raises(PipelineError, match=r"dev\.jsonl:2: unknown label 'meh'.*\['neg', 'pos'\]"):
        read_examples(path, label_column="y", labels=["neg", "pos"])


def test_label_vocabulary_save_load(tmp_path):
    vocab = LabelVocabulary(["b", "a"])
    vocab.save(tmp_path / "labels.txt")
    assert LabelVocabulary.load(tmp_path / "labels.txt").labels == ["b", "a"]
    with pytest.raises(PipelineError, match="duplicate"):
        LabelVocabulary(["a", "a"])


def test_tsv_pairs_packed(tmp_path, pre):
    path = tmp_path / "pairs.tsv"
    path.write_text("premise\thypothesis\tlabel\ngood movie\tbad movie\t0\na\t\t1\n", encoding="utf-8")
    ds = make_dataset(path, preprocessor=pre, batch_size=2, text_column="premise",
                      text_pair_column="hypothesis", label_column="label")
    x, y = next(iter(ds))
    assert y.numpy().tolist() == [0, 1]
    assert x["token_ids"].shape == (2, 16)
    assert x["token_ids"].numpy()[0, :7].tolist() == [2, 5, 7, 3, 6, 7, 3]
    assert x["segment_ids"].numpy()[0, :7].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert x["token_ids"].numpy()[1, :4].tolist() == [2, 11, 3, 3]


def test_unlabelled_raw_strings(csv_file):
    ds = make_dataset(csv_file, batch_size=3, label_column=None)
    batch = next(iter(ds))
    assert set(batch) == {"text"} and batch["text"].shape == (3,)


def test_shuffle_cache_and_epochs(csv_file, pre):
    ds = make_dataset(csv_file, preprocessor=pre, batch_size=4, shuffle=True, seed=3, cache=True,
                      label_column="label")
    first = [y.numpy().tolist() for _, y in ds]
    second = [y.numpy().tolist() for _, y in ds]
    assert sorted(sum(first, [])) == sorted(sum(second, [])) == [0, 0, 1, 1]


def test_bucketing_trims_padding(tmp_path, pre):
    path = tmp_path / "lens.csv"
    rows = ["text,label"] + [f"{' '.join(['good'] * n)},pos" for n in (1, 2, 1, 2, 9, 10, 9, 10)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ds = make_dataset(path, preprocessor=pre, batch_size=4, bucket_boundaries=[4], label_column="label")
    widths = sorted(x["token_ids"].shape[1] for x, _ in ds)
    assert widths == [8, 16]
    for x, _ in ds:
        assert x["token_ids"].shape == x["padding_mask"].shape == x["segment_ids"].shape


def test_examples_object_and_missing_column(tmp_path, pre):
    path = tmp_path / "x.csv"
    path.write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"missing column"):
        read_examples(path, label_column="label")
    ex = Examples(path="mem", texts=["good", "bad"], pairs=None, label_ids=np.array([1, 0]), lines=[1, 2],
                  labels=LabelVocabulary(["n", "p"]))
    x, y = next(iter(make_dataset(ex, preprocessor=pre, batch_size=2)))
    assert y.numpy().tolist() == [1, 0] and x["token_ids"].numpy()[:, 1].tolist() == [5, 6]
