"""In-graph WordPiece tokenizer with exact parity with the reference BERT tokenizer.

``WordPieceTokenizer`` is a Keras layer that runs entirely in the TensorFlow graph with two tensorflow-text ops
that have TFLite kernels (``FastBertNormalize`` and ``FastWordpieceTokenizeWithOffsets``; ``detokenize`` uses
``FastWordpieceDetokenize``) plus plain arithmetic/gather ops, so the same graph serves ``tf.data``, Keras
models, SavedModels for TF Serving and TFLite.

Pipeline (string [B] -> ragged int32 [B, (N)]):

1. normalise with a ``FastBertNormalizer`` whose code-point table is built by :mod:`keras_bert_zoo.text.charmap`
   to reproduce the reference exactly (remove control / format / private-use characters, map whitespace to a
   space, strip accents with NFD, lower-case with the plain Unicode lower-case mapping);
2. ``FastWordpieceTokenizer`` in end-to-end mode splits on whitespace, punctuation and CJK ideographs (the same
   rules as the reference BasicTokenizer) and applies greedy longest-match-first WordPiece;
3. words longer than ``max_chars_per_word`` *characters* become one ``[UNK]`` (tf-text counts bytes; the
   reference counts characters, so the byte limit is raised and the character rule is applied here).

Byte offsets ``[start, end)`` into the ORIGINAL strings come from composing the normaliser's offset map with the
WordPiece offsets; they equal HF ``BertTokenizerFast``'s ``offset_mapping`` converted to UTF-8 bytes.

Public API (used by the converter, tasks, pretraining-data and export code):

    tok = WordPieceTokenizer("vocab.txt" or list, lowercase=True, strip_accents=None,
                             tokenize_chinese_chars=True, max_chars_per_word=100)
    tok(strings)                           -> tf.RaggedTensor int32 [B, (N)], no special tokens
    tok.tokenize(strings)                  -> same
    tok.tokenize_with_offsets(strings)     -> (ids int32, starts int64, ends int64), ragged [B, (N)]
    tok.detokenize(ids)                    -> string [B] (WordPiece pieces joined; "##" merged)
    tok.vocabulary (list), tok.vocab_size, tok.token_to_id(tok), tok.id_to_token(i)
    tok.cls_id, tok.sep_id, tok.pad_id, tok.mask_id, tok.unk_id   (None when the token is absent, except
                                                                  unk which is required)
    tok.save_assets(dir) / tok.load_assets(dir)   vocabulary.txt (Keras saves it inside .keras files)

Options: ``lowercase`` (uncased models), ``strip_accents`` (None: same as ``lowercase``, like HF),
``tokenize_chinese_chars`` (must be True: every released BERT uses it; the in-graph splitter always isolates
CJK ideographs), ``max_chars_per_word`` (reference: 100), ``special_tokens_in_strings`` (default False, as
google-research/bert: ``"[MASK]"`` in a text is the three tokens ``[``, ``mask``, ``]``; True: the special
tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` written literally, case-sensitive, anywhere in the original text, map
to their ids, as HF ``BertTokenizerFast`` does by default; ``tokenize(..., special_tokens_in_strings=)``
overrides it per call — fill-mask does).
"""

import os

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_zoo import cache
from keras_bert_zoo.text import charmap

VOCAB_ASSET = "vocabulary.txt"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def continuation_mask(vocabulary) -> np.ndarray:
    """bool [V]: which tokens are WordPiece continuations (``##x``; the bare ``##`` token is not) — the one
    definition the tokenizer, the NER word grouping and whole-word masking use."""
    return np.array([t.startswith("##") and len(t) > 2 for t in vocabulary], dtype=bool)


def load_vocabulary(path):
    """Tokens of a vocab.txt file, one per line (line i -> id i); line breaks are stripped."""
    with open(path, "rb") as f:
        return parse_vocabulary(f.read(), path)


def parse_vocabulary(raw, path="vocabulary"):
    """Tokens of the bytes of a vocab.txt file (what :func:`load_vocabulary` reads); ``path`` names it in
    errors."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: vocabulary is not valid UTF-8 (byte {e.start})") from None
    tokens = [line.rstrip("\r") for line in text.split("\n")]
    if tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise ValueError(f"{path}: empty vocabulary file")
    return tokens


def special_ids(vocabulary, tokens, purpose=""):
    """The ids of the special ``tokens`` in ``vocabulary`` (a token list, line i = id i, or a token -> id
    mapping): the one special-id lookup of the package. A ValueError names every missing token.

        cls_id, sep_id = special_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]"], ("[CLS]", "[SEP]"))   # (2, 3)
    """
    index = vocabulary if isinstance(vocabulary, dict) else {t: i for i, t in enumerate(vocabulary)}
    missing = [t for t in tokens if t not in index]
    if missing:
        raise ValueError(f"the vocabulary lacks the special tokens {missing}" + (f" ({purpose})" if purpose else ""))
    return tuple(index[t] for t in tokens)


def _check_vocabulary(tokens, where):
    for i, tok in enumerate(tokens):
        if not isinstance(tok, str):
            raise ValueError(f"{where}: token {i} is {type(tok).__name__}, expected str")
    if "[UNK]" not in tokens:
        raise ValueError(f"{where}: the vocabulary has no [UNK] token")


def _keep_tokens(keep, row_splits, *flat_values):
    """Ragged boolean mask by hand (cumsum + gather; ``tf.ragged.boolean_mask`` needs UnsortedSegmentSum, which
    has no TFLite kernel): -> (the kept flat values, the new int64 row splits)."""
    kept_before = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(tf.cast(keep, tf.int64))], axis=0)
    keep_index = tf.reshape(tf.where(keep), [-1])
    return tuple(tf.gather(v, keep_index) for v in flat_values), tf.gather(kept_before, row_splits)


def _original_offsets(byte_splitter, strings, norm_map, starts, ends):
    """Maps [start, end) in the normalised strings to byte offsets in the original strings."""
    norm_map = tf.cast(norm_map, tf.int64)
    row_ids = starts.value_rowids()
    map_base = tf.gather(norm_map.row_starts(), row_ids)
    orig_start = tf.gather(norm_map.flat_values, map_base + starts.flat_values)
    # End: the original code point holding the token's last normalised byte, up to its end. Unchanged
    # characters map byte to byte (the last byte maps to a continuation or ASCII byte: end = pos + 1);
    # rewritten characters map every output byte to their lead byte (end = pos + UTF-8 length).
    last = tf.gather(norm_map.flat_values, map_base + tf.maximum(ends.flat_values - 1, starts.flat_values))
    orig_bytes = byte_splitter.split(strings)
    orig_base = tf.gather(orig_bytes.row_starts(), row_ids)
    byte = tf.cast(tf.gather(orig_bytes.flat_values, orig_base + last), tf.int64)
    length = tf.where(byte >= 0xF0, 4, tf.where(byte >= 0xE0, 3, tf.where(byte >= 0xC0, 2, 1)))
    length = tf.cast(length, tf.int64)
    orig_end = last + length
    return starts.with_flat_values(orig_start), ends.with_flat_values(orig_end)


def _merge_special_tokens(byte_splitter, specials, strings, ids, starts, ends):
    """Each ``[PAD] [UNK] [CLS] [SEP] [MASK]`` written in the original text -> its one id.

    A literal special token always starts with the punctuation ``[`` (a token of its own) and ends with ``]``,
    so it is the run of tokens whose original byte offsets lie in ``[s, s + len)`` where the token at ``s``
    is followed, byte for byte in the ORIGINAL string, by the special token (case-sensitive, like HF's added
    tokens with ``normalized=False``). ``specials``: [(token, id)] of the vocabulary's special tokens. Gathers
    and comparisons only (TFLite builtins)."""
    if not specials:
        return ids, starts, ends
    flat_ids, flat_starts, flat_ends = ids.flat_values, starts.flat_values, ends.flat_values
    row = ids.value_rowids()
    orig = byte_splitter.split(strings)
    flat_bytes = tf.cast(orig.flat_values, tf.int32)
    last_byte = tf.maximum(tf.shape(flat_bytes, out_type=tf.int64)[0] - 1, 0)
    flat_bytes = tf.concat([flat_bytes, tf.zeros([1], tf.int32)], axis=0)  # gathers below never go OOB
    base = tf.gather(tf.cast(orig.row_starts(), tf.int64), row)
    room = tf.gather(tf.cast(orig.row_lengths(), tf.int64), row) - flat_starts   # bytes left in the row
    new_ids, span_end = flat_ids, tf.fill(tf.shape(flat_starts), tf.constant(-1, tf.int64))
    for token, token_id in specials:
        pattern = token.encode("utf-8")
        match = room >= len(pattern)
        for j, byte in enumerate(pattern):
            at = tf.minimum(base + flat_starts + j, last_byte)
            match = tf.logical_and(match, tf.equal(tf.gather(flat_bytes, at), byte))
        new_ids = tf.where(match, tf.constant(token_id, tf.int32), new_ids)
        span_end = tf.where(match, flat_starts + len(pattern), span_end)
    # Tokens that start inside a matched span (at most len - 1 of them: each token spans >= 1 byte) go.
    longest = max(len(t.encode("utf-8")) for t, _ in specials)
    n = tf.shape(flat_ids, out_type=tf.int64)[0]
    position = tf.range(n, dtype=tf.int64)
    inside = tf.zeros_like(position, tf.bool)
    for k in range(1, longest):
        prev = tf.maximum(position - k, 0)
        covered = tf.logical_and(tf.equal(tf.gather(row, prev), row),
                                 flat_starts < tf.gather(span_end, prev))
        inside = tf.logical_or(inside, tf.logical_and(position >= k, covered))
    new_ends = tf.where(span_end >= 0, span_end, flat_ends)
    (new_ids, new_starts, new_ends), splits = _keep_tokens(tf.logical_not(inside),
                                                           tf.cast(ids.row_splits, tf.int64),
                                                           new_ids, flat_starts, new_ends)
    return tuple(tf.RaggedTensor.from_row_splits(v, splits, validate=False)
                 for v in (new_ids, new_starts, new_ends))


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class WordPieceTokenizer(keras.layers.Layer):
    """Reference-exact BERT WordPiece tokenizer as a Keras layer (see the module docstring).

    Args:
        vocabulary: path of a vocab.txt file or a list of tokens (id = position). May be None only when the
            vocabulary is loaded afterwards with ``load_assets`` (what Keras does when loading a .keras file).
        lowercase: lower-case the text (uncased models).
        strip_accents: remove accents (NFD + drop non-spacing marks); None = same as ``lowercase``.
        tokenize_chinese_chars: isolate each CJK ideograph (always True for released BERTs).
        max_chars_per_word: words with more characters become a single ``[UNK]``.
        special_tokens_in_strings: map ``[PAD] [UNK] [CLS] [SEP] [MASK]`` written in the text to their ids
            (HF ``BertTokenizerFast``); default False (google-research/bert: they are split like any text).
    """

    def __init__(self, vocabulary=None, lowercase=True, strip_accents=None, tokenize_chinese_chars=True,
                 max_chars_per_word=100, special_tokens_in_strings=False, **kwargs):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if not tokenize_chinese_chars:
            raise ValueError("tokenize_chinese_chars=False is not supported: the in-graph splitter "
                             "(FastWordpieceTokenizer) always isolates CJK ideographs, as every released BERT does")
        if int(max_chars_per_word) < 1:
            raise ValueError(f"max_chars_per_word must be >= 1, got {max_chars_per_word}")
        self.lowercase = bool(lowercase)
        self.strip_accents = None if strip_accents is None else bool(strip_accents)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.max_chars_per_word = int(max_chars_per_word)
        self.special_tokens_in_strings = bool(special_tokens_in_strings)
        self._vocabulary = None
        self._normalizer_model = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # ------------------------------------------------------------------ vocabulary
    def set_vocabulary(self, vocabulary):
        """(Re)builds the in-graph tables from a vocab.txt path or a token list."""
        if isinstance(vocabulary, (str, os.PathLike)):
            where = os.fspath(vocabulary)
            tokens = load_vocabulary(vocabulary)
        else:
            where = "vocabulary"
            tokens = [t.decode("utf-8") if isinstance(t, bytes) else t for t in vocabulary]
        _check_vocabulary(tokens, where)
        self._vocabulary = list(tokens)
        self._index = {t: i for i, t in enumerate(self._vocabulary)}
        strip = self.lowercase if self.strip_accents is None else self.strip_accents
        model = charmap.normalizer_model(self.lowercase, strip)
        self._normalizer = tf_text.FastBertNormalizer(
            model_buffer=tf.constant(np.frombuffer(model, dtype=np.uint8)))
        # The byte limit is a safe upper bound of the character limit (<= 4 bytes per character); the
        # character rule is applied afterwards in _apply_char_limit.
        # FastWordpiece needs unique, non-empty tokens. A vocab.txt with a repeated token maps it to its LAST
        # line, like the reference (a dict filled line by line); the op then works on the de-duplicated list
        # and its ids are mapped back with a gather (only built when needed).
        unique = [t for t in dict.fromkeys(self._vocabulary) if t != ""]
        self._to_vocab_id = None
        self._from_vocab_id = None
        if len(unique) != len(self._vocabulary):
            self._to_vocab_id = tf.constant([self._index[t] for t in unique], dtype=tf.int32)
            position = {t: i for i, t in enumerate(unique)}
            self._from_vocab_id = tf.constant([position.get(t, position["[UNK]"]) for t in self._vocabulary],
                                              dtype=tf.int32)
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=unique, suffix_indicator="##", max_bytes_per_word=4 * self.max_chars_per_word,
            token_out_type=tf.int32, unknown_token="[UNK]", no_pretokenization=False,
            support_detokenization=True)
        self._is_suffix = tf.constant(continuation_mask(self._vocabulary))
        self._byte_splitter = tf_text.ByteSplitter()

    @property
    def vocabulary(self):
        self._require_vocab()
        return list(self._vocabulary)

    def get_vocabulary(self):
        return self.vocabulary

    @property
    def vocab_size(self):
        self._require_vocab()
        return len(self._vocabulary)

    def vocabulary_size(self):
        return self.vocab_size

    def token_to_id(self, token):
        self._require_vocab()
        if token not in self._index:
            raise KeyError(f"token {token!r} is not in the vocabulary")
        return self._index[token]

    def id_to_token(self, token_id):
        self._require_vocab()
        token_id = int(token_id)
        if not 0 <= token_id < len(self._vocabulary):
            raise KeyError(f"id {token_id} is outside the vocabulary [0, {len(self._vocabulary)})")
        return self._vocabulary[token_id]

    def _special(self, token):
        self._require_vocab()
        return self._index.get(token)

    pad_id = property(lambda self: self._special("[PAD]"), doc="id of [PAD] (None when absent)")
    unk_id = property(lambda self: self._special("[UNK]"), doc="id of [UNK]")
    cls_id = property(lambda self: self._special("[CLS]"), doc="id of [CLS] (None when absent)")
    sep_id = property(lambda self: self._special("[SEP]"), doc="id of [SEP] (None when absent)")
    mask_id = property(lambda self: self._special("[MASK]"), doc="id of [MASK] (None when absent)")

    def special_ids(self, *tokens, purpose=""):
        """The ids of ``tokens``; a missing one is an error (see :func:`special_ids`)."""
        self._require_vocab()
        return special_ids(self._index, tokens, purpose)

    def _require_vocab(self):
        if self._vocabulary is None:
            raise ValueError("WordPieceTokenizer has no vocabulary yet: pass `vocabulary=` or call load_assets")

    # ------------------------------------------------------------------ Keras plumbing
    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary": None,  # saved as an asset (save_assets), never in the JSON config
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "max_chars_per_word": self.max_chars_per_word,
            "special_tokens_in_strings": self.special_tokens_in_strings,
        })
        return config

    @classmethod
    def from_config(cls, config):
        """A tokenizer from its config, WITHOUT its vocabulary: Keras then reads it from the saved assets
        (``load_assets``). A config naming a vocabulary is refused, whatever ``safe_mode``: a loader never opens a
        path (or reads tokens) that a config from someone else names (a path could be ``/etc/passwd`` or a FIFO
        that blocks the load forever)."""
        vocabulary = config.get("vocabulary")
        if vocabulary is not None:
            what = f"the path {vocabulary!r}" if isinstance(vocabulary, (str, bytes, os.PathLike)) else (
                f"a {type(vocabulary).__name__}")
            raise ValueError(f"WordPieceTokenizer config: field 'vocabulary' holds {what}; a saved tokenizer's "
                             f"vocabulary is its asset ({VOCAB_ASSET}), never named by the config: refusing to load")
        return cls(**config)

    def save_assets(self, dir_path):
        self._require_vocab()
        path = os.path.join(dir_path, VOCAB_ASSET)
        with cache.atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
            for token in self._vocabulary:
                f.write(token + "\n")

    def load_assets(self, dir_path):
        self.set_vocabulary(os.path.join(dir_path, VOCAB_ASSET))

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(tuple(inputs.shape) + (None,), dtype="int32", ragged=True)

    def build(self, input_shape=None):
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (str, bytes, list, tuple)):
            inputs = tf.constant(inputs, dtype=tf.string)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        return self.tokenize(inputs)

    # ------------------------------------------------------------------ tokenization
    def tokenize(self, strings, special_tokens_in_strings=None):
        """string [B] (or scalar) -> ragged int32 [B, (N)] token ids (no [CLS]/[SEP] added).

        ``special_tokens_in_strings``: None = the layer's setting (see the class docstring)."""
        ids, _, _ = self._tokenize(strings, want_offsets=False, specials=special_tokens_in_strings)
        return ids

    def tokenize_with_offsets(self, strings, special_tokens_in_strings=None):
        """-> (ids int32, starts int64, ends int64), ragged [B, (N)]; UTF-8 byte offsets [start, end) into
        the original strings (what HF's ``offset_mapping`` gives in characters)."""
        return self._tokenize(strings, want_offsets=True, specials=special_tokens_in_strings)

    def _tokenize(self, strings, want_offsets, specials=None):
        self._require_vocab()
        strings = tf.convert_to_tensor(strings)
        if strings.dtype != tf.string:
            raise TypeError(f"WordPieceTokenizer expects a string tensor, got {strings.dtype}")
        scalar = strings.shape.rank == 0
        if scalar:
            strings = strings[tf.newaxis]
        if strings.shape.rank != 1:
            raise ValueError(f"WordPieceTokenizer expects strings of shape [batch], got {strings.shape}")
        specials = self.special_tokens_in_strings if specials is None else bool(specials)
        if want_offsets or specials:
            normalized, norm_map = self._normalizer.normalize_with_offsets(strings)
        else:
            normalized, norm_map = self._normalizer.normalize(strings), None
        ids, starts, ends = self._wordpiece.tokenize_with_offsets(normalized)
        ids = tf.cast(ids, tf.int32)
        if self._to_vocab_id is not None:
            ids = ids.with_flat_values(tf.gather(self._to_vocab_id, ids.flat_values))
        ids, starts, ends = self._apply_char_limit(normalized, ids, starts, ends)
        if want_offsets or specials:
            starts, ends = _original_offsets(self._byte_splitter, strings, norm_map, starts, ends)
        if specials:
            specials_in_vocab = [(t, self._index[t]) for t in SPECIAL_TOKENS if t in self._index]
            ids, starts, ends = _merge_special_tokens(self._byte_splitter, specials_in_vocab, strings, ids,
                                                      starts, ends)
        if scalar:
            ids, starts, ends = ids[0], starts[0], ends[0]
        return ids, starts, ends

    def _apply_char_limit(self, normalized, ids, starts, ends):
        """Words with more than ``max_chars_per_word`` characters -> one [UNK] spanning the word.

        Cheap check first: a word of at most ``max_chars_per_word`` bytes cannot be too long, so the character
        count (which needs the normalised bytes) only runs, under a ``tf.cond``, for batches that have a
        longer word."""
        flat_ids = ids.flat_values
        flat_starts = tf.cast(starts.flat_values, tf.int64)
        flat_ends = tf.cast(ends.flat_values, tf.int64)
        splits = tf.cast(ids.row_splits, tf.int64)
        # Word boundaries: a word starts at every token that is not a "##" continuation.
        word_start = tf.logical_not(tf.gather(self._is_suffix, flat_ids))
        # First / last token of each word (gathers only: no segment reductions, which TFLite lacks for int64).
        first_token = tf.reshape(tf.where(word_start), [-1])
        num_tokens = tf.shape(flat_ids, out_type=tf.int64)[0]
        last_token = tf.concat([first_token[1:] - 1, tf.reshape(num_tokens - 1, [1])], axis=0)
        last_token = last_token[: tf.shape(first_token)[0]]
        word_first = tf.gather(flat_starts, first_token)   # byte offsets within each normalised string
        word_last = tf.gather(flat_ends, last_token)
        any_long = tf.reduce_any(word_last - word_first > self.max_chars_per_word)

        def unchanged():
            return flat_ids, flat_starts, flat_ends, splits

        def limited():
            word_index = tf.cumsum(tf.cast(word_start, tf.int64)) - 1
            # Character boundaries: UTF-8 lead bytes before each byte of the concatenated normalised strings
            # (comparisons, not BitwiseAnd: TFLite has no builtin for it).
            byte_rows = self._byte_splitter.split(normalized)
            byte = tf.cast(byte_rows.flat_values, tf.int32)
            lead = tf.cast(tf.logical_or(byte < 0x80, byte >= 0xC0), tf.int64)
            chars_before = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(lead)], axis=0)
            row_base = tf.cast(tf.gather(byte_rows.row_starts(), ids.value_rowids()), tf.int64)
            word_base = tf.gather(row_base, first_token)
            word_chars = (tf.gather(chars_before, word_last + word_base)
                          - tf.gather(chars_before, word_first + word_base))
            too_long = tf.gather(word_chars > self.max_chars_per_word, word_index)
            new_ids = tf.where(too_long, self.unk_id, flat_ids)
            new_ends = tf.where(too_long, tf.gather(word_last, word_index), flat_ends)
            keep = tf.logical_or(word_start, tf.logical_not(too_long))
            (new_ids, new_starts, new_ends), new_splits = _keep_tokens(keep, splits, new_ids, flat_starts,
                                                                       new_ends)
            return new_ids, new_starts, new_ends, new_splits

        new_ids, new_starts, new_ends, new_splits = tf.cond(any_long, limited, unchanged)

        def ragged(values):
            return tf.RaggedTensor.from_row_splits(values, new_splits, validate=False)

        return ragged(new_ids), ragged(new_starts), ragged(new_ends)

    def detokenize(self, ids):
        """ids ragged/dense int [B, N] -> string [B]: pieces joined with spaces, ``##`` pieces merged.
        (Lossy, like the reference: casing, accents and spacing around punctuation are not restored.)"""
        self._require_vocab()
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.convert_to_tensor(ids)
        ids = tf.cast(ids, tf.int32)
        if self._from_vocab_id is not None:
            ids = tf.gather(self._from_vocab_id, ids)  # works on dense and ragged ids
        return self._wordpiece.detokenize(ids)
