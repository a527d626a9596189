"""Serving graphs cut the packed batch to its longest real sequence (issue 16 item 1).

For every task whose serving path used to run the full ``sequence_length`` (classifier with and without
sliding windows, pairs, embedder, multiple choice, fill-mask), the SavedModel's ``serving_default`` and
``serving_packed`` outputs with the cut equal the Keras task's outputs on the full padded batch ("today's"
outputs: the same code with :meth:`Task.trim` switched off), for short and max-length texts mixed, at batch 1
and several; and a spy on the backbone shows that it really runs on the cut length.
"""

import contextlib

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.export.saved_model import ServingModule
from keras_bert_zoo.models.backbone import BertBackbone
from keras_bert_zoo.tasks import MaskedLM, MultipleChoice, TextClassifier, TextEmbedder
from keras_bert_zoo.tasks.base import Task
from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
from tests.conftest import TINY_LONG
from tests.export.conftest import _vocab

L = 12                                                   # the preprocessor's sequence_length
LONG = "the quick brown fox jumps over the lazy dog . " * 3   # > L tokens: truncated to L
SHORT = ["a", "hello world", "", "the dog"]


@contextlib.contextmanager
def untrimmed():
    """Today's serving graph: Task.trim switched off (every batch runs the full padded length)."""
    real = Task.__dict__["trim"]
    Task.trim = staticmethod(lambda packed: dict(packed))
    try:
        yield
    finally:
        Task.trim = real


class BackboneSpy:
    """Records the sequence length the backbone last ran on (a tf.Variable assigned inside the backbone's call,
    so it works eagerly and inside the serving tf.functions)."""

    def __init__(self, backbone):
        self.length = tf.Variable(-1, dtype=tf.int32, trainable=False)
        real = backbone.call

        def call(inputs, *args, **kwargs):
            self.length.assign(tf.shape(inputs["token_ids"])[-1])
            return real(inputs, *args, **kwargs)

        backbone.call = call

    def __int__(self):
        return int(self.length.numpy())


def _preprocessor():
    return BertPreprocessor(WordPieceTokenizer(_vocab(), lowercase=True), sequence_length=L)


def _make(kind):
    import keras

    keras.utils.set_random_seed(7)
    bb, pre = BertBackbone(TINY_LONG), _preprocessor()
    if kind == "classify":
        return TextClassifier(bb, preprocessor=pre, labels=["a", "b", "c"])
    if kind == "classify_windows":
        return TextClassifier(bb, preprocessor=pre, labels=["a", "b", "c"], window_stride=4)
    if kind == "pairs":
        return TextClassifier(bb, preprocessor=pre, labels=["a", "b"], pairs=True)
    if kind == "embed":
        return TextEmbedder(bb, preprocessor=pre)
    if kind == "choice":
        return MultipleChoice(bb, preprocessor=pre, num_choices=2)
    if kind == "fill_mask":
        return MaskedLM(bb, preprocessor=pre, top_k=3)
    if kind == "fill_mask_all_positions":
        return MaskedLM(bb, preprocessor=pre, top_k=3, use_mask_positions=False)
    raise ValueError(kind)


def _feeds(kind):
    """{name: (feed, all short)}: short texts only (the cut is < L), short and max-length mixed (no cut),
    batch 1."""
    if kind == "pairs":
        make = lambda a: {"text": a, "text_pair": list(reversed(a))}                     # noqa: E731
    elif kind == "choice":
        make = lambda a: {"context": a, "choice_0": list(reversed(a)), "choice_1": a}    # noqa: E731
    elif kind.startswith("fill_mask"):
        make = lambda a: {"text": ["[MASK] " + t for t in a]}                            # noqa: E731
    else:
        make = lambda a: {"text": a}                                                     # noqa: E731
    return {"short": (make(SHORT), True), "mixed": (make(SHORT[:2] + [LONG] + SHORT[2:]), False),
            "one_short": (make(["hello world"]), True)}


KINDS = ["classify", "classify_windows", "pairs", "embed", "choice", "fill_mask", "fill_mask_all_positions"]
# Default run: the classifier through a real SavedModel, the other tasks through tf.functions of the same
# serving functions (tracing a ServingModule and saving it costs 5-25 s a task); -m slow: every task saved.
_SLOW = {"fill_mask_all_positions"}       # the fill_mask code path again, with logits at every position
PARAMS = ([pytest.param(("classify", "saved_model"), id="classify-saved_model")]
          + [pytest.param((k, "function"), id=f"{k}-function",
                          marks=[pytest.mark.slow] if k in _SLOW else []) for k in KINDS[1:]]
          + [pytest.param((k, "saved_model"), id=f"{k}-saved_model", marks=pytest.mark.slow) for k in KINDS[1:]])


@pytest.fixture(scope="module", params=PARAMS)
def served(request, tmp_path_factory):
    """(kind, task, spy, {signature: callable taking a dict of tensors}, {signature: the in-process tf.function
    that the export saves, or the tf.function of the task's serving function})."""
    kind, mode = request.param
    task = _make(kind)
    spy = BackboneSpy(task.backbone)
    if mode == "saved_model":
        module = ServingModule(task)
        path = tmp_path_factory.mktemp(kind)
        tf.saved_model.save(module, str(path), signatures=module.signatures)
        loaded = tf.saved_model.load(str(path))
        graphs = {"serving_default": module.serving_default, "serving_packed": module.serving_packed}
        serve = {name: (lambda feed, fn=loaded.signatures[name]: fn(**feed)) for name in graphs}
    else:
        graphs = {"serving_default": tf.function(task.serving_fn, input_signature=[task.serving_input_spec()],
                                                 autograph=False),
                  "serving_packed": tf.function(task.packed_serving_fn, input_signature=[task.packed_input_spec()],
                                                autograph=False)}
        serve = graphs
    return kind, task, spy, serve, graphs


def _np(out):
    return {k: np.asarray(v) for k, v in out.items()}


def _assert_same(want, got, what):
    assert sorted(want) == sorted(got), what
    for k in want:
        assert want[k].shape == got[k].shape, (what, k, want[k].shape, got[k].shape)
        if want[k].dtype.kind in "fc":
            np.testing.assert_allclose(got[k], want[k], atol=1e-5, rtol=0, err_msg=f"{what}: {k}")
        else:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{what}: {k}")


def _tensors(feed):
    return {k: tf.constant(v, tf.string) for k, v in feed.items()}


def test_serving_default_equals_the_full_padded_batch(served):
    kind, task, spy, serve, _ = served
    for name, (feed, _) in _feeds(kind).items():
        with untrimmed():
            want = _np(task.serving_fn(_tensors(feed)))
            assert int(spy) == L, (kind, name)            # today: the backbone ran the full sequence_length
        got = _np(serve["serving_default"](_tensors(feed)))
        _assert_same(want, got, f"{kind} serving_default {name}")


def test_backbone_runs_on_the_cut_length(served):
    kind, task, spy, _, graphs = served
    for name, (feed, all_short) in _feeds(kind).items():
        packed = _np(task.preprocess(_tensors(feed)))
        longest = int(np.flatnonzero(packed["padding_mask"].reshape(-1, L).any(0)).max()) + 1
        graphs["serving_default"](_tensors(feed))
        assert int(spy) == longest, (kind, name, int(spy), longest)
        assert (int(spy) < L) == all_short, (kind, name)
        graphs["serving_packed"]({k: tf.constant(v) for k, v in packed.items()})
        assert int(spy) == longest, (kind, name)


def _client_packed(task, feed, extra):
    """What a client may send to serving_packed: the packed ids padded to L + extra (any T), one row with a
    hole in its padding mask (the cut is at the LAST real position, not at the number of real tokens)."""
    packed = _np(task.preprocess(_tensors(feed)))
    out = {}
    for k, v in packed.items():
        if k in ("token_ids", "segment_ids", "padding_mask"):
            pad = [(0, 0)] * (v.ndim - 1) + [(0, extra)]
            v = np.pad(v, pad)
        out[k] = v
    mask = out["padding_mask"].reshape(-1, out["padding_mask"].shape[-1])
    real = mask.sum(-1)
    row = int(np.argmax(real))
    if real[row] >= 4:                   # open a hole in the longest row, keeping its last real position
        mask[row, 1] = 0
    out["padding_mask"] = mask.reshape(out["padding_mask"].shape)
    return out


def test_serving_packed_any_length_equals_uncut(served):
    kind, task, spy, serve, _ = served
    for name, (feed, _) in _feeds(kind).items():
        for extra in (3,):
            packed = _client_packed(task, feed, extra)
            if kind.startswith("fill_mask"):
                # a mask position on padding (row 0, past its last real token) must survive the cut
                packed["mask_positions"] = packed["mask_positions"].copy()
                packed["mask_positions"][0, 0] = L + extra - 2
            with untrimmed():
                want = _np(task.packed_serving_fn({k: tf.constant(v) for k, v in packed.items()}))
            got = _np(serve["serving_packed"]({k: tf.constant(v) for k, v in packed.items()}))
            _assert_same(want, got, f"{kind} serving_packed {name} T={L + extra}")


def test_trim_rule():
    mask = tf.constant([[1, 1, 0, 0, 0], [1, 0, 1, 0, 0]])          # row 1: a hole, last real position 2
    out = Task.trim({"token_ids": mask, "segment_ids": mask, "padding_mask": mask, "label": tf.constant([1, 2])})
    assert out["token_ids"].shape == (2, 3) and out["label"].shape == (2,)
    with_masks = Task.trim({"token_ids": mask, "segment_ids": mask, "padding_mask": mask,
                            "mask_positions": tf.constant([[0], [3]])})
    assert with_masks["padding_mask"].shape == (2, 4)                 # keeps the position a mask points at
    empty = Task.trim({k: tf.zeros([0, 5], tf.int32) for k in ("token_ids", "segment_ids", "padding_mask")})
    assert empty["token_ids"].shape == (0, 1)
    choices = tf.constant([[[1, 1, 0, 0], [1, 1, 1, 0]]])             # [B, K, T]: the longest over all choices
    assert Task.trim({"token_ids": choices, "segment_ids": choices, "padding_mask": choices})[
        "token_ids"].shape == (1, 2, 3)


@pytest.mark.slow
@pytest.mark.parametrize("quantize", ["none", "int8", "full_int8"])
def test_tflite_with_the_cut_runs_in_litert(quantize, tmp_path):
    """The .tflite is converted from the same ServingModule (dynamic length after the cut): it runs in LiteRT
    at batch 1 and 32, and matches the uncut Keras task within the quantization's tolerance."""
    from keras_bert_zoo.export import tflite, verify

    task = _make("classify")
    samples = SHORT + [LONG]
    result = tflite.export_tflite(task, tmp_path / "trim.tflite", samples, quantize=quantize,
                                  representative_texts=samples * 2)
    runner = tflite.TFLiteRunner(result.path)
    mixed = [(SHORT + [LONG])[i % 5] for i in range(32)]
    for name, texts in (("one_short", ["hello world"]), ("one_long", [LONG]), ("short_32", (SHORT * 8)[:32]),
                        ("mixed_32", mixed)):
        with untrimmed():
            want = _np(task.serving_fn({"text": tf.constant(texts)}))
        got = runner("serving_default", text=texts)
        verify.compare_outputs(want, got, verify.TOLERANCES[quantize], what=f"TFLite {quantize} {name}")
