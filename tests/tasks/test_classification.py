"""Text classification / regression tasks: training with model.fit on raw strings, reports, save/load, errors."""

import csv
import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.tasks import BertTask, TaskError, get_task_class
from keras_bert_zoo.tasks.classification import TextClassifier, TextRegressor, read_labelled_file
from keras_bert_zoo.train.loop import FitConfig, fit_task
from tiny_classify import tiny_backbone_and_tokenizer, write_csv, write_jsonl


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    train = write_csv(root / "train.csv", 120, seed=0)
    dev = write_csv(root / "dev.csv", 30, seed=1)
    backbone, tokenizer = tiny_backbone_and_tokenizer(dropout=0.0)
    task = TextClassifier.from_train_file(train, backbone, tokenizer, sequence_length=16, dropout=0.0)
    train_ds = task.dataset_from_file(train, batch_size=8, training=True)
    dev_ds = task.dataset_from_file(dev, batch_size=16)
    # The run outputs of the recipe come from a short fit_task; then plain constant-LR Adam gets the randomly
    # initialised tiny BERT through its long plateau (it first separates two classes and merges the third; with
    # a decaying LR it can stay there), so the report tests below see a model that really learned.
    config = FitConfig(epochs=3, batch_size=8, learning_rate=1e-3, warmup_ratio=0.05, verbose=0)
    result = fit_task(task, train_ds, dev_ds, root / "run", config, train_size=120)
    import keras

    task.compile(keras.optimizers.Adam(1e-3))
    task.model.fit(train_ds, epochs=15, verbose=0)
    return task, train, dev, root, result


def test_registry_and_labels(trained):
    task = trained[0]
    assert get_task_class("classify") is TextClassifier and get_task_class("regress") is TextRegressor
    assert task.labels == ["negative", "neutral", "positive"]          # sorted labels found in the file
    with pytest.raises(TaskError, match="unknown task 'nope'"):
        get_task_class("nope")


def test_trains_with_model_fit_and_writes_run_outputs(trained):
    task, _, dev, root, result = trained
    report = task.evaluate_file(dev)
    assert report["accuracy"] >= 0.9, report
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
    report = task.evaluate_file(dev, out_dir=tmp_path)
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


def test_predict_serving_and_end_to_end_agree(trained):
    task = trained[0]
    texts = ["the movie was great and love", "the plot was awful and hate", "", "meh"]
    results = task.predict(texts)
    assert [r["label"] for r in results[:2]] == ["positive", "negative"]
    assert set(results[0]["probabilities"]) == set(task.labels)
    out = task.serving_fn({"text": tf.constant(texts)})
    assert set(out) == {"logits", "probabilities", "label_ids", "label_names", "score"}
    assert out["label_names"].numpy()[0] == b"positive"
    e2e = task.end_to_end_model()(tf.constant(texts))
    for key in out:
        if out[key].dtype == tf.string:
            np.testing.assert_array_equal(e2e[key].numpy(), out[key].numpy())
        else:
            np.testing.assert_allclose(np.asarray(e2e[key]), out[key].numpy(), atol=1e-6)
    packed = task.preprocess({"text": tf.constant(texts)})
    np.testing.assert_allclose(task.packed_serving_fn(packed)["logits"].numpy(), out["logits"].numpy(), atol=1e-6)


def test_save_load_roundtrip(trained, tmp_path):
    task = trained[0]
    path = task.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["model.keras", "task.json", "vocab.txt"]
    meta = json.loads((path / "task.json").read_text())
    assert meta["task_type"] == "classify" and meta["labels"] == task.labels and meta["sequence_length"] == 16
    loaded = BertTask.load(path)
    assert isinstance(loaded, TextClassifier) and loaded.labels == task.labels
    texts = ["the movie was great", "awful and hate", "ok meh"]
    a = task.serving_fn({"text": tf.constant(texts)})["probabilities"].numpy()
    b = loaded.serving_fn({"text": tf.constant(texts)})["probabilities"].numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    task.save(tmp_path / "model")                 # overwriting an existing save is atomic, leaves no temp dirs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    with pytest.raises(TaskError, match="not a saved task"):
        BertTask.load(tmp_path)


def test_padding_trim_is_exact_and_buckets_cover_every_example(trained):
    task = trained[0]
    texts = ["the film was good", "the movie was awful and hate and the plot was bad", "meh"]
    full = task.model.predict(task.make_dataset(texts, batch_size=3), verbose=0)
    trimmed = task.model.predict(task.make_dataset(texts, batch_size=3, trim_padding=True), verbose=0)
    np.testing.assert_allclose(full, trimmed, atol=1e-5)
    ds = task.make_dataset([f"the {'a ' * (i % 7)}" for i in range(50)], np.arange(50), batch_size=4,
                           shuffle=True, bucket_by_length=True, trim_padding=True)
    assert int(ds.cardinality()) == 13
    seen = []
    for packed, y in ds:
        lengths = packed["padding_mask"].numpy().sum(-1)
        np.testing.assert_array_equal(lengths, y.numpy() % 7 + 3)     # each text stays with its own label
        assert packed["token_ids"].shape[1] == lengths.max()          # trimmed to the batch's longest
        seen += y.numpy().tolist()
    assert sorted(seen) == list(range(50))


def test_attention_heat_map(trained, tmp_path):
    from keras_bert_zoo.viz import attention_scores, plot_attention

    task = trained[0]
    tokens, scores = attention_scores(task, "the movie was great")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "great" in tokens
    assert scores.shape == (2, 4, len(tokens), len(tokens))
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)   # padding removed: rows still sum to 1
    png = plot_attention(tokens, scores, tmp_path / "att.png", layer=0, head=1)
    assert png.stat().st_size > 1000
    with pytest.raises(ValueError, match="layer 5 out of range"):
        plot_attention(tokens, scores, tmp_path / "bad.png", layer=5)


def test_unknown_label_names_file_and_line(trained, tmp_path):
    task = trained[0]
    path = tmp_path / "eval.csv"
    path.write_text("text,label\ngood movie,positive\nbad movie,angry\n")
    with pytest.raises(TaskError, match=r"eval\.csv:3: unknown label 'angry'"):
        task.evaluate_file(path)


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
    with pytest.raises(TaskError, match=message):
        read_labelled_file(path)


def test_jsonl_errors_and_invalid_utf8_replaced(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label"\n')
    with pytest.raises(TaskError, match=r"d\.jsonl:2: invalid JSON"):
        read_labelled_file(path)
    raw = tmp_path / "raw.csv"
    raw.write_bytes(b"text,label\ncaf\xe9 \xff ok,positive\nfine,negative\n")
    data = read_labelled_file(raw)
    assert data.texts[0] == "caf\ufffd \ufffd ok" and data.replaced_utf8 == 2


def test_long_texts_are_counted_and_warned(trained, tmp_path, caplog):
    task = trained[0]
    path = tmp_path / "long.csv"
    path.write_text("text,label\n" + "the movie was good and " * 5 + ",positive\nok,neutral\n")
    with caplog.at_level(logging.WARNING):
        task.dataset_from_file(path, batch_size=2)
    assert "1 of 2 examples are longer than sequence_length=16 tokens and will be truncated" in caplog.text
    assert task.evaluate_file(path)["truncated_examples"] == 1


def test_class_weights_and_resampling(trained, tmp_path):
    task = trained[0]
    path = write_csv(tmp_path / "imb.csv", 12, labels=("positive", "positive", "positive", "negative", "neutral",
                                                       "positive"))
    ds = task.dataset_from_file(path, batch_size=64, class_weight="balanced")
    _, y, w = next(iter(ds))
    counts = np.bincount(y.numpy(), minlength=3)
    expected = 12 / (3 * counts)
    np.testing.assert_allclose(w.numpy(), expected[y.numpy()], rtol=1e-6)
    ds = task.dataset_from_file(path, batch_size=64, training=True, resample="oversample")
    y = np.concatenate([b[1].numpy() for b in ds])
    assert np.bincount(y).tolist() == [8, 8, 8]


@pytest.mark.slow   # three more tiny models: ~4.5 min under load on the shared 2-core machine
def test_pairs_multilabel_and_regression_train_and_evaluate(tmp_path):
    import keras

    backbone, tokenizer = tiny_backbone_and_tokenizer(seed=1)
    # pairs
    pair_file = write_csv(tmp_path / "pairs.csv", 12, pair=True)
    pairs = TextClassifier.from_train_file(pair_file, backbone, tokenizer, sequence_length=16, pair_column="text_b")
    assert pairs.text_inputs == ("text", "text_pair")
    pairs.compile(keras.optimizers.Adam(1e-3))
    pairs.model.fit(pairs.dataset_from_file(pair_file, batch_size=6, training=True, pair_column="text_b"),
                    epochs=1, verbose=0)
    assert pairs.evaluate_file(pair_file, pair_column="text_b")["num_examples"] == 12
    assert set(pairs.predict(["good movie"], pairs=["cars"])[0]) == {"label", "score", "probabilities"}
    with pytest.raises(TaskError, match="takes text pairs"):
        pairs.evaluate_file(pair_file)
    # multi-label
    ml_file = write_jsonl(tmp_path / "ml.jsonl", [
        {"text": "the movie was good", "label": "acting,plot"}, {"text": "bad plot", "label": "plot"},
        {"text": "meh acting", "label": "acting"}, {"text": "awful film", "label": ["plot", "music"]}])
    backbone2, _ = tiny_backbone_and_tokenizer(seed=2)
    ml = TextClassifier.from_train_file(ml_file, backbone2, tokenizer, sequence_length=16, multi_label=True)
    assert ml.labels == ["acting", "music", "plot"]
    ml.compile(keras.optimizers.Adam(1e-3))
    ml.model.fit(ml.dataset_from_file(ml_file, batch_size=2, training=True), epochs=1, verbose=0)
    rep = ml.evaluate_file(ml_file, out_dir=tmp_path / "ml_report")
    assert {"subset_accuracy", "hamming_loss", "macro_f1", "micro_f1"} <= set(rep)
    out = ml.serving_fn({"text": tf.constant(["good", "bad"])})
    assert out["predictions"].shape == (2, 3) and out["label_names"].dtype == tf.string
    assert isinstance(ml.predict(["good"])[0]["labels"], list)
    # regression (pairs, STS-B style)
    reg_file = tmp_path / "sts.tsv"
    reg_file.write_text("a\tb\tscore\ngood movie\tgreat film\t4.5\nbad plot\tgood plot\t1.0\n"
                        "the film\tthe movie\t4.0\nok\tawful\t0.5\n")
    backbone3, _ = tiny_backbone_and_tokenizer(seed=3)
    reg = TextRegressor.from_train_file(reg_file, backbone3, tokenizer, sequence_length=16, text_column="a",
                                        pair_column="b", label_column="score")
    reg.compile(keras.optimizers.Adam(1e-3))
    opts = dict(text_column="a", pair_column="b", label_column="score")
    reg.model.fit(reg.dataset_from_file(reg_file, batch_size=2, training=True, **opts), epochs=1, verbose=0)
    rep = reg.evaluate_file(reg_file, out_dir=tmp_path / "reg", **opts)
    assert {"mse", "mae", "pearson", "spearman"} <= set(rep)
    assert set(reg.predict(["good"], pairs=["great"])[0]) == {"score"}
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\tscore\nx\ty\thigh\n")
    with pytest.raises(TaskError, match=r"bad\.tsv:2: label 'high' is not a number"):
        reg.evaluate_file(bad, **opts)


def test_long_text_sliding_windows_average_the_window_logits(trained):
    task = trained[0]
    windowed = TextClassifier(task.model, task.tokenizer, sequence_length=8, labels=task.labels, window_stride=4)
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
    logits = task.model({"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": mask},
                        training=False)
    out = windowed.serving_fn({"text": tf.constant([long_text, "meh"])})
    np.testing.assert_allclose(out["logits"].numpy()[0], np.asarray(logits).mean(0), atol=1e-5)
    short = TextClassifier(task.model, task.tokenizer, sequence_length=8, labels=task.labels)
    np.testing.assert_allclose(out["logits"].numpy()[1], short.serving_fn({"text": tf.constant(["meh"])})
                               ["logits"].numpy()[0], atol=1e-5)
    assert windowed.get_config()["window_stride"] == 4
