"""The package exporters (verification included) on the NER and QA tasks, not only on classifiers: a
SavedModel in the TF Serving layout whose raw-strings signature returns entity spans / answer text with offsets,
checked against the Keras task in process and in a fresh process; TFLite is refused (span decoding needs Flex)."""

import numpy as np
import pytest
import tensorflow as tf

import tiny5b
from keras_bert_zoo.export import ops as ops_lib
from keras_bert_zoo.export import saved_model as sm
from keras_bert_zoo.export import tflite as tfl
from keras_bert_zoo.tasks.qa import QuestionAnswerer
from keras_bert_zoo.tasks.tagging import TokenTagger

NER_TEXTS = ["José Müller-Lüdenscheidt vit à Zürich. 李明住在北京。", "", "Peter Blackburn", "the broncos"]
QUESTIONS = ["Where is Zürich?", "故宫建于哪一年？", "who?"]
CONTEXTS = ["Zürich is a city in Switzerland and the cat sat on the mat.",
            "北京是中华人民共和国的首都，位于华北平原。故宫建于1406年到1420年。", ""]


@pytest.fixture(scope="module")
def tagger():
    tok = tiny5b.tokenizer()
    return TokenTagger.build(tiny5b.backbone(tok.vocab_size, num_layers=1), tok,
                             ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"], sequence_length=9, stride=3)


@pytest.fixture(scope="module")
def qa():
    tok = tiny5b.tokenizer()
    return QuestionAnswerer.build(tiny5b.backbone(tok.vocab_size, num_layers=1), tok, sequence_length=24,
                                  stride=4, max_query_length=8, n_best=3, version_2=True)


def _decoded(task, outputs):
    return task.decode({k: np.asarray(v) for k, v in outputs.items()})


def _check_report(report):
    for sig, outputs in report.items():
        for name, stats in outputs.items():
            if "agreement" in stats:
                assert stats["agreement"] == 1.0, (sig, name, stats)


def test_ner_saved_model_export_returns_entity_spans(tagger, tmp_path):
    result = sm.export_saved_model(tagger, tmp_path, "ner", 1, NER_TEXTS)
    assert result.path == tmp_path / "ner" / "1"
    for where in ("in_process", "fresh_process"):
        _check_report(result.verification[where])
    served = tf.saved_model.load(str(result.path)).signatures["serving_default"]
    got = _decoded(tagger, served(text=tf.constant(NER_TEXTS)))
    assert got == tagger.predict(NER_TEXTS)


def test_qa_saved_model_export_returns_answer_text_and_offsets(qa, tmp_path):
    result = sm.export_saved_model(qa, tmp_path, "qa", 2, QUESTIONS, CONTEXTS)
    for where in ("in_process", "fresh_process"):
        _check_report(result.verification[where])
    served = tf.saved_model.load(str(result.path)).signatures["serving_default"]
    got = _decoded(qa, served(question=tf.constant(QUESTIONS), context=tf.constant(CONTEXTS)))
    want = qa.answer(QUESTIONS, CONTEXTS)
    assert [(g["answer"], g["start"], g["end"]) for g in got] == [(w["answer"], w["start"], w["end"]) for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g["score"], w["score"], atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ner", "qa"])
def test_tflite_export_of_ner_and_qa_is_refused_by_the_op_check(name, tagger, qa, tmp_path):
    """The span decoders (substrings, ragged gathers, segment reductions) have no TFLite builtin or tf-text
    kernel: the export must fail before writing anything and name the ops (known limitation: for TFLite, NER and
    QA need Flex, which no interpreter here can run, so the export cannot be verified and is refused)."""
    task, texts, pairs = (tagger, NER_TEXTS, None) if name == "ner" else (qa, QUESTIONS, CONTEXTS)
    with pytest.raises(ops_lib.OpCompatibilityError, match=r"(?s)Substr.*UnsortedSegmentMax.*flex=True"):
        tfl.export_tflite(task, tmp_path, name, 1, texts, pairs)
    assert list((tmp_path / f"{name}-tflite-fp32").iterdir()) == []
