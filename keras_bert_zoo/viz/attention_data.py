"""Attention probabilities of a few inputs, compact enough to ship inside ``report.html``.

:func:`attention_batch` runs the task's backbone rebuilt with ``return_attention_scores=True`` (the backbone's
documented output: :class:`keras_bert_zoo.models.backbone.BertBackbone`) and the fine-tuned weights, once for a
batch of raw strings, and returns each input's tokens and its ``[layers, heads, T, T]`` probabilities (rows:
queries, columns: keys; padding removed). :func:`attention_record` stores a few of them as JSON: each weight
rounded to a byte (``round(p * 255)``, so at most 1/510 off) and base64-encoded in C order ``[layer, head, query,
key]``; :func:`decode_weights` reads them back. ``attention.json`` in a run directory holds such a record; the
report's attention explorer draws it.

    record = attention_record(classifier, ["what a day", "not again"], notes=["gold positive", None])
    write_json_atomic("run/attention.json", record)
    decode_weights(record["examples"][0]).shape        # (layers, heads, T, T)
"""

from __future__ import annotations

import base64
import json

import numpy as np

from keras_bert_zoo import cache

__all__ = ["attention_batch", "attention_record", "encode_example", "decode_weights", "write_attention_json",
           "MAX_TOKENS", "WEIGHT_SCALE", "MAX_WEIGHT_BYTES"]

#: the most tokens of one example kept in the report (longer inputs are cut to their first MAX_TOKENS tokens)
MAX_TOKENS = 64
#: weights are stored as round(p * WEIGHT_SCALE) in one byte
WEIGHT_SCALE = 255
#: the most weight bytes of one record (before base64: x 4/3): examples past it are left out, the first is kept,
#: so a report stays well under 1 MB (MiniLM-L6, 72 heads: 4 examples of 45 tokens, or 2 of 64)
MAX_WEIGHT_BYTES = 600_000


def attention_batch(task, texts, pairs=None, max_tokens=None) -> list:
    """[(tokens, scores [L, N, T, T])] of each raw input of a text task (classify / regress / tag), padding
    removed; ``max_tokens`` cuts each to its first tokens (rows and columns)."""
    import tensorflow as tf

    from keras_bert_zoo.models.backbone import BertBackbone

    backbone = task.backbone
    probe = BertBackbone(backbone.config, return_attention_scores=True)
    probe.set_weights(backbone.get_weights())
    inputs = {"text": tf.constant(list(texts))}
    if pairs is not None:
        inputs["text_pair"] = tf.constant(list(pairs))
    packed = task.preprocess(inputs)
    scores = np.asarray(probe(packed, training=False)["attention_scores"], dtype="float32")   # [B, L, N, T, T]
    lengths = np.asarray(packed["padding_mask"]).sum(axis=1)
    ids = np.asarray(packed["token_ids"])
    vocab = task.tokenizer.vocabulary
    out = []
    for b, n in enumerate(lengths):
        n = int(n) if max_tokens is None else min(int(n), int(max_tokens))
        out.append(([vocab[i] for i in ids[b][:n]], scores[b, :, :, :n, :n]))
    return out


def _encode(scores) -> str:
    q = np.clip(np.rint(np.asarray(scores, dtype="float64") * WEIGHT_SCALE), 0, WEIGHT_SCALE).astype(np.uint8)
    return base64.b64encode(np.ascontiguousarray(q).tobytes()).decode("ascii")


def decode_weights(example: dict) -> np.ndarray:
    """The ``[layers, heads, T, T]`` float32 weights of one example of :func:`attention_record`."""
    t = len(example["tokens"])
    raw = np.frombuffer(base64.b64decode(example["weights"]), dtype=np.uint8)
    return (raw.reshape(example["layers"], example["heads"], t, t).astype("float32") / example["scale"])


def attention_record(task, texts, notes=None, max_tokens=MAX_TOKENS, max_bytes=MAX_WEIGHT_BYTES,
                     pairs=None) -> dict:
    """The JSON-ready record of ``texts`` (a few: the report embeds every weight; the examples that would take it
    past ``max_bytes`` weights are left out, the first one always kept). ``notes``: a line per text shown beside
    it (gold / predicted label), or None; ``pairs``: the second texts of a pair task, or None."""
    texts = list(texts)
    notes = list(notes) if notes is not None else [None] * len(texts)
    if len(notes) != len(texts):
        raise ValueError(f"attention_record: {len(notes)} notes for {len(texts)} texts")
    if pairs is not None and len(pairs) != len(texts):
        raise ValueError(f"attention_record: {len(pairs)} second texts for {len(texts)} texts")
    batch = attention_batch(task, texts, pairs=pairs, max_tokens=max_tokens)
    examples, used = [], 0
    for i, (text, note, (tokens, scores)) in enumerate(zip(texts, notes, batch)):
        used += scores.size
        if examples and used > max_bytes:
            break
        examples.append(encode_example(text, tokens, scores, note, pair=None if pairs is None else pairs[i]))
    return {"format": 1, "encoding": "uint8 round(p * scale), base64, C order [layer, head, query, key]",
            "max_tokens": max_tokens, "examples": examples}


def encode_example(text, tokens, scores, note=None, pair=None) -> dict:
    """One example of :func:`attention_record`: ``scores`` [L, N, T, T] for ``tokens`` (T of them); ``pair``: the
    second text of a pair input (kept only when given)."""
    scores = np.asarray(scores)
    if scores.ndim != 4 or scores.shape[2:] != (len(tokens), len(tokens)):
        raise ValueError(f"encode_example: scores of shape {scores.shape} for {len(tokens)} tokens; expected "
                         f"[layers, heads, {len(tokens)}, {len(tokens)}]")
    example = {"text": text, "note": note, "tokens": list(tokens), "layers": int(scores.shape[0]),
               "heads": int(scores.shape[1]), "scale": WEIGHT_SCALE, "weights": _encode(scores)}
    if pair is not None:
        example["pair"] = pair
    return example


def write_attention_json(task, texts, path, notes=None, max_tokens=MAX_TOKENS, max_bytes=MAX_WEIGHT_BYTES,
                         pairs=None) -> dict:
    """:func:`attention_record` written to ``path`` (UTF-8, characters as they are) atomically; returns it."""
    record = attention_record(task, texts, notes=notes, max_tokens=max_tokens, max_bytes=max_bytes, pairs=pairs)
    with cache.atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(record, f, ensure_ascii=False)
    return record
