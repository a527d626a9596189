"""TextClassifier with sliding windows (window_stride / max_windows): the mean of the window logits by hand, short
texts as without windows, training rows per window, save/load, argument errors, truncation counts."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo import reports
from keras_bert_zoo.tasks import TaskError, TextClassifier, read_task_file
from keras_bert_zoo.text import BertPreprocessor
from tests.tasks.tiny_classify import tiny_backbone_and_tokenizer

LABELS = ["negative", "neutral", "positive"]
T = 8                                   # windows of 6 tokens ([CLS] + 6 + [SEP])
LONG = "the movie was good and great and the plot was awful and bad and the film was ok"    # 18 tokens
MEDIUM = "the plot was awful and bad and the film"                                          # 9 tokens
SHORT = ["meh", "the film was good", "awful plot !", ""]


@pytest.fixture(scope="module")
def parts():
    """(plain task without windows, tokenizer): every windowed task below shares its backbone and head."""
    backbone, tokenizer = tiny_backbone_and_tokenizer(seed=5, dropout=0.0)
    plain = TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=T), labels=LABELS,
                           dropout=0.0)
    return plain, tokenizer


def windowed(parts, stride=4, max_windows=None):
    plain, tokenizer = parts
    task = TextClassifier(plain.backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=T),
                          labels=LABELS, window_stride=stride, max_windows=max_windows, dropout=0.0)
    task.head.set_weights(plain.head.get_weights())
    return task


def reference_windows(ids, size, stride):
    """The windows of a token list, by a plain loop: ``size`` tokens, starts ``stride`` apart, the last one the
    first that reaches the end."""
    out, start = [], 0
    while True:
        out.append(ids[start:start + size])
        if start + size >= len(ids):
            return out
        start += stride


def window_logits_by_hand(plain, windows):
    """The plain model's logits on ``[CLS] window [SEP]`` rows packed here (ids 2 / 3, padding 0)."""
    size = T - 2
    token_ids = np.array([[2] + w + [3] + [0] * (size - len(w)) for w in windows], "int32")
    mask = (np.arange(T)[None, :] < np.array([len(w) + 2 for w in windows])[:, None]).astype("int32")
    return np.asarray(plain({"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids),
                             "padding_mask": mask}, training=False))


def test_long_text_logits_are_the_mean_of_its_window_logits(parts):
    plain, tokenizer = parts
    ids = tokenizer(tf.constant([LONG])).to_list()[0]
    assert len(ids) == 18
    texts = [SHORT[0], LONG, SHORT[1], MEDIUM]
    for stride, cap, expected_windows in [(4, None, 4), (3, None, 5), (4, 2, 2)]:
        task = windowed(parts, stride, cap)
        windows = reference_windows(ids, T - 2, stride)[:cap]
        assert len(windows) == expected_windows
        out = task.predict(texts, verbose=0)
        by_hand = window_logits_by_hand(plain, windows).mean(0)
        np.testing.assert_allclose(out["logits"][1], by_hand, atol=1e-5)
        np.testing.assert_allclose(out["probabilities"][1], tf.nn.softmax(by_hand).numpy(), atol=1e-5)
        assert out["label_names"][1].decode() == LABELS[int(np.argmax(by_hand))]
        medium = reference_windows(tokenizer(tf.constant([MEDIUM])).to_list()[0], T - 2, stride)[:cap]
        np.testing.assert_allclose(out["logits"][3], window_logits_by_hand(plain, medium).mean(0), atol=1e-5)


def test_short_texts_are_the_same_as_without_windows(parts):
    plain, _ = parts
    task = windowed(parts, 4, 3)
    got, want = task.predict(SHORT, verbose=0), plain.predict(SHORT, verbose=0)
    assert sorted(got) == sorted(want)
    for k in want:
        if want[k].dtype.kind == "f":
            np.testing.assert_allclose(got[k], want[k], atol=1e-6)
        else:
            assert got[k].tolist() == want[k].tolist()
    # the graph predict runs for more than two batches gives the same as the eager one
    many = task.predict(SHORT + [LONG] * 3, batch_size=2, verbose=0)["logits"]
    np.testing.assert_allclose(many[:4], want["logits"], atol=1e-5)
    np.testing.assert_allclose(many[4], task.predict([LONG], verbose=0)["logits"][0], atol=1e-5)


def test_training_rows_are_the_windows_with_the_text_target(parts):
    task = windowed(parts, 4)
    texts, labels = [LONG, "meh", MEDIUM], ["positive", "neutral", "negative"]
    ds = task.make_dataset(texts, labels, sample_weight=[1.0, 2.0, 0.5], batch_size=3)
    rows = [(p["token_ids"].numpy(), y.numpy(), w.numpy(), p["padding_mask"].numpy()) for p, y, w in ds]
    ids = np.concatenate([r[0][:, 1] for r in rows])                 # first token of every window
    y = np.concatenate([r[1] for r in rows]).tolist()
    w = np.concatenate([r[2] for r in rows]).tolist()
    assert len(y) == 4 + 1 + 2 and int(ds.cardinality()) == 3       # 7 windows in batches of 3
    assert y == [2] * 4 + [1] + [0] * 2 and w == [1.0] * 4 + [2.0] + [0.5] * 2
    tok = task.tokenizer(tf.constant(texts)).to_list()
    starts = [tok[0][s] for s in (0, 4, 8, 12)] + [tok[1][0]] + [tok[2][0], tok[2][4]]
    assert ids.tolist() == starts
    for *_, mask in rows:                                             # each batch cut to its longest window
        assert mask[:, -1].any()
    train = task.make_dataset(texts * 4, labels * 4, batch_size=4, training=True)
    assert int(train.cardinality()) == 7                              # 28 windows, shuffled, counted


def test_rows_of_short_and_long_batches_mix_after_rebatching(parts):
    """Rows come out of ``preprocess_samples`` at the full sequence length and are cut after re-batching: a
    source batch of short texts only (its windows shorter than T) next to one of long texts used to give rows of
    two lengths to one re-batched batch ("Cannot batch tensors with different shapes", the zh demo at 40 min)."""
    task = windowed(parts, 4)
    texts = ["meh", "awful plot !"] * 3 + [LONG, MEDIUM] * 3          # batch_size 2: 3 short batches, 3 long
    labels = ["neutral", "negative"] * 3 + ["positive", "negative"] * 3
    for training in (False, True):
        ds = task.make_dataset(texts, labels, batch_size=2, training=training, seed=1)
        rows = [(p["padding_mask"].numpy(), y.numpy()) for p, y in ds]
        assert sum(len(y) for _, y in rows) == 6 + 3 * (4 + 2)      # every window, none lost
        for mask, _ in rows:                                          # each batch cut to its own longest row
            assert mask[:, -1].any() and mask.shape[1] <= T


@pytest.mark.slow     # ~20-40 s on 2 busy cores: traces a train step
def test_fit_on_windows_with_sample_weights():
    backbone, tokenizer = tiny_backbone_and_tokenizer(seed=6)
    task = TextClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=T), labels=LABELS,
                          window_stride=4)
    texts, labels = [LONG, "meh", MEDIUM] * 2, ["positive", "neutral", "negative"] * 2
    before = [w.copy() for w in task.head.get_weights()]
    task.compile(keras.optimizers.Adam(1e-3))
    history = task.fit(texts, labels, sample_weight=[1.0, 0.5, 2.0] * 2, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.allclose(a, b) for a, b in zip(before, task.head.get_weights()))


def test_save_and_load_keep_the_windows(parts, tmp_path):
    task = windowed(parts, 3, 4)
    assert task.get_config()["window_stride"] == 3 and task.get_config()["max_windows"] == 4
    path = tmp_path / "windows.keras"
    task.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, TextClassifier) and (loaded.window_stride, loaded.max_windows) == (3, 4)
    texts = [LONG, LONG + " " + LONG, "meh"]
    np.testing.assert_allclose(loaded.predict(texts, verbose=0)["logits"], task.predict(texts, verbose=0)["logits"],
                               atol=1e-6)


@pytest.mark.parametrize("args, message", [
    ({"window_stride": 4, "pairs": True}, r"window_stride: sliding windows are for single texts; a pair"),
    ({"max_windows": 3}, r"max_windows=3 needs sliding windows \(window_stride > 0\)"),
    ({"window_stride": 4, "max_windows": 0}, r"max_windows must be a whole number >= 1 .* got 0"),
    ({"window_stride": -2}, r"window_stride must be a whole number >= 0 .* got -2"),
    ({"window_stride": 2.5}, r"window_stride must be a whole number >= 0 .* got 2\.5"),
    ({"window_stride": True}, r"window_stride must be a whole number >= 0 .* got True"),
    ({"window_stride": "4"}, r"window_stride must be a whole number >= 0 .* got '4'"),
])
def test_window_arguments_are_checked_in_one_line(parts, args, message):
    with pytest.raises(TaskError, match=message) as err:
        TextClassifier(parts[0].backbone, labels=LABELS, **args)
    assert "\n" not in str(err.value)


def test_truncated_examples_count_what_the_windows_do_not_cover(parts, tmp_path, caplog):
    path = tmp_path / "long.csv"
    path.write_text(f"text,label\n{LONG},positive\n{MEDIUM},negative\nmeh,neutral\n")
    data = read_task_file("classify", path)
    plain = parts[0]
    assert reports.evaluate_task_file(plain, data)["truncated_examples"] == 2          # 18 and 9 tokens > 6
    uncapped = windowed(parts, 4)
    assert uncapped.max_text_tokens is None
    with caplog.at_level(logging.WARNING):
        assert reports.warn_truncation(uncapped, data) == 0
    assert reports.evaluate_task_file(uncapped, data)["truncated_examples"] == 0
    capped = windowed(parts, 4, 2)                                   # 2 windows cover 4 + 6 = 10 tokens
    assert capped.max_text_tokens == 10
    assert reports.evaluate_task_file(capped, data)["truncated_examples"] == 1
    with caplog.at_level(logging.WARNING):
        reports.warn_truncation(capped, data)
    assert "1 of 3 examples are longer than the 10 tokens that max_windows=2 windows cover" in caplog.text
