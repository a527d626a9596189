"""Token classification (NER) as a Keras model: word lists + tags in, entity spans of the original text out.

:class:`TokenClassifier` (task_type ``"tag"``; HF ``BertForTokenClassification``)
    graph: dropout (layer ``"classifier_dropout"``) + dense (layer ``"classifier"``) on the sequence output ->
    float32 logits ``[B, T, C]``.
    raw training data: ``fit(x, y)`` with ``x`` a list of word lists (CoNLL style) and ``y`` a list of tag lists,
    or ``x`` a list of :class:`~keras_bert_zoo.data.conll.Sentence` (``y=None``).
    raw prediction: ``predict(["raw text", ...])`` returns the serving outputs (below); :meth:`decode` gives
    ``{"entities": [{"type", "start", "end", "text", "score"}, ...]}`` per text.

Training data (words + tags) is aligned to WordPiece sub-words through the tokenizer's byte offsets: the
sentence text is the words joined by single spaces, each token belongs to the word whose byte range holds its
start, and only a word's first sub-word carries the word's label (the others get weight 0 in the loss and the
metrics). Sentences longer than the sequence length are split into overlapping windows
(:mod:`keras_bert_zoo.tasks.windows`); at prediction each token takes the logits of its max-context window.

Entities follow seqeval's (default, non-strict) chunking of IOB1/IOB2/IOE/IOBES tags, implemented once in
TensorFlow (:func:`chunk_entities`) and used for the serving graph, ``predict`` and the metric
(:func:`entity_scores`, micro P/R/F1 and per type, as ``seqeval.metrics.classification_report``).

On raw text the "words" are the tokens that are not ``##`` continuations (punctuation and each CJK character
are words, as in the basic tokenizer); an entity span runs from its first word's first byte to its last word's
last sub-word's last byte, and is returned with character offsets into the original string. All of it runs in
the TF graph (``serving_fn``), so a SavedModel returns the spans too. Serving outputs (``E`` = most entities in
the batch): ``entity_types`` / ``entity_texts`` string [B, E] (padding ""), ``entity_starts`` /
``entity_ends`` int64 [B, E] (character offsets, end exclusive; padding -1), ``entity_scores`` float32 [B, E]
(mean probability of the entity's word tags; padding 0) and ``num_entities`` int32 [B].

TFLite (:meth:`TokenClassifier.tflite_serving_fn`, used by ``export_tflite``): the same decoder, built from TFLite
builtins only, without the last step that slices ``entity_texts`` from the strings; instead it adds
``entity_type_ids`` int32 [B, E] (index into :attr:`TokenClassifier.entity_type_names`; padding -1) and
``entity_starts_utf16`` / ``entity_ends_utf16`` (UTF-16 code units, for Java / Kotlin strings). Character
offsets are counted from the UTF-8 bytes in the graph (:func:`keras_bert_zoo.text.offsets.char_offsets`).
saved_models/README.md documents the outputs and a client that turns them into entities.

Example::

    ner = TokenClassifier.from_preset("bert_base_cased", labels=label_list(sentences), sequence_length=128)
    ner.fit(sentences, epochs=3, batch_size=32)                 # or ner.fit(word_lists, tag_lists)
    ner.decode(ner.predict(["Peter Blackburn visited São Paulo."]))
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.conll import TAG_PATTERN, Sentence, join_words
from keras_bert_zoo.tasks import windows as W
from keras_bert_zoo.tasks.base import Task, TaskError, classifier_head, packed_inputs
from keras_bert_zoo.text.offsets import char_offsets
from keras_bert_zoo.text.tokenizer import continuation_mask

#: pure TF with no Python control flow on tensors: tracing it without AutoGraph is much faster
_no_autograph = tf.autograph.experimental.do_not_convert

__all__ = ["TokenClassifier", "LabelScheme", "chunk_entities", "entity_scores", "get_entities"]

_PREFIX = {"O": 0, "B": 1, "I": 2, "E": 3, "S": 4}


# ================================================================================================ entity chunking
class LabelScheme:
    """Prefix code (O=0, B=1, I=2, E=3, S=4) and entity-type id of every label, as seqeval parses them
    (``B-PER`` -> B, "PER"; ``O`` and untyped tags get the type "_")."""

    def __init__(self, labels):
        self.labels = list(labels)
        bad = [t for t in self.labels if not isinstance(t, str) or not TAG_PATTERN.match(t)]
        if bad:
            raise TaskError(f"tags {bad} are not 'O' or B-/I-/E-/S-TYPE")
        types = [t[1:].split("-", 1)[-1] or "_" for t in self.labels]
        self.types = sorted(set(types))
        self.prefix = np.array([_PREFIX[t[0]] for t in self.labels], np.int32)
        self.type_ids = np.array([self.types.index(t) for t in types], np.int32)
        self.o_id = self.labels.index("O") if "O" in self.labels else 0
        self.sep_type = self.types.index("_") if "_" in self.types else len(self.types)


def chunk_entities(tag_ids, prefix_table, type_table, sep_type):
    """seqeval chunking in TensorFlow.

    Args:
        tag_ids: ragged int [B, (n)] label ids.
        prefix_table / type_table: int [num_labels] (see :class:`LabelScheme`).
        sep_type: the type id of "O" (rows are separated by an "O", as seqeval does for nested lists).
    Returns:
        ragged int32 [B, (E)] each for ``types``, ``begins`` and ``ends`` (inclusive, positions in the row).
    """
    # TFLite builtins only (no ragged concat / from_value_rowids): the serving graph of the tagger runs this.
    tag_ids = tf.cast(tag_ids, tf.int32)
    nrows = tf.cast(tag_ids.nrows(), tf.int32)
    lengths = tf.cast(tag_ids.row_lengths(), tf.int32)
    # an "O" after every row: row r's values move r places right, its "O" lands after them
    rows = tf.repeat(tf.range(nrows), lengths + 1)
    row_starts = tf.cast(tag_ids.row_starts(), tf.int32) + tf.range(nrows)
    n = tf.reduce_sum(lengths + 1)
    old_rows = tf.repeat(tf.range(nrows), lengths)
    at = (tf.range(tf.shape(tag_ids.flat_values)[0]) + old_rows)[:, None]
    p = tf.tensor_scatter_nd_update(tf.zeros([n], tf.int32), at,
                                    tf.gather(tf.constant(prefix_table, tf.int32), tag_ids.flat_values))
    t = tf.tensor_scatter_nd_update(tf.fill([n], tf.constant(sep_type, tf.int32)), at,
                                    tf.gather(tf.constant(type_table, tf.int32), tag_ids.flat_values))
    prev_p = tf.concat([[0], p[:-1]], 0)
    prev_t = tf.concat([[-2], t[:-1]], 0)                          # seqeval starts with prev_type ""
    O, B, I, E, S = 0, 1, 2, 3, 4
    diff_type = tf.not_equal(prev_t, t)
    cur_in = lambda *xs: tf.reduce_any(tf.stack([tf.equal(p, x) for x in xs]), 0)   # noqa: E731
    prev_in = lambda *xs: tf.reduce_any(tf.stack([tf.equal(prev_p, x) for x in xs]), 0)  # noqa: E731
    end = (prev_in(E, S)
           | (prev_in(B, I) & cur_in(B, S, O))
           | (tf.not_equal(prev_p, O) & diff_type))
    start = (cur_in(B, S)
             | (prev_in(E, S, O) & cur_in(E, I))
             | (tf.not_equal(p, O) & diff_type))
    idx = tf.range(n, dtype=tf.int32)
    g = tf.cumsum(tf.cast(start, tf.int32))                         # starts seen up to i
    first_of_group = tf.math.unsorted_segment_min(idx, g, n + 1)    # position of the k-th start
    g_prev = tf.concat([[0], g[:-1]], 0)
    begin_all = tf.where(g_prev > 0, tf.gather(first_of_group, g_prev), 0)
    where = tf.cast(tf.reshape(tf.where(end), [-1]), tf.int32)     # a chunk ends at where - 1
    begins = tf.gather(begin_all, where)
    ends = where - 1
    types = tf.gather(prev_t, where)
    row = tf.gather(rows, begins)
    rs = tf.gather(row_starts, row)

    row_lengths = W.sorted_row_lengths(row, nrows)

    def _ragged(v):
        return tf.RaggedTensor.from_row_lengths(v, row_lengths, validate=False)

    return _ragged(types), _ragged(begins - rs), _ragged(ends - rs)


def get_entities(tag_sequences):
    """Lists of tag strings -> list (per sequence) of (type, begin, end) tuples (inclusive word indices)."""
    tag_sequences = [list(seq) for seq in tag_sequences]
    if not tag_sequences:
        return []
    labels = sorted({t for seq in tag_sequences for t in seq} | {"O"})
    scheme = LabelScheme(labels)
    index = {t: i for i, t in enumerate(labels)}
    flat = [index[t] for seq in tag_sequences for t in seq]
    ids = tf.RaggedTensor.from_row_lengths(tf.constant(flat, tf.int32, shape=[len(flat)]),
                                           tf.constant([len(s) for s in tag_sequences], tf.int64))
    types, begins, ends = chunk_entities(ids, scheme.prefix, scheme.type_ids, scheme.sep_type)
    out = []
    for ty, b, e in zip(types.to_list(), begins.to_list(), ends.to_list()):
        out.append([(scheme.types[a], int(c), int(d)) for a, c, d in zip(ty, b, e)])
    return out


def _prf(tp, n_pred, n_true):
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def entity_scores(true_tags, pred_tags) -> dict:
    """Entity-level micro precision / recall / F1 (seqeval semantics) and a per-type report.

    Args: lists (one per sentence) of tag strings, same lengths.
    Returns: {"precision", "recall", "f1", "support", "per_type": {type: {precision, recall, f1, support}}}.
    """
    if len(true_tags) != len(pred_tags):
        raise TaskError(f"entity_scores: {len(true_tags)} true sequences but {len(pred_tags)} predicted")
    for i, (a, b) in enumerate(zip(true_tags, pred_tags)):
        if len(a) != len(b):
            raise TaskError(f"entity_scores: sequence {i}: {len(a)} true tags but {len(b)} predicted")
    ents = get_entities(list(true_tags) + list(pred_tags))
    n = len(true_tags)
    gold = {(i, *e) for i, es in enumerate(ents[:n]) for e in es}
    pred = {(i, *e) for i, es in enumerate(ents[n:]) for e in es}
    tp = len(gold & pred)
    p, r, f = _prf(tp, len(pred), len(gold))
    per_type = {}
    for ty in sorted({e[1] for e in gold | pred}):
        g = {e for e in gold if e[1] == ty}
        q = {e for e in pred if e[1] == ty}
        pt, rt, ft = _prf(len(g & q), len(q), len(g))
        per_type[ty] = {"precision": pt, "recall": rt, "f1": ft, "support": len(g)}
    return {"precision": p, "recall": r, "f1": f, "support": len(gold), "per_type": per_type}


# ================================================================================================ raw inputs
def _is_word_list(v) -> bool:
    return isinstance(v, (list, tuple)) and all(isinstance(w, str) for w in v)


def _is_sentences(x) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(s, Sentence) for s in x)


def _is_word_lists(x) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(_is_word_list(v) for v in x) \
        and any(len(v) for v in x)


def _byte_starts(words):
    out, acc = [], 0
    for w in words:
        out.append(acc)
        acc += len(w.encode("utf-8")) + 1
    return out


def _s(v):
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)


# ================================================================================================ the task
@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TokenClassifier(Task):
    """NER / token classification (see the module docstring).

    Args:
        backbone: a :class:`~keras_bert_zoo.models.BertBackbone`.
        num_classes: number of tags (default: ``len(labels)``).
        preprocessor: a :class:`~keras_bert_zoo.text.BertPreprocessor` (None: packed inputs only).
        labels: tag names (``O`` / ``B-``/``I-``/``E-``/``S-TYPE``), index = class id. May be None only with
            ``num_classes`` (packed inputs, e.g. a converted checkpoint); raw-string decoding and tag targets
            then raise :class:`TaskError`.
        stride: step (in tokens) between window starts for texts longer than ``sequence_length - 2`` tokens
            (None: half the window, derived from the preprocessor's sequence length).
        dropout: dropout before the dense head.
    """

    hf_architecture = "BertForTokenClassification"
    task_type = "tag"
    text_inputs = ("text",)
    output_padding = {"entity_types": b"", "entity_texts": b"", "entity_starts": -1, "entity_ends": -1,
                      "entity_scores": 0.0, "entity_type_ids": -1, "entity_starts_utf16": -1,
                      "entity_ends_utf16": -1}
    #: serving_packed returns logits per position: not cut (see Task.trim_packed_serving)
    trim_packed_serving = False
    _config_args = ("num_classes", "labels", "stride", "dropout")

    def __init__(self, backbone, num_classes=None, *, preprocessor=None, labels=None, stride=None, dropout=0.1,
                 name=None, trainable=True):
        scheme = None
        if labels is not None:
            labels = [str(v) for v in labels]
            dupes = sorted({v for v in labels if labels.count(v) > 1})
            if dupes:
                raise TaskError(f"duplicate tags {dupes}: each class needs its own name")
            if num_classes is not None and int(num_classes) != len(labels):
                raise TaskError(f"num_classes={num_classes} but {len(labels)} labels were given")
            scheme = LabelScheme(labels)
            num_classes = len(labels)
        if num_classes is None:
            raise TaskError("a token classifier needs labels (its tags) or num_classes")
        num_classes = int(num_classes)
        if num_classes < 1:
            raise TaskError(f"a token classifier needs at least one class, got {num_classes}")
        if stride is not None and int(stride) < 1:
            raise TaskError(f"stride must be a positive number of tokens, got {stride}")
        inputs = packed_inputs()
        logits, head = classifier_head(backbone, backbone(inputs)["sequence_output"], num_classes,
                                       dropout)                                  # [B, T, C]
        super().__init__(inputs=inputs, outputs=logits, name=name or "token_classifier", trainable=trainable)
        self._set_parts(backbone, preprocessor)
        self.head = head
        self.num_classes = num_classes
        self.labels = labels
        self.scheme = scheme
        self.stride = None if stride is None else int(stride)
        self.dropout = float(dropout)
        self._continuation_cache = None        # (vocab size, bool [V]) computed on first use

    # -------------------------------------------------------------- derived settings (lazy)
    @property
    def window_stride(self) -> int:
        """The stride in use: ``stride`` or half the window (``sequence_length - 2`` tokens)."""
        if self.stride is not None:
            return self.stride
        return max(1, (self._require_preprocessor().sequence_length - 2) // 2)

    def _require_labels(self) -> LabelScheme:
        if self.scheme is None:
            raise TaskError(f"{type(self).__name__} {self.name!r} has no tag names (built with num_classes="
                            f"{self.num_classes} only): pass labels=[...] ('O', 'B-PER', ...) to decode entities "
                            f"or train on tags")
        return self.scheme

    def _continuation(self):
        """bool [V] constant: is the token a ``##`` continuation piece (read from the tokenizer on first use,
        so a model loaded from a .keras file reads the vocabulary restored from its assets)."""
        tok = self._require_preprocessor().tokenizer
        size = tok.vocab_size
        if self._continuation_cache is None or self._continuation_cache[0] != size:
            table = continuation_mask(tok.vocabulary)
            self._continuation_cache = (size, table)
        return tf.constant(self._continuation_cache[1])

    # -------------------------------------------------------------- recipe hooks
    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")

    def default_metrics(self):
        return []

    def default_weighted_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")]

    def default_samples(self):
        return ["Peter Blackburn visited São Paulo.", "José Müller-Lüdenscheidt vit à Zürich.", "李明住在北京。",
                "", "a much longer text " * 12]

    # -------------------------------------------------------------- raw inputs
    def from_records(self, x):
        """Word lists or Sentences -> ({"text": list of str}, None) (words joined by one space)."""
        if _is_sentences(x):
            return {"text": [join_words(s.words)[0] for s in x]}, None
        if _is_word_lists(x):
            return {"text": [join_words(list(words))[0] for words in x]}, None
        return None

    def _word_examples(self, x, y):
        """-> (texts, word byte starts, tag ids or None, where(i, j) for messages)."""
        if _is_sentences(x):
            if y is not None:
                raise TaskError("Sentences carry their tags: pass y=None")
            words = [list(s.words) for s in x]
            tags = [list(s.tags) for s in x]

            def where(i, j):
                return x[i].where(j)
        elif _is_word_lists(x):
            words = [list(v) for v in x]
            tags = None
            if y is not None:
                tags = [list(t) if isinstance(t, (list, tuple, np.ndarray)) else t for t in y]
                if len(tags) != len(words):
                    raise TaskError(f"{len(words)} word lists but {len(tags)} tag lists")

            def where(i, j):
                return f"sentence {i} word {j}"
        else:
            raise TaskError("token classification trains on word lists + tag lists, or on a list of "
                            "keras_bert_zoo.data.conll.Sentence (raw strings have no word tags); got "
                            f"{type(x).__name__}")
        texts = [join_words(w)[0] for w in words]
        starts = [_byte_starts(w) for w in words]
        ids = None
        if tags is not None:
            scheme = self._require_labels()
            index = {t: i for i, t in enumerate(scheme.labels)}
            ids = []
            for i, (ws, ts) in enumerate(zip(words, tags)):
                if not isinstance(ts, list) or len(ts) != len(ws):
                    n = len(ts) if isinstance(ts, list) else type(ts).__name__
                    raise TaskError(f"{where(i, 0)}: {len(ws)} words but {n} tags")
                for j, (w, t) in enumerate(zip(ws, ts)):
                    if t not in index:
                        raise TaskError(f"{where(i, j)}: unknown tag {t!r} (word {w!r}); the model's tags are "
                                        f"{scheme.labels}")
                ids.append([index[t] for t in ts])
        return texts, starts, ids

    # -------------------------------------------------------------- graph pieces (pure TF)
    def _word_token_alignment(self, word_starts, starts):
        """Word index of each token (ragged [B, (N)]) and whether it is the word's first token."""
        ws = tf.cast(word_starts, tf.int64).to_tensor(default_value=np.iinfo(np.int64).max)
        st = starts.to_tensor(default_value=0)
        widx = tf.searchsorted(ws, st, side="right", out_type=tf.int32) - 1          # [B, Nmax]
        widx = tf.RaggedTensor.from_tensor(widx, lengths=starts.row_lengths())
        prev = tf.concat([tf.fill([tf.cast(widx.nrows(), tf.int32), 1], -1), widx[:, :-1]], axis=1)
        first = tf.logical_and(tf.not_equal(widx, prev), widx >= 0)
        return widx, first

    @_no_autograph
    def featurize(self, texts, word_starts, word_labels, example_weights=None):
        """Training features in TF: texts [b], word byte starts and label ids ragged [b, (M)] (and optional
        example weights [b]) -> (packed [W, T], labels [W, T], weights [W, T]) over all windows of the batch."""
        pre = self._require_preprocessor()
        T = pre.sequence_length
        ids, starts, _ = W.tokenize_with_offsets(pre.tokenizer, texts)
        widx, first = self._word_token_alignment(word_starts, starts)
        safe = tf.maximum(widx, 0)
        tok_labels = tf.where(first, tf.gather(tf.cast(word_labels, tf.int32), safe, batch_dims=1), -1)
        windows = W.make_windows(tf.cast(ids.row_lengths(), tf.int32), T - 2, self.window_stride)
        packed, _ = W.pack_windows(pre, W.window_values(ids, windows))
        wl = W.window_values(tok_labels, windows)
        edge = tf.fill([tf.shape(windows.length)[0], 1], -1)
        labels = tf.concat([edge, wl, edge], axis=1).to_tensor(default_value=-1, shape=[None, T])
        weights = tf.cast(labels >= 0, tf.float32)
        if example_weights is not None:
            weights = weights * tf.gather(tf.cast(example_weights, tf.float32), windows.example_index)[:, None]
        return packed, tf.maximum(labels, 0), weights

    def _windows(self, texts):
        pre = self._require_preprocessor()
        ids, starts, ends = W.tokenize_with_offsets(pre.tokenizer, texts)
        windows = W.make_windows(tf.cast(ids.row_lengths(), tf.int32), pre.sequence_length - 2, self.window_stride)
        packed, b_offset = W.pack_windows(pre, W.window_values(ids, windows))
        return ids, starts, ends, windows, packed, b_offset

    def token_logits(self, texts):
        """Raw strings [B] -> (ids, byte starts, byte ends, logits), all ragged [B, (N)(, C)]."""
        ids, starts, ends, windows, packed, b_offset = self._windows(texts)
        logits = self(self.trim(packed), training=False)
        return ids, starts, ends, W.tokens_from_windows(logits, windows, b_offset)

    @_no_autograph
    def word_tag_ids(self, texts, word_starts):
        """Predicted label id of every word (ragged [B, (M)]): the prediction at its first sub-word; words
        without any token (e.g. only control characters) get "O"."""
        scheme = self._require_labels()
        _, starts, _, logits = self.token_logits(texts)
        widx, first = self._word_token_alignment(word_starts, starts)
        tags = logits.with_flat_values(tf.argmax(logits.flat_values, axis=-1, output_type=tf.int32))
        word_starts = tf.cast(word_starts, tf.int64)
        row_start = tf.cast(word_starts.row_starts(), tf.int32)
        gidx = widx.flat_values + tf.gather(row_start, tf.cast(widx.value_rowids(), tf.int32))
        sel = first.flat_values
        total = tf.cast(tf.shape(word_starts.flat_values)[0], tf.int32)
        out = tf.tensor_scatter_nd_update(tf.fill([total], scheme.o_id),
                                          tf.boolean_mask(gidx, sel)[:, None],
                                          tf.boolean_mask(tags.flat_values, sel))
        return word_starts.with_flat_values(out)

    @_no_autograph
    def serving_fn(self, inputs):
        texts = inputs["text"] if isinstance(inputs, dict) else inputs
        texts = tf.convert_to_tensor(texts, tf.string)
        self._require_labels()
        ids, starts, ends, logits = self.token_logits(texts)
        return self.decode_entities(texts, ids, starts, ends, logits)

    def decode_entities(self, texts, ids, starts, ends, logits):
        """Token logits (ragged [B, (N), C]) of raw ``texts`` -> padded entity tensors (see the module doc).

        The one decoder of both exports: the TFLite signature (:meth:`tflite_serving_fn`) returns these
        outputs but ``entity_texts``, the SavedModel (:meth:`serving_fn`) slices ``entity_texts`` from the
        strings at the end. Everything else is TFLite builtins."""
        spans = self.entity_spans(texts, ids, starts, ends, logits)
        etext = tf.gather(texts, spans.pop("_rows"))
        b0, b1 = spans.pop("_byte_starts"), spans.pop("_byte_ends")
        texts_out = tf.strings.substr(etext, b0, b1 - b0, unit="BYTE")
        out = {k: spans[k] for k in ("entity_types", "entity_starts", "entity_ends", "entity_scores",
                                     "num_entities")}
        out["entity_texts"] = self._pad_entities(spans["num_entities"], texts_out, "")
        return out

    @staticmethod
    def _pad_entities(counts, values, default):
        """Flat per-entity values (rows in order, ``counts`` [B] per row) -> [B, max(counts)] padded with
        ``default`` (tensor_scatter_nd_update: a TFLite builtin; ragged to_tensor is not, for every dtype)."""
        counts = tf.cast(counts, tf.int32)
        b = tf.shape(counts)[0]
        width = tf.maximum(tf.reduce_max(tf.concat([counts, [0]], 0)), 0)
        rows = tf.repeat(tf.range(b), counts)
        cols = W.ragged_range(0, counts).flat_values
        base = tf.fill(tf.stack([b, width]), tf.constant(default, values.dtype))
        return tf.tensor_scatter_nd_update(base, tf.stack([rows, cols], axis=1), values)

    def entity_spans(self, texts, ids, starts, ends, logits):
        """The builtin-only part of :meth:`decode_entities`: padded ``entity_types`` (string, from a
        constant table), ``entity_type_ids`` (index into :attr:`entity_type_names`; padding -1),
        ``entity_starts`` / ``entity_ends`` (code points), ``entity_starts_utf16`` / ``entity_ends_utf16``
        (UTF-16 code units), ``entity_scores``, ``num_entities``; and, flat per entity, ``_rows`` /
        ``_byte_starts`` / ``_byte_ends`` for the string slicing."""
        scheme = self._require_labels()
        flat = logits.flat_values                                                      # [tokens, C]
        tags = tf.argmax(flat, axis=-1, output_type=tf.int32)
        tag_prob = tf.reduce_max(tf.nn.softmax(flat, axis=-1), axis=-1)
        # words = tokens that are not "##" continuations (a row's first token always starts a word)
        cont = tf.gather(self._continuation(), ids.flat_values)
        is_first_in_row = tf.equal(W.ragged_range(0, ids.row_lengths()).flat_values, 0)
        word_start = tf.logical_or(tf.logical_not(cont), is_first_in_row)
        gword = tf.cumsum(tf.cast(word_start, tf.int32)) - 1                               # global word id
        num_words = tf.reduce_sum(tf.cast(word_start, tf.int32))
        # int32 segment max (TFLite has no int64 one); byte offsets fit
        word_end = tf.cast(tf.math.unsorted_segment_max(tf.cast(ends.flat_values, tf.int32), gword, num_words),
                           tf.int64)
        mask = ids.with_flat_values(word_start)
        w_tags = W.ragged_mask(ids.with_flat_values(tags), mask)
        w_start = W.ragged_mask(starts, mask)
        w_prob = W.ragged_mask(ids.with_flat_values(tag_prob), mask)
        types, b, e = chunk_entities(w_tags, scheme.prefix, scheme.type_ids, scheme.sep_type)
        row_word0 = tf.cast(w_tags.row_starts(), tf.int32)
        erow = tf.cast(types.value_rowids(), tf.int32)
        gb = b.flat_values + tf.gather(row_word0, erow)
        ge = e.flat_values + tf.gather(row_word0, erow)
        byte_start = tf.gather(w_start.flat_values, gb)
        byte_end = tf.gather(word_end, ge)
        csum = tf.concat([[0.0], tf.cumsum(w_prob.flat_values)], 0)
        score = (tf.gather(csum, ge + 1) - tf.gather(csum, gb)) / tf.cast(ge - gb + 1, tf.float32)
        cstart, ustart = char_offsets(texts, erow, byte_start)
        cend, uend = char_offsets(texts, erow, byte_end)
        counts = tf.cast(types.row_lengths(), tf.int32)
        n_types = len(scheme.types)
        type_ids = self._pad_entities(counts, types.flat_values, n_types)              # padding: n_types
        names = tf.constant(list(scheme.types) + [""])
        pad = self._pad_entities
        return {
            "entity_types": tf.gather(names, type_ids),
            "entity_type_ids": tf.where(type_ids == n_types, -1, type_ids),
            "entity_starts": pad(counts, cstart, -1),
            "entity_ends": pad(counts, cend, -1),
            "entity_starts_utf16": pad(counts, ustart, -1),
            "entity_ends_utf16": pad(counts, uend, -1),
            "entity_scores": pad(counts, score, 0.0),
            "num_entities": counts,
            "_rows": erow, "_byte_starts": byte_start, "_byte_ends": byte_end,
        }

    @property
    def entity_type_names(self) -> list:
        """Entity type names, index = ``entity_type_ids`` of the TFLite outputs (seqeval's types, sorted)."""
        return list(self._require_labels().types)

    @_no_autograph
    def tflite_serving_fn(self, inputs):
        """The TFLite ``serving_default`` graph: :meth:`serving_fn`'s outputs without ``entity_texts`` (no
        string slicing), plus ``entity_type_ids`` and UTF-16 offsets (see saved_models/README.md)."""
        texts = inputs["text"] if isinstance(inputs, dict) else inputs
        texts = tf.convert_to_tensor(texts, tf.string)
        self._require_labels()
        ids, starts, ends, logits = self.token_logits(texts)
        spans = self.entity_spans(texts, ids, starts, ends, logits)
        return {k: v for k, v in spans.items() if not k.startswith("_")}

    def postprocess(self, outputs):
        """Packed inputs (one window each) -> per-position ``logits``, ``probabilities``, ``label_ids``."""
        outputs = tf.cast(outputs, tf.float32)
        return {"logits": outputs, "probabilities": tf.nn.softmax(outputs, axis=-1),
                "label_ids": tf.argmax(outputs, axis=-1, output_type=tf.int32)}

    # -------------------------------------------------------------- Python-side results
    def decode(self, outputs):
        out = []
        for i, n in enumerate(outputs["num_entities"]):
            ents = []
            for j in range(int(n)):
                ents.append({"type": _s(outputs["entity_types"][i][j]), "start": int(outputs["entity_starts"][i][j]),
                             "end": int(outputs["entity_ends"][i][j]), "text": _s(outputs["entity_texts"][i][j]),
                             "score": float(outputs["entity_scores"][i][j])})
            out.append({"entities": ents})
        return out

    def predict_word_tags(self, sentences_or_word_lists: Sequence, batch_size: int = 32) -> list[list[str]]:
        """Predicted tag strings for each sentence's words (Sentences or word lists; CoNLL evaluation)."""
        scheme = self._require_labels()
        items = [list(s.words) if isinstance(s, Sentence) else list(s) for s in sentences_or_word_lists]
        # a graph pays for its tracing only over several batches; tiny inputs run eagerly
        fn = (tf.function(self.word_tag_ids, reduce_retracing=True) if len(items) > 4 * batch_size
              else self.word_tag_ids)
        out = []
        for i in range(0, len(items), batch_size):
            chunk = items[i:i + batch_size]
            texts = [join_words(w)[0] for w in chunk]
            starts = [_byte_starts(w) for w in chunk]
            flat = [s for row in starts for s in row]
            starts = tf.RaggedTensor.from_row_lengths(tf.constant(flat, tf.int64, shape=[len(flat)]),
                                                      tf.constant([len(r) for r in starts], tf.int64))
            ids = fn(tf.constant(texts, tf.string), starts)
            out.extend([[scheme.labels[k] for k in row] for row in ids.to_list()])
        return out

    # -------------------------------------------------------------- raw data -> tf.data
    def _window_dataset(self, x, y, sample_weight):
        """Unbatched dataset of (packed [T], labels [T], weights [T]) windows and its size."""
        texts, starts, ids = self._word_examples(x, y)
        if ids is None:
            raise TaskError("training / evaluating a token classifier needs tags: pass y (one tag list per word "
                            "list) or Sentences")
        n = len(texts)
        if sample_weight is not None:
            w = np.asarray(sample_weight, "float32").reshape(-1)
            if len(w) != n:
                raise TaskError(f"{self.task_type}: {n} sentences but {len(w)} sample weights")
        else:
            w = np.ones([n], "float32")

        def ragged(rows, dtype):
            flat = [v for r in rows for v in r]
            return tf.RaggedTensor.from_row_lengths(tf.constant(flat, dtype, shape=[len(flat)]),
                                                    tf.constant([len(r) for r in rows], tf.int64))

        # windows are computed once, in memory (small: 3 int32 rows of T per window)
        packed, labels, weights = W.featurize_in_chunks(
            self.featurize, (tf.constant(texts, tf.string), ragged(starts, tf.int64), ragged(ids, tf.int32),
                             tf.constant(w)))
        return tf.data.Dataset.from_tensor_slices((packed, labels, weights)), int(labels.shape[0])

    def _trim_batch(self, packed, labels, weights):
        """(packed, labels, weights) windows -> all three cut to the packed windows' length after :meth:`trim`."""
        packed = self.trim(packed)
        longest = tf.shape(packed["padding_mask"])[-1]
        return packed, labels[:, :longest], weights[:, :longest]

    def make_dataset(self, x, y=None, sample_weight=None, *, batch_size: int = 32, training: bool = False,
                     seed: int = 0):
        """Word lists + tag lists, or Sentences -> ``tf.data.Dataset`` of ``(packed, labels, weights)`` batches
        of windows (labels / weights ``[b, t]``: the first sub-word of each word carries its tag, weight 0
        elsewhere; each batch cut to its longest window). ``training``: windows shuffled each epoch."""
        if isinstance(x, tf.data.Dataset):
            raise TaskError("a tf.data.Dataset of raw strings has no word tags: pass word lists + tag lists or "
                            "Sentences (or a dataset of packed windows from make_dataset)")
        ds, num = self._window_dataset(x, y, sample_weight)
        if training:
            ds = ds.shuffle(min(max(num, 1), 4096), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).map(self._trim_batch)
        return ds.prefetch(tf.data.AUTOTUNE)

