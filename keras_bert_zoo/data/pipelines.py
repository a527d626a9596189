"""tf.data input pipelines from CSV / TSV / JSONL files of texts (+ text pairs) (+ labels).

Files are read by :func:`keras_bert_zoo.tasks.classification.read_labelled_file` (one reader for the package:
configurable columns, invalid UTF-8 replaced by U+FFFD with a warning, empty texts allowed, errors naming the
file, line and column). This module adds the label vocabulary and the ``tf.data`` side:

    LabelVocabulary(labels)                 name <-> id, with errors naming file, line and value
    LabelVocabulary.from_values(values)     sorted unique names seen in a training file
    read_examples(path, ...)                -> Examples (texts, pairs, label ids, source lines)
    make_dataset(path_or_examples, preprocessor=None, batch_size=32, shuffle=..., bucket_boundaries=...,
                 cache=..., prefetch=...)   -> tf.data.Dataset of (features, label_ids)

``features`` is the packed dict (``token_ids``/``segment_ids``/``padding_mask``) when a ``BertPreprocessor`` is
given, else ``{"text": string[B]}`` (+ ``"text_pair"``). With ``bucket_boundaries`` examples are grouped by
token count (the tokenizer's, computed in the pipeline) and each batch is packed to the shortest length that
fits it (a multiple of 8, at most the preprocessor's ``sequence_length``), which saves compute on short texts.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from keras_bert_zoo import cache

__all__ = ["LabelVocabulary", "Examples", "read_examples", "make_dataset", "PipelineError"]


class PipelineError(ValueError):
    """Bad input data for a pipeline (the message names the file, line and value)."""


class LabelVocabulary:
    """Label names <-> contiguous ids (id = position in ``labels``)."""

    def __init__(self, labels):
        labels = [str(label) for label in labels]
        if not labels:
            raise PipelineError("a label vocabulary needs at least one label")
        dupes = sorted({label for label in labels if labels.count(label) > 1})
        if dupes:
            raise PipelineError(f"duplicate labels in the label vocabulary: {dupes}")
        self.labels = labels
        self._index = {label: i for i, label in enumerate(labels)}

    @classmethod
    def from_values(cls, values):
        """Sorted unique label names (deterministic ids)."""
        return cls(sorted({str(v).strip() for v in values if v is not None}))

    def __len__(self):
        return len(self.labels)

    def __contains__(self, label):
        return str(label) in self._index

    def id(self, label, path="<data>", line=None):
        key = str(label).strip()
        if key not in self._index:
            where = f"{path}:{line}" if line is not None else str(path)
            raise PipelineError(f"{where}: unknown label {key!r}; expected one of {self.labels}")
        return self._index[key]

    def ids(self, labels, path="<data>", lines=None):
        lines = lines if lines is not None else [None] * len(labels)
        return np.asarray([self.id(v, path, ln) for v, ln in zip(labels, lines)], dtype=np.int32)

    def name(self, label_id):
        return self.labels[int(label_id)]

    def save(self, path):
        """One label per line (atomic write)."""
        with cache.atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(label + "\n" for label in self.labels))

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls([line.rstrip("\r\n") for line in f if line.rstrip("\r\n")])


@dataclasses.dataclass
class Examples:
    """Texts read from one file, labels mapped to ids (None when the file has no label column)."""

    path: str
    texts: list
    pairs: list | None
    label_ids: np.ndarray | None
    lines: list
    labels: LabelVocabulary | None

    def __len__(self):
        return len(self.texts)


def read_examples(path, text_column="text", text_pair_column=None, label_column="label", labels=None,
                  file_format=None) -> Examples:
    """Reads a CSV / TSV / JSONL file (see the module docstring).

    Args:
        labels: a :class:`LabelVocabulary`, a list of names, or None to build it from this file's labels
            (sorted). A label outside a given vocabulary is an error naming the file, line and value.
        label_column: None for unlabelled data.
    """
    from keras_bert_zoo.tasks.classification import read_labelled_file

    data = read_labelled_file(path, text_column=text_column, pair_column=text_pair_column,
                              label_column=label_column, file_format=file_format,
                              require_labels=label_column is not None)
    vocab = None
    label_ids = None
    if label_column is not None:
        if labels is None:
            vocab = LabelVocabulary.from_values(data.labels)
        elif isinstance(labels, LabelVocabulary):
            vocab = labels
        else:
            vocab = LabelVocabulary(labels)
        label_ids = vocab.ids(data.labels, path=str(path), lines=data.lines)
    return Examples(path=str(path), texts=list(data.texts), pairs=data.pairs, label_ids=label_ids,
                    lines=list(data.lines), labels=vocab)


def make_dataset(source, preprocessor=None, batch_size=32, shuffle=False, shuffle_buffer=10000, seed=None,
                 bucket_boundaries=None, cache=False, prefetch=True, drop_remainder=False, repeat=False,
                 **read_kwargs) -> tf.data.Dataset:
    """A batched ``tf.data.Dataset`` of ``(features, label_ids)`` (or ``features`` alone without labels).

    Args:
        source: a file path (read with :func:`read_examples` and ``read_kwargs``) or an :class:`Examples`.
        preprocessor: a ``keras_bert_zoo.text.BertPreprocessor``; None yields raw strings.
        shuffle: shuffle examples (buffer ``shuffle_buffer``, ``seed``) before batching, every epoch.
        bucket_boundaries: token-count boundaries (e.g. ``[16, 32, 64]``) to batch texts of similar length
            together; needs a preprocessor. Each batch is packed to the smallest multiple of 8 that fits it.
        cache: True (memory) or a file path prefix: cache the raw examples (before shuffling).
        prefetch: overlap preprocessing with training (``tf.data.AUTOTUNE``).
    """
    examples = source if isinstance(source, Examples) else read_examples(source, **read_kwargs)
    features = {"text": tf.constant(examples.texts, dtype=tf.string)}
    if examples.pairs is not None:
        features["text_pair"] = tf.constant(examples.pairs, dtype=tf.string)
    has_labels = examples.label_ids is not None
    elements = (features, tf.constant(examples.label_ids, tf.int32)) if has_labels else features
    ds = tf.data.Dataset.from_tensor_slices(elements)
    if cache:
        ds = ds.cache(cache if isinstance(cache, (str, os.PathLike)) else "")
    if repeat:
        ds = ds.repeat()
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def split(element):
        return element if has_labels else (element, None)

    def join(x, y):
        return (x, y) if has_labels else x

    def segments(x):
        return (x["text"], x["text_pair"]) if "text_pair" in x else x["text"]

    if bucket_boundaries:
        if preprocessor is None:
            raise ValueError("bucket_boundaries needs a preprocessor (buckets are by token count)")
        tokenizer = preprocessor.tokenizer
        pair = examples.pairs is not None

        def length(*element):
            x, _ = split(element[0] if not has_labels else element)
            n = tf.shape(tokenizer.tokenize(tf.reshape(x["text"], [1]))[0])[0]
            if pair:
                n += tf.shape(tokenizer.tokenize(tf.reshape(x["text_pair"], [1]))[0])[0]
            return n

        boundaries = sorted(int(b) for b in bucket_boundaries)
        ds = ds.bucket_by_sequence_length(
            element_length_func=(lambda x, y: length(x, y)) if has_labels else (lambda x: length(x)),
            bucket_boundaries=boundaries, bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            drop_remainder=drop_remainder)

        def pack_trimmed(*element):
            x, y = split(element[0] if not has_labels else element)
            packed = preprocessor(segments(x))
            used = tf.reduce_max(tf.reduce_sum(packed["padding_mask"], axis=1))
            width = tf.minimum((used + 7) // 8 * 8, preprocessor.sequence_length)
            packed = {k: v[:, :width] for k, v in packed.items()}
            return join(packed, y)

        ds = ds.map(pack_trimmed, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        if preprocessor is not None:
            def pack(*element):
                x, y = split(element[0] if not has_labels else element)
                return join(preprocessor(segments(x)), y)

            ds = ds.map(pack, num_parallel_calls=tf.data.AUTOTUNE)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds
