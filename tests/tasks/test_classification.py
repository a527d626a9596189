"""Text classification / regression: the Keras workflow on raw strings, the file readers, reports, errors."""

import csv
import json
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo import reports
from keras_bert_zoo.data.labelled import LabelledFileError, read_labelled_file
from keras_bert_zoo.data.task_files import FileOptions, TaskFileError
from keras_bert_zoo.tasks import read_task_file
from keras_bert_zoo.tasks import TaskError, TextClassifier, TextRegressor, get_task_class, load_task
from keras_bert_zoo.text import BertPreprocessor
from keras_bert_zoo.train.loop import FitConfig, fit_task
from tests.tasks.tiny_classify import tiny_backbone_and_tokenizer, write_csv, write_jsonl

LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    train = read_task_file("classify", write_csv(root / "train.csv", 120, seed=0))
    dev_path = write_csv(root / "dev.csv", 30, seed=1)
    dev = read_task_file("classify", dev_path)
    backbone, tokenizer = tiny_backbone_and_tokenizer(dropout=0.0)
    task = TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=16), labels=LABELS,
                          dropout=0.0)
    train_ds = task.make_dataset(train.x, train.y, batch_size=8, training=True)
    dev_ds = task.make_dataset(dev.x, dev.y, batch_size=16)
    # The run outputs of the recipe come from a short fit_task; then plain constant-LR Adam gets the randomly
    # initialised tiny BERT through its long plateau, so the report tests below see a model that really learned.
    config = FitConfig(epochs=3, batch_size=8, learning_rate=1e-3, warmup_ratio=0.05, verbose=0)
    result = fit_task(task, train_ds, dev_ds, root / "run", config, train_size=120)
    task.compile(keras.optimizers.Adam(1e-3))
    task.fit(train.x["text"], train.y, batch_size=8, epochs=30, verbose=0)   # raw strings + label names
    return task, train, dev, root, result


def test_registry_and_labels(trained):
    task = trained[0]
    assert get_task_class("classify") is TextClassifier and get_task_class("regress") is TextRegressor
    assert task.labels == LABELS and task.tokenizer is task.preprocessor.tokenizer
    with pytest.raises(TaskError, match="unknown task 'nope'"):
        get_task_class("nope")
    backbone, _ = tiny_backbone_and_tokenizer()
    with pytest.raises(TaskError, match=r"duplicate label names \['a'\]"):
        TextClassifier(backbone, labels=["a", "b", "a"])
    with pytest.raises(TypeError):
        TextClassifier(backbone, labels=["a", "b"], class_weight="balanced")   # no **options sink


def test_trains_with_model_fit_and_writes_run_outputs(trained):
    task, _, dev, root, result = trained
    assert task.evaluate(dev.x, dev.y, return_dict=True, verbose=0)["accuracy"] >= 0.9
    run = root / "run"
    assert [h["epoch"] for h in result.history] == [0, 1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(result.history[0])
    assert (run / "training_curves.png").stat().st_size > 1000
    assert (run / "checkpoints" / "last_good.weights.h5").exists()
    assert list((run / "logs").rglob("events.out.tfevents*")), "no TensorBoard logs"
    assert not (run / "backup").exists()          # BackupAndRestore cleans up after a finished run


def test_reports_match_sklearn(trained, tmp_path):
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, matthews_corrcoef

    task, _, dev, _, _ = trained
    report = reports.evaluate_task_file(task, dev, out_dir=tmp_path)
    with open(tmp_path / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30 and rows[0]["line"] == "2"
    gold = [r["label"] for r in rows]
    pred = [r["prediction"] for r in rows]
    assert report["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    assert report["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"))
    assert report["micro_f1"] == pytest.approx(f1_score(gold, pred, average="micro"))
    assert report["mcc"] == pytest.approx(matthews_corrcoef(gold, pred))
    np.testing.assert_array_equal(report["confusion_matrix"], confusion_matrix(gold, pred, labels=task.labels))
    probs = np.array([[float(r[f"p_{n}"]) for n in task.labels] for r in rows])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 1000
    assert json.loads((tmp_path / "report.json").read_text())["per_class"]["positive"]["support"] == 10
    assert report["accuracy"] > 0.9


def test_predict_on_raw_strings_equals_the_serving_graph(trained):
    task = trained[0]
    texts = ["the movie was great and love", "the plot was awful and hate", "", "meh"]
    out = task.predict(texts, verbose=0)
    assert out["label_names"][:2].tolist() == [b"positive", b"negative"]
    rows = task.decode(out)
    assert set(rows[0]["probabilities"]) == set(task.labels) and rows[0]["label"] == "positive"
    served = task.serving_fn({"text": tf.constant(texts)})
    assert set(served) == {"logits", "probabilities", "label_ids", "label_names", "score"}
    np.testing.assert_allclose(out["logits"], served["logits"].numpy(), atol=1e-5)   # trimmed vs padded batch
    packed = task.preprocess({"text": tf.constant(texts)})
    np.testing.assert_allclose(task.packed_serving_fn(packed)["logits"].numpy(), served["logits"].numpy(),
                               atol=1e-6)
    ds = tf.data.Dataset.from_tensor_slices(texts)                     # a dataset of strings works too
    np.testing.assert_allclose(task.predict(ds, batch_size=3, verbose=0)["logits"], out["logits"], atol=1e-5)
    with pytest.raises(TaskError, match=r"unknown label 'angry'"):
        task.evaluate(["good"], ["angry"], verbose=0)
    with pytest.raises(TaskError, match="2 inputs but 1 targets"):
        task.fit(["good", "bad"], ["positive"], verbose=0)


def test_one_file_save_and_load(trained, tmp_path):
    task = trained[0]
    path = tmp_path / "sentiment.keras"
    task.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sentiment.keras"]
    import zipfile

    names = zipfile.ZipFile(path).namelist()
    assert any(n.endswith("vocabulary.txt") for n in names), names          # the vocabulary is an asset
    assert "[unused" not in zipfile.ZipFile(path).read("config.json").decode()   # ... never JSON in the config
    loaded = keras.saving.load_model(path)                                  # safe_mode=True by default
    assert isinstance(loaded, TextClassifier) and loaded.labels == task.labels
    texts = ["the movie was great", "awful and hate", "ok meh"]
    np.testing.assert_allclose(task.predict(texts, verbose=0)["probabilities"],
                               loaded.predict(texts, verbose=0)["probabilities"], atol=1e-6)
    assert isinstance(load_task(path), TextClassifier)
    with pytest.raises(TaskError, match="no such file"):
        load_task(tmp_path / "missing.keras")
    broken = tmp_path / "old"
    broken.mkdir()
    (broken / "task.json").write_text("{}")                 # an incomplete 0.1 directory: no model.keras
    with pytest.raises(TaskError, match=r"old[/\\]model\.keras: no such file"):
        load_task(broken)


def test_padding_trim_is_exact_and_buckets_cover_every_example(trained):
    task = trained[0]
    texts = ["the film was good", "the movie was awful and hate and the plot was bad", "meh"]
    packed = task.preprocess({"text": tf.constant(texts)})
    full = task(packed, training=False)
    trimmed = task(task.trim(packed), training=False)
    assert task.trim(packed)["token_ids"].shape[1] < packed["token_ids"].shape[1]
    np.testing.assert_allclose(full, trimmed, atol=1e-5)
    ds = task.make_dataset([f"the {'a ' * (i % 7)}" for i in range(50)], np.arange(50) % 3, batch_size=4,
                           training=True)
    assert int(ds.cardinality()) == 13
    count = 0
    for batch, y in ds:
        lengths = batch["padding_mask"].numpy().sum(-1)
        assert batch["token_ids"].shape[1] == lengths.max()          # trimmed to the batch's longest
        assert lengths.max() - lengths.min() <= 6                      # grouped by length
        count += len(y)
    assert count == 50


def test_attention_heat_map(trained, tmp_path):
    from keras_bert_zoo.viz import attention_scores, plot_attention

    task = trained[0]
    tokens, scores = attention_scores(task, "the movie was great")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "great" in tokens
    assert scores.shape == (2, 4, len(tokens), len(tokens))
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    png = plot_attention(tokens, scores, tmp_path / "att.png", layer=0, head=1)
    assert png.stat().st_size > 1000
    with pytest.raises(ValueError, match="layer 5 out of range"):
        plot_attention(tokens, scores, tmp_path / "bad.png", layer=5)


def test_unknown_label_in_a_file_names_the_target(trained, tmp_path):
    task = trained[0]
    path = tmp_path / "eval.csv"
    path.write_text("text,label\ngood movie,positive\nbad movie,angry\n")
    with pytest.raises(TaskError, match=r"target 1: unknown label 'angry'"):
        reports.evaluate_task_file(task, read_task_file("classify", path))


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("text,label\n", "no data rows"),
    ("sentence,label\nhello,positive\n", r":1: missing column\(s\) \['text'\] in the header; found columns "
                                         r"\['sentence', 'label'\]"),
    ("text,label\nhello,positive\nbye\n", r":3: row has 1 fields, expected 2; column\(s\) \['label'\] missing"),
    ("text,label\nhello,\n", r":2: empty value in column 'label'"),
])
def test_bad_files_have_clear_errors(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(LabelledFileError, match=message):
        read_labelled_file(path)
    with pytest.raises(TaskFileError, match=message):
        read_task_file("classify", path)


def test_jsonl_errors_invalid_utf8_and_inapplicable_options(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label"\n')
    with pytest.raises(LabelledFileError, match=r"d\.jsonl:2: invalid JSON"):
        read_labelled_file(path)
    raw = tmp_path / "raw.csv"
    raw.write_bytes(b"text,label\ncaf\xe9 \xff ok,positive\nfine,negative\n")
    data = read_labelled_file(raw)
    assert data.texts[0] == "caf\ufffd \ufffd ok" and data.replaced_utf8 == 2
    with pytest.raises(TaskFileError, match=r"option\(s\) \['word_column'\] do not apply to task 'classify'"):
        read_task_file("classify", raw, FileOptions(word_column=2))


def test_long_texts_are_counted_and_warned(trained, tmp_path, caplog):
    task = trained[0]
    path = tmp_path / "long.csv"
    path.write_text("text,label\n" + "the movie was good and " * 5 + ",positive\nok,neutral\n")
    data = read_task_file("classify", path)
    with caplog.at_level(logging.WARNING):
        reports.warn_truncation(task, data)
    assert "1 of 2 examples are longer than sequence_length=16 tokens and will be truncated" in caplog.text
    assert reports.evaluate_task_file(task, data)["truncated_examples"] == 1


def test_pairs_multilabel_and_regression_from_files(tmp_path):
    backbone, tokenizer = tiny_backbone_and_tokenizer(seed=1)
    pre = BertPreprocessor(tokenizer, sequence_length=16)
    # pairs
    pair_file = read_task_file("classify", write_csv(tmp_path / "pairs.csv", 12, pair=True),
                               FileOptions(pair_column="text_b"))
    pairs = TextClassifier(backbone, preprocessor=pre, labels=LABELS, pairs=True)
    assert pairs.text_inputs == ("text", "text_pair")
    pairs.fit(pair_file.x, pair_file.y, batch_size=6, epochs=1, verbose=0)
    assert reports.evaluate_task_file(pairs, pair_file)["num_examples"] == 12
    with pytest.raises(TaskError, match="missing \\['text_pair'\\]"):
        pairs.predict({"text": ["good movie"]})
    # multi-label
    ml_file = read_task_file("classify", write_jsonl(tmp_path / "ml.jsonl", [
        {"text": "the movie was good", "label": "acting,plot"}, {"text": "bad plot", "label": "plot"},
        {"text": "meh acting", "label": "acting"}, {"text": "awful film", "label": ["plot", "music"]}]))
    backbone2, _ = tiny_backbone_and_tokenizer(seed=2)
    ml = TextClassifier(backbone2, preprocessor=pre, labels=["acting", "music", "plot"], multi_label=True)
    ml.fit(ml_file.x, ml_file.y, batch_size=2, epochs=1, verbose=0)
    rep = reports.evaluate_task_file(ml, ml_file, out_dir=tmp_path / "ml_report")
    assert {"subset_accuracy", "hamming_loss", "macro_f1", "micro_f1"} <= set(rep)
    assert isinstance(ml.decode(ml.predict(["good"], verbose=0))[0]["labels"], list)
    # regression (pairs, STS-B style)
    reg_path = tmp_path / "sts.tsv"
    reg_path.write_text("a\tb\tscore\ngood movie\tgreat film\t4.5\nbad plot\tgood plot\t1.0\n"
                        "the film\tthe movie\t4.0\nok\tawful\t0.5\n")
    opts = FileOptions(text_column="a", pair_column="b", label_column="score")
    reg_file = read_task_file("regress", reg_path, opts)
    backbone3, _ = tiny_backbone_and_tokenizer(seed=3)
    reg = TextRegressor(backbone3, preprocessor=pre, pairs=True)
    reg.fit(reg_file.x, reg_file.y, batch_size=2, epochs=1, verbose=0)
    rep = reports.evaluate_task_file(reg, reg_file, out_dir=tmp_path / "reg")
    assert {"mse", "mae", "pearson", "spearman"} <= set(rep)
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\tscore\nx\ty\thigh\n")
    with pytest.raises(TaskFileError, match=r"bad\.tsv:2: column 'score': expected a number"):
        read_task_file("regress", bad, opts)      # the file reader names the line (issue 14)
    with pytest.raises(TaskError, match="regression targets must be numbers"):
        reg.encode_targets(["high"])              # and the task still checks targets given in memory


def test_long_text_sliding_windows_average_the_window_logits(trained):
    task = trained[0]
    windowed = TextClassifier(task.backbone, preprocessor=BertPreprocessor(task.tokenizer, sequence_length=8),
                              labels=task.labels, window_stride=4)
    windowed.head.set_weights(task.head.get_weights())
    long_text = "the movie was good and great and the plot was awful and bad and the film was ok"
    ids = task.tokenizer(tf.constant([long_text])).to_list()[0]
    assert len(ids) == 18
    starts, windows = 0, []
    while True:                                       # 6 tokens per window (8 - [CLS] - [SEP]), starts 4 apart
        windows.append(ids[starts:starts + 6])
        if starts + 6 >= len(ids):
            break
        starts += 4
    assert len(windows) == 4
    token_ids = np.array([[2] + w + [3] + [0] * (6 - len(w)) for w in windows], "int32")
    mask = (np.arange(8)[None, :] < np.array([len(w) + 2 for w in windows])[:, None]).astype("int32")
    logits = task({"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": mask},
                  training=False)
    out = windowed.predict([long_text, "meh"], verbose=0)
    np.testing.assert_allclose(out["logits"][0], np.asarray(logits).mean(0), atol=1e-5)
    np.testing.assert_allclose(out["logits"][1], task.predict(["meh"], verbose=0)["logits"][0], atol=1e-5)
    assert windowed.get_config()["window_stride"] == 4


def test_a_task_directory_of_version_0_1_still_loads_and_converts(tmp_path):
    """tests/tasks/fixtures/legacy_classifier was written by keras_bert_zoo 0.1 (task.save of a TextClassifier
    around a BertClassifier) with its predictions on two texts."""
    import pathlib

    from keras_bert_zoo.tasks.legacy import convert_legacy_task

    legacy = pathlib.Path(__file__).parent / "fixtures" / "legacy_classifier"
    expected = json.loads((legacy / "expected.json").read_text())["probabilities"]
    task = load_task(legacy)
    assert isinstance(task, TextClassifier) and task.labels == LABELS and task.sequence_length == 16
    got = task.predict(["the movie was good", "bad"], verbose=0)["probabilities"]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    out = tmp_path / "converted.keras"
    convert_legacy_task(legacy, out)
    again = keras.saving.load_model(out)
    np.testing.assert_allclose(again.predict(["the movie was good", "bad"], verbose=0)["probabilities"], expected,
                               atol=1e-6)
    with pytest.raises(TaskError, match="not a keras_bert_zoo 0.1 task directory"):
        convert_legacy_task(tmp_path)
