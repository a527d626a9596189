"""The task file readers (data/task_files.py): what each returns, the options each reads, the serving samples."""

from pathlib import Path

import pytest

from keras_bert_zoo.data import task_files as tf_files
from keras_bert_zoo.data.task_files import FileOptions, TaskFileError

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_labelled_reader_with_pairs_and_its_serving_samples(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("a,b,y\nthe film,a car,pos\nbad plot,a bus,neg\n", encoding="utf-8")
    data = tf_files.labelled_reader(path, FileOptions(text_column="a", pair_column="b", label_column="y"))
    assert data.x == {"text": ["the film", "bad plot"], "text_pair": ["a car", "a bus"]}
    assert data.y == ["pos", "neg"] and data.lines == [2, 3] and len(data) == 2
    assert data.serving_samples(1) == {"text": ["the film"], "text_pair": ["a car"]}
    unlabelled = tf_files.labelled_reader(path, FileOptions(text_column="a"), require_targets=False)
    assert unlabelled.y is None and unlabelled.x == {"text": ["the film", "bad plot"]}


def test_regression_reader_names_the_line_of_a_target_that_is_not_a_number(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("text,label\nok,0.5\nbad,high\n", encoding="utf-8")
    with pytest.raises(TaskFileError, match=r"r.csv:3: column 'label': expected a number"):
        tf_files.regression_reader(path, FileOptions())


def test_the_structured_readers_and_their_samples():
    tags = tf_files.conll_reader(FIXTURES / "ner_train.conll", FileOptions())
    assert tags.x and tags.y is None and set(tags.serving_samples(2)) == {"text"}
    assert tags.serving_samples(2)["text"][0] == " ".join(tags.x[0].words)
    qa = tf_files.squad_reader(FIXTURES / "squad_v2.json", FileOptions())
    assert qa.extra["version"] and set(qa.serving_samples(2)) == {"question", "context"}
    choice = tf_files.swag_reader(FIXTURES / "swag_train.csv", FileOptions())
    k = choice.extra["num_choices"]
    assert set(choice.serving_samples(2)) == {"context"} | {f"choice_{i}" for i in range(k)}


def test_lines_and_pairs_readers(tmp_path):
    lines = tmp_path / "t.txt"
    lines.write_text("one\n\ntwo\n", encoding="utf-8")
    data = tf_files.lines_reader(lines, FileOptions())
    assert data.x == ["one", "two"] and data.serving_samples(5) == {"text": ["one", "two"]}
    pairs = tmp_path / "p.csv"
    pairs.write_text("q,d\na,b\nc,d\n", encoding="utf-8")
    data = tf_files.pairs_reader(pairs, FileOptions(anchor_column="q", positive_column="d"))
    assert data.x == {"anchor": ["a", "c"], "positive": ["b", "d"]} and data.serving_samples(1) == {"text": ["a"]}


def test_an_option_the_reader_does_not_read_is_named():
    FileOptions(text_column="t").check(tf_files.LABELLED_OPTIONS, "classify")
    with pytest.raises(TaskFileError, match=r"option\(s\) \['word_column'\] do not apply to task 'classify'"):
        FileOptions(word_column=2).check(tf_files.LABELLED_OPTIONS, "classify")
    with pytest.raises(TaskFileError, match=r"do not apply to task 'qa' \(its file options: none\)"):
        FileOptions(text_column="t").check((), "qa")
