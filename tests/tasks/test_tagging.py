"""NER: seqeval parity of the TF chunker, offset alignment on accented / Chinese text, entity spans, training."""

import random
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tiny5b
from keras_bert_zoo.data.conll import Sentence, read_conll
from keras_bert_zoo.tasks import BertTask, TaskError, get_task_class
from keras_bert_zoo.tasks.tagging import TokenTagger, entity_scores, get_entities

TRAIN = tiny5b.FIXTURES / "ner_train.conll"
EVAL = tiny5b.FIXTURES / "ner_eval.conll"


@pytest.fixture(scope="module")
def tok():
    return tiny5b.tokenizer()


def test_chunking_and_scores_match_seqeval():
    seqeval = pytest.importorskip("seqeval.metrics")
    from seqeval.metrics.sequence_labeling import get_entities as ref_entities

    rng = random.Random(1)
    tags = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B", "I", "E", "S",
            "B-MISC-X", "I-MISC-X"]
    seqs = [[rng.choice(tags) for _ in range(rng.randint(0, 12))] for _ in range(1500)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seq, ours in zip(seqs, get_entities(seqs)):
            assert [tuple(e) for e in ref_entities(seq)] == ours, seq
        true, pred = seqs[:750], [(p + ["O"] * len(t))[:len(t)] for p, t in zip(seqs[750:], seqs[:750])]
        got = entity_scores(true, pred)
        assert got["precision"] == pytest.approx(seqeval.precision_score(true, pred), abs=1e-12)
        assert got["recall"] == pytest.approx(seqeval.recall_score(true, pred), abs=1e-12)
        assert got["f1"] == pytest.approx(seqeval.f1_score(true, pred), abs=1e-12)
        report = seqeval.classification_report(true, pred, output_dict=True)
    for ty, m in got["per_type"].items():
        assert m["f1"] == pytest.approx(report[ty]["f1-score"], abs=1e-12) and m["support"] == report[ty]["support"]


def _tagger(tok, labels, sequence_length=9, stride=3):
    return TokenTagger.build(tiny5b.backbone(tok.vocab_size), tok, labels, sequence_length=sequence_length,
                             stride=stride)


def test_first_subword_alignment_on_accented_and_chinese_text(tok):
    words = ["José", "Müller-Lüdenscheidt", "vit", "à", "Zürich", ".", "李", "明"]
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-PER", "I-PER"]
    labels = ["O", "B-LOC", "B-PER", "I-PER"]
    task = _tagger(tok, labels, sequence_length=64)
    text = " ".join(words)
    b_starts = [len(" ".join(words[:i]).encode()) + (1 if i else 0) for i in range(len(words))]
    packed, y, w = task.featurize(tf.constant([text]), tf.ragged.constant([b_starts], dtype=tf.int64),
                                  tf.ragged.constant([[labels.index(t) for t in tags]]))
    ids, starts, ends = tok.tokenize_with_offsets(tf.constant([text]))
    starts = starts.to_list()[0]
    n = len(starts)
    # the token starting each word's bytes carries the word's label; every other token has weight 0
    want_w = [0.0] + [1.0 if s in b_starts else 0.0 for s in starts] + [0.0] * (64 - n - 1)
    np.testing.assert_array_equal(w.numpy()[0], want_w)
    for p, s in enumerate(starts):
        if s in b_starts:
            assert labels[int(y[0, p + 1])] == tags[b_starts.index(s)]
    assert sum(want_w) == len(words)
    # same alignment when the sentence is split into windows of 7 tokens
    small = _tagger(tok, labels, sequence_length=9, stride=3)
    _, y2, w2 = small.featurize(tf.constant([text]), tf.ragged.constant([b_starts], dtype=tf.int64),
                                tf.ragged.constant([[labels.index(t) for t in tags]]))
    assert w2.shape[0] > 1 and set(np.flatnonzero(w2.numpy().sum(0) >= 0)) is not None
    assert w2.numpy().sum() >= len(words)


def test_entity_spans_from_token_tags(tok):
    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    task = _tagger(tok, labels)
    text = "José Müller-Lüdenscheidt vit à Zürich. 李明住在北京。"
    ids, starts, ends = tok.tokenize_with_offsets(tf.constant([text]))
    pieces = [tok.id_to_token(i) for i in ids.to_list()[0]]
    # jose mul ##ler - lu ##den ##scheid ##t vit a zu ##rich . 李 明 住 在 北 京 。
    tag_of = {0: "B-PER", 1: "I-PER", 3: "I-PER", 4: "I-PER", 10: "B-LOC", 13: "B-PER", 14: "I-PER",
              17: "B-LOC", 18: "I-LOC"}
    assert pieces[0] == "jose" and pieces[10] == "zu" and pieces[17] == "北"
    tags = [labels.index(tag_of.get(i, "O")) for i in range(len(pieces))]
    # continuation pieces get a wrong tag on purpose: only word-initial pieces count
    tags = [labels.index("B-LOC") if p.startswith("##") else t for p, t in zip(pieces, tags)]
    logits = tf.RaggedTensor.from_tensor(tf.one_hot([tags], len(labels)) * 5.0)
    out = task.decode_entities(tf.constant([text]), ids, starts, ends, logits)
    got = task.decode({k: np.asarray(v) for k, v in out.items()})[0]["entities"]
    want = [("PER", "José Müller-Lüdenscheidt"), ("LOC", "Zürich"), ("PER", "李明"), ("LOC", "北京")]
    assert [(e["type"], e["text"]) for e in got] == want
    for e in got:
        assert text[e["start"]:e["end"]] == e["text"]
        assert 0.9 < e["score"] <= 1.0


def test_train_evaluate_predict_save_load(tok, tmp_path):
    task = get_task_class("tag").from_train_file(TRAIN, tiny5b.backbone(tok.vocab_size, num_layers=1), tok, sequence_length=9,
                                                 stride=3)
    assert task.labels[0] == "O" and "B-PER" in task.labels
    ds = task.dataset_from_file(TRAIN, batch_size=8, training=True)
    x, y, w = next(iter(ds))
    assert x["token_ids"].shape[1] == 9 and y.shape == w.shape
    task.compile(keras.optimizers.Adam(5e-3))
    hist = task.model.fit(ds.repeat(4), epochs=3, verbose=0).history["loss"]
    assert hist[-1] < 0.5 * hist[0]
    scores = task.evaluate_file(TRAIN, out_dir=tmp_path / "report")
    assert scores["entity_f1"] > 0.5, scores
    assert (tmp_path / "report" / "entity_report.csv").is_file()
    assert (tmp_path / "report" / "predictions.conll").is_file()
    pred = task.predict(["Peter Blackburn visited São Paulo .", "李明住在北京。", ""])
    assert len(pred) == 3 and pred[2] == {"entities": []}
    for text, p in zip(["Peter Blackburn visited São Paulo .", "李明住在北京。"], pred):
        for e in p["entities"]:
            assert text[e["start"]:e["end"]] == e["text"] and e["type"] in {"PER", "LOC", "ORG", "MISC"}
    task.save(tmp_path / "tagger")
    again = BertTask.load(tmp_path / "tagger")
    assert isinstance(again, TokenTagger) and again.labels == task.labels and again.stride == 3
    assert again.predict(["Peter Blackburn visited São Paulo ."]) == pred[:1]


def test_unknown_tag_names_file_and_line(tok, tmp_path):
    task = _tagger(tok, ["O", "B-PER", "I-PER"])
    bad = tmp_path / "bad.conll"
    bad.write_text("Peter B-PER\nParis B-LOC\n", encoding="utf-8")
    with pytest.raises(TaskError, match=r"bad.conll:1: unknown tag 'B-LOC'"):
        task.dataset_from_file(bad)
