"""decoding.spans: n-best answer spans over windows (max-context starts, length limit), the v2.0 null threshold,
offsets into the original context, empty contexts, and the argmax span of packed windows."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.tasks.decoding.spans import NEG, SLICED_TEXT_OUTPUTS, best_packed_spans, decode_answers
from keras_bert_zoo.tasks.preprocessing import QAWindowPreprocessor
from keras_bert_zoo.tasks.preprocessing import windows as W
from tests.tasks import tiny5b

CONTEXT = "the cat sat on the mat and the dog sat on the log ."


@pytest.fixture(scope="module")
def view():
    pre = QAWindowPreprocessor(tiny5b.tokenizer(), sequence_length=16, stride=3, max_query_length=4)
    return pre.windows(tf.constant(["cat ?", "who?"]), tf.constant([CONTEXT, ""]))


def _logits(view):
    index = W.packed_token_index(view.windows, view.b_offset, 16).numpy()
    first = view.windows.example_index.numpy() == 0
    start = np.full(index.shape, -5.0, np.float32)
    end = np.full(index.shape, -5.0, np.float32)
    # the best start is token 8 ("dog") and the best end token 12 ("log"): too long (5 > 3 tokens) as a pair
    start[(index == 8) & first[:, None]] = 6.0
    end[(index == 12) & first[:, None]] = 6.0
    end[(index == 9) & first[:, None]] = 2.0
    start[:, 0] = end[:, 0] = -10.0
    return start, end


def _answers(out, b):
    keep = out["nbest_scores"][b].numpy() > NEG / 2
    return [(t.decode(), int(s), int(e), float(c)) for t, s, e, c, k in
            zip(out["nbest_texts"][b].numpy(), out["nbest_starts"][b], out["nbest_ends"][b], out["nbest_scores"][b],
                keep) if k]


def test_nbest_spans_and_the_null_threshold(view):
    assert int(np.sum(view.windows.example_index.numpy() == 0)) > 1             # several windows
    start, end = _logits(view)
    args = dict(n_best=4, max_answer_length=3)
    out = decode_answers(tf.constant(start), tf.constant(end), view, tf.constant([CONTEXT, ""]), version_2=True,
                         **args)
    assert set(SLICED_TEXT_OUTPUTS) < set(out) and out["nbest_texts"].shape == (2, 4)
    assert out["answer_text"].numpy()[0] == b"dog sat"
    s, e = int(out["answer_start"][0]), int(out["answer_end"][0])
    assert CONTEXT[s:e] == "dog sat" and (int(out["answer_start_utf16"][0]), int(out["answer_end_utf16"][0])) == (s, e)
    assert float(out["score"][0]) == pytest.approx(8.0) and float(out["null_score_diff"][0]) == pytest.approx(-28.0)
    nbest = _answers(out, 0)
    assert len(nbest) == 4 and [c[3] for c in nbest] == sorted((c[3] for c in nbest), reverse=True)
    for text, s, e, _ in nbest:
        assert CONTEXT[s:e] == text and e - s <= len("dog sat on")
    # an empty context has no span at all
    assert _answers(out, 1) == [] and out["answer_text"].numpy()[1] == b"" and int(out["answer_start"][1]) == -1
    # a strong null score empties the v2.0 answer (the n-best list keeps the spans); v1.1 still answers
    start[:, 0] = end[:, 0] = 9.0
    out = decode_answers(tf.constant(start), tf.constant(end), view, tf.constant([CONTEXT, ""]), version_2=True,
                         **args)
    assert out["answer_text"].numpy()[0] == b"" and int(out["answer_start"][0]) == int(out["answer_end"][0]) == -1
    assert float(out["null_score_diff"][0]) == pytest.approx(10.0) and _answers(out, 0)[0][0] == "dog sat"
    v1 = decode_answers(tf.constant(start), tf.constant(end), view, tf.constant([CONTEXT, ""]), **args)
    assert v1["answer_text"].numpy()[0] == b"dog sat"


def test_best_packed_spans():
    s = tf.constant([[0.0, 1.0, 5.0, 0.0], [9.0, 0.0, 0.0, 0.0]])
    e = tf.constant([[0.0, 4.0, 0.0, 3.0], [0.0, 1.0, 0.0, 9.0]])
    out = best_packed_spans(s, e, max_answer_length=2)
    # row 0: start 2 -> end 3 (5 + 3) beats start 1 -> end 1 (1 + 4); row 1: end 3 is too far from start 0
    assert out["start_index"].numpy().tolist() == [2, 0] and out["end_index"].numpy().tolist() == [3, 1]
