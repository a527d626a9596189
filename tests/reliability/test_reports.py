"""Reports at scale (issue 27 case 9): an eval file with 10,000 distinct labels gives reports whose size grows
with the number of classes and examples, never with its square (the report states its limits)."""

import json

import numpy as np
import pytest

from keras_bert_zoo.metrics import classification as M

K = 10_000


def test_ten_thousand_classes_report_is_o_k_and_states_its_limits():
    rng = np.random.default_rng(0)
    n = 50_000
    gold = rng.integers(0, K, n)
    pred = np.where(rng.random(n) < 0.6, gold, rng.integers(0, K, n))
    pred[:300] = 7                                    # one frequent confusion: true gold[i] -> predicted 7
    gold[:300] = 3
    labels = [f"label_{i}" for i in range(K)]
    report = M.classification_report(gold, pred, labels)
    size = len(json.dumps(report))
    assert report["confusion_matrix"] is None and size < 2_000_000, size        # 6 GB before
    assert report["report_limits"] == {"confusion_matrix_max_classes": M.MAX_MATRIX_CLASSES, "classes": K,
                                       "confusion_matrix": f"omitted ({K} classes > 50); top_confusions lists "
                                                           f"the 100 most frequent"}
    top = report["top_confusions"]
    assert len(top) == M.TOP_CONFUSIONS and top[0] == {"true": "label_3", "predicted": "label_7", "count": 300}
    assert [c["count"] for c in top] == sorted((c["count"] for c in top), reverse=True)
    assert len(report["per_class"]) == K and report["accuracy"] == pytest.approx(np.mean(gold == pred))
    text = M.format_report(report)
    assert "label_3 -> label_7: 300" in text and len(text.splitlines()) < K + 120


def test_the_sparse_report_equals_the_dense_one_and_sklearn():
    from sklearn.metrics import f1_score, matthews_corrcoef

    rng = np.random.default_rng(1)
    gold, pred = rng.integers(0, 40, 2000), rng.integers(0, 40, 2000)
    labels = [str(i) for i in range(40)]
    report = M.classification_report(gold, pred, labels)
    cm = M.confusion_matrix(gold, pred, 40)
    assert report["confusion_matrix"] == cm.tolist()
    assert report["mcc"] == pytest.approx(M.matthews_corrcoef(cm)) == pytest.approx(matthews_corrcoef(gold, pred))
    assert report["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"))
    off = cm - np.diag(np.diag(cm))
    i, j = np.unravel_index(np.argmax(off), off.shape)
    assert report["top_confusions"][0]["count"] == off[i, j]


def test_a_confusion_figure_is_drawn_only_up_to_the_stated_limit(tmp_path):
    from keras_bert_zoo.viz import plot_confusion_matrix

    with pytest.raises(ValueError, match="51 classes; a confusion matrix is drawn for at most 50"):
        plot_confusion_matrix(np.eye(51, dtype=int), [str(i) for i in range(51)], tmp_path / "cm.png")
    assert list(tmp_path.iterdir()) == []
    png = plot_confusion_matrix(np.eye(50, dtype=int) * 3, [f"c{i}" for i in range(50)], tmp_path / "cm.png")
    assert 1000 < png.stat().st_size < 3_000_000


def test_evaluating_a_ten_thousand_label_classifier_writes_bounded_reports(tmp_path, caplog):
    """The classify evaluator end to end: no K x K matrix, no figure, predictions.csv with the top classes."""
    from keras_bert_zoo import BertBackbone, reports
    from keras_bert_zoo.tasks import read_task_file
    from keras_bert_zoo.tasks.text_classifier import TextClassifier
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    from tests.conftest import TINY

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(TINY.vocab_size - 5)]
    labels = [f"label_{i}" for i in range(K)]
    path = tmp_path / "eval.csv"
    path.write_text("text,label\n" + "".join(f"w{i % 90} w{(i * 7) % 90},label_{(i * 37) % K}\n"
                                             for i in range(200)), encoding="utf-8")
    task = TextClassifier(BertBackbone(TINY), labels=labels,
                          preprocessor=BertPreprocessor(WordPieceTokenizer(tokens), sequence_length=8))
    out = tmp_path / "report"
    report = reports.evaluate_task_file(task, read_task_file("classify", path), out_dir=out, batch_size=64)
    assert report["confusion_matrix"] is None and report["num_examples"] == 200
    names = sorted(p.name for p in out.iterdir())
    assert names == ["predictions.csv", "report.json", "report.txt"], names          # no K x K figure
    sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    assert sizes["report.json"] < 2_000_000 and sizes["predictions.csv"] < 100_000, sizes
    header = (out / "predictions.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "line,text,label,prediction,correct,top5"
    assert "confusion_matrix.png is drawn up to 50" in caplog.text
