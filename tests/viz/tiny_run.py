"""A tiny fine-tuning run directory for the report tests: the tiny keyword-sentiment classifier (tests/tasks/
tiny_classify.py) with a few CJK characters in its vocabulary, fitted for a few steps with the package's own
``fit_task`` (history.jsonl, steps.jsonl, training_curves.png), evaluated with the package's evaluator (test/) and
reported with ``write_run_report`` (attention.json, report.html)."""

from pathlib import Path

#: the CJK sentence of the attention explorer: every character is in the vocabulary
CJK_TEXT = "这部电影很好"


def cjk_vocabulary():
    from tests.tasks.tiny_classify import vocabulary

    vocab = vocabulary()
    unused = [i for i, t in enumerate(vocab) if t.startswith("[unused")]
    for i, ch in zip(unused, CJK_TEXT):
        vocab[i] = ch
    return vocab


def build_tiny_run(root, steps=12):
    """(run_dir, task, test texts): a classifier fitted ``steps`` batches into ``root/run``."""
    import keras

    from keras_bert_zoo import BertBackbone
    from keras_bert_zoo.data.task_files import FileOptions
    from keras_bert_zoo.reports import evaluate_task_file
    from keras_bert_zoo.tasks import TextClassifier, read_task_file
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    from keras_bert_zoo.train.loop import FitConfig, fit_task
    from keras_bert_zoo.viz.html_report import write_run_report
    from tests.conftest import TINY_LONG
    from tests.tasks.tiny_classify import write_csv

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    tokenizer = WordPieceTokenizer(cjk_vocabulary(), lowercase=True)
    task = TextClassifier(BertBackbone(TINY_LONG), preprocessor=BertPreprocessor(tokenizer, sequence_length=24),
                          labels=["negative", "neutral", "positive"])
    train = read_task_file("classify", write_csv(root / "train.csv", 48), FileOptions())
    test = read_task_file("classify", write_csv(root / "test.csv", 18, seed=1), FileOptions())
    run = root / "run"
    train_ds = task.make_dataset(train.x, train.y, batch_size=8, training=True)
    val_ds = task.make_dataset(test.x, test.y, batch_size=8)
    fit_task(task, train_ds, val_ds, run, FitConfig(epochs=2, batch_size=8, learning_rate=1e-3, backup=False,
                                                    tensorboard=False, verbose=0), train_size=len(train))
    evaluate_task_file(task, test, out_dir=run / "test", batch_size=8)
    write_run_report(run, task=task, texts=[CJK_TEXT], notes=["a CJK sentence"])
    return run, task, test


#: the synthetic run's NER sentence (characters, BIO tags gold / predicted)
NER_SENTENCE = [("李", "B-PER", "B-PER"), ("明", "I-PER", "I-PER"), ("在", "O", "O"), ("北", "B-LOC", "B-ORG"),
                ("京", "I-LOC", "I-ORG"), ("工", "O", "O"), ("作", "O", "O")]


def synthetic_attention(layers=2, heads=3, seed=0):
    """Random attention rows (softmax of random logits) of CJK_TEXT between [CLS] and [SEP]: [L, N, T, T]."""
    import numpy as np

    t = len(CJK_TEXT) + 2
    logits = np.random.default_rng(seed).normal(size=(layers, heads, t, t)) * 2
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return ["[CLS]"] + list(CJK_TEXT) + ["[SEP]"], e / e.sum(-1, keepdims=True)


def write_synthetic_run(root):
    """A run directory as the runs write it, by hand and without a model (no TensorFlow): the English demo's
    summary.json with baselines, history.jsonl + steps.jsonl of one epoch, a classify evaluation (test/), a tag
    evaluation (ner/test/) and attention.json (random weights of a CJK sentence). Returns the directory."""
    import csv
    import json

    from keras_bert_zoo.viz.attention_data import encode_example

    run = Path(root)
    (run / "test").mkdir(parents=True, exist_ok=True)
    (run / "ner" / "test").mkdir(parents=True, exist_ok=True)
    summary = {"train_examples": 40, "minilm": {"accuracy": 0.75, "macro_f1": 0.7, "mcc": 0.6},
               "tfidf_lr_same_subset": {"accuracy": 0.5, "macro_f1": 0.45, "mcc": 0.2}}
    (run / "summary.json").write_text(json.dumps(summary))
    steps = [{"step": s, "epoch": 0, "loss": 1.1 - 0.05 * s, "accuracy": 0.3 + 0.04 * s,
              "learning_rate": 1e-4 * min(s, 3) / 3} for s in range(1, 11)]
    (run / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in steps))
    (run / "history.jsonl").write_text(json.dumps({"epoch": 0, "loss": 0.7, "accuracy": 0.6, "val_loss": 0.8,
                                                   "val_accuracy": 0.75}) + "\n")
    labels = ["negative", "positive"]
    report = {"num_examples": 4, "accuracy": 0.75, "macro_f1": 0.7333, "mcc": 0.5774, "labels": labels,
              "per_class": {"negative": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
                            "positive": {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2}},
              "confusion_matrix": [[1, 1], [0, 2]]}
    (run / "test" / "report.json").write_text(json.dumps(report))
    rows = [["line", "text", "label", "prediction", "correct", "p_negative", "p_positive"],
            [2, "what a dull <script>film</script>", "negative", "positive", 0, "0.100000", "0.900000"],
            [3, "not great, not bad", "negative", "negative", 1, "0.600000", "0.400000"],
            [4, "这部电影很好", "positive", "positive", 1, "0.200000", "0.800000"],
            [5, "loved it", "positive", "positive", 1, "0.050000", "0.950000"]]
    with open(run / "test" / "predictions.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    (run / "ner" / "test" / "entity_report.csv").write_text(
        "type,precision,recall,f1,support\nLOC,0.0,0.0,0.0,1\nPER,1.0,1.0,1.0,1\nmicro,0.5,0.5,0.5,2\n")
    (run / "ner" / "test" / "predictions.conll").write_text(
        "".join(f"{w} {g} {p}\n" for w, g, p in NER_SENTENCE) + "\n", encoding="utf-8")
    tokens, scores = synthetic_attention()
    record = {"format": 1, "examples": [encode_example(CJK_TEXT, tokens, scores, "a CJK sentence"),
                                        encode_example("reversed", tokens[::-1], scores[:, ::-1, ::-1, ::-1])]}
    (run / "attention.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return run
