"""Token classification (NER): CoNLL files in, entity spans of the original text out.

Training data (CoNLL words + tags) is aligned to WordPiece sub-words through the tokenizer's byte offsets: the
sentence text is the words joined by single spaces, each token belongs to the word whose byte range holds its
start, and only a word's first sub-word carries the word's label (the others get weight 0 in the loss and the
metrics). Sentences longer than the sequence length are split into overlapping windows
(:mod:`keras_bert_zoo.tasks.windows`); at prediction each token takes the logits of its max-context window.

Entities follow seqeval's (default, non-strict) chunking of IOB1/IOB2/IOE/IOBES tags, implemented once in
TensorFlow (:func:`chunk_entities`) and used for the serving graph, ``predict`` and the metric
(:func:`entity_scores`, micro P/R/F1 and per type, as ``seqeval.metrics.classification_report``).

On raw text the "words" are the tokens that are not ``##`` continuations (punctuation and each CJK character
are words, as in the basic tokenizer); an entity span runs from its first word's first byte to its last word's
last sub-word's last byte, and is returned as (type, start, end, text, score) with character offsets into the
original string. All of it runs in the TF graph (``serving_fn``), so a SavedModel returns the spans too.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.conll import TAG_PATTERN, join_words, label_list, read_conll
from keras_bert_zoo.tasks import register_task
from keras_bert_zoo.tasks.base import BertTask, TaskError, tokenizer_vocabulary
from keras_bert_zoo.tasks import windows as W

__all__ = ["TokenTagger", "LabelScheme", "chunk_entities", "entity_scores", "get_entities"]

_PREFIX = {"O": 0, "B": 1, "I": 2, "E": 3, "S": 4}


# ================================================================================================ entity chunking
class LabelScheme:
    """Prefix code (O=0, B=1, I=2, E=3, S=4) and entity-type id of every label, as seqeval parses them
    (``B-PER`` -> B, "PER"; ``O`` and untyped tags get the type "_")."""

    def __init__(self, labels):
        self.labels = list(labels)
        bad = [t for t in self.labels if not TAG_PATTERN.match(t)]
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
    tag_ids = tf.cast(tag_ids, tf.int32)
    nrows = tf.cast(tag_ids.nrows(), tf.int32)
    p = tf.gather(tf.constant(prefix_table, tf.int32), tag_ids)
    t = tf.gather(tf.constant(type_table, tf.int32), tag_ids)
    pad = tf.zeros([nrows, 1], tf.int32)
    p = tf.concat([p, pad], axis=1)                                 # an "O" after every row
    t = tf.concat([t, pad + sep_type], axis=1)
    rows = tf.cast(p.value_rowids(), tf.int32)
    row_starts = tf.cast(p.row_starts(), tf.int32)
    p, t = p.flat_values, t.flat_values
    n = tf.shape(p)[0]
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

    def _ragged(v):
        return tf.RaggedTensor.from_value_rowids(v, row, nrows=nrows)

    return _ragged(types), _ragged(begins - rs), _ragged(ends - rs)


def get_entities(tag_sequences):
    """Lists of tag strings -> list (per sequence) of (type, begin, end) tuples (inclusive word indices)."""
    labels = sorted({t for seq in tag_sequences for t in seq} | {"O"})
    scheme = LabelScheme(labels)
    index = {t: i for i, t in enumerate(labels)}
    ids = tf.ragged.constant([[index[t] for t in seq] for seq in tag_sequences], dtype=tf.int32,
                             row_splits_dtype=tf.int64) if tag_sequences else None
    if ids is None:
        return []
    if ids.shape.rank == 1:  # all sequences empty
        ids = tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), [0] * len(tag_sequences))
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
        tp_t = len(g & q)
        pt, rt, ft = _prf(tp_t, len(q), len(g))
        per_type[ty] = {"precision": pt, "recall": rt, "f1": ft, "support": len(g)}
    return {"precision": p, "recall": r, "f1": f, "support": len(gold), "per_type": per_type}


# ================================================================================================ the task
@register_task
class TokenTagger(BertTask):
    """NER / token classification task.

    Args (beyond :class:`BertTask`'s):
        stride: step between window starts for texts longer than ``sequence_length - 2`` tokens
            (default: half the window).
    ``serving_fn({"text": [B] strings})`` returns padded entity tensors: ``entity_types`` / ``entity_texts``
    (string [B, E]), ``entity_starts`` / ``entity_ends`` (character offsets, int64 [B, E], end exclusive),
    ``entity_scores`` (mean probability of the entity's tags, float32 [B, E]) and ``num_entities`` [B].
    """

    task_type = "tag"
    text_inputs = ("text",)

    def __init__(self, model, tokenizer, sequence_length=128, labels=None, truncate="longest_first",
                 preprocessor=None, stride=None):
        if not labels:
            raise TaskError("a tagging task needs its label list")
        super().__init__(model, tokenizer, sequence_length, labels, truncate, preprocessor)
        self.scheme = LabelScheme(self.labels)
        self.stride = int(stride) if stride else max(1, (self.sequence_length - 2) // 2)
        self.special = W.special_token_ids(tokenizer)
        vocab = tokenizer_vocabulary(tokenizer)
        self._continuation = tf.constant([t.startswith("##") and len(t) > 2 for t in vocab], tf.bool)

    def get_config(self):
        return {"stride": self.stride}

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, backbone, tokenizer, labels, sequence_length=128, dropout=0.1, stride=None):
        from keras_bert_zoo.models.tasks import BertTokenClassifier

        model = BertTokenClassifier(backbone, num_classes=len(labels), dropout=dropout)
        return cls(model, tokenizer, sequence_length=sequence_length, labels=labels, stride=stride)

    @classmethod
    def from_train_file(cls, path, backbone, tokenizer, *, sequence_length=128, word_column=0, tag_column=-1,
                        dropout=0.1, stride=None, labels=None, **options):
        sentences = read_conll(path, word_column=word_column, tag_column=tag_column)
        return cls.build(backbone, tokenizer, labels or label_list(sentences), sequence_length=sequence_length,
                         dropout=dropout, stride=stride)

    def compile(self, optimizer="adam", **kwargs):
        import keras

        kwargs.setdefault("loss", keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"))
        kwargs.setdefault("weighted_metrics", [keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")])
        self.model.compile(optimizer=optimizer, **kwargs)
        return self.model

    # ------------------------------------------------------------------ graph pieces
    def _windows(self, texts):
        ids, starts, ends = W.tokenize_with_offsets(self.tokenizer, texts)
        windows = W.make_windows(tf.cast(ids.row_lengths(), tf.int32), self.sequence_length - 2, self.stride)
        packed, b_offset = W.pack_windows(self.preprocessor, W.window_values(ids, windows))
        return ids, starts, ends, windows, packed, b_offset

    def token_logits(self, texts):
        """Raw strings [B] -> (ids, byte starts, byte ends, logits), all ragged [B, (N)(, C)]."""
        ids, starts, ends, windows, packed, b_offset = self._windows(texts)
        logits = self.model(packed, training=False)
        return ids, starts, ends, W.tokens_from_windows(logits, windows, b_offset)

    def _word_token_alignment(self, word_starts, starts):
        """Word index of each token (ragged [B, (N)]) and whether it is the word's first token."""
        ws = tf.cast(word_starts, tf.int64).to_tensor(default_value=np.iinfo(np.int64).max)
        st = starts.to_tensor(default_value=0)
        widx = tf.searchsorted(ws, st, side="right", out_type=tf.int32) - 1          # [B, Nmax]
        widx = tf.RaggedTensor.from_tensor(widx, lengths=starts.row_lengths())
        prev = tf.concat([tf.fill([tf.cast(widx.nrows(), tf.int32), 1], -1), widx[:, :-1]], axis=1)
        first = tf.logical_and(tf.not_equal(widx, prev), widx >= 0)
        return widx, first

    def featurize(self, texts, word_starts, word_labels):
        """Training features in TF: texts [b], word byte starts and label ids ragged [b, (M)] ->
        (packed [W, T], labels [W, T], weights [W, T]) over all windows of the batch."""
        ids, starts, ends = W.tokenize_with_offsets(self.tokenizer, texts)
        widx, first = self._word_token_alignment(word_starts, starts)
        safe = tf.maximum(widx, 0)
        tok_labels = tf.where(first, tf.gather(tf.cast(word_labels, tf.int32), safe, batch_dims=1), -1)
        windows = W.make_windows(tf.cast(ids.row_lengths(), tf.int32), self.sequence_length - 2, self.stride)
        packed, _ = W.pack_windows(self.preprocessor, W.window_values(ids, windows))
        wl = W.window_values(tok_labels, windows)
        edge = tf.fill([tf.shape(windows.length)[0], 1], -1)
        labels = tf.concat([edge, wl, edge], axis=1).to_tensor(default_value=-1,
                                                              shape=[None, self.sequence_length])
        weights = tf.cast(labels >= 0, tf.float32)
        return packed, tf.maximum(labels, 0), weights

    def word_tag_ids(self, texts, word_starts):
        """Predicted label id of every word (ragged [B, (M)]): the prediction at its first sub-word; words
        without any token (e.g. only control characters) get "O"."""
        ids, starts, ends, logits = self.token_logits(texts)
        widx, first = self._word_token_alignment(word_starts, starts)
        tags = logits.with_flat_values(tf.argmax(logits.flat_values, axis=-1, output_type=tf.int32))
        word_starts = tf.cast(word_starts, tf.int64)
        row_start = tf.cast(word_starts.row_starts(), tf.int32)
        gidx = widx.flat_values + tf.gather(row_start, tf.cast(widx.value_rowids(), tf.int32))
        sel = first.flat_values
        total = tf.cast(tf.shape(word_starts.flat_values)[0], tf.int32)
        out = tf.tensor_scatter_nd_update(tf.fill([total], self.scheme.o_id),
                                          tf.boolean_mask(gidx, sel)[:, None],
                                          tf.boolean_mask(tags.flat_values, sel))
        return word_starts.with_flat_values(out)

    def serving_fn(self, inputs):
        texts = inputs["text"] if isinstance(inputs, dict) else inputs
        texts = tf.convert_to_tensor(texts, tf.string)
        ids, starts, ends, logits = self.token_logits(texts)
        return self.decode_entities(texts, ids, starts, ends, logits)

    def decode_entities(self, texts, ids, starts, ends, logits):
        """Token logits (ragged [B, (N), C]) of raw ``texts`` -> padded entity tensors (see the class doc)."""
        flat = logits.flat_values                                                      # [tokens, C]
        tags = logits.with_flat_values(tf.argmax(flat, axis=-1, output_type=tf.int32))
        tag_prob = logits.with_flat_values(tf.reduce_max(tf.nn.softmax(flat, axis=-1), axis=-1))
        # words = tokens that are not "##" continuations (a row's first token always starts a word)
        cont = tf.gather(self._continuation, ids)
        is_first_in_row = tf.equal(tf.ragged.range(ids.row_lengths()), 0)
        word_start = tf.logical_or(tf.logical_not(cont), is_first_in_row)
        gword = tf.cumsum(tf.cast(word_start.flat_values, tf.int32)) - 1                   # global word id
        num_words = tf.reduce_sum(tf.cast(word_start.flat_values, tf.int32))
        word_end = tf.math.unsorted_segment_max(ends.flat_values, gword, num_words)
        w_tags = tf.ragged.boolean_mask(tags, word_start)
        w_start = tf.ragged.boolean_mask(starts, word_start)
        w_prob = tf.ragged.boolean_mask(tag_prob, word_start)
        types, b, e = chunk_entities(w_tags, self.scheme.prefix, self.scheme.type_ids, self.scheme.sep_type)
        row_word0 = tf.cast(w_tags.row_starts(), tf.int32)
        erow = tf.cast(types.value_rowids(), tf.int32)
        gb = b.flat_values + tf.gather(row_word0, erow)
        ge = e.flat_values + tf.gather(row_word0, erow)
        byte_start = tf.gather(w_start.flat_values, gb)
        byte_end = tf.gather(word_end, ge)
        csum = tf.concat([[0.0], tf.cumsum(w_prob.flat_values)], 0)
        score = (tf.gather(csum, ge + 1) - tf.gather(csum, gb)) / tf.cast(ge - gb + 1, tf.float32)
        etext = tf.gather(texts, erow)
        span = tf.strings.substr(etext, byte_start, byte_end - byte_start, unit="BYTE")
        cstart = tf.strings.length(tf.strings.substr(etext, tf.zeros_like(byte_start), byte_start, unit="BYTE"),
                                   unit="UTF8_CHAR")
        cend = cstart + tf.strings.length(span, unit="UTF8_CHAR")
        type_names = tf.constant(self.scheme.types)

        def pad(values, default):
            return types.with_flat_values(values).to_tensor(default_value=default)

        return {
            "entity_types": pad(tf.gather(type_names, types.flat_values), ""),
            "entity_texts": pad(span, ""),
            "entity_starts": pad(tf.cast(cstart, tf.int64), -1),
            "entity_ends": pad(tf.cast(cend, tf.int64), -1),
            "entity_scores": pad(score, 0.0),
            "num_entities": tf.cast(types.row_lengths(), tf.int32),
        }

    def postprocess(self, outputs):
        probs = tf.nn.softmax(outputs, axis=-1)
        return {"logits": outputs, "probabilities": probs,
                "label_ids": tf.argmax(outputs, axis=-1, output_type=tf.int32)}

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

    # ------------------------------------------------------------------ data
    def _encode_sentences(self, sentences, path):
        index = {t: i for i, t in enumerate(self.labels)}
        texts, starts, labels = [], [], []
        for s in sentences:
            text, _ = join_words(s.words)
            bstarts = _byte_starts(s.words)
            for w, t in zip(s.words, s.tags):
                if t not in index:
                    raise TaskError(f"{path}:{s.line}: unknown tag {t!r} (word {w!r}); the model's tags are "
                                    f"{self.labels}")
            texts.append(text)
            starts.append(bstarts)
            labels.append([index[t] for t in s.tags])
        return texts, starts, labels

    def dataset_from_sentences(self, sentences, *, batch_size=32, training=False, path="<memory>", seed=0):
        texts, starts, labels = self._encode_sentences(sentences, path)
        ds = tf.data.Dataset.from_tensor_slices((
            tf.constant(texts, tf.string),
            tf.ragged.constant(starts, dtype=tf.int64, ragged_rank=1),
            tf.ragged.constant(labels, dtype=tf.int32, ragged_rank=1)))
        # windows are computed once and cached (small: 3 int32 rows of T per window); shuffled per epoch
        ds = ds.batch(256).map(self.featurize, num_parallel_calls=tf.data.AUTOTUNE).unbatch().cache()
        ds = W.with_known_cardinality(ds)
        if training:
            ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def dataset_from_file(self, path, *, batch_size=32, training=False, word_column=0, tag_column=-1, **options):
        sentences = read_conll(path, word_column=word_column, tag_column=tag_column)
        return self.dataset_from_sentences(sentences, batch_size=batch_size, training=training, path=str(path))

    def predict_sentences(self, sentences, batch_size=32):
        """Predicted tag strings for each sentence's words (CoNLL evaluation)."""
        # a graph pays for its tracing only over several batches; tiny files run eagerly
        fn = (tf.function(self.word_tag_ids, reduce_retracing=True) if len(sentences) > 4 * batch_size
              else self.word_tag_ids)
        out = []
        for i in range(0, len(sentences), batch_size):
            chunk = sentences[i:i + batch_size]
            texts, starts, _ = zip(*[(join_words(s.words)[0], _byte_starts(s.words), None) for s in chunk])
            ids = fn(tf.constant(texts), tf.ragged.constant(starts, dtype=tf.int64, ragged_rank=1))
            out.extend([[self.labels[k] for k in row] for row in ids.to_list()])
        return out

    def evaluate_sentences(self, sentences, batch_size=32):
        pred = self.predict_sentences(sentences, batch_size=batch_size)
        scores = entity_scores([list(s.tags) for s in sentences], pred)
        return scores, pred

    def evaluate_file(self, path, *, out_dir=None, batch_size=32, word_column=0, tag_column=-1, **options):
        sentences = read_conll(path, word_column=word_column, tag_column=tag_column, validate_tags=False)
        scores, pred = self.evaluate_sentences(sentences, batch_size=batch_size)
        if out_dir is not None:
            out_dir = Path(out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            tmp = out_dir / ".predictions.conll.part"
            with open(tmp, "w", encoding="utf-8") as f:
                for s, p in zip(sentences, pred):
                    for w, t, q in zip(s.words, s.tags, p):
                        f.write(f"{w} {t} {q}\n")
                    f.write("\n")
            os.replace(tmp, out_dir / "predictions.conll")
            tmp = out_dir / ".entity_report.csv.part"
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                wr = csv.writer(f)
                wr.writerow(["type", "precision", "recall", "f1", "support"])
                for ty, m in scores["per_type"].items():
                    wr.writerow([ty, f"{m['precision']:.6f}", f"{m['recall']:.6f}", f"{m['f1']:.6f}", m["support"]])
                wr.writerow(["micro", f"{scores['precision']:.6f}", f"{scores['recall']:.6f}",
                             f"{scores['f1']:.6f}", scores["support"]])
            os.replace(tmp, out_dir / "entity_report.csv")
        flat = {"entity_precision": scores["precision"], "entity_recall": scores["recall"],
                "entity_f1": scores["f1"]}
        flat.update({f"f1_{ty}": m["f1"] for ty, m in scores["per_type"].items()})
        return flat


def _byte_starts(words):
    out, acc = [], 0
    for w in words:
        out.append(acc)
        acc += len(w.encode("utf-8")) + 1
    return out


def _s(v):
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
