"""TokenClassifier(crf=True): zero CRF scores decode exactly as the softmax head (entities, offsets, scores);
learned scores with the BIO rules give rule-abiding paths, one Viterbi pass over a long text's words (its tokens
on their max-context windows) that ``predict`` and ``predict_word_tags`` agree on; the CRF loss trains the
transitions; config / .keras / from_preset keep ``crf``; SavedModel (the shared harness) and TFLite (builtins
only) serve what ``predict`` gives."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tiny5b
from keras_bert_zoo.data.conll import label_list, read_conll
from keras_bert_zoo.layers.crf import CRF, CrfLoss
from keras_bert_zoo.metrics.entities import get_entities
from keras_bert_zoo.tasks import TaskError
from keras_bert_zoo.tasks.preprocessing.token_windows import word_token_alignment
from keras_bert_zoo.tasks.token_classifier import TokenClassifier
from keras_bert_zoo.text import BertPreprocessor
from keras_bert_zoo.text.tokenizer import continuation_mask

TRAIN = tiny5b.FIXTURES / "ner_train.conll"
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
LONG = "Peter Blackburn visited São Paulo and José Müller - Lüdenscheidt lives in Zürich with Peter ."
TEXTS = ["Peter Blackburn visited São Paulo .", "李明住在北京。", "", LONG]


@pytest.fixture(scope="module")
def tok():
    return tiny5b.tokenizer()


def _task(tok, labels=LABELS, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return TokenClassifier(tiny5b.backbone(tok.vocab_size, num_layers=1), labels=labels,
                           preprocessor=BertPreprocessor(tok, sequence_length=9), stride=3, **kwargs)


def _random_scores(task, seed=1, scale=2.0):
    rng = np.random.default_rng(seed)
    task.crf_layer.set_weights([scale * rng.normal(size=w.shape).astype("float32") for w in task.crf_layer.weights])


def _same(a, b, atol=1e-6):
    assert sorted(a) == sorted(b)
    for k in a:
        if np.asarray(a[k]).dtype.kind in "SOU":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            np.testing.assert_allclose(a[k], b[k], atol=atol, err_msg=k)


def test_zero_scores_decode_as_the_softmax_head(tok):
    plain = _task(tok)
    crf = _task(tok, crf=True, crf_rules=False)
    assert isinstance(crf.crf_layer, CRF) and crf.layers[-1] is crf.crf_layer
    crf.set_weights(plain.get_weights() + [np.zeros(w.shape, "float32") for w in crf.crf_layer.weights])
    want = plain.predict(TEXTS, verbose=0)
    assert want["num_entities"].sum() > 3                      # random tags: the comparison sees entities
    _same(crf.predict(TEXTS, verbose=0), want)
    words = [t.split() for t in TEXTS if t]
    assert crf.predict_word_tags(words) == plain.predict_word_tags(words)


def test_viterbi_over_a_long_texts_words_keeps_the_rules(tok):
    task = _task(tok, crf=True)
    _random_scores(task)
    assert task.crf_layer.forbidden_starts == [2, 4] and [0, 2] in task.crf_layer.forbidden_transitions
    words = LONG.split()
    [tags] = task.predict_word_tags([words])
    # by hand: the tokens' max-context logits, the words' first sub-words, one Viterbi pass over them
    texts, starts = task.preprocessor.join_words(tf.ragged.constant([words]))
    _, tok_starts, _, logits = task.token_logits(texts)
    _, first = word_token_alignment(starts, tok_starts)
    assert logits.row_lengths().numpy()[0] > 7                 # several windows
    emissions = logits.to_list()[0]
    sel = np.asarray([e for e, f in zip(emissions, first.to_list()[0]) if f], "float32")[None]
    path = np.asarray(task.crf_layer.decode(sel, np.ones(sel.shape[:2], bool)))[0]
    assert tags == [LABELS[i] for i in path]
    assert tags != [LABELS[i] for i in sel[0].argmax(-1)]     # the scores change the path
    for prev, cur in zip(["O"] + tags[:-1], tags):             # BIO: I-X only after B-X / I-X
        assert not cur.startswith("I-") or prev[2:] == cur[2:] and prev[0] in "BI", tags
    # predict's entities are the chunks of the same tags (the words are the tokenizer's words here)
    out = task.predict([LONG], verbose=0)
    ents = task.decode(out)[0]["entities"]
    assert [(e["type"], e["text"]) for e in ents] == [
        (ty, " ".join(words[b:e + 1])) for ty, b, e in get_entities([tags])[0]]
    probs = tf.nn.softmax(sel[0]).numpy()[np.arange(len(path)), path]
    want = [probs[b:e + 1].mean() for _, b, e in get_entities([tags])[0]]
    np.testing.assert_allclose([e["score"] for e in ents], want, atol=1e-5)


def test_packed_serving_label_ids_are_the_viterbi_path_over_words(tok):
    task = _task(tok, crf=True)
    _random_scores(task, seed=2)
    words = [["Peter", "Blackburn", "visited"], ["李", "明", "在", "北", "京"]]
    packed = task.preprocessor.call(tf.constant([" ".join(w) for w in words]))
    out = task.packed_serving_fn(packed)
    ids, real = packed["token_ids"].numpy(), packed["padding_mask"].numpy()
    cont = continuation_mask(tok.vocabulary)
    for row, ws, tags in zip(range(2), words, task.predict_word_tags(words)):
        n = real[row].sum()
        first = [p for p in range(1, n - 1) if not cont[ids[row, p]]]
        assert len(first) == len(ws)                            # one window: the same words, the same path
        assert [LABELS[i] for i in out["label_ids"].numpy()[row, first]] == tags
        rest = [p for p in range(ids.shape[1]) if p not in first]
        np.testing.assert_array_equal(out["label_ids"].numpy()[row, rest],
                                      out["logits"].numpy()[row, rest].argmax(-1))


def test_fit_trains_the_transitions_and_save_load_keeps_them(tok, tmp_path):
    sentences = read_conll(TRAIN)
    task = _task(tok, label_list(sentences), crf=True)
    assert isinstance(task.default_loss(), CrfLoss)
    task.compile(learning_rate=1e-2)
    history = task.fit(sentences, epochs=1, batch_size=8, steps_per_epoch=2, verbose=0).history
    assert np.isfinite(history["loss"]).all() and 0 <= history["token_accuracy"][0] <= 1
    assert np.abs(task.crf_layer.transitions.numpy()).max() > 0
    config = task.get_config()
    assert config["crf"] is True and config["crf_rules"] is True
    task.save(tmp_path / "crf.keras")
    again = keras.saving.load_model(tmp_path / "crf.keras", safe_mode=True)
    assert again.get_config() == config and again.crf_layer.get_config() == task.crf_layer.get_config()
    for a, b in zip(again.crf_layer.get_weights(), task.crf_layer.get_weights()):
        np.testing.assert_array_equal(a, b)
    _same(again.predict(TEXTS, verbose=0), task.predict(TEXTS, verbose=0))
    scores = again.evaluate(sentences[:8], batch_size=8, verbose=0, return_dict=True)
    assert np.isfinite(scores["loss"])


def test_from_preset_with_crf(tok, tmp_path):
    from keras_bert_zoo import convert

    convert.export_hf(tiny5b.backbone(tok.vocab_size, num_layers=1), tmp_path / "hf", vocabulary=tok)
    task = TokenClassifier.from_preset(str(tmp_path / "hf"), labels=LABELS, sequence_length=11, crf=True,
                                       crf_rules=False)
    assert task.crf and task.crf_layer.forbidden_transitions == [] and task.get_config()["crf_rules"] is False
    assert task.decode(task.predict(["Peter"], verbose=0))[0].keys() == {"entities"}
    with pytest.raises(TaskError, match="crf=True does not train under XLA"):
        task.compile(jit_compile=True)
    task.compile(jit_compile="auto")
    assert task.jit_compile is False


@pytest.mark.slow
def test_shared_harness_with_crf(tok, tmp_path):
    """Recipe fit, predict vs predict_on_batch, split preprocessing, .keras round trip, verified SavedModel
    export whose served entities equal predict's, a mixed_bfloat16 training step."""
    from tests.tasks.harness import run_task_test

    sentences = read_conll(TRAIN)
    run_task_test(lambda: _task(tok, label_list(sentences), crf=True), sentences, None, TEXTS, tmp_path)


@pytest.mark.slow
def test_tflite_with_crf_needs_no_flex_and_equals_predict(tok, tmp_path):
    from keras_bert_zoo.export import ops as ops_lib
    from keras_bert_zoo.export import tflite

    task = _task(tok, crf=True)
    _random_scores(task)
    result = task.export(tmp_path / "ner.tflite", format="tflite", sample_inputs=TEXTS)
    assert set(result.custom_ops) <= ops_lib.TFLITE_TFTEXT_KERNELS and not result.info["flex"]
    runner = tflite.TFLiteRunner(result.path)
    for texts in (TEXTS, [LONG], [TEXTS[1], LONG, TEXTS[0]]):
        want = task.predict(texts, verbose=0)
        want.pop("entity_texts")
        got = runner("serving_default", text=texts)
        assert want["num_entities"].sum() > 0
        _same({k: got[k] for k in want}, want, atol=1e-4)
