"""Entity and answer spans never end inside a grapheme cluster (issue 27 case 10): a name written with a combining
accent, an emoji with a variation selector, a modifier or a ZWJ sequence keeps its last character whole, in the
decoders that the Python ``predict``, the SavedModel and the TFLite model all run (tasks/decoding). The TFLite
model's spans equal the Python ones on such texts in tests/export/test_tflite_spans.py."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.metrics.entities import LabelScheme
from keras_bert_zoo.tasks.decoding.entities import decode_entities
from keras_bert_zoo.tasks.decoding.graphemes import cluster_ends
from keras_bert_zoo.tasks.decoding.spans import decode_answers
from keras_bert_zoo.tasks.preprocessing import QAWindowPreprocessor
from keras_bert_zoo.tasks.preprocessing import windows as W
from keras_bert_zoo.text.tokenizer import continuation_mask
from tests.conftest import require
from tests.tasks import tiny5b

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


@pytest.fixture(scope="module")
def tok():
    return tiny5b.tokenizer()          # lower-cases and strips accents: "Jose\u0301" is the token "jose"


def test_entities_keep_combining_accents_and_variation_selectors(tok):
    texts = ["Jose\u0301 vit a\u0300 Zu\u0308rich\u0301\u0302.", "Peter\u270c\ufe0f ok"]
    ids, starts, ends = tok.tokenize_with_offsets(tf.constant(texts))
    pieces = [[tok.id_to_token(i) for i in row] for row in ids.to_list()]
    assert pieces == [["jose", "vit", "a", "zu", "##rich", "."], ["[UNK]", "o", "##k"]]
    tags = [["B-PER", "O", "O", "B-LOC", "I-LOC", "O"], ["B-PER", "O", "O"]]
    logits = tf.ragged.constant([[np.eye(5)[LABELS.index(t)] * 5.0 for t in row] for row in tags],
                                ragged_rank=1, dtype=tf.float32)
    out = decode_entities(tf.constant(texts), ids, starts, ends, logits, LabelScheme(LABELS),
                          continuation_mask(tok.vocabulary))
    got = [[(out["entity_texts"][i, j].numpy().decode(), int(out["entity_starts"][i, j]),
             int(out["entity_ends"][i, j]), int(out["entity_ends_utf16"][i, j]))
            for j in range(int(out["num_entities"][i]))] for i in range(2)]
    # before: "Jose", "Zu\u0308rich" and "Peter\u270c" (the tokens' ends, before the marks)
    assert got == [[("Jose\u0301", 0, 5, 5), ("Zu\u0308rich\u0301\u0302", 13, 22, 22)],
                   [("Peter\u270c\ufe0f", 0, 7, 7)]]
    for i, text in enumerate(texts):
        assert [text[s:e] for _, s, e, _ in got[i]] == [t for t, *_ in got[i]]


def test_answers_keep_the_combining_marks_after_their_last_token():
    pre = QAWindowPreprocessor(tiny5b.tokenizer(), sequence_length=16, stride=3, max_query_length=4)
    context = "the dog sat on the Zu\u0308rich\u0301 log ."
    view = pre.windows(tf.constant(["where ?"]), tf.constant([context]))
    index = W.packed_token_index(view.windows, view.b_offset, 16).numpy()       # context token of each position
    start = np.where(index == 5, 6.0, -5.0).astype(np.float32)                 # "zu"
    end = np.where(index == 6, 6.0, -5.0).astype(np.float32)                   # "##rich"
    start[:, 0] = end[:, 0] = -10.0
    out = decode_answers(tf.constant(start), tf.constant(end), view, tf.constant([context]), n_best=2,
                         max_answer_length=3)
    s, e = int(out["answer_start"][0]), int(out["answer_end"][0])
    assert out["answer_text"].numpy()[0].decode() == context[s:e] == "Zu\u0308rich\u0301"     # before: "Zu\u0308rich"
    for text, s, e in zip(out["nbest_texts"].numpy()[0], out["nbest_starts"][0], out["nbest_ends"][0]):
        assert text.decode() == context[int(s):int(e)]


# every kind of cluster extension, and text where nothing extends (the ends must not move there)
CLUSTERS = ["Jose\u0301 a\u0300\u0301\u0302 x", "\u270c\ufe0f\u2764\ufe0f!", "\U0001F469\u200d\U0001F4BB \U0001F468"
            "\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466.", "\U0001F44D\U0001F3FD\U0001F44D", "1\ufe0f\u20e3#",
            "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F ok", "\u0301lead", "",
            "北京 한국어 Zürich 😀😀 plain ascii.", "\u8fba\U000E0100\u8fba"]


def _reference_ends(text):
    """For each code point offset of ``text``, the end of the grapheme cluster it falls in (the ``regex``
    module's extended grapheme clusters, ``\\X``)."""
    regex = require("regex")
    bounds = np.cumsum([0] + [len(c) for c in regex.findall(r"\X", text)])
    return [int(bounds[np.searchsorted(bounds, i)]) for i in range(len(text) + 1)]


@pytest.mark.parametrize("text", CLUSTERS)
def test_cluster_ends_equal_unicode_grapheme_clusters(text):
    offsets = list(range(len(text) + 1))
    byte_ends = [len(text[:i].encode()) for i in offsets]
    texts = tf.constant(["x\u0301", text, "\u0300y"])               # neighbours: a row never extends into the next
    got = cluster_ends(texts, tf.ones([len(offsets)], tf.int32), tf.constant(byte_ends)).numpy().tolist()
    as_chars = [len(text.encode()[:b].decode()) for b in got]
    assert as_chars == _reference_ends(text)
