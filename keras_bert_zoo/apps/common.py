"""Small helpers the apps share: stratified subsets of ``(texts, labels)`` splits, atomic JSON / text outputs."""

from __future__ import annotations

import json

from keras_bert_zoo import cache

__all__ = ["stratified_subset", "write_json", "write_text", "pick"]


def stratified_subset(split, n, seed=0):
    """``(texts, labels)``, or a deterministic stratified subset of ``n`` of them (``n`` 0 or None: all)."""
    from keras_bert_zoo.data.corpora import stratified_split

    texts, labels = split
    if not n or n >= len(texts):
        return texts, labels
    (idx,) = stratified_split(labels, (1.0,), seed=seed, subset=n)
    return [texts[i] for i in idx], [labels[i] for i in idx]


def write_text(path, text: str):
    """``text`` to ``path`` atomically (:func:`keras_bert_zoo.cache.atomic_write`)."""
    with cache.atomic_write(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def write_json(path, obj, ensure_ascii=True):
    """``obj`` as indented JSON to ``path`` atomically (numbers NumPy knows written as floats)."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=ensure_ascii, default=float) + "\n")


def pick(report: dict, keys) -> dict:
    """The entries of ``report`` named in ``keys`` that it has."""
    return {k: report[k] for k in keys if k in report}
