"""decoding.entities: entity spans from token tags with character and UTF-16 offsets (accents, CJK, emoji), only
word-initial pieces count, scores, padding, words' tags for given word starts."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.metrics.entities import LabelScheme
from keras_bert_zoo.tasks.decoding.entities import SLICED_TEXT_OUTPUTS, decode_entities, pad_rows, word_tag_ids
from keras_bert_zoo.tasks.preprocessing import TokenWindowPreprocessor
from keras_bert_zoo.text.tokenizer import continuation_mask
from tests.tasks import tiny5b

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


@pytest.fixture(scope="module")
def tok():
    return tiny5b.tokenizer()


def _logits(tok, texts, tag_of):
    """One-hot logits (x5) per token: ``tag_of[row][token]`` (default "O"); ``##`` pieces get B-LOC on purpose."""
    ids, starts, ends = tok.tokenize_with_offsets(tf.constant(texts))
    rows = []
    for r, row in enumerate(ids.to_list()):
        pieces = [tok.id_to_token(i) for i in row]
        tags = [LABELS.index("B-LOC" if p.startswith("##") else tag_of[r].get(i, "O")) for i, p in enumerate(pieces)]
        rows.append(tf.one_hot(tags, len(LABELS)) * 5.0)
    logits = tf.RaggedTensor.from_row_lengths(tf.concat(rows, 0), ids.row_lengths())
    return ids, starts, ends, logits


def test_entities_with_character_offsets(tok):
    texts = ["José Müller-Lüdenscheidt vit à Zürich. 李明住在北京。", "", "😀 Zürich"]
    # jose mul ##ler - lu ##den ##scheid ##t vit a zu ##rich . 李 明 住 在 北 京 。 | 😀 zu ##rich
    tag_of = [{0: "B-PER", 1: "I-PER", 3: "I-PER", 4: "I-PER", 10: "B-LOC", 13: "B-PER", 14: "I-PER", 17: "B-LOC",
               18: "I-LOC"}, {}, {1: "B-LOC"}]
    ids, starts, ends, logits = _logits(tok, texts, tag_of)
    assert [tok.id_to_token(i) for i in ids.to_list()[0]][10] == "zu"
    out = decode_entities(tf.constant(texts), ids, starts, ends, logits, LabelScheme(LABELS),
                          continuation_mask(tok.vocabulary))
    assert set(SLICED_TEXT_OUTPUTS) < set(out)
    n = out["num_entities"].numpy().tolist()
    assert n == [4, 0, 1] and out["entity_types"].shape == (3, 4)
    got = [[(out["entity_types"][i, j].numpy().decode(), out["entity_texts"][i, j].numpy().decode(),
             int(out["entity_starts"][i, j]), int(out["entity_ends"][i, j])) for j in range(n[i])] for i in range(3)]
    assert got[0] == [("PER", "José Müller-Lüdenscheidt", 0, 24), ("LOC", "Zürich", 31, 37), ("PER", "李明", 39, 41),
                      ("LOC", "北京", 43, 45)]
    assert got[2] == [("LOC", "Zürich", 2, 8)]
    for i, text in enumerate(texts):
        for _, span, s, e in got[i]:
            assert text[s:e] == span
    # UTF-16: the emoji is two code units
    assert (int(out["entity_starts_utf16"][2, 0]), int(out["entity_ends_utf16"][2, 0])) == (3, 9)
    assert out["entity_type_ids"].numpy()[0].tolist() == [1, 0, 1, 0]          # types sorted: LOC, PER
    assert out["entity_type_ids"].numpy()[2].tolist() == [0, -1, -1, -1]
    assert out["entity_texts"].numpy()[2].tolist() == [b"Z\xc3\xbcrich", b"", b"", b""]
    scores = out["entity_scores"].numpy()
    assert np.all((scores[0] > 0.9) & (scores[0] <= 1.0)) and scores[2].tolist()[1:] == [0.0] * 3


def test_word_tags_at_first_subwords(tok):
    words = [["José", "Müller-Lüdenscheidt", "vit"], ["\x00", "Zürich"]]
    texts, starts = TokenWindowPreprocessor.join_words(tf.ragged.constant(words))
    ids, tok_starts, ends, logits = _logits(tok, [t.decode() for t in texts.numpy()],
                                            [{0: "B-PER", 1: "I-PER"}, {0: "B-LOC"}])
    got = word_tag_ids(starts, tok_starts, logits, o_id=0).to_list()
    # "Müller-Lüdenscheidt" is four words to the tokenizer: the given word takes its first token's tag
    assert [[LABELS[i] for i in row] for row in got] == [["B-PER", "I-PER", "O"], ["O", "B-LOC"]]


def test_pad_rows():
    out = pad_rows(tf.constant([2, 0, 1]), tf.constant([1.0, 2.0, 3.0]), -1.0)
    np.testing.assert_array_equal(out.numpy(), [[1.0, 2.0], [-1.0, -1.0], [3.0, -1.0]])
    assert pad_rows(tf.constant([], tf.int32), tf.constant([], tf.string), "").shape == (0, 0)


def test_entity_score_is_its_words_mean_wherever_it_is_in_the_batch(tok):
    """An entity's score is the mean of its own words' tag probabilities, to float32 rounding of that mean, however
    many words of other texts come before it in the batch. (It was a difference of two cumulative sums over the
    batch: 6e-5 off after ~3,000 words here, and how the scan rounded depended on the runtime's code path: the zh
    NER SavedModel's verification once failed by 1.5e-5 > 1e-5 against the Keras task; now 6e-8.)"""
    probe = "李明住在北京。"
    filler = "我们今天在这里开会讨论一下明年的计划和安排。" * 12                 # ~260 O words per text
    texts = [filler] * 12 + [probe]
    rng = np.random.default_rng(0)
    ids, starts, ends = tok.tokenize_with_offsets(tf.constant(texts))
    # random logits with each word's tag ahead: O in the filler (by 8), and in the probe 李 明 = PER, 北 京 = LOC
    # (by 3, so their probabilities are ~0.8-0.95 and differ)
    rows = []
    for r, row in enumerate(ids.to_list()):
        logits = rng.normal(0.0, 1.0, (len(row), len(LABELS))).astype(np.float32)
        tags = {0: "B-PER", 1: "I-PER", 4: "B-LOC", 5: "I-LOC"} if r == len(texts) - 1 else {}
        for i in range(len(row)):
            logits[i, LABELS.index(tags.get(i, "O"))] += 3.0 if tags else 8.0
        rows.append(logits)
    ragged = tf.RaggedTensor.from_row_lengths(np.concatenate(rows), ids.row_lengths())
    scheme, cont = LabelScheme(LABELS), continuation_mask(tok.vocabulary)
    out = decode_entities(tf.constant(texts), ids, starts, ends, ragged, scheme, cont)
    assert int(np.sum(out["num_entities"].numpy()[:-1])) == 0 and out["num_entities"].numpy()[-1] == 2
    probs = tf.nn.softmax(tf.constant(rows[-1], tf.float64)).numpy()
    want = [np.mean([probs[0, 3], probs[1, 4]]), np.mean([probs[4, 1], probs[5, 2]])]
    got = out["entity_scores"].numpy()[-1].astype(np.float64)
    assert np.max(np.abs(got - want)) < 2e-7, (got, want)
    alone = decode_entities(tf.constant([probe]), *(x[-1:] for x in (ids, starts, ends, ragged)), scheme, cont)
    np.testing.assert_allclose(alone["entity_scores"].numpy()[0], got, rtol=0, atol=2e-7)
