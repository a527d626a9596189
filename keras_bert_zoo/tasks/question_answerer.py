"""Extractive question answering (SQuAD v1.1 / v2.0) as a Keras model: questions + contexts in, answer spans out.

:class:`QuestionAnswerer` (task_type ``"qa"``; HF ``BertForQuestionAnswering``)
    graph: dense(2) (layer ``"qa_outputs"``) on the sequence output, split into float32 ``start_logits`` and
    ``end_logits`` ``[B, T]``.
    raw inputs: ``question`` and ``context`` strings.
    raw training data: ``fit(x, y)`` with ``x = {"question": [...], "context": [...]}`` and ``y`` one answer per
    example (``{"text": str, "answer_start": char index}``, or None / ``{"text": ""}`` for no answer); or ``x``
    a list of :class:`~keras_bert_zoo.data.squad.QAExample` or of SQuAD / HF-datasets style dicts
    (``{"question", "context", "answers": {"text": [...], "answer_start": [...]}}``) with ``y=None``.

Training: each (question, context) pair is tokenized with byte offsets into the original context; the context
is split into windows of ``sequence_length - 3 - len(question)`` tokens with ``stride`` tokens between window
starts, and each window is packed ``[CLS] question [SEP] window [SEP]``. The answer's character span becomes a
token span through the offsets (first token that ends after the answer's start, last token that starts before
its end); windows that do not hold the whole answer, and unanswerable questions, point at ``[CLS]`` (position 0).

Decoding, all in TensorFlow (so it runs inside ``serving_fn`` / a SavedModel): for every window the scores
``start_logit[i] + end_logit[j]`` over context tokens with ``i <= j < i + max_answer_length`` and ``i`` in the
window where it has maximum context; the ``n_best`` best spans over all of an example's windows; the null score
is the smallest ``start_logit[0] + end_logit[0]`` over the windows. With ``version_2`` the answer is empty when
``null_score - best_span_score > null_threshold``. Answers are the original context text between the first
token's start and the last token's end offset, with character offsets.

Serving outputs: ``answer_text`` string [B], ``answer_start`` / ``answer_end`` int64 [B] (character offsets into
the context, end exclusive, -1 when empty), ``score`` float32 [B] (best span logit sum), ``null_score_diff`` [B],
and ``nbest_texts`` / ``nbest_starts`` / ``nbest_ends`` / ``nbest_scores`` [B, n_best] (``nbest_scores`` = -1e9
marks fewer than ``n_best`` candidates).

TFLite (:meth:`QuestionAnswerer.tflite_serving_fn`, used by ``export_tflite``): the same decoder
(:meth:`QuestionAnswerer.answer_spans`, TFLite builtins only) without the strings ``answer_text`` /
``nbest_texts``, plus ``answer_start_utf16`` / ``answer_end_utf16`` / ``nbest_starts_utf16`` / ``nbest_ends_utf16``
(UTF-16 code units, for Java / Kotlin strings). saved_models/README.md documents a client.

Metrics (:func:`squad_scores`): exact match and F1 exactly as the official SQuAD evaluation scripts normalise
answers (lower case, drop punctuation, drop the articles a/an/the, collapse whitespace); v2.0 also reports
HasAns/NoAns and uses the v2.0 script's rules for empty answers.

Example::

    qa = QuestionAnswerer.from_preset("bert_base_uncased", sequence_length=384, version_2=True)
    examples, _ = read_squad("train-v2.0.json")
    qa.fit(examples, epochs=2, batch_size=32)
    qa.decode(qa.predict({"question": ["Who?"], "context": ["Peter did it."]}))
"""

from __future__ import annotations

import collections
import re
import string
from typing import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_bert_zoo.data.squad import QAExample, char_to_byte
from keras_bert_zoo.tasks import windows as W
from keras_bert_zoo.tasks.base import Task, TaskError, head_initializer, packed_inputs, pipeline
from keras_bert_zoo.text.offsets import char_offsets

#: pure TF with no Python control flow on tensors: tracing it without AutoGraph is much faster
_no_autograph = tf.autograph.experimental.do_not_convert

__all__ = ["QuestionAnswerer", "normalize_answer", "exact_match", "f1_score", "squad_scores"]

_NEG = -1e9
_OUTPUTS = ("start_logits", "end_logits")


# ================================================================================================ official metric
_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lower case, remove punctuation, articles and extra whitespace (the official scripts' order)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> int:
    return int(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str, version: str = "2.0") -> float:
    """Token F1. v2.0: if either side normalises to nothing, 1 when both do, else 0. v1.1: 0 without overlap."""
    pred, gold_toks = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if version.startswith("2") and (not pred or not gold_toks):
        return float(pred == gold_toks)
    common = collections.Counter(pred) & collections.Counter(gold_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    p, r = same / len(pred), same / len(gold_toks)
    return 2 * p * r / (p + r)


def squad_scores(examples, predictions: dict, version: str = "2.0") -> dict:
    """Official EM / F1 (percent) over ``examples`` (QAExample list) for ``predictions`` {id: text}.

    Every example must have a prediction (as the official script warns, a missing one scores 0; here it is an
    error, since it is always a bug in our own pipeline).
    """
    missing = [e.id for e in examples if e.id not in predictions]
    if missing:
        raise TaskError(f"squad_scores: no prediction for {len(missing)} question(s), e.g. {missing[:3]}")
    em, f1, has = [], [], []
    for e in examples:
        golds = [t for t, _ in e.answers]
        if version.startswith("2"):
            golds = [g for g in golds if normalize_answer(g)] or [""]
        pred = predictions[e.id]
        em.append(max(exact_match(pred, g) for g in golds))
        f1.append(max(f1_score(pred, g, version) for g in golds))
        has.append(bool(e.answers) and not e.is_impossible)
    em, f1, has = np.array(em, float), np.array(f1, float), np.array(has)
    out = {"exact": float(100.0 * em.mean()), "f1": float(100.0 * f1.mean()), "total": len(examples)}
    if version.startswith("2"):
        for name, sel in (("HasAns", has), ("NoAns", ~has)):
            if sel.any():
                out[f"{name}_exact"] = float(100.0 * em[sel].mean())
                out[f"{name}_f1"] = float(100.0 * f1[sel].mean())
                out[f"{name}_total"] = int(sel.sum())
    return out


# ================================================================================================ raw inputs
def _is_examples(x) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(e, QAExample) for e in x)


def _is_records(x) -> bool:
    return (isinstance(x, (list, tuple)) and len(x) > 0
            and all(isinstance(e, Mapping) and "question" in e and "context" in e for e in x))


def _first_answer(answers, where):
    """SQuAD / HF answer field -> (text, char start) or None. Accepts {"text": str|[str], "answer_start":
    int|[int]}, a list of such dicts, a (text, start) pair, or None / empty for no answer."""
    if answers is None:
        return None
    if isinstance(answers, (list, tuple)):
        if not answers:
            return None
        if len(answers) == 2 and isinstance(answers[0], str) and not isinstance(answers[1], (str, Mapping)):
            return answers[0], int(answers[1])
        return _first_answer(answers[0], where)
    if not isinstance(answers, Mapping) or "text" not in answers:
        raise TaskError(f"{where}: an answer is {{'text': ..., 'answer_start': ...}} or None, got {answers!r}")
    text, start = answers["text"], answers.get("answer_start")
    if isinstance(text, (list, tuple, np.ndarray)):
        starts = list(start) if isinstance(start, (list, tuple, np.ndarray)) else [start]
        if not len(text):
            return None
        text, start = text[0], starts[0] if starts else None
    text = str(text)
    if not text:
        return None
    if start is None:
        raise TaskError(f"{where}: answer {text!r} has no answer_start")
    return text, int(start)


def _s(v):
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)


# ================================================================================================ the task
@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class QuestionAnswerer(Task):
    """Extractive QA (see the module docstring).

    Args:
        backbone: a :class:`~keras_bert_zoo.models.BertBackbone`.
        preprocessor: a :class:`~keras_bert_zoo.text.BertPreprocessor` (None: packed inputs only).
        stride: step between window starts over the context (None: min(128, half the window)).
        max_query_length: question tokens kept (None: min(64, (sequence_length - 3) // 2)).
        max_answer_length: longest answer in tokens.
        n_best: number of spans returned per question.
        version_2: allow "no answer" (SQuAD v2.0).
        null_threshold: answer empty when null score - best span score > this (v2.0 only).
    ``stride`` and ``max_query_length`` are stored as given; None is derived from the preprocessor's sequence
    length when used (:attr:`window_stride`, :attr:`query_length`).
    """

    hf_architecture = "BertForQuestionAnswering"
    task_type = "qa"
    text_inputs = ("question", "context")
    output_padding = {"nbest_texts": b"", "nbest_starts": -1, "nbest_ends": -1, "nbest_scores": _NEG,
                      "nbest_starts_utf16": -1, "nbest_ends_utf16": -1}
    #: serving_packed returns start / end logits per position: not cut (see Task.trim_packed_serving)
    trim_packed_serving = False
    _config_args = ("stride", "max_query_length", "max_answer_length", "n_best", "version_2", "null_threshold")

    def __init__(self, backbone, *, preprocessor=None, stride=None, max_query_length=None, max_answer_length=30,
                 n_best=20, version_2=False, null_threshold=0.0, name=None, trainable=True):
        for arg, value in (("stride", stride), ("max_query_length", max_query_length)):
            if value is not None and int(value) < 1:
                raise TaskError(f"{arg} must be a positive number of tokens, got {value}")
        if int(max_answer_length) < 1 or int(n_best) < 1:
            raise TaskError(f"max_answer_length and n_best must be >= 1, got {max_answer_length}, {n_best}")
        inputs = packed_inputs()
        seq = backbone(inputs)["sequence_output"]
        head = keras.layers.Dense(2, kernel_initializer=head_initializer(backbone), name="qa_outputs",
                                  dtype=backbone.dtype_policy)
        logits = ops.cast(head(seq), "float32")                                      # [B, T, 2]
        outputs = {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
        super().__init__(inputs=inputs, outputs=outputs, name=name or "question_answerer", trainable=trainable)
        self._set_parts(backbone, preprocessor)
        self.head = head
        self.stride = None if stride is None else int(stride)
        self.max_query_length = None if max_query_length is None else int(max_query_length)
        self.max_answer_length = int(max_answer_length)
        self.n_best = int(n_best)
        self.version_2 = bool(version_2)
        self.null_threshold = float(null_threshold)
        if preprocessor is not None:
            _ = self.window_stride          # validates the lengths against the sequence length now

    # -------------------------------------------------------------- derived settings (lazy)
    @property
    def query_length(self) -> int:
        """Question tokens kept: ``max_query_length`` or min(64, (sequence_length - 3) // 2)."""
        L = self._require_preprocessor().sequence_length
        q = self.max_query_length if self.max_query_length is not None else min(64, (L - 3) // 2)
        if L - 3 - q < 1:
            raise TaskError(f"sequence_length {L} leaves no room for context after a {q}-token question")
        return q

    @property
    def window_stride(self) -> int:
        """Window stride in use: ``stride`` or min(128, half the context window)."""
        q = self.query_length
        if self.stride is not None:
            return self.stride
        return min(128, max(1, (self.sequence_length - 3 - q) // 2))

    # -------------------------------------------------------------- recipe hooks
    def default_loss(self):
        return {k: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for k in _OUTPUTS}

    def default_metrics(self):
        return {k: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")] for k in _OUTPUTS}

    def default_samples(self):
        return {"question": ["Where is Zürich?", "故宫建于哪一年？", "who?", ""],
                "context": ["Zürich is a city in Switzerland and the cat sat on the mat. " * 3,
                            "北京是中华人民共和国的首都，位于华北平原。故宫建于1406年到1420年。", "", "an empty question."]}

    # -------------------------------------------------------------- raw inputs
    def from_records(self, x):
        """QAExamples or SQuAD-style dicts -> ({name: list of str}, None) (their answers: :meth:`_answers`)."""
        if _is_examples(x) or _is_records(x):
            get = (lambda e, k: getattr(e, k)) if _is_examples(x) else (lambda e, k: e[k])  # noqa: E731
            out = {}
            for name in self.text_inputs:
                values = [get(e, name) for e in x]
                bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
                if bad:
                    raise TaskError(f"example {bad[0]}: {name!r} should be a string, got "
                                    f"{type(values[bad[0]]).__name__}")
                out[name] = values
            return out, None
        return None

    def _answers(self, x, y) -> list:
        """One (text, char start) or None per example, checked against its context."""
        if _is_examples(x):
            if y is not None:
                raise TaskError("QAExamples carry their answers: pass y=None")
            answers = [None if (e.is_impossible or not e.answers) else e.answers[0] for e in x]
            names = [f"question id {e.id!r}" for e in x]
        elif _is_records(x) and y is None:
            answers = [_first_answer(e.get("answers"), f"example {e.get('id', i)!r}") for i, e in enumerate(x)]
            names = [f"example {e.get('id', i)!r}" for i, e in enumerate(x)]
        else:
            if y is None:
                return None
            y = list(y)
            answers = [_first_answer(a, f"answer {i}") for i, a in enumerate(y)]
            names = [f"answer {i}" for i in range(len(y))]
        return answers, names

    def encode_answers(self, contexts: Sequence[str], answers, names) -> tuple[np.ndarray, np.ndarray]:
        """Answers (text, char start) or None -> UTF-8 byte spans [start, end) into the contexts (-1: none)."""
        if len(answers) != len(contexts):
            raise TaskError(f"{self.task_type}: {len(contexts)} examples but {len(answers)} answers")
        a0, a1 = np.full([len(contexts)], -1, np.int64), np.full([len(contexts)], -1, np.int64)
        for i, (context, ans, name) in enumerate(zip(contexts, answers, names)):
            if ans is None:
                continue
            text, start = ans
            if not 0 <= start <= len(context) or context[start:start + len(text)] != text:
                raise TaskError(f"{name}: text {text!r} is not at answer_start {start} of its context (the "
                                f"context there reads {context[max(start, 0):max(start, 0) + len(text)]!r})")
            a0[i] = char_to_byte(context, start)
            a1[i] = a0[i] + len(text.encode("utf-8"))
        return a0, a1

    # -------------------------------------------------------------- graph pieces (pure TF)
    def _windows(self, questions, contexts):
        pre = self._require_preprocessor()
        q_ids, _, _ = W.tokenize_with_offsets(pre.tokenizer, questions)
        q_ids = W.ragged_truncate(q_ids, self.query_length)
        c_ids, c_starts, c_ends = W.tokenize_with_offsets(pre.tokenizer, contexts)
        budget = pre.sequence_length - 3 - tf.cast(q_ids.row_lengths(), tf.int32)
        windows = W.make_windows(tf.cast(c_ids.row_lengths(), tf.int32), budget, self.window_stride)
        packed, b_offset = W.pack_windows(pre, W.window_values(c_ids, windows),
                                          segment_a=W.ragged_gather_rows(q_ids, windows.example_index))
        return packed, windows, b_offset, c_starts, c_ends

    @_no_autograph
    def featurize(self, questions, contexts, answer_starts, answer_ends, example_weights=None):
        """Training features: answer byte span [start, end) per example (start -1: no answer) ->
        (packed [W, T], {"start_logits": [W], "end_logits": [W]}(, weights [W])) over all windows."""
        packed, windows, b_offset, cs, ce = self._windows(questions, contexts)
        a0 = tf.cast(answer_starts, tf.int64)[:, None]
        a1 = tf.cast(answer_ends, tf.int64)[:, None]
        tok_start = tf.reduce_sum(tf.cast(ce <= a0, tf.int32), axis=1)          # first token ending after a0
        tok_end = tf.reduce_sum(tf.cast(cs < a1, tf.int32), axis=1) - 1          # last token starting before a1
        has = tf.logical_and(answer_starts >= 0, tok_start <= tok_end)
        ex = windows.example_index
        s = tf.gather(tok_start, ex) - windows.start
        e = tf.gather(tok_end, ex) - windows.start
        inside = tf.gather(has, ex) & (s >= 0) & (e < windows.length)
        start = tf.where(inside, s + b_offset, 0)
        end = tf.where(inside, e + b_offset, 0)
        targets = {"start_logits": start, "end_logits": end}
        if example_weights is None:
            return packed, targets
        return packed, targets, tf.gather(tf.cast(example_weights, tf.float32), ex)

    def decode_windows(self, start_logits, end_logits, windows, b_offset, c_starts, c_ends, contexts):
        """n-best span decoding over windows (pure TF); see the module docstring.

        The one decoder of both exports: :meth:`answer_spans` (TFLite builtins) finds the spans and their
        offsets; the SavedModel adds the answer strings, sliced from the contexts at the end."""
        spans = self.answer_spans(start_logits, end_logits, windows, b_offset, c_starts, c_ends, contexts)
        valid, byte_s, byte_e = spans.pop("_valid"), spans.pop("_byte_starts"), spans.pop("_byte_ends")
        row = tf.tile(tf.range(tf.shape(contexts)[0])[:, None], [1, self.n_best])
        texts = tf.strings.substr(tf.gather(contexts, row), byte_s, byte_e - byte_s, unit="BYTE")
        answer_text = texts[:, 0]
        if self.version_2:
            answer_text = tf.where(spans["answer_start"] < 0, "", answer_text)
        return {"answer_text": answer_text, "answer_start": spans["answer_start"],
                "answer_end": spans["answer_end"], "score": spans["score"],
                "null_score_diff": spans["null_score_diff"], "nbest_texts": tf.where(valid, texts, ""),
                "nbest_starts": spans["nbest_starts"], "nbest_ends": spans["nbest_ends"],
                "nbest_scores": spans["nbest_scores"]}

    def answer_spans(self, start_logits, end_logits, windows, b_offset, c_starts, c_ends, contexts):
        """The builtin-only part of :meth:`decode_windows`: ``answer_start`` / ``answer_end`` (code points),
        ``answer_start_utf16`` / ``answer_end_utf16``, ``score``, ``null_score_diff``, ``nbest_starts`` /
        ``nbest_ends`` (+ ``_utf16``) / ``nbest_scores``; and ``_valid`` / ``_byte_starts`` / ``_byte_ends``
        [B, n_best] for the string slicing."""
        start_logits = tf.cast(start_logits, tf.float32)
        end_logits = tf.cast(end_logits, tf.float32)
        L = tf.shape(start_logits)[1]
        nw = tf.shape(windows.length)[0]
        # valid context positions (start: also max context) as dense [W, L] masks (int32: TFLite slices no bool)
        rows = tf.repeat(tf.range(nw), windows.length)
        pos = W.add_per_row(W.ragged_range(0, windows.length), b_offset).flat_values
        idx = tf.stack([rows, pos], axis=1)
        in_ctx = tf.scatter_nd(idx, tf.ones_like(pos, tf.int32), [nw, L])
        maxc = tf.scatter_nd(idx, tf.cast(W.max_context_mask(windows).flat_values, tf.int32), [nw, L])
        i = tf.range(L)
        span_ok = tf.cast((i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + self.max_answer_length),
                          tf.int32)                                                    # [L(i), L(j)]
        # expand_dims, not [:, :, None]: TFLite's STRIDED_SLICE takes no new axis on a 2-D dynamic tensor
        ok = (tf.expand_dims(maxc, 2) * tf.expand_dims(in_ctx, 1) * tf.expand_dims(span_ok, 0)) > 0
        score = tf.expand_dims(start_logits, 2) + tf.expand_dims(end_logits, 1)
        score = tf.where(ok, score, _NEG)
        k = tf.minimum(self.n_best, L * L)
        top, flat = tf.math.top_k(tf.reshape(score, [nw, -1]), k=k)                 # [W, k]
        si, ei = flat // L, flat % L
        # per example: best n over its windows. Its candidates in window order, then rank: [B, width]
        B = windows.num_examples
        ex = windows.example_index
        per_example = tf.cast(W.sorted_row_lengths(ex, B), tf.int32)                  # windows per example
        first_window = tf.cumsum(per_example, exclusive=True)
        n = self.n_best
        width = tf.maximum(tf.reduce_max(tf.concat([per_example, [0]], 0)) * k, n)
        col = tf.expand_dims(tf.range(nw) - tf.gather(first_window, ex), 1) * k + tf.expand_dims(tf.range(k), 0)
        at = tf.reshape(tf.stack([tf.broadcast_to(tf.expand_dims(ex, 1), tf.shape(col)), col], axis=-1), [-1, 2])

        def spread(values, default):
            base = tf.fill(tf.stack([B, width]), tf.constant(default, values.dtype))
            return tf.tensor_scatter_nd_update(base, at, tf.reshape(values, [-1]))

        dense = spread(top, _NEG)
        best, order = tf.math.top_k(dense, k=n)                                        # [B, n]
        pick_at = order + tf.expand_dims(tf.range(B), 1) * width

        def pick(values):
            return tf.gather(tf.reshape(spread(values, 0), [-1]), pick_at)

        bw = pick(tf.tile(tf.expand_dims(tf.range(nw), 1), [1, k]))
        bsi, bei = pick(si), pick(ei)
        valid = best > _NEG / 2
        # token index in the example, then byte offsets into the context
        tok_s = bsi - tf.gather(b_offset, bw) + tf.gather(windows.start, bw)
        tok_e = bei - tf.gather(b_offset, bw) + tf.gather(windows.start, bw)
        tok_s, tok_e = tf.where(valid, tok_s, 0), tf.where(valid, tok_e, 0)
        row = tf.tile(tf.expand_dims(tf.range(B), 1), [1, n])
        ex_lengths = tf.cast(c_starts.row_lengths(), tf.int32)
        safe = tf.maximum(tf.gather(ex_lengths, row) - 1, 0)
        g_s = tf.cast(tf.gather(c_starts.row_starts(), row), tf.int32) + tf.minimum(tok_s, safe)
        g_e = tf.cast(tf.gather(c_starts.row_starts(), row), tf.int32) + tf.minimum(tok_e, safe)
        flat_s = tf.concat([c_starts.flat_values, tf.zeros([1], tf.int64)], 0)     # (guard for empty batches)
        flat_e = tf.concat([c_ends.flat_values, tf.zeros([1], tf.int64)], 0)
        byte_s = tf.where(valid, tf.gather(flat_s, g_s), 0)
        byte_e = tf.where(valid, tf.gather(flat_e, g_e), 0)
        flat_row = tf.reshape(row, [-1])
        cs, us = char_offsets(contexts, flat_row, tf.reshape(byte_s, [-1]))
        ce, ue = char_offsets(contexts, flat_row, tf.reshape(byte_e, [-1]))
        none = tf.constant(-1, tf.int64)

        def offsets(v):
            return tf.where(valid, tf.reshape(v, tf.shape(row)), none)

        char_s, char_e, u16_s, u16_e = offsets(cs), offsets(ce), offsets(us), offsets(ue)
        null = tf.math.unsorted_segment_min(start_logits[:, 0] + end_logits[:, 0], ex, B)
        top1 = best[:, 0]
        diff = null - top1
        answer = {"answer_start": char_s[:, 0], "answer_end": char_e[:, 0],
                  "answer_start_utf16": u16_s[:, 0], "answer_end_utf16": u16_e[:, 0]}
        if self.version_2:
            empty = diff > self.null_threshold
            answer = {key: tf.where(empty, none, v) for key, v in answer.items()}
        return {**answer, "score": top1, "null_score_diff": diff, "nbest_starts": char_s, "nbest_ends": char_e,
                "nbest_starts_utf16": u16_s, "nbest_ends_utf16": u16_e, "nbest_scores": best,
                "_valid": valid, "_byte_starts": byte_s, "_byte_ends": byte_e}

    @_no_autograph
    def tflite_serving_fn(self, inputs):
        """The TFLite ``serving_default`` graph: :meth:`serving_fn`'s outputs without the strings
        (``answer_text``, ``nbest_texts``), plus UTF-16 offsets (see saved_models/README.md)."""
        questions = tf.convert_to_tensor(inputs["question"], tf.string)
        contexts = tf.convert_to_tensor(inputs["context"], tf.string)
        packed, windows, b_offset, cs, ce = self._windows(questions, contexts)
        out = self(self.trim(packed), training=False)
        spans = self.answer_spans(out["start_logits"], out["end_logits"], windows, b_offset, cs, ce, contexts)
        return {k: v for k, v in spans.items() if not k.startswith("_")}

    @_no_autograph
    def serving_fn(self, inputs):
        questions = tf.convert_to_tensor(inputs["question"], tf.string)
        contexts = tf.convert_to_tensor(inputs["context"], tf.string)
        packed, windows, b_offset, cs, ce = self._windows(questions, contexts)
        out = self(self.trim(packed), training=False)
        return self.decode_windows(out["start_logits"], out["end_logits"], windows, b_offset, cs, ce, contexts)

    def postprocess(self, outputs):
        """Packed inputs (one window each): argmax start and end (end >= start) in TF."""
        s = tf.cast(outputs["start_logits"], tf.float32)
        e = tf.cast(outputs["end_logits"], tf.float32)
        L = tf.shape(s)[1]
        i = tf.range(L)
        ok = (i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + self.max_answer_length)
        score = tf.where(ok[None], s[:, :, None] + e[:, None, :], _NEG)
        flat = tf.argmax(tf.reshape(score, [tf.shape(s)[0], -1]), axis=-1, output_type=tf.int32)
        return {"start_logits": s, "end_logits": e, "start_index": flat // L, "end_index": flat % L}

    # -------------------------------------------------------------- Python-side results
    def decode(self, outputs):
        res = []
        for b in range(len(outputs["answer_text"])):
            nbest = [{"text": _s(t), "start": int(s0), "end": int(e0), "score": float(sc)}
                     for t, s0, e0, sc in zip(outputs["nbest_texts"][b], outputs["nbest_starts"][b],
                                              outputs["nbest_ends"][b], outputs["nbest_scores"][b])
                     if sc > _NEG / 2]
            res.append({"answer": _s(outputs["answer_text"][b]), "start": int(outputs["answer_start"][b]),
                        "end": int(outputs["answer_end"][b]), "score": float(outputs["score"][b]),
                        "null_score_diff": float(outputs["null_score_diff"][b]), "nbest": nbest})
        return res

    def predict_examples(self, examples: Sequence, batch_size: int = 16) -> dict:
        """QAExamples (or SQuAD-style dicts with an ``id``) -> {id: decoded answer dict} (SQuAD evaluation)."""
        if not examples:
            return {}
        outputs = self.predict(list(examples), batch_size=batch_size, verbose=0)
        ids = [e.id if isinstance(e, QAExample) else e.get("id", i) for i, e in enumerate(examples)]
        return dict(zip(ids, self.decode(outputs)))

    # -------------------------------------------------------------- raw data -> tf.data
    def _window_dataset(self, x, y, sample_weight):
        feats = pipeline.columns(self, x)
        got = self._answers(x, y)
        if got is None:
            raise TaskError("training / evaluating a question answerer needs answers: pass y (one answer or None "
                            "per question), QAExamples, or SQuAD-style dicts with 'answers'")
        answers, names = got
        a0, a1 = self.encode_answers(feats["context"], answers, names)
        n = len(a0)
        parts = [tf.constant(feats["question"], tf.string), tf.constant(feats["context"], tf.string),
                 tf.constant(a0), tf.constant(a1)]
        if sample_weight is not None:
            w = np.asarray(sample_weight, "float32").reshape(-1)
            if len(w) != n:
                raise TaskError(f"{self.task_type}: {n} examples but {len(w)} sample weights")
            parts.append(tf.constant(w))
        # windows are computed once, in memory (3 int32 rows of T per window)
        features = W.featurize_in_chunks(self.featurize, tuple(parts), chunk=64)
        return tf.data.Dataset.from_tensor_slices(features), int(features[0]["token_ids"].shape[0])

    def _trim_batch(self, packed, *rest):
        """(packed windows, targets[, weights]) -> the same with the packed windows cut by :meth:`trim`
        (the targets are positions [b], not per-position rows: they stay)."""
        return (self.trim(packed),) + rest

    def make_dataset(self, x, y=None, sample_weight=None, *, batch_size: int = 32, training: bool = False,
                     seed: int = 0):
        """Questions + contexts with answers -> ``tf.data.Dataset`` of ``(packed, {"start_logits": [b],
        "end_logits": [b]}[, weights])`` batches of windows (each cut to its longest window). Without answers
        (``y=None`` on a dict of strings): batches of packed windows only. ``training``: shuffled each epoch."""
        if isinstance(x, tf.data.Dataset):
            raise TaskError("a tf.data.Dataset of raw strings has no answer spans: pass questions + contexts with "
                            "answers, QAExamples, or SQuAD-style dicts (or a dataset of packed windows)")
        if self._answers(x, y) is None:
            feats = pipeline.columns(self, x)
            packed = W.featurize_in_chunks(lambda q, c: self._windows(q, c)[0],
                                           (tf.constant(feats["question"]), tf.constant(feats["context"])), chunk=64)
            ds = tf.data.Dataset.from_tensor_slices(packed)
            return ds.batch(batch_size).map(lambda p: self.trim(p)).prefetch(tf.data.AUTOTUNE)
        ds, num = self._window_dataset(x, y, sample_weight)
        if training:
            ds = ds.shuffle(min(max(num, 1), 4096), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).map(self._trim_batch).prefetch(tf.data.AUTOTUNE)

    def _raw_dataset(self, x, y, sample_weight, batch_size, training):
        # fit / evaluate on raw inputs need answers (make_dataset without them gives packed windows only)
        if pipeline.is_raw(x) and not isinstance(x, tf.data.Dataset) and self._answers(x, y) is None:
            raise TaskError("training / evaluating a question answerer needs answers: pass y (one answer or None "
                            "per question), QAExamples, or SQuAD-style dicts with 'answers'")
        return super()._raw_dataset(x, y, sample_weight, batch_size, training)

