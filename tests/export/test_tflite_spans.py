"""The tagger (TokenClassifier) and the QA model (QuestionAnswerer) in LiteRT: no Flex ops, and their TFLite
outputs, turned into entities / answers by the client code documented in saved_models/README.md (executed here
from the README itself), equal the Python task's predictions on English and Chinese text (accents, emoji, CJK,
empty strings), at batch sizes 1 and 3; the UTF-16 offsets slice the same text as a Kotlin/Java String would."""

import re
from pathlib import Path

import numpy as np
import pytest

from keras_bert_zoo.export import ops as ops_lib
from keras_bert_zoo.export import tflite
from keras_bert_zoo.tasks.decoding.graphemes import extends_cluster

README = Path(__file__).resolve().parents[2] / "saved_models" / "README.md"

TEXTS = ["Peter Blackburn visited São Paulo.", "李明住在北京。", "", "José Müller-Lüdenscheidt vit à Zürich 😀 ok.",
         "😀😀 北京 e\u0301t\u00e9 Zürich Peter", "the cat sat on the mat " * 4,
         "Jose\u0301 Peter\u270c\ufe0f Zu\u0308rich\u0301 sao\u0303 \U0001F44D\U0001F3FD ok"]   # clusters: issue 27
QUESTIONS = ["Where is Zürich?", "故宫建于哪一年？", "who?", "", "谁 visited 😀?", "where did Peter go"]
CONTEXTS = ["Zürich is a city in Switzerland and the cat sat on the mat. " * 3,
            "北京是中华人民共和国的首都，位于华北平原。故宫建于1406年到1420年。", "", "an empty question.",
            "😀 Peter Blackburn visited São Paulo 😀 and 北京.", "Peter went to the mat in Zürich 😀"]
WORDS = ["peter", "blackburn", "visited", "sao", "paulo", "jose", "muller", "vit", "a", "zurich", "ok", "the", "cat",
         "sat", "on", "mat", "where", "is", "who", "city", "in", "switzerland", "and", "an", "empty", "question",
         "did", "go", "went", "to", "ete", ".", "?", "-", ",", "，", "。", "？"]
PIECES = ["bl", "##ack", "##burn", "lu", "##den", "##scheid", "##t", "##s", "##e"]


def _client():
    """The Python client code block of saved_models/README.md (the one defining entities_from_tflite)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    code = [b for b in blocks if "def entities_from_tflite" in b]
    assert len(code) == 1, "saved_models/README.md: expected one python block with entities_from_tflite"
    namespace = {}
    exec(compile(code[0], str(README), "exec"), namespace)
    return namespace


def _vocab():
    chars = sorted({c for t in TEXTS + QUESTIONS + CONTEXTS for c in t if "\u4e00" <= c <= "\u9fff"})
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + PIECES + chars + [str(d) for d in range(10)] \
        + ["##" + str(d) for d in range(10)]


def _utf16(text, start, end):
    """What Kotlin's ``text.substring(start, end)`` gives for UTF-16 offsets."""
    return text.encode("utf-16-le")[2 * start:2 * end].decode("utf-16-le")


@pytest.fixture(scope="module")
def tagger():
    import keras

    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.tasks import TokenClassifier
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    from tests.conftest import TINY_LONG

    keras.utils.set_random_seed(3)
    tok = WordPieceTokenizer(_vocab(), lowercase=True)
    task = TokenClassifier(BertBackbone(TINY_LONG.replace(vocab_size=tok.vocab_size, num_layers=1)),
                           labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "S-ORG"],
                           preprocessor=BertPreprocessor(tok, sequence_length=9), stride=3)
    return task          # random tags (seed 3): 0-11 entities per text, of every type (checked below)


@pytest.fixture(scope="module")
def qa():
    import keras

    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.tasks import QuestionAnswerer
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    from tests.conftest import TINY_LONG

    keras.utils.set_random_seed(4)
    tok = WordPieceTokenizer(_vocab(), lowercase=True)
    return QuestionAnswerer(BertBackbone(TINY_LONG.replace(vocab_size=tok.vocab_size, num_layers=1)),
                            preprocessor=BertPreprocessor(tok, sequence_length=16), stride=4, n_best=5,
                            max_answer_length=6, version_2=True, null_threshold=0.0)


@pytest.fixture(scope="module")
def tagger_tflite(tagger, tmp_path_factory):
    # the export verifies itself on a few samples; the tests below compare every text, batched and alone.
    # Through the task's own export, as a Keras user writes it: ner.export("ner.tflite", format="tflite")
    result = tagger.export(tmp_path_factory.mktemp("tag") / "ner.tflite", format="tflite", sample_inputs=TEXTS[1:4])
    assert sorted(p.name for p in result.path.parent.iterdir()) == ["ner.tflite"]
    return result


@pytest.fixture(scope="module")
def qa_tflite(qa, tmp_path_factory):
    return tflite.export_tflite(qa, tmp_path_factory.mktemp("qa") / "qa.tflite", {"question": QUESTIONS[1:4],
                                                                                  "context": CONTEXTS[1:4]})


def _no_flex(result):
    _, customs = ops_lib.tflite_model_ops(result.path.read_bytes())
    assert not any(op.startswith("Flex") for op in customs) and not result.info["flex"]
    assert set(customs) <= ops_lib.TFLITE_TFTEXT_KERNELS
    assert ops_lib.check_tflite_model(result.path.read_bytes(), ops_lib.tflite_target()) == customs


def _batches(n):
    return [[i] for i in range(n)] + [[0, 2, 3], [4, 5, 1]]


def test_tagger_tflite_equals_python_predictions(tagger, tagger_tflite):
    _no_flex(tagger_tflite)
    client = _client()
    runner = tflite.TFLiteRunner(tagger_tflite.path)
    assert set(runner.signatures["serving_default"]["outputs"]) == {
        "entity_types", "entity_type_ids", "entity_starts", "entity_ends", "entity_starts_utf16",
        "entity_ends_utf16", "entity_scores", "num_entities"}
    seen = shifted = 0
    for rows in _batches(len(TEXTS)):
        texts = [TEXTS[i] for i in rows]
        out = runner("serving_default", text=texts)
        want = tagger.decode(tagger.predict(texts, verbose=0))
        for i, text in enumerate(texts):
            got = client["entities_from_tflite"](text, out, i)
            ref = want[i]["entities"]
            assert [{k: v for k, v in e.items() if k != "score"} for e in got] == \
                   [{k: v for k, v in e.items() if k != "score"} for e in ref], text
            np.testing.assert_allclose([e["score"] for e in got], [e["score"] for e in ref], atol=1e-4)
            for j, e in enumerate(got):       # Kotlin: UTF-16 offsets into the same String
                s16, e16 = int(out["entity_starts_utf16"][i][j]), int(out["entity_ends_utf16"][i][j])
                assert _utf16(text, s16, e16) == e["text"]
                assert tagger.entity_type_names[int(out["entity_type_ids"][i][j])] == e["type"]
                shifted += s16 != e["start"]                          # after an emoji: 2 UTF-16 units, 1 code point
                assert e["end"] == len(text) or not extends_cluster(ord(text[e["end"]])), (text, e)
            seen += len(got)
    assert seen > 5                                                   # the comparison saw real entities
    assert shifted > 0                                                # ... and UTF-16 offsets that differ
    empty = runner("serving_default", text=[])
    assert empty["num_entities"].shape == (0,)


@pytest.mark.slow   # a second TFLite conversion (~35 s here): the default run keeps the tagger's
def test_qa_tflite_equals_python_predictions(qa, qa_tflite):
    _no_flex(qa_tflite)
    client = _client()
    runner = tflite.TFLiteRunner(qa_tflite.path)
    assert set(runner.signatures["serving_default"]["outputs"]) == {
        "answer_start", "answer_end", "answer_start_utf16", "answer_end_utf16", "score", "null_score_diff",
        "nbest_starts", "nbest_ends", "nbest_starts_utf16", "nbest_ends_utf16", "nbest_scores"}
    answered = 0
    for rows in _batches(len(QUESTIONS)):
        feed = {"question": [QUESTIONS[i] for i in rows], "context": [CONTEXTS[i] for i in rows]}
        out = runner("serving_default", **feed)
        want = qa.decode(qa.predict(feed, verbose=0))
        for i, context in enumerate(feed["context"]):
            got, ref = client["answer_from_tflite"](context, out, i), want[i]
            assert (got["answer"], got["start"], got["end"]) == (ref["answer"], ref["start"], ref["end"])
            assert got["score"] == pytest.approx(ref["score"], abs=1e-4)
            assert got["null_score_diff"] == pytest.approx(ref["null_score_diff"], abs=1e-4)
            assert [(c["text"], c["start"], c["end"]) for c in got["nbest"]] == \
                   [(c["text"], c["start"], c["end"]) for c in ref["nbest"]]
            s16, e16 = int(out["answer_start_utf16"][i]), int(out["answer_end_utf16"][i])
            assert (_utf16(context, s16, e16) if s16 >= 0 else "") == ref["answer"]
            answered += bool(ref["answer"])
    assert answered >= 3


@pytest.mark.slow
def test_qa_v1_and_long_contexts_tflite(tmp_path):
    """SQuAD v1 (always an answer), many windows per context, int8 weights: the spans still agree."""
    import keras

    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.tasks import QuestionAnswerer
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    from tests.conftest import TINY_LONG

    keras.utils.set_random_seed(5)
    tok = WordPieceTokenizer(_vocab(), lowercase=True)
    qa = QuestionAnswerer(BertBackbone(TINY_LONG.replace(vocab_size=tok.vocab_size, num_layers=1)),
                          preprocessor=BertPreprocessor(tok, sequence_length=12), stride=2, n_best=3)
    feed = {"question": QUESTIONS, "context": [c * 3 for c in CONTEXTS]}
    result = tflite.export_tflite(qa, tmp_path / "qa1.tflite", feed)
    _no_flex(result)
    client = _client()
    out = tflite.TFLiteRunner(result.path)("serving_default", **feed)
    want = qa.decode(qa.predict(feed, verbose=0))
    for i, context in enumerate(feed["context"]):
        got = client["answer_from_tflite"](context, out, i)
        assert (got["answer"], got["start"], got["end"]) == (want[i]["answer"], want[i]["start"], want[i]["end"])


@pytest.mark.slow
def test_tagger_tflite_quantized_and_any_batch(tagger, tmp_path):
    """fp16 weights: the export verifies (its tolerance), and a batch of 17 runs."""
    result = tflite.export_tflite(tagger, tmp_path / "ner16.tflite", TEXTS, quantize="fp16")
    _no_flex(result)
    texts = [TEXTS[i % len(TEXTS)] for i in range(17)]
    out = tflite.TFLiteRunner(result.path)("serving_default", text=texts)
    assert out["num_entities"].shape == (17,)
