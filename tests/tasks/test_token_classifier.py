"""TokenClassifier (NER as a keras.Model): first-sub-word alignment on accented /
Chinese text (one window and many), entity spans with character offsets, max-context windows at prediction,
raw-data fit / evaluate / predict, save / load, from_preset, errors naming the file, line and tag."""

import keras
import numpy as np
import pytest

import tensorflow as tf

import tiny5b
from keras_bert_zoo.data.conll import Sentence, label_list, read_conll
from keras_bert_zoo.tasks import TaskError, get_task_class
from keras_bert_zoo.tasks.preprocessing import windows as W
from keras_bert_zoo.metrics.entities import entity_scores
from keras_bert_zoo.tasks.token_classifier import TokenClassifier
from keras_bert_zoo.text import BertPreprocessor

TRAIN = tiny5b.FIXTURES / "ner_train.conll"
TEXTS = ["Peter Blackburn visited São Paulo .", "李明住在北京。", "", "José Müller-Lüdenscheidt vit à Zürich."]


@pytest.fixture(scope="module")
def tok():
    return tiny5b.tokenizer()


def _task(tok, labels, sequence_length=9, stride=3, **kwargs):
    return TokenClassifier(tiny5b.backbone(tok.vocab_size, num_layers=1), labels=labels,
                           preprocessor=BertPreprocessor(tok, sequence_length=sequence_length), stride=stride, **kwargs)


def test_registry():
    assert get_task_class("tag") is TokenClassifier


def test_word_labels_over_windows_on_accented_and_chinese_text(tok):
    words = ["José", "Müller-Lüdenscheidt", "vit", "à", "Zürich", ".", "李", "明"]
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-PER", "I-PER"]
    labels = ["O", "B-LOC", "B-PER", "I-PER"]
    text = " ".join(words)
    b_starts = [len(" ".join(words[:i]).encode()) + (1 if i else 0) for i in range(len(words))]
    _, starts, _ = tok.tokenize_with_offsets(tf.constant([text]))
    starts = starts.to_list()[0]
    n = len(starts)
    first_tokens = {p: tags[b_starts.index(s)] for p, s in enumerate(starts) if s in b_starts}
    assert len(first_tokens) == len(words) and n > len(words) + 3
    # the task's own batches: windows of 7 tokens, stride 3; every weighted position is a word's first token with
    # that word's tag, and every word is labelled in at least one window
    small = _task(tok, labels, sequence_length=9, stride=3)
    packed, y, w = small.make_dataset([words], [tags], batch_size=100).get_single_element()
    windows = W.make_windows(tf.constant([n]), 7, 3)
    assert w.shape[0] == int(windows.length.shape[0]) > 1
    index = W.packed_token_index(windows, tf.ones_like(windows.length), 9).numpy()[:, :w.shape[1]]
    np.testing.assert_array_equal(packed["token_ids"].numpy()[index >= 0],
                                  np.asarray(tok.tokenize(tf.constant([text])).to_list()[0])[index[index >= 0]])
    seen = set()
    for k, p in zip(*np.nonzero(w.numpy())):
        tok_index = int(index[k, p])
        assert tok_index in first_tokens and labels[int(y[k, p])] == first_tokens[tok_index]
        seen.add(tok_index)
    assert seen == set(first_tokens)
    assert np.all(w.numpy()[index < 0] == 0)


def test_long_text_tokens_take_their_max_context_window(tok):
    task = _task(tok, ["O", "B-PER", "I-PER"], sequence_length=9, stride=3)
    text = "Peter Blackburn visited São Paulo and José Müller-Lüdenscheidt lives in Zürich ."
    ids, _, _, logits = task.token_logits(tf.constant([text, "李明"]))
    n = len(ids.to_list()[0])
    assert logits.row_lengths().numpy().tolist() == [n, 2] and n > 7
    # by hand: run every window of 7 tokens (stride 3) and pick, per token, the window with the largest
    # min(left, right) context (+ 0.01 * window length; the first on ties)
    token_ids = ids.to_list()[0]
    starts = list(range(0, n - 7 + 3, 3))
    want = np.zeros([n, 3], np.float32)
    best = np.full([n], -1.0)
    for s in starts:
        piece = token_ids[s:s + 7]
        packed = task.preprocessor.pack_ids(tf.ragged.constant([piece]))
        out = task(task.trim(packed), training=False).numpy()[0]
        for j in range(len(piece)):
            score = min(j, len(piece) - 1 - j) + 0.01 * len(piece)
            if score > best[s + j]:
                best[s + j], want[s + j] = score, out[j + 1]
    np.testing.assert_allclose(logits.to_list()[0], want, atol=1e-5)


@pytest.fixture(scope="module")
def trained(tok, tmp_path_factory):
    sentences = read_conll(TRAIN)
    labels = label_list(sentences)
    task = _task(tok, labels, sequence_length=9, stride=3)
    task.compile(learning_rate=1e-3)
    before = {w.path: w.numpy().copy() for w in task.trainable_weights}
    history = task.fit(sentences, epochs=1, batch_size=8, verbose=0, steps_per_epoch=2).history
    return task, sentences, labels, before, history, tmp_path_factory.mktemp("ner")


def test_fit_on_sentences_trains_and_word_lists_give_the_same_batches(trained):
    task, sentences, labels, before, history, _ = trained
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    assert 0.0 <= history["token_accuracy"][0] <= 1.0
    changed = {p for p, v in before.items() if not np.allclose(v, next(w for w in task.trainable_weights
                                                                      if w.path == p).numpy())}
    assert any("classifier" in p for p in changed) and any("encoder" in p or "layer" in p for p in changed), changed
    # word lists + tag lists are the same training data as the Sentences
    a = list(task.make_dataset(sentences, batch_size=64))
    b = list(task.make_dataset([list(s.words) for s in sentences], [list(s.tags) for s in sentences], batch_size=64))
    assert len(a) == len(b) == 1
    for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    packed, y, w = a[0]
    assert packed["token_ids"].shape == y.shape == w.shape and y.shape[1] <= 9
    assert int(w.numpy().sum()) >= sum(len(s.words) for s in sentences)   # windows overlap: some words twice
    # sample weights scale every token weight of a sentence
    c = next(iter(task.make_dataset(sentences, sample_weight=[2.0] * len(sentences), batch_size=64)))
    np.testing.assert_allclose(c[2].numpy(), 2.0 * w.numpy())
    scores = task.evaluate(sentences, batch_size=4, verbose=0, return_dict=True)
    assert np.isfinite(scores["loss"]) and 0.0 <= scores["token_accuracy"] <= 1.0
    tags = task.predict_word_tags(sentences[:3] + [["Peter", "Paris"]], batch_size=2)
    assert [len(t) for t in tags] == [len(s.words) for s in sentences[:3]] + [2]
    assert all(t in labels for row in tags for t in row)


def test_predict_raw_strings_gives_padded_entity_outputs(trained):
    task = trained[0]
    out = task.predict(TEXTS, batch_size=3)           # two batches of different entity counts, padded
    assert set(out) == {"entity_types", "entity_texts", "entity_starts", "entity_ends", "entity_scores",
                        "num_entities", "entity_type_ids", "entity_starts_utf16", "entity_ends_utf16"}
    n = out["num_entities"]
    assert n.shape == (4,) and n[2] == 0
    E = out["entity_types"].shape[1]
    assert E == n.max()
    for key in ("entity_types", "entity_texts", "entity_starts", "entity_ends", "entity_scores"):
        assert out[key].shape == (4, E)
    one = task.predict(TEXTS, batch_size=4)           # one batch: the same entities (scores up to rounding)
    for k in out:
        if k == "entity_scores":
            np.testing.assert_allclose(out[k], one[k], atol=1e-6)
        else:
            np.testing.assert_array_equal(out[k], one[k])
    for i, (text, row) in enumerate(zip(TEXTS, task.decode(out))):
        assert len(row["entities"]) == n[i]
        for e in row["entities"]:
            assert text[e["start"]:e["end"]] == e["text"] and e["type"] in {"PER", "LOC", "ORG", "MISC"}
            assert 0.0 < e["score"] <= 1.0
        assert list(out["entity_starts"][i, n[i]:]) == [-1] * (E - n[i])
        assert list(out["entity_texts"][i, n[i]:]) == [b""] * (E - n[i])
    # packed inputs: the model's per-position logits
    packed = task.preprocessor.call(tf.constant(TEXTS[:2]))
    logits = task.predict(packed, verbose=0)
    assert logits.shape == (2, 9, len(trained[2])) and logits.dtype == np.float32


def test_save_load_keeps_config_and_outputs(trained):
    task, sentences, labels, _, _, root = trained
    path = root / "ner.keras"
    task.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, TokenClassifier) and again.labels == labels and again.stride == 3
    assert again.get_config() == task.get_config()
    want, got = task.predict(TEXTS), again.predict(TEXTS)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    assert again.predict_word_tags(sentences) == task.predict_word_tags(sentences)


def test_mixed_precision_head_keeps_float32_logits(tok):
    from keras_bert_zoo import BertBackbone
    from tests.conftest import TINY_LONG

    cfg = TINY_LONG.replace(vocab_size=tok.vocab_size, num_layers=1)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        task = TokenClassifier(BertBackbone(cfg), labels=["O", "B-PER", "I-PER"],
                               preprocessor=BertPreprocessor(tok, sequence_length=9))
    finally:
        keras.config.set_dtype_policy(previous)
    assert task.head.dtype_policy.name == "mixed_bfloat16" and task.head.compute_dtype == "bfloat16"
    logits = task(tiny5b_packed(), training=False)
    assert logits.dtype == "float32" and logits.shape == (2, 7, 3)
    assert task.decode(task.predict(["Peter Blackburn"]))[0].keys() == {"entities"}


def test_from_preset_directory_and_packed_only_model(tok, tmp_path):
    from keras_bert_zoo import convert

    backbone = tiny5b.backbone(tok.vocab_size, num_layers=1)
    convert.export_hf(backbone, tmp_path / "hf", vocabulary=tok)
    task = TokenClassifier.from_preset(str(tmp_path / "hf"), labels=["O", "B-PER", "I-PER"], sequence_length=11)
    assert task.sequence_length == 11 and task.stride is None and task.window_stride == 4
    assert task.num_classes == 3 and task.head.kernel.shape == (32, 3)
    np.testing.assert_array_equal(task.backbone.get_weights()[0], backbone.get_weights()[0])
    assert task.decode(task.predict(["Peter"]))[0].keys() == {"entities"}
    # num_classes only (what a converter builds): packed inputs work, raw decoding names what is missing
    bare = TokenClassifier(backbone, 5, preprocessor=BertPreprocessor(tok, sequence_length=9))
    assert bare.labels is None and bare.num_classes == 5
    assert TokenClassifier.from_config(bare.get_config()).get_config() == bare.get_config()
    assert bare.predict(tiny5b_packed(), verbose=0).shape == (2, 7, 5)
    with pytest.raises(TaskError, match="no tag names.*labels="):
        bare.predict(["Peter"])


def tiny5b_packed():
    ids = np.array([[2, 10, 11, 3, 0, 0, 0], [2, 12, 3, 0, 0, 0, 0]], "int32")
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": (ids > 0).astype("int32")}


def test_errors_name_the_file_line_and_tag(tok, tmp_path):
    task = _task(tok, ["O", "B-PER", "I-PER"])
    bad = tmp_path / "bad.conll"
    bad.write_text("Peter B-PER\nParis B-LOC\n", encoding="utf-8")
    with pytest.raises(TaskError, match=r"bad.conll:2: unknown tag 'B-LOC' \(word 'Paris'\)"):
        task.make_dataset(read_conll(bad))
    with pytest.raises(TaskError, match=r"sentence 1 word 0: unknown tag 'S-LOC'"):
        task.fit([["Peter"], ["Paris"]], [["B-PER"], ["S-LOC"]], verbose=0)
    with pytest.raises(TaskError, match=r"sentence 0 word 0: 2 words but 1 tags"):
        task.make_dataset([["Peter", "Pan"]], [["B-PER"]])
    with pytest.raises(TaskError, match="needs tags"):
        task.make_dataset([["Peter", "Pan"]])
    with pytest.raises(TaskError, match="raw strings have no word tags"):
        task.make_dataset(["Peter Pan"], [["B-PER", "I-PER"]])
    with pytest.raises(TaskError, match="carry their tags"):
        task.make_dataset([Sentence(("a",), ("O",))], [["O"]])
    with pytest.raises(TaskError, match=r"not 'O' or B-/I-/E-/S-TYPE"):
        _task(tok, ["O", "PER"])
    with pytest.raises(TaskError, match="duplicate"):
        _task(tok, ["O", "O"])
    with pytest.raises(TaskError, match="num_classes=4 but 3 labels"):
        TokenClassifier(task.backbone, 4, labels=["O", "B-PER", "I-PER"])
    with pytest.raises(TaskError, match="needs labels"):
        TokenClassifier(task.backbone)


@pytest.mark.slow
def test_graph_mode_training_learns_the_fixture(tok):
    sentences = read_conll(TRAIN)
    task = _task(tok, label_list(sentences), sequence_length=9, stride=3, dropout=0.0)
    task.compile(keras.optimizers.Adam(5e-3))
    hist = task.fit(sentences * 4, epochs=3, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < 0.5 * hist[0], hist
    pred = task.predict_word_tags(sentences)
    assert entity_scores([list(s.tags) for s in sentences], pred)["f1"] > 0.5


@pytest.mark.slow
def test_shared_harness(tok, tmp_path):
    """Recipe fit, predict vs predict_on_batch, .keras round trip, verified SavedModel export (served entity spans
    equal predict's), a mixed_bfloat16 training step."""
    from tests.tasks.harness import run_task_test

    sentences = read_conll(TRAIN)
    run_task_test(lambda: _task(tok, label_list(sentences)), sentences, None, TEXTS, tmp_path)
    task = _task(tok, label_list(sentences))
    from keras_bert_zoo.tasks.base import pipeline

    assert pipeline.columns(task, task.default_samples())["text"][2] == "李明住在北京。"


@pytest.mark.slow
def test_tflite_export_needs_no_flex(tok, tmp_path):
    """The span decoder is written with TFLite builtins (issue 13): ``task.export(format="tflite")`` converts
    without Flex and verifies against the task's TFLite outputs (character offsets, no entity_texts; see
    tests/export/test_tflite_spans.py for the client-side equality with predict)."""
    from keras_bert_zoo.export import ops as ops_lib

    result = _task(tok, ["O", "B-PER", "I-PER"]).export(tmp_path / "ner.tflite", format="tflite")
    assert set(result.custom_ops) <= ops_lib.TFLITE_TFTEXT_KERNELS and not result.info["flex"]
    assert "entity_texts" not in result.info["signatures"]["serving_default"]["outputs"]


def _same(got, want):
    got = np.asarray(got)
    if got.dtype.kind in "SO":
        got = np.vectorize(lambda v: v.decode("utf-8"), otypes=[object])(got)
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, np.asarray(want, np.float32), rtol=1e-6, atol=1e-6)
    else:
        assert got.tolist() == want


def test_a_keras_file_of_the_previous_version_loads_and_predicts_the_same():
    """tests/tasks/fixtures/legacy_tagqa was written by keras_bert_zoo at b1486c1 (a plain BertPreprocessor and
    ``stride`` in the task config); it loads into a TokenWindowPreprocessor with that stride."""
    import json
    import pathlib

    root = pathlib.Path(__file__).parent / "fixtures" / "legacy_tagqa"
    expected = json.loads((root / "expected.json").read_text(encoding="utf-8"))["tagger"]
    task = keras.saving.load_model(root / "tagger.keras")
    assert type(task.preprocessor).__name__ == "TokenWindowPreprocessor" and task.stride == 5
    out = task.predict(expected["inputs"])
    for key, want in expected["outputs"].items():
        _same(out[key], want)
    assert task.predict_word_tags(read_conll(TRAIN)[:4]) == expected["word_tags"]
