"""report.html without a browser: the training-curve series (by step; sensible axes), the data gathered from a
run directory, the compact attention encoding, the page's escaping and size, the StepHistory log, and
`bert-zoo report`."""

import json

import numpy as np
import pytest

from keras_bert_zoo.viz.attention_data import WEIGHT_SCALE, decode_weights, encode_example
from keras_bert_zoo.viz.curves import axis_range, curve_panels
from keras_bert_zoo.viz.html_report import render_html
from keras_bert_zoo.viz.run_data import attention_texts, gather
from tests.cli.runner import bert_zoo
from tests.conftest import require
from tests.viz.tiny_run import CJK_TEXT, synthetic_attention, write_synthetic_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return write_synthetic_run(tmp_path_factory.mktemp("report") / "run")


def test_one_epoch_curves_are_by_step_with_sensible_axes():
    history = [{"epoch": 0, "loss": 0.5, "accuracy": 1.0, "val_loss": 0.6, "val_accuracy": 0.98}]
    # the old plot: one epoch = one point per panel, on matplotlib's automatic 0.96..1.04 axis
    by_epoch = curve_panels(history)
    assert by_epoch["x"] == "epoch" and by_epoch["panels"]["accuracy"]["train"] == [[1, 1.0]]
    assert axis_range("accuracy", [1.0, 0.98]) == (0.0, 1.0)
    assert axis_range("loss", [0.5, 0.6]) == (0.0, pytest.approx(0.648))
    assert axis_range("mcc", [-0.2, 0.4]) == (pytest.approx(-0.248), pytest.approx(0.448))
    steps = [{"step": s, "epoch": 0, "loss": 1.0 / s, "accuracy": 0.1 * s, "learning_rate": 1e-4} for s in (5, 10)]
    data = curve_panels(history, steps)
    assert data["x"] == "step"
    assert data["panels"]["loss"] == {"train": [[5, 0.2], [10, 0.1]], "val": [[10, 0.6]]}
    assert data["panels"]["learning_rate"]["train"] == [[5, 1e-4], [10, 1e-4]]


def test_training_curves_png_plots_the_steps(tmp_path):
    require("matplotlib")
    from keras_bert_zoo.viz import plot_training_curves

    steps = [{"step": s, "epoch": 0, "loss": 1.0 / s, "learning_rate": 1e-4} for s in range(1, 30)]
    path = plot_training_curves([{"epoch": 0, "loss": 0.1, "val_loss": 0.2}], tmp_path / "c.png", steps=steps)
    assert path.stat().st_size > 5000
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_training_curves([], tmp_path / "d.png")


def test_attention_encoding_round_trips_to_a_byte():
    tokens, scores = synthetic_attention()
    ex = encode_example(CJK_TEXT, tokens, scores)
    back = decode_weights(ex)
    assert back.shape == scores.shape and ex["scale"] == WEIGHT_SCALE
    assert np.abs(back - scores).max() <= 0.5 / WEIGHT_SCALE + 1e-7
    assert len(ex["weights"]) < 1.4 * scores.size                # one byte per weight, base64
    with pytest.raises(ValueError, match=r"scores of shape \(2, 3, 8, 8\) for 7 tokens"):
        encode_example("x", tokens[:-1], scores)


def test_gather_reads_what_the_run_wrote(run):
    data = gather(run)
    titles = [t["title"] for t in data["tables"]]
    assert titles == ["evaluations in this run", "summary.json"]
    assert data["tables"][1]["rows"]["tfidf_lr_same_subset"] == {"accuracy": 0.5, "macro_f1": 0.45, "mcc": 0.2}
    assert [c["x"] for c in data["curves"]] == ["step"]
    loss = data["curves"][0]["panels"]["loss"]
    assert len(loss["train"]) == 10 and loss["val"] == [[10, 0.8]] and loss["range"][0] == 0.0
    by_name = {ev["name"]: ev for ev in data["evaluations"]}
    assert sorted(by_name) == ["ner/test", "test"]
    cls = by_name["test"]
    assert cls["kind"] == "classify" and cls["num_wrong"] == 1 and cls["confusion"] == [[1, 1], [0, 2]]
    assert cls["worst"] == [{"line": "2", "text": "what a dull <script>film</script>", "pair": None,
                             "gold": "negative", "predicted": "positive", "probability": 0.9}]
    tag = by_name["ner/test"]
    assert tag["metrics"] == {"entity_precision": 0.5, "entity_recall": 0.5, "entity_f1": 0.5}
    (example,) = tag["examples"]
    assert example["joiner"] == "" and example["gold"][1] == {"type": "LOC", "start": 3, "end": 5}
    assert example["predicted"][1]["type"] == "ORG" and not example["correct"]
    assert [e["text"] for e in data["attention"]["examples"]] == [CJK_TEXT, "reversed"]


def test_attention_texts_pick_wrong_then_confident_right(run, tmp_path):
    texts, notes, pairs = attention_texts(run / "test", k=3)
    assert texts == ["what a dull <script>film</script>", "loved it", "这部电影很好"] and pairs is None
    assert notes[0] == "gold negative, predicted positive (p = 0.900)"
    assert attention_texts(run / "ner", k=3) == (["李明在北京工作"], ["has tagging errors"], None)
    assert attention_texts(run, k=1)[0] == ["李明在北京工作"]        # the first evaluation, in path order
    assert attention_texts(tmp_path / "missing") == ([], [], None)
    # a pair classifier's rows bring their second text
    pair_dir = tmp_path / "pairs"
    pair_dir.mkdir()
    (pair_dir / "report.json").write_text(json.dumps({"per_class": {}, "labels": ["no", "yes"]}))
    (pair_dir / "predictions.csv").write_text("line,text,text_pair,label,prediction,correct,p_no,p_yes\n"
                                              "2,a cat,a dog,no,yes,0,0.3,0.7\n3,a cat,a cat,yes,yes,1,0.1,0.9\n")
    assert attention_texts(pair_dir, k=2) == (["a cat", "a cat"], ["gold no, predicted yes (p = 0.700)",
                                                                   "gold yes, predicted yes"], ["a dog", "a cat"])


def test_page_is_one_small_file_that_cannot_be_broken_by_its_data(run):
    page = render_html(gather(run))
    assert page.count("</script>") == 2                      # the data's "</script>" is escaped
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert len(page.encode()) < 100_000
    data = page.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["title"] == "run"


def test_bert_zoo_report_rebuilds_the_page(run, tmp_path):
    import shutil

    copy = shutil.copytree(run, tmp_path / "run", ignore=shutil.ignore_patterns("ner"))  # (tags import TF)
    r = bert_zoo("report", copy, importtime=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (copy / "report.html").stat().st_size > 10_000 and "report: " in r.stdout
    assert "| tensorflow\n" not in r.stderr                  # a classifier's page is built without TensorFlow
    r = bert_zoo("report")
    assert r.returncode == 1 and "usage: bert-zoo report RUN_DIR" in r.stderr
    r = bert_zoo("report", run / "nope")
    assert r.returncode == 1 and "is not a directory" in r.stderr and "Traceback" not in r.stderr
    r = bert_zoo("report", run, "--attention_text=hi")
    assert r.returncode == 1 and "--attention_text needs --model" in r.stderr


def test_step_history_logs_every_few_steps_and_replaces_a_resumed_epoch(tmp_path):
    import keras

    from keras_bert_zoo.train.callbacks import StepHistory, read_history

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x, y = np.ones((40, 3), "float32"), np.zeros((40, 1), "float32")
    path = tmp_path / "steps.jsonl"
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[StepHistory(path, every=3)])
    rows = read_history(path)
    assert [r["step"] for r in rows] == [3, 6, 9, 10, 12, 15, 18, 20]      # every 3 + each epoch's last batch
    assert [r["epoch"] for r in rows][-1] == 1 and rows[0]["learning_rate"] == pytest.approx(0.01)
    model.fit(x, y, batch_size=4, epochs=2, initial_epoch=1, verbose=0, callbacks=[StepHistory(path, every=5)])
    assert [r["step"] for r in read_history(path)] == [3, 6, 9, 10, 15, 20]  # epoch 2 replaced, not appended


def test_pair_classifier_attention_covers_both_texts():
    from keras_bert_zoo import BertBackbone
    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    from keras_bert_zoo.viz.attention_data import attention_record
    from tests.conftest import TINY_LONG
    from tests.viz.tiny_run import cjk_vocabulary

    pre = BertPreprocessor(WordPieceTokenizer(cjk_vocabulary(), lowercase=True), sequence_length=24)
    task = TextClassifier(BertBackbone(TINY_LONG), preprocessor=pre, labels=["no", "yes"], pairs=True)
    record = attention_record(task, ["the movie was good", "bad"], pairs=["the film was bad", "这部电影"])
    first, second = record["examples"]
    assert first["tokens"] == ["[CLS]", "the", "movie", "was", "good", "[SEP]", "the", "film", "was", "bad", "[SEP]"]
    assert first["pair"] == "the film was bad" and second["tokens"][3:7] == list("这部电影")
    weights = decode_weights(first)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=len(first["tokens"]) / 255)   # rows of probabilities
    with pytest.raises(ValueError, match="1 second texts for 2 texts"):
        attention_record(task, ["a", "b"], pairs=["c"])
