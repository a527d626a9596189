"""MLM + NSP pretraining examples: reference semantics, dynamic (tf.data) and static (TFRecord shards) modes.

The steps follow google-research/bert ``create_pretraining_data.py``:

1. :func:`tokenize_documents` turns documents (lists of sentences, see :mod:`keras_bert_zoo.data.corpus`)
   into token ids plus a "starts a word" flag per token. Word boundaries come from the WordPiece ``##``
   continuation prefix (as in the reference; a Chinese character is its own token, so each character is a
   word), or from the user: with ``word_boundaries="whitespace"`` the sentences are pre-segmented (e.g. by a
   Chinese word segmenter) and every whitespace-delimited word is one group for whole-word masking.
2. :func:`create_segment_pairs` (Python, seeded ``random.Random``) builds ``[CLS] A [SEP] B [SEP]`` pairs of up
   to ``max_seq_length`` tokens: target length ``max_seq_length - 3`` or, with probability ``short_seq_prob``,
   a random shorter one; B is the actual continuation half of the time (NSP label 0) and otherwise a random
   span of another document (label 1, the unused sentences are put back); the pair is truncated by removing
   tokens at random from the front or back of the longer segment.
3. :func:`mask_batch` (TensorFlow, ``tensorflow_text.mask_language_model`` with a selector and a value chooser
   that use *stateless* random ops, so a seed gives the same examples everywhere) selects
   ``min(max_predictions_per_seq, max(1, round(num_tokens * masked_lm_prob)))`` tokens per sequence, never
   ``[CLS]``/``[SEP]``/``[PAD]``/``[MASK]``, whole words at a time when ``whole_word_masking`` (a shuffled
   list of words is walked and a word that would exceed the budget is skipped, as in the reference); each
   selected token becomes ``[MASK]`` 80%, a random id 10%, itself 10%.

Two modes share steps 1-3 (one implementation of each):

* **dynamic**: :func:`dynamic_dataset` regenerates pairs every epoch and masks inside ``tf.data``;
* **static**: :func:`write_tfrecord_shards` writes ``dupe_factor`` differently-masked copies of a corpus to
  sharded TFRecords (documents are processed in chunks, so corpora larger than memory work; the random next
  segment is drawn from the same chunk), and :func:`tfrecord_dataset` reads them with parallel interleave and
  per-worker file sharding (``tf.distribute.InputContext``).

Both yield ``(x, y, sample_weight)`` batches for ``tasks.Pretrainer`` + ``model.fit``:

    x  = {"token_ids", "segment_ids", "padding_mask": int32 [B, T], "mask_positions": int32 [B, P]}
    y  = {"mlm_logits": int32 [B, P] original ids at the masked positions, "nsp_logits": int32 [B]}
    sw = {"mlm_logits": float32 [B, P] 1 for a real prediction, 0 for padding, "nsp_logits": float32 [B]}

with T = ``max_seq_length`` and P = ``max_predictions_per_seq``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import os
import random
from typing import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_zoo import cache
from keras_bert_zoo.text.tokenizer import continuation_mask, special_ids

__all__ = ["PretrainingDataConfig", "TokenIds", "TokenizedDocument", "SegmentPair", "PretrainingDataError",
           "tokenize_documents", "create_segment_pairs", "mask_batch", "pairs_to_dataset", "dynamic_dataset",
           "write_tfrecord_shards", "tfrecord_dataset", "METADATA_FILE"]

METADATA_FILE = "pretraining_data.json"


class PretrainingDataError(ValueError):
    """Bad configuration or bad pretraining data files."""


@dataclasses.dataclass(frozen=True)
class PretrainingDataConfig:
    """How pairs are cut and masked (defaults: the reference's)."""

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    whole_word_masking: bool = False
    mask_token_rate: float = 0.8
    random_token_rate: float = 0.1

    def __post_init__(self):
        if self.max_seq_length < 5:
            raise PretrainingDataError(f"max_seq_length must be >= 5 ([CLS] a [SEP] b [SEP]), "
                                       f"got {self.max_seq_length}")
        if self.max_predictions_per_seq < 1:
            raise PretrainingDataError(f"max_predictions_per_seq must be >= 1, got {self.max_predictions_per_seq}")
        for name in ("masked_lm_prob", "short_seq_prob", "mask_token_rate", "random_token_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise PretrainingDataError(f"{name} must be in [0, 1], got {value}")
        if self.mask_token_rate + self.random_token_rate > 1.0:
            raise PretrainingDataError("mask_token_rate + random_token_rate must be <= 1, got "
                                       f"{self.mask_token_rate} + {self.random_token_rate}")

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TokenIds:
    """The ids the example generator needs, and which ids are WordPiece continuations (``##...``)."""

    vocab_size: int
    cls_id: int
    sep_id: int
    mask_id: int
    pad_id: int
    continuation: np.ndarray = dataclasses.field(repr=False, compare=False)   # bool [vocab_size]

    @classmethod
    def from_vocabulary(cls, vocabulary: Sequence[str], cls_token="[CLS]", sep_token="[SEP]",
                        mask_token="[MASK]", pad_token="[PAD]"):
        vocabulary = list(vocabulary)
        try:
            ids = special_ids(vocabulary, (cls_token, sep_token, mask_token, pad_token), "pretraining data")
        except ValueError as err:
            raise PretrainingDataError(str(err)) from None
        continuation = continuation_mask(vocabulary)
        return cls(len(vocabulary), *ids, continuation)

    @classmethod
    def from_tokenizer(cls, tokenizer):
        """From a tokenizer exposing ``vocabulary`` (its ids are the vocabulary's, see :meth:`from_vocabulary`)."""
        return cls.from_vocabulary(tokenizer.vocabulary)

    @property
    def special_ids(self):
        return (self.cls_id, self.sep_id, self.mask_id, self.pad_id)


# A tokenized sentence: (ids int32 [n], word_starts bool [n]); a document: a list of them.
TokenizedDocument = list


@dataclasses.dataclass
class SegmentPair:
    """``[CLS] A [SEP] B [SEP]`` before masking. ``nsp_label`` 0: B follows A; 1: B is random."""

    token_ids: np.ndarray      # int32 [n]
    segment_ids: np.ndarray    # int32 [n]
    word_starts: np.ndarray    # bool [n]; special tokens are starts
    nsp_label: int


def _to_ids(tokenized) -> tf.RaggedTensor:
    if isinstance(tokenized, tf.RaggedTensor) and tokenized.ragged_rank > 1:
        tokenized = tokenized.merge_dims(-2, -1)
    return tokenized


def tokenize_documents(documents: Iterable[Sequence[str]], tokenizer, token_ids: TokenIds,
                       word_boundaries: str = "wordpiece", batch_size: int = 512) -> Iterator[TokenizedDocument]:
    """Tokenizes documents in batches of about ``batch_size`` sentences; yields one TokenizedDocument each.

    Args:
        documents: iterable of lists of sentences.
        tokenizer: callable, string tensor [N] -> ragged int ids [N, (tokens)] (a [N, (words), (pieces)]
            result is flattened), e.g. ``keras_bert_zoo.text.WordPieceTokenizer``.
        token_ids: :class:`TokenIds` (continuation ids decide word starts).
        word_boundaries: ``"wordpiece"`` (a ``##`` piece continues the previous word) or ``"whitespace"`` (the
            sentences are pre-segmented; each whitespace-separated word is one whole-word-masking group).
    Sentences that tokenize to nothing are dropped, and so are documents left empty.
    """
    if word_boundaries not in ("wordpiece", "whitespace"):
        raise PretrainingDataError(f"word_boundaries must be 'wordpiece' or 'whitespace', got {word_boundaries!r}")
    pending: list[list[str]] = []
    count = 0
    for doc in documents:
        pending.append(list(doc))
        count += len(doc)
        if count >= batch_size:
            yield from _tokenize_batch(pending, tokenizer, token_ids, word_boundaries)
            pending, count = [], 0
    if pending:
        yield from _tokenize_batch(pending, tokenizer, token_ids, word_boundaries)


def _tokenize_batch(docs, tokenizer, token_ids, word_boundaries):
    sentences = [s for d in docs for s in d]
    if word_boundaries == "whitespace":
        words_per_sentence = [s.split() for s in sentences]
        flat_words = [w for ws in words_per_sentence for w in ws]
        pieces = _to_ids(tokenizer(tf.constant(flat_words or [""], tf.string))) if flat_words else None
        piece_lists = pieces.to_list() if pieces is not None else []
        tokenized, k = [], 0
        for ws in words_per_sentence:
            ids, starts = [], []
            for p in piece_lists[k:k + len(ws)]:
                ids.extend(p)
                starts.extend([True] + [False] * (len(p) - 1))
            k += len(ws)
            tokenized.append((np.asarray(ids, np.int32), np.asarray(starts, bool)))
    else:
        ids = _to_ids(tokenizer(tf.constant(sentences, tf.string))) if sentences else None
        tokenized = []
        for row in (ids.to_list() if ids is not None else []):
            row = np.asarray(row, np.int32)
            starts = ~token_ids.continuation[row] if len(row) else np.zeros([0], bool)
            tokenized.append((row, starts))
    k = 0
    for d in docs:
        out = [t for t in tokenized[k:k + len(d)] if len(t[0])]
        k += len(d)
        if out:
            yield out


def _concat(sentences):
    ids = np.concatenate([s[0] for s in sentences]).astype(np.int32)
    starts = np.concatenate([s[1] for s in sentences]).astype(bool)
    return ids, starts


def _truncate_pair(a, b, max_num_tokens, rng):
    """Removes tokens from the front or back (at random) of the longer segment until the pair fits."""
    (a_ids, a_st), (b_ids, b_st) = a, b
    a_lo, a_hi, b_lo, b_hi = 0, len(a_ids), 0, len(b_ids)
    while (a_hi - a_lo) + (b_hi - b_lo) > max_num_tokens:
        front = rng.random() < 0.5
        if (a_hi - a_lo) > (b_hi - b_lo):
            a_lo, a_hi = (a_lo + 1, a_hi) if front else (a_lo, a_hi - 1)
        else:
            b_lo, b_hi = (b_lo + 1, b_hi) if front else (b_lo, b_hi - 1)
    return (a_ids[a_lo:a_hi], a_st[a_lo:a_hi].copy()), (b_ids[b_lo:b_hi], b_st[b_lo:b_hi].copy())


def _pairs_from_document(documents, doc_index, config, token_ids, rng):
    document = documents[doc_index]
    max_num_tokens = config.max_seq_length - 3
    target_seq_length = max_num_tokens
    if rng.random() < config.short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)
    pairs, chunk, chunk_length, i = [], [], 0, 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i][0])
        if i == len(document) - 1 or chunk_length >= target_seq_length:
            a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            a = _concat(chunk[:a_end])
            if len(chunk) == 1 or rng.random() < 0.5:
                nsp_label = 1
                target_b_length = target_seq_length - len(a[0])
                random_index = doc_index
                for _ in range(10):
                    random_index = rng.randint(0, len(documents) - 1)
                    if random_index != doc_index:
                        break
                random_document = documents[random_index]
                start = rng.randint(0, len(random_document) - 1)
                b_sentences, b_length = [], 0
                for sentence in random_document[start:]:
                    b_sentences.append(sentence)
                    b_length += len(sentence[0])
                    if b_length >= target_b_length:
                        break
                b = _concat(b_sentences)
                i -= len(chunk) - a_end          # the unused sentences are not wasted
            else:
                nsp_label = 0
                b = _concat(chunk[a_end:])
            a, b = _truncate_pair(a, b, max_num_tokens, rng)
            if len(a[0]) >= 1 and len(b[0]) >= 1:
                a[1][0] = b[1][0] = True          # a segment never starts mid-word
                ids = np.concatenate([[token_ids.cls_id], a[0], [token_ids.sep_id], b[0], [token_ids.sep_id]])
                segments = np.concatenate([np.zeros(len(a[0]) + 2), np.ones(len(b[0]) + 1)])
                starts = np.concatenate([[True], a[1], [True], b[1], [True]])
                pairs.append(SegmentPair(ids.astype(np.int32), segments.astype(np.int32), starts.astype(bool),
                                         nsp_label))
            chunk, chunk_length = [], 0
        i += 1
    return pairs


def create_segment_pairs(documents: Sequence[TokenizedDocument], config: PretrainingDataConfig,
                         token_ids: TokenIds, rng: random.Random) -> list[SegmentPair]:
    """NSP sentence pairs from every document (reference semantics), shuffled with ``rng``."""
    if not documents:
        raise PretrainingDataError("no documents to build pretraining pairs from (empty corpus?)")
    pairs = []
    for doc_index in range(len(documents)):
        pairs.extend(_pairs_from_document(documents, doc_index, config, token_ids, rng))
    rng.shuffle(pairs)
    return pairs


# ----------------------------------------------------------------------------------------------- masking (TF)

class _BudgetedWordSelector(tf_text.RandomItemSelector):
    """Selects whole words at random until ``num_to_predict`` tokens per row (reference semantics).

    Works on [B, (words), (pieces)] with ``axis=1``: a random permutation of the selectable words is walked and
    a word is taken when it still fits in the row's budget (a word that would exceed it is skipped).
    """

    def __init__(self, masked_lm_prob, max_predictions, unselectable_ids, seed):
        # only get_selectable (the unselectable ids filter) is inherited; selection is overridden below
        super().__init__(max_selections_per_batch=max_predictions, selection_rate=masked_lm_prob,
                         unselectable_ids=list(unselectable_ids))
        self._rate, self._max, self._seed = masked_lm_prob, max_predictions, seed

    def get_selection_mask(self, input_ids, axis):
        if axis != 1 or input_ids.ragged_rank != 2:
            raise PretrainingDataError("the word selector works on [batch, (words), (pieces)] with axis=1")
        selectable = self.get_selectable(input_ids, axis)                       # bool [B, (W)]
        word_len = input_ids.row_lengths(axis=2)                                 # int64 [B, (W)]
        num_tokens = tf.reduce_sum(word_len, axis=1)                             # [B]
        budget = tf.round(tf.cast(num_tokens, tf.float32) * self._rate)
        budget = tf.cast(tf.minimum(tf.maximum(budget, 1.0), float(self._max)), tf.int64)
        scores = tf.random.stateless_uniform(tf.shape(selectable.flat_values), self._seed)
        scores = tf.where(selectable.flat_values, scores, 2.0)
        dense_scores = selectable.with_flat_values(scores).to_tensor(default_value=3.0)   # [B, Wmax]
        order = tf.argsort(dense_scores, axis=1, stable=True)
        sorted_len = tf.gather(word_len.to_tensor(0), order, batch_dims=1)
        sorted_ok = tf.gather(selectable.to_tensor(False), order, batch_dims=1)

        def walk(state, x):                                                      # over words, [B] at a time
            count, _ = state
            length, ok = x
            take = ok & (count + length <= budget)
            return count + tf.where(take, length, tf.zeros_like(length)), take

        _, taken = tf.scan(walk, (tf.transpose(sorted_len), tf.transpose(sorted_ok)),
                           initializer=(tf.zeros_like(budget), tf.zeros_like(budget, tf.bool)))
        taken = tf.transpose(taken)                                              # [B, Wmax], sorted order
        inverse = tf.argsort(order, axis=1, stable=True)
        taken = tf.gather(taken, inverse, batch_dims=1)
        return tf.RaggedTensor.from_tensor(taken, lengths=selectable.row_lengths())


class _StatelessMaskValuesChooser(tf_text.MaskValuesChooser):
    """80/10/10 ``[MASK]`` / random id / unchanged, drawn per token with stateless random ops."""

    def __init__(self, vocab_size, mask_token, mask_token_rate, random_token_rate, seed):
        super().__init__(vocab_size, mask_token, mask_token_rate, random_token_rate)
        self._rates = (mask_token_rate, random_token_rate)
        self._seed = seed

    def get_mask_values(self, masked_lm_ids):
        flat = masked_lm_ids.flat_values
        seeds = tf.random.experimental.stateless_split(self._seed, 2)
        u = tf.random.stateless_uniform(tf.shape(flat), seeds[0])
        random_ids = tf.random.stateless_uniform(tf.shape(flat), seeds[1], minval=0, maxval=self.vocab_size,
                                                 dtype=flat.dtype)
        mask_rate, random_rate = self._rates
        values = tf.where(u < mask_rate, tf.cast(self.mask_token, flat.dtype),
                          tf.where(u < mask_rate + random_rate, random_ids, flat))
        return masked_lm_ids.with_flat_values(values)


def _seed_tensor(seed, index):
    base = tf.stack([tf.constant(seed // (2 ** 31), tf.int64), tf.constant(seed % (2 ** 31), tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64))


def mask_batch(token_ids: tf.RaggedTensor, word_starts: tf.RaggedTensor, seed: tf.Tensor,
               config: PretrainingDataConfig, ids: TokenIds):
    """Masks a ragged batch of packed pairs. Returns ragged (masked token_ids [B, (T)], mask_positions
    [B, (P)] int32 sorted, mask_ids [B, (P)] int32 the original ids there). ``seed``: int64 [2].

    Without ``whole_word_masking`` every token is its own word.
    """
    token_ids = tf.cast(token_ids, tf.int32)
    flat_ids = token_ids.flat_values
    if config.whole_word_masking:
        # the first token of every row starts a word (rows start with [CLS] anyway)
        row_start_mask = tf.scatter_nd(tf.cast(token_ids.row_starts()[:, None], tf.int64),
                                       tf.ones_like(token_ids.row_starts(), tf.int32),
                                       tf.shape(flat_ids, out_type=tf.int64)) > 0
        starts = tf.logical_or(tf.cast(word_starts.flat_values, tf.bool), row_start_mask)
    else:
        starts = tf.ones_like(flat_ids, tf.bool)
    word_starts_idx = tf.where(starts)[:, 0]
    words = tf.RaggedTensor.from_row_starts(flat_ids, word_starts_idx)                     # [words, (pieces)]
    words_per_row = tf.reduce_sum(token_ids.with_flat_values(tf.cast(starts, tf.int64)), axis=1)
    nested = tf.RaggedTensor.from_row_lengths(words, words_per_row)                        # [B, (W), (pieces)]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    selector = _BudgetedWordSelector(config.masked_lm_prob, config.max_predictions_per_seq,
                                     unselectable_ids=ids.special_ids, seed=seeds[0])
    chooser = _StatelessMaskValuesChooser(ids.vocab_size, ids.mask_id, config.mask_token_rate,
                                          config.random_token_rate, seed=seeds[1])
    masked, positions, mask_ids = tf_text.mask_language_model(nested, selector, chooser, axis=1)
    return masked, tf.cast(positions, tf.int32), tf.cast(mask_ids, tf.int32)


def _model_batch(token_ids, segment_ids, positions, mask_ids, nsp_label, config: PretrainingDataConfig, pad_id):
    """Ragged features -> padded (x, y, sample_weight) for tasks.Pretrainer."""
    t, p = config.max_seq_length, config.max_predictions_per_seq
    x = {"token_ids": tf.cast(token_ids, tf.int32).to_tensor(pad_id, shape=[None, t]),
         "segment_ids": tf.cast(segment_ids, tf.int32).to_tensor(0, shape=[None, t]),
         "padding_mask": tf.ones_like(segment_ids, tf.int32).to_tensor(0, shape=[None, t]),
         "mask_positions": tf.cast(positions, tf.int32).to_tensor(0, shape=[None, p])}
    y = {"mlm_logits": tf.cast(mask_ids, tf.int32).to_tensor(0, shape=[None, p]),
         "nsp_logits": tf.cast(nsp_label, tf.int32)}
    sw = {"mlm_logits": tf.ones_like(positions, tf.float32).to_tensor(0.0, shape=[None, p]),
          "nsp_logits": tf.ones_like(nsp_label, tf.float32)}
    return x, y, sw


_PAIR_SIGNATURE = (tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.bool),
                   tf.TensorSpec([], tf.int32))


def _masked_batches(pair_batches: tf.data.Dataset, config, ids, seed, deterministic=True):
    def mask(index, batch):
        token_ids, segment_ids, starts, nsp = batch
        masked, positions, mask_ids = mask_batch(token_ids, starts, _seed_tensor(seed, index), config, ids)
        return masked, segment_ids, positions, mask_ids, nsp

    return pair_batches.enumerate().map(mask, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


def pairs_to_dataset(pairs: Sequence[SegmentPair]) -> tf.data.Dataset:
    """Unbatched dataset of (token_ids, segment_ids, word_starts, nsp_label) from in-memory pairs."""
    return tf.data.Dataset.from_generator(
        lambda: ((p.token_ids, p.segment_ids, p.word_starts, p.nsp_label) for p in pairs),
        output_signature=_PAIR_SIGNATURE)


def dynamic_dataset(documents: Sequence[TokenizedDocument], ids: TokenIds, config: PretrainingDataConfig,
                    batch_size: int, seed: int = 12345, epochs: int | None = None,
                    drop_remainder: bool = True) -> tf.data.Dataset:
    """Dynamic mode: new pairs (Python, seeded by ``seed`` and the epoch) and new masks (tf.data, stateless
    seeds by ``seed`` and batch index) every pass over ``documents``; ``epochs=None`` repeats forever.
    Yields ``(x, y, sample_weight)`` (see the module docstring). Same seed -> same batches."""
    documents = list(documents)
    if not documents:
        raise PretrainingDataError("no documents to build pretraining pairs from (empty corpus?)")

    def generate():
        epoch = 0
        while epochs is None or epoch < epochs:
            rng = random.Random(seed * 1_000_003 + epoch)
            for p in create_segment_pairs(documents, config, ids, rng):
                yield p.token_ids, p.segment_ids, p.word_starts, p.nsp_label
            epoch += 1

    pairs = tf.data.Dataset.from_generator(generate, output_signature=_PAIR_SIGNATURE)
    batches = pairs.ragged_batch(batch_size, drop_remainder=drop_remainder)
    masked = _masked_batches(batches, config, ids, seed)
    return masked.map(lambda *f: _model_batch(*f, config=config, pad_id=ids.pad_id),
                      num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


# ------------------------------------------------------------------------------------------- static TFRecords

def _int_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _chunks(documents: Iterable[TokenizedDocument], size: int) -> Iterator[list[TokenizedDocument]]:
    chunk = []
    for doc in documents:
        chunk.append(doc)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_tfrecord_shards(documents: Iterable[TokenizedDocument], output_dir: str, ids: TokenIds,
                          config: PretrainingDataConfig, num_shards: int = 8, dupe_factor: int = 10,
                          seed: int = 12345, chunk_documents: int = 100_000, batch_size: int = 256) -> dict:
    """Static mode: ``dupe_factor`` differently cut and masked copies of the corpus, spread round-robin over
    ``num_shards`` files ``output_dir/pretraining-0000i-of-0000n.tfrecord`` (+ ``pretraining_data.json``).

    ``documents`` is consumed chunk by chunk (``chunk_documents`` at a time), so it can be a generator over a
    corpus larger than memory. Each shard is written under a temporary name and renamed when complete.
    Returns the metadata dict (also written as ``pretraining_data.json``).
    """
    if num_shards < 1 or dupe_factor < 1:
        raise PretrainingDataError(f"num_shards and dupe_factor must be >= 1, got {num_shards}, {dupe_factor}")
    os.makedirs(output_dir, exist_ok=True)
    names = [os.path.join(output_dir, f"pretraining-{i:05d}-of-{num_shards:05d}.tfrecord") for i in range(num_shards)]
    # One unique temporary file per shard: on success all are renamed into place, on any error all removed.
    with contextlib.ExitStack() as shards:
        tmp_names = [str(shards.enter_context(cache.atomic_path(n))) for n in names]
        writers = [tf.io.TFRecordWriter(n) for n in tmp_names]
        counts = {"examples": 0, "documents": 0, "tokens": 0, "masked": 0, "nsp_random": 0}

        @tf.function(reduce_retracing=True)
        def mask(token_ids, starts, index):
            return mask_batch(token_ids, starts, _seed_tensor(seed, index), config, ids)

        batch_index = 0
        try:
            for chunk_index, chunk in enumerate(_chunks(documents, chunk_documents)):
                counts["documents"] += len(chunk)
                for dupe in range(dupe_factor):
                    rng = random.Random(f"{seed}/{chunk_index}/{dupe}")
                    pairs = create_segment_pairs(chunk, config, ids, rng)
                    for start in range(0, len(pairs), batch_size):
                        group = pairs[start:start + batch_size]
                        token_ids = tf.ragged.constant([p.token_ids for p in group], tf.int32, ragged_rank=1)
                        starts = tf.ragged.constant([p.word_starts for p in group], tf.bool, ragged_rank=1)
                        masked, positions, mask_ids = mask(token_ids, starts, tf.constant(batch_index, tf.int64))
                        batch_index += 1
                        rows = zip(group, masked.to_list(), positions.to_list(), mask_ids.to_list())
                        for p, m, pos, mid in rows:
                            example = tf.train.Example(features=tf.train.Features(feature={
                                "token_ids": _int_feature(m), "segment_ids": _int_feature(p.segment_ids),
                                "mask_positions": _int_feature(pos), "mask_ids": _int_feature(mid),
                                "nsp_label": _int_feature([p.nsp_label])}))
                            writers[counts["examples"] % num_shards].write(example.SerializeToString())
                            counts["examples"] += 1
                            counts["tokens"] += len(m)
                            counts["masked"] += len(pos)
                            counts["nsp_random"] += p.nsp_label
        finally:
            for w in writers:
                w.close()
    meta = {"config": config.to_dict(), "vocab_size": ids.vocab_size, "num_shards": num_shards,
            "dupe_factor": dupe_factor, "seed": seed, "files": [os.path.basename(n) for n in names], **counts}
    with cache.atomic_write(os.path.join(output_dir, METADATA_FILE), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return meta


_RECORD_FEATURES = {"token_ids": tf.io.RaggedFeature(tf.int64), "segment_ids": tf.io.RaggedFeature(tf.int64),
                    "mask_positions": tf.io.RaggedFeature(tf.int64), "mask_ids": tf.io.RaggedFeature(tf.int64),
                    "nsp_label": tf.io.FixedLenFeature([], tf.int64)}


def _resolve_files(files):
    if isinstance(files, (str, os.PathLike)):
        files = os.fspath(files)
        if os.path.isdir(files):
            files = os.path.join(files, "*.tfrecord")
        found = sorted(glob.glob(files))
        if not found:
            raise PretrainingDataError(f"no TFRecord files match {files!r}")
        return found
    return [os.fspath(f) for f in files]


def _check_metadata(files, config):
    for d in sorted({os.path.dirname(f) for f in files}):
        path = os.path.join(d, METADATA_FILE)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            written = json.load(f)["config"]
        for key in ("max_seq_length", "max_predictions_per_seq"):
            if written[key] > getattr(config, key):
                raise PretrainingDataError(f"{path}: the data was written with {key}={written[key]}, larger than "
                                           f"the {getattr(config, key)} asked for; rows would be truncated")


def tfrecord_dataset(files, config: PretrainingDataConfig, batch_size: int, pad_id: int = 0, shuffle: bool = True,
                     seed: int | None = None, repeat: bool = True, shuffle_buffer: int = 10_000,
                     cycle_length: int = 8, input_context: tf.distribute.InputContext | None = None,
                     drop_remainder: bool = True) -> tf.data.Dataset:
    """Static mode reader: TFRecord shards (a directory, a glob or a list) read with parallel interleave.

    With ``input_context`` (``strategy.distribute_datasets_from_function``) each worker reads its own files.
    ``config`` gives the padded lengths; files written with a longer ``max_seq_length`` are refused.
    """
    files = _resolve_files(files)
    _check_metadata(files, config)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context is not None and input_context.num_input_pipelines > 1:
        if len(files) < input_context.num_input_pipelines:
            raise PretrainingDataError(f"{len(files)} shard files for {input_context.num_input_pipelines} workers; "
                                       "write at least one shard per worker")
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(cycle_length, len(files)),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def parse(serialized):
        f = tf.io.parse_example(serialized, _RECORD_FEATURES)
        return _model_batch(f["token_ids"], f["segment_ids"], f["mask_positions"], f["mask_ids"], f["nsp_label"],
                            config=config, pad_id=pad_id)

    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
