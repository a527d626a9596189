"""Extractive question answering (SQuAD v1.1 / v2.0).

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

Metrics (:func:`squad_scores`): exact match and F1 exactly as the official SQuAD evaluation scripts normalise
answers (lower case, drop punctuation, drop the articles a/an/the, collapse whitespace); v2.0 also reports
HasAns/NoAns and uses the v2.0 script's rules for empty answers.
"""

from __future__ import annotations

import collections
import json
import os
import re
import string
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.squad import char_to_byte, read_squad
from keras_bert_zoo.tasks import register_task
from keras_bert_zoo.tasks import windows as W
from keras_bert_zoo.tasks.base import BertTask, TaskError

__all__ = ["QuestionAnswerer", "normalize_answer", "exact_match", "f1_score", "squad_scores"]

_NEG = -1e9


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


# ================================================================================================ the task
@register_task
class QuestionAnswerer(BertTask):
    """Extractive QA task (:class:`keras_bert_zoo.models.tasks.BertQuestionAnswerer` + windows + decoding).

    Args (beyond :class:`BertTask`'s):
        stride: step between window starts over the context (default: min(128, half the window)).
        max_query_length: question tokens kept (default: min(64, (sequence_length - 3) // 2)).
        max_answer_length: longest answer in tokens (30).
        n_best: number of spans returned per question (20).
        version_2: allow "no answer" (SQuAD v2.0).
        null_threshold: answer empty when null score - best span score > this (v2.0 only).

    ``serving_fn({"question": [B], "context": [B]})`` returns ``answer_text`` [B], ``answer_start`` /
    ``answer_end`` (character offsets into the context, -1 when empty), ``score`` (best span logit sum),
    ``null_score_diff`` [B], and ``nbest_texts`` / ``nbest_starts`` / ``nbest_ends`` / ``nbest_scores`` [B, n_best]
    (``nbest_scores`` = -1e9 marks fewer than ``n_best`` candidates).
    """

    task_type = "qa"
    text_inputs = ("question", "context")

    def __init__(self, model, tokenizer, sequence_length=384, labels=None, truncate="longest_first",
                 preprocessor=None, stride=None, max_query_length=None, max_answer_length=30, n_best=20,
                 version_2=False, null_threshold=0.0):
        super().__init__(model, tokenizer, sequence_length, None, truncate, preprocessor)
        L = self.sequence_length
        self.max_query_length = int(max_query_length or min(64, (L - 3) // 2))
        if L - 3 - self.max_query_length < 1:
            raise TaskError(f"sequence_length {L} leaves no room for context after a "
                            f"{self.max_query_length}-token question")
        self.stride = int(stride or min(128, max(1, (L - 3 - self.max_query_length) // 2)))
        self.max_answer_length = int(max_answer_length)
        self.n_best = int(n_best)
        self.version_2 = bool(version_2)
        self.null_threshold = float(null_threshold)
        self.special = W.special_token_ids(tokenizer)

    def get_config(self):
        return {"stride": self.stride, "max_query_length": self.max_query_length,
                "max_answer_length": self.max_answer_length, "n_best": self.n_best,
                "version_2": self.version_2, "null_threshold": self.null_threshold}

    @classmethod
    def build(cls, backbone, tokenizer, sequence_length=384, **config):
        from keras_bert_zoo.models.tasks import BertQuestionAnswerer

        return cls(BertQuestionAnswerer(backbone), tokenizer, sequence_length=sequence_length, **config)

    @classmethod
    def from_train_file(cls, path, backbone, tokenizer, *, sequence_length=384, stride=None, max_query_length=None,
                        max_answer_length=30, n_best=20, null_threshold=0.0, version_2=None, **options):
        _, version = read_squad(path)
        if version_2 is None:
            version_2 = version == "2.0"
        return cls.build(backbone, tokenizer, sequence_length, stride=stride, max_query_length=max_query_length,
                         max_answer_length=max_answer_length, n_best=n_best, version_2=version_2,
                         null_threshold=null_threshold)

    def compile(self, optimizer="adam", **kwargs):
        import keras

        def loss():
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        kwargs.setdefault("loss", {"start_logits": loss(), "end_logits": loss()})
        kwargs.setdefault("metrics", {"start_logits": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                                      "end_logits": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]})
        self.model.compile(optimizer=optimizer, **kwargs)
        return self.model

    # ------------------------------------------------------------------ graph pieces
    def _windows(self, questions, contexts):
        q_ids, _, _ = W.tokenize_with_offsets(self.tokenizer, questions)
        q_ids = q_ids[:, :self.max_query_length]
        c_ids, c_starts, c_ends = W.tokenize_with_offsets(self.tokenizer, contexts)
        budget = self.sequence_length - 3 - tf.cast(q_ids.row_lengths(), tf.int32)
        windows = W.make_windows(tf.cast(c_ids.row_lengths(), tf.int32), budget, self.stride)
        packed, b_offset = W.pack_windows(self.preprocessor, W.window_values(c_ids, windows),
                                          segment_a=tf.gather(q_ids, windows.example_index))
        return packed, windows, b_offset, c_starts, c_ends

    def featurize(self, questions, contexts, answer_starts, answer_ends):
        """Training features: answer byte span [start, end) per example (start -1: no answer) ->
        (packed [W, T], {"start_logits": [W], "end_logits": [W]}) over all windows."""
        packed, windows, b_offset, cs, ce = self._windows(questions, contexts)
        a0 = tf.cast(answer_starts, tf.int64)[:, None]
        a1 = tf.cast(answer_ends, tf.int64)[:, None]
        tok_start = tf.reduce_sum(tf.cast(ce <= a0, tf.int32), axis=1)          # first token ending after a0
        tok_end = tf.reduce_sum(tf.cast(cs < a1, tf.int32), axis=1) - 1          # last token starting before a1
        has = tf.logical_and(answer_starts[:] >= 0, tok_start <= tok_end)
        ex = windows.example_index
        s = tf.gather(tok_start, ex) - windows.start
        e = tf.gather(tok_end, ex) - windows.start
        inside = tf.gather(has, ex) & (s >= 0) & (e < windows.length)
        start = tf.where(inside, s + b_offset, 0)
        end = tf.where(inside, e + b_offset, 0)
        return packed, {"start_logits": start, "end_logits": end}

    def decode_windows(self, start_logits, end_logits, windows, b_offset, c_starts, c_ends, contexts):
        """n-best span decoding over windows (pure TF); see the module docstring."""
        L = tf.shape(start_logits)[1]
        nw = tf.shape(windows.length)[0]
        # valid context positions (start: also max context) as dense [W, L] masks
        rows = tf.repeat(tf.range(nw), windows.length)
        pos = (tf.ragged.range(windows.length) + b_offset[:, None]).flat_values
        idx = tf.stack([rows, pos], axis=1)
        in_ctx = tf.scatter_nd(idx, tf.ones_like(pos, tf.bool), [nw, L])
        maxc = tf.scatter_nd(idx, W.max_context_mask(windows).flat_values, [nw, L])
        i = tf.range(L)
        span_ok = (i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + self.max_answer_length)  # [L(i), L(j)]
        ok = maxc[:, :, None] & in_ctx[:, None, :] & span_ok[None]
        score = start_logits[:, :, None] + end_logits[:, None, :]
        score = tf.where(ok, score, _NEG)
        k = tf.minimum(self.n_best, L * L)
        top, flat = tf.math.top_k(tf.reshape(score, [nw, -1]), k=k)                 # [W, k]
        si, ei = flat // L, flat % L
        # per example: best n over its windows
        B = windows.num_examples
        cand = tf.RaggedTensor.from_value_rowids(top, windows.example_index, nrows=B).merge_dims(1, 2)
        cw = tf.RaggedTensor.from_value_rowids(tf.tile(tf.range(nw)[:, None], [1, k]), windows.example_index,
                                               nrows=B).merge_dims(1, 2)
        csi = tf.RaggedTensor.from_value_rowids(si, windows.example_index, nrows=B).merge_dims(1, 2)
        cei = tf.RaggedTensor.from_value_rowids(ei, windows.example_index, nrows=B).merge_dims(1, 2)
        n = self.n_best
        dense = cand.to_tensor(default_value=_NEG, shape=[None, None])
        dense = tf.pad(dense, [[0, 0], [0, tf.maximum(n - tf.shape(dense)[1], 0)]], constant_values=_NEG)
        best, order = tf.math.top_k(dense, k=n)                                        # [B, n]
        def pick(r):
            d = r.to_tensor(default_value=0)
            d = tf.pad(d, [[0, 0], [0, tf.maximum(n - tf.shape(d)[1], 0)]])
            return tf.gather(d, order, batch_dims=1)
        bw, bsi, bei = pick(cw), pick(csi), pick(cei)
        valid = best > _NEG / 2
        # token index in the example, then byte offsets into the context
        tok_s = bsi - tf.gather(b_offset, bw) + tf.gather(windows.start, bw)
        tok_e = bei - tf.gather(b_offset, bw) + tf.gather(windows.start, bw)
        tok_s, tok_e = tf.where(valid, tok_s, 0), tf.where(valid, tok_e, 0)
        row = tf.tile(tf.range(B)[:, None], [1, n])
        ex_lengths = tf.cast(c_starts.row_lengths(), tf.int32)
        safe = tf.maximum(tf.gather(ex_lengths, row) - 1, 0)
        g_s = tf.cast(tf.gather(c_starts.row_starts(), row), tf.int32) + tf.minimum(tok_s, safe)
        g_e = tf.cast(tf.gather(c_starts.row_starts(), row), tf.int32) + tf.minimum(tok_e, safe)
        flat_s = tf.concat([c_starts.flat_values, tf.zeros([1], tf.int64)], 0)     # (guard for empty batches)
        flat_e = tf.concat([c_ends.flat_values, tf.zeros([1], tf.int64)], 0)
        byte_s = tf.where(valid, tf.gather(flat_s, g_s), 0)
        byte_e = tf.where(valid, tf.gather(flat_e, g_e), 0)
        ctx = tf.gather(contexts, row)
        texts = tf.strings.substr(ctx, byte_s, byte_e - byte_s, unit="BYTE")
        char_s = tf.strings.length(tf.strings.substr(ctx, tf.zeros_like(byte_s), byte_s, unit="BYTE"),
                                   unit="UTF8_CHAR")
        char_e = char_s + tf.strings.length(texts, unit="UTF8_CHAR")
        char_s = tf.where(valid, tf.cast(char_s, tf.int64), -1)
        char_e = tf.where(valid, tf.cast(char_e, tf.int64), -1)
        null = tf.math.unsorted_segment_min(start_logits[:, 0] + end_logits[:, 0], windows.example_index, B)
        top1 = best[:, 0]
        diff = null - top1
        answer_text, answer_start, answer_end = texts[:, 0], char_s[:, 0], char_e[:, 0]
        if self.version_2:
            empty = diff > self.null_threshold
            answer_text = tf.where(empty, "", answer_text)
            answer_start = tf.where(empty, tf.constant(-1, tf.int64), answer_start)
            answer_end = tf.where(empty, tf.constant(-1, tf.int64), answer_end)
        return {"answer_text": answer_text, "answer_start": answer_start, "answer_end": answer_end,
                "score": top1, "null_score_diff": diff, "nbest_texts": tf.where(valid, texts, ""),
                "nbest_starts": char_s, "nbest_ends": char_e, "nbest_scores": best}

    def serving_fn(self, inputs):
        questions = tf.convert_to_tensor(inputs["question"], tf.string)
        contexts = tf.convert_to_tensor(inputs["context"], tf.string)
        packed, windows, b_offset, cs, ce = self._windows(questions, contexts)
        out = self.model(packed, training=False)
        return self.decode_windows(out["start_logits"], out["end_logits"], windows, b_offset, cs, ce, contexts)

    def postprocess(self, outputs):
        """Packed inputs (one window each): argmax start and end (end >= start) in TF."""
        s, e = outputs["start_logits"], outputs["end_logits"]
        L = tf.shape(s)[1]
        i = tf.range(L)
        ok = (i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + self.max_answer_length)
        score = tf.where(ok[None], s[:, :, None] + e[:, None, :], _NEG)
        flat = tf.argmax(tf.reshape(score, [tf.shape(s)[0], -1]), axis=-1, output_type=tf.int32)
        return {"start_logits": s, "end_logits": e, "start_index": flat // L, "end_index": flat % L}

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

    def answer(self, questions, contexts, batch_size=16):
        """Python convenience: lists of questions and contexts -> list of answer dicts."""
        return self.predict(questions, pairs=contexts, batch_size=batch_size)

    # ------------------------------------------------------------------ data
    def dataset_from_examples(self, examples, *, batch_size=16, training=False, seed=0):
        q, c, a0, a1 = [], [], [], []
        for e in examples:
            q.append(e.question)
            c.append(e.context)
            if e.answers and not e.is_impossible:
                text, start = e.answers[0]
                b0 = char_to_byte(e.context, start)
                a0.append(b0)
                a1.append(b0 + len(text.encode("utf-8")))
            else:
                a0.append(-1)
                a1.append(-1)
        ds = tf.data.Dataset.from_tensor_slices((tf.constant(q), tf.constant(c), tf.constant(a0, tf.int64),
                                                 tf.constant(a1, tf.int64)))
        ds = ds.batch(64).map(self.featurize, num_parallel_calls=tf.data.AUTOTUNE).unbatch().cache()
        ds = W.with_known_cardinality(ds)
        if training:
            ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def dataset_from_file(self, path, *, batch_size=16, training=False, **options):
        examples, _ = read_squad(path)
        return self.dataset_from_examples(examples, batch_size=batch_size, training=training)

    def predict_examples(self, examples, batch_size=16):
        # a graph pays for its tracing only over several batches; tiny files run eagerly
        fn = (tf.function(self.serving_fn, reduce_retracing=True) if len(examples) > 4 * batch_size
              else self.serving_fn)
        preds = {}
        for i in range(0, len(examples), batch_size):
            chunk = examples[i:i + batch_size]
            out = fn({"question": tf.constant([e.question for e in chunk]),
                      "context": tf.constant([e.context for e in chunk])})
            for e, d in zip(chunk, self.decode({k: np.asarray(v) for k, v in out.items()})):
                preds[e.id] = d
        return preds

    def evaluate_file(self, path, *, out_dir=None, batch_size=16, **options):
        examples, version = read_squad(path)
        preds = self.predict_examples(examples, batch_size=batch_size)
        scores = squad_scores(examples, {k: v["answer"] for k, v in preds.items()}, version)
        if out_dir is not None:
            out_dir = Path(out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name, obj in (("predictions.json", {k: v["answer"] for k, v in preds.items()}),
                              ("nbest_predictions.json", preds), ("scores.json", scores)):
                tmp = out_dir / f".{name}.part"
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(obj, f, ensure_ascii=False, indent=1)
                os.replace(tmp, out_dir / name)
        return scores


def _s(v):
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
