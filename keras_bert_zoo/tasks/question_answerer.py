"""Extractive question answering (SQuAD v1.1 / v2.0) as a Keras model: questions + contexts in, answer spans out.

:class:`QuestionAnswerer` (task_type ``"qa"``; HF ``BertForQuestionAnswering``)
    graph: dense(2) (layer ``"qa_outputs"``) on the sequence output, split into float32 ``start_logits`` and
    ``end_logits`` ``[B, T]``.
    raw inputs: ``question`` and ``context`` strings.
    raw training data: ``fit(x, y)`` with ``x = {"question": [...], "context": [...]}`` and ``y`` one answer per
    example (``{"text": str, "answer_start": char index}``, or None / ``{"text": ""}`` for no answer); or ``x``
    a list of :class:`~keras_bert_zoo.data.squad.QAExample` or of SQuAD / HF-datasets style dicts
    (``{"question", "context", "answers": {"text": [...], "answer_start": [...]}}``) with ``y=None``.

Its preprocessor is a :class:`~keras_bert_zoo.tasks.preprocessing.QAWindowPreprocessor` (a plain
``BertPreprocessor`` given to the constructor is wrapped in one; ``stride`` and ``max_query_length`` are its
settings), saved with the task. Training data stays in ``tf.data``: answers are checked against their contexts
in Python (errors name the example), then :meth:`preprocess_samples` windows each batch and turns the answers
into start / end positions (``[CLS]`` where a window does not hold the whole answer).

Serving (``serving_fn``, the SavedModel's and the TFLite model's ``serving_default``): the one decoder
:func:`keras_bert_zoo.tasks.decoding.spans.decode_answers` (n-best spans over the windows, the v2.0 null
threshold; outputs documented there and in saved_models/README.md); the TFLite export leaves out
``answer_text`` / ``nbest_texts``, the outputs sliced from the strings. SQuAD EM / F1:
:func:`keras_bert_zoo.metrics.squad.squad_scores`.

Example::

    >>> from keras_bert_zoo import BertBackbone, BertConfig, QuestionAnswerer
    >>> from keras_bert_zoo.data.squad import read_squad
    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=37)
    >>> preprocessor = BertPreprocessor(WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=32)
    >>> qa = QuestionAnswerer(BertBackbone(config), preprocessor=preprocessor, version_2=True)
    >>> examples, _ = read_squad("dev-v2.0.json")
    >>> history = qa.fit(examples, epochs=1, batch_size=64, verbose=0)     # its 10 questions: 1 batch of windows
    >>> [answer] = qa.decode(qa.predict({"question": ["Who?"], "context": ["Peter did it."]}, verbose=0))
    >>> sorted(answer), answer["answer"] in "Peter did it."         # a span of the context, or "" (no answer)
    (['answer', 'end', 'nbest', 'null_score_diff', 'score', 'start'], True)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_bert_zoo.data.squad import QAExample
from keras_bert_zoo.tasks.decoding import spans as decoding
from keras_bert_zoo.tasks.preprocessing import QAWindowPreprocessor
from keras_bert_zoo.tasks.base import Task, TaskError, head_initializer, packed_inputs, pipeline
from keras_bert_zoo.text import BertPreprocessor

__all__ = ["QuestionAnswerer"]

_OUTPUTS = ("start_logits", "end_logits")


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


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class QuestionAnswerer(Task):
    """Extractive QA (see the module docstring).

    Args:
        backbone: a :class:`~keras_bert_zoo.models.BertBackbone`.
        preprocessor: a :class:`~keras_bert_zoo.tasks.preprocessing.QAWindowPreprocessor` or a
            ``BertPreprocessor`` to wrap in one (None: packed inputs only).
        stride: step between window starts over the context (None: min(128, half the window)).
        max_query_length: question tokens kept (None: min(64, (sequence_length - 3) // 2)).
        max_answer_length: longest answer in tokens.
        n_best: number of spans returned per question.
        version_2: allow "no answer" (SQuAD v2.0).
        null_threshold: answer empty when null score - best span score > this (v2.0 only).
    """

    hf_architecture = "BertForQuestionAnswering"
    task_type = "qa"
    text_inputs = ("question", "context")
    output_padding = {"nbest_texts": b"", "nbest_starts": -1, "nbest_ends": -1, "nbest_scores": decoding.NEG,
                      "nbest_starts_utf16": -1, "nbest_ends_utf16": -1}
    #: serving outputs sliced from the input strings: the TFLite export leaves them out
    sliced_text_outputs = decoding.SLICED_TEXT_OUTPUTS
    #: serving_packed returns start / end logits per position: not cut (see Task.trim_packed_serving)
    trim_packed_serving = False
    #: preprocess_samples gives a row per window
    expands_samples = True
    _config_args = ("stride", "max_query_length", "max_answer_length", "n_best", "version_2", "null_threshold")

    def __init__(self, backbone, *, preprocessor=None, stride=None, max_query_length=None, max_answer_length=30,
                 n_best=20, version_2=False, null_threshold=0.0, name=None, trainable=True):
        for arg, value in (("stride", stride), ("max_query_length", max_query_length)):
            if value is not None and int(value) < 1:
                raise TaskError(f"{arg} must be a positive number of tokens, got {value}")
        if int(max_answer_length) < 1 or int(n_best) < 1:
            raise TaskError(f"max_answer_length and n_best must be >= 1, got {max_answer_length}, {n_best}")
        inputs = packed_inputs()
        head = keras.layers.Dense(2, kernel_initializer=head_initializer(backbone), name="qa_outputs",
                                  dtype=backbone.dtype_policy)
        logits = ops.cast(head(backbone(inputs)["sequence_output"]), "float32")       # [B, T, 2]
        outputs = {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
        super().__init__(inputs=inputs, outputs=outputs, name=name or "question_answerer", trainable=trainable)
        self._windows_args = {"stride": None if stride is None else int(stride),
                              "max_query_length": None if max_query_length is None else int(max_query_length)}
        if isinstance(preprocessor, QAWindowPreprocessor):
            given = {k: v for k, v in self._windows_args.items() if v is not None}
            self._windows_args = {k: given.get(k, getattr(preprocessor, k)) for k in self._windows_args}
            if any(getattr(preprocessor, k) != v for k, v in self._windows_args.items()):
                preprocessor = QAWindowPreprocessor.from_preprocessor(preprocessor, **self._windows_args)
        self._set_parts(backbone, preprocessor)
        self.head = head
        self.max_answer_length = int(max_answer_length)
        self.n_best = int(n_best)
        self.version_2 = bool(version_2)
        self.null_threshold = float(null_threshold)

    @Task.preprocessor.setter
    def preprocessor(self, value):
        if isinstance(value, BertPreprocessor) and not isinstance(value, QAWindowPreprocessor):
            value = QAWindowPreprocessor.from_preprocessor(value, **self._windows_args)
        Task.preprocessor.fset(self, value)

    @property
    def stride(self):
        return self._windows_args["stride"] if self.preprocessor is None else self.preprocessor.stride

    @property
    def max_query_length(self):
        return (self._windows_args["max_query_length"] if self.preprocessor is None
                else self.preprocessor.max_query_length)

    @property
    def query_length(self) -> int:
        """Question tokens kept: ``max_query_length`` or min(64, (sequence_length - 3) // 2)."""
        return self._require_preprocessor().query_length

    @property
    def window_stride(self) -> int:
        """Window stride in use: ``stride`` or min(128, half the context window)."""
        return self._require_preprocessor().window_stride

    # -------------------------------------------------------------- recipe hooks
    def default_loss(self):
        return {k: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for k in _OUTPUTS}

    def default_metrics(self):
        return {k: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")] for k in _OUTPUTS}

    def default_samples(self):
        return {"question": ["Where is Zürich?", "故宫建于哪一年？", "who?", ""],
                "context": ["Zürich is a city in Switzerland and the cat sat on the mat. " * 3,
                            "北京是中华人民共和国的首都，位于华北平原。故宫建于1406年到1420年。", "", "an empty question."]}

    # -------------------------------------------------------------- raw data
    def qa_examples(self, x, y=None):
        """QAExamples, SQuAD-style dicts, or a dict of questions / contexts (+ answers) -> (columns {"question",
        "context"}, answers {"text", "answer_start"} (character starts; "" / -1: no answer) or None). Every
        answer is checked against its context; a TaskError names the example."""
        cols = pipeline.columns(self, x)
        if _is_examples(x):
            if y is not None:
                raise TaskError("QAExamples carry their answers: pass y=None")
            answers = [None if (e.is_impossible or not e.answers) else e.answers[0] for e in x]
            names = [f"question id {e.id!r}" for e in x]
        elif _is_records(x) and y is None:
            names = [f"example {e.get('id', i)!r}" for i, e in enumerate(x)]
            answers = [_first_answer(e.get("answers"), name) for e, name in zip(x, names)]
        elif y is None:
            return cols, None
        else:
            answers = [_first_answer(a, f"answer {i}") for i, a in enumerate(list(y))]
            names = [f"answer {i}" for i in range(len(answers))]
        if len(answers) != len(cols["context"]):
            raise TaskError(f"{self.task_type}: {len(cols['context'])} examples but {len(answers)} answers")
        for context, ans, name in zip(cols["context"], answers, names):
            if ans is not None and (not 0 <= ans[1] <= len(context) or context[ans[1]:ans[1] + len(ans[0])] != ans[0]):
                text, start = ans
                raise TaskError(f"{name}: text {text!r} is not at answer_start {start} of its context (the "
                                f"context there reads {context[max(start, 0):max(start, 0) + len(text)]!r})")
        return cols, {"text": np.array([a[0] if a else "" for a in answers], object).astype(str),
                      "answer_start": np.array([a[1] if a else -1 for a in answers], np.int64)}

    def from_records(self, x):
        """QAExamples or SQuAD-style dicts -> ({"question", "context"}, None) (``predict`` on them; their answers
        are read by :meth:`qa_examples`)."""
        if not (_is_examples(x) or _is_records(x)):
            return None
        get = getattr if _is_examples(x) else (lambda e, k: e[k])   # noqa: E731
        return {k: [get(e, k) for e in x] for k in self.text_inputs}, None

    def encode_targets(self, y):
        """The answers :meth:`qa_examples` encoded ({"text", "answer_start"}) pass as they are."""
        return y

    def make_dataset(self, x, y=None, sample_weight=None, **kwargs):
        """Questions + contexts with answers -> the pipeline's ``tf.data.Dataset`` of ``(packed, {"start_logits":
        [b], "end_logits": [b]}[, weights])`` batches of windows; without answers: batches of packed windows.
        The answers are checked here (errors name the example); a dataset passes as it is (elements
        ``({"question", "context"}[, {"text", "answer_start"}])``). ``kwargs``: ``batch_size``, ``training``,
        ``seed``."""
        if not isinstance(x, tf.data.Dataset):
            x, y = self.qa_examples(x, y)
        return super().make_dataset(x, y, sample_weight, **kwargs)

    def _raw_dataset(self, x, y, sample_weight, batch_size, training):
        # fit / evaluate on raw inputs need answers (make_dataset without them gives packed windows only)
        if pipeline.is_raw(x) and not isinstance(x, tf.data.Dataset) and self.qa_examples(x, y)[1] is None:
            raise TaskError("training / evaluating a question answerer needs answers: pass y (one answer or None "
                            "per question), QAExamples, or SQuAD-style dicts with 'answers'")
        return super()._raw_dataset(x, y, sample_weight, batch_size, training)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """The raw-data hook: ``x`` {"question", "context": string [b]} and ``y`` {"text": string [b],
        "answer_start": int [b] (characters; "" / -1: no answer)} -> windows ``(packed [W, T], {"start_logits":
        [W], "end_logits": [W]}(, weights [W]))``; without ``y``: the packed windows only."""
        pre = self._require_preprocessor()
        if y is None:
            return self.trim(pre.windows(x["question"], x["context"]).packed)
        a0, a1 = pre.answer_bytes(x["context"], y["text"], y["answer_start"])
        return pre.samples(x["question"], x["context"], a0, a1, sample_weight)

    # -------------------------------------------------------------- serving (pure TF)
    def serving_fn(self, inputs):
        questions = tf.convert_to_tensor(inputs["question"], tf.string)
        contexts = tf.convert_to_tensor(inputs["context"], tf.string)
        view = self._require_preprocessor().windows(questions, contexts)
        out = self(self.trim(view.packed), training=False)
        return decoding.decode_answers(out["start_logits"], out["end_logits"], view, contexts, n_best=self.n_best,
                                       max_answer_length=self.max_answer_length, version_2=self.version_2,
                                       null_threshold=self.null_threshold)

    def postprocess(self, outputs):
        """Packed inputs (one window each): the logits and the argmax span (end >= start)."""
        return decoding.best_packed_spans(outputs["start_logits"], outputs["end_logits"], self.max_answer_length)

    # -------------------------------------------------------------- Python-side results
    def decode(self, outputs):
        res = []
        for b in range(len(outputs["answer_text"])):
            nbest = [{"text": _s(t), "start": int(s0), "end": int(e0), "score": float(sc)}
                     for t, s0, e0, sc in zip(outputs["nbest_texts"][b], outputs["nbest_starts"][b],
                                              outputs["nbest_ends"][b], outputs["nbest_scores"][b])
                     if sc > decoding.NEG / 2]
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


# ------------------------------------------------------------------ the task table (keras_bert_zoo.tasks.registry)
from keras_bert_zoo.data import task_files as _files  # noqa: E402
from keras_bert_zoo.tasks.registry import LegacyFormat, TaskSpec, register_task  # noqa: E402

_EVAL = "keras_bert_zoo.tasks.evaluation:"   # the built-in evaluators

register_task(TaskSpec(
    name="qa", task_class=QuestionAnswerer, hf_architecture="BertForQuestionAnswering", reader=_files.squad_reader,
    evaluator=_EVAL + "evaluate_answerer",
    legacy=LegacyFormat("BertQuestionAnswerer", ("stride", "max_query_length", "max_answer_length", "n_best",
                                                 "version_2", "null_threshold"))))
