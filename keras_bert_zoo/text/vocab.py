"""WordPiece vocabulary training (vocab.txt with the special tokens) for cased, uncased and Chinese text.

Words are produced exactly as the tokenizer sees them: the reference-exact normaliser of
:class:`~keras_bert_zoo.text.WordPieceTokenizer` (same FastBertNormalizer table), then tf-text's
``BasicTokenizer`` with normalisation off (split on whitespace, punctuation, and around every CJK ideograph).
Word counts go to tensorflow-text's WordPiece learner (``wordpiece_tokenizer_learner_lib.learn``, the algorithm
behind ``bert_vocab_from_dataset``), which keeps every frequent character (as ``c`` and ``##c``) and the
sub-words that cover the corpus best.

    count_words(texts, lowercase=True, strip_accents=None)        -> collections.Counter of words
    train_vocabulary(texts, vocab_size=8000, lowercase=True, ...)  -> list of tokens (specials first)
    write_vocabulary(tokens, path)                                  atomic vocab.txt write
    drop_unreachable_continuations(tokens)                          without ``##c`` for CJK / punctuation c
    read_text_lines(paths)                                          non-empty lines of UTF-8 text files

``texts`` may be any iterable of strings or a ``tf.data.Dataset`` of scalar strings. For Chinese (or any text
with many distinct characters) raise ``max_unique_chars`` so that every common ideograph gets its own token.

Example::

    >>> from keras_bert_zoo.text.vocab import read_text_lines, train_vocabulary, write_vocabulary
    >>> tokens = train_vocabulary(read_text_lines(["corpus.txt"]), vocab_size=8000, lowercase=True)
    >>> tokens[:5]                                        # the special tokens first
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    >>> write_vocabulary(tokens, "my_vocab.txt")              # one token a line; returns the path
    'my_vocab.txt'
"""

import collections
import os

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.python.ops import bert_tokenizer

from keras_bert_zoo import cache
from keras_bert_zoo.text import charmap
from keras_bert_zoo.text.tokenizer import SPECIAL_TOKENS


def _batches(texts, batch_size):
    if isinstance(texts, tf.data.Dataset):
        for batch in texts.batch(batch_size):
            yield batch
        return
    batch = []
    for text in texts:
        batch.append(text)
        if len(batch) == batch_size:
            yield tf.constant(batch, dtype=tf.string)
            batch = []
    if batch:
        yield tf.constant(batch, dtype=tf.string)


def count_words(texts, lowercase=True, strip_accents=None, batch_size=1024):
    """Counts the words the tokenizer would pass to WordPiece (see the module docstring)."""
    strip = lowercase if strip_accents is None else strip_accents
    model = charmap.normalizer_model(bool(lowercase), bool(strip))
    normalizer = tf_text.FastBertNormalizer(model_buffer=tf.constant(np.frombuffer(model, dtype=np.uint8)))
    splitter = bert_tokenizer.BasicTokenizer(lower_case=False, normalization_form=None)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def words_of(batch):
        return splitter.tokenize(normalizer.normalize(batch)).flat_values

    counts = collections.Counter()
    for batch in _batches(texts, batch_size):
        counts.update(w.decode("utf-8", errors="replace") for w in words_of(batch).numpy())
    return counts


def train_vocabulary(texts, vocab_size=8000, lowercase=True, strip_accents=None, reserved_tokens=None,
                     max_unique_chars=1000, max_token_length=50, lower_thresh=2, num_iterations=4):
    """Learns a WordPiece vocabulary; returns the tokens, ``reserved_tokens`` first (default: ``[PAD] [UNK]
    [CLS] [SEP] [MASK]``), so ``[PAD]`` has id 0."""
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    reserved = list(SPECIAL_TOKENS if reserved_tokens is None else reserved_tokens)
    if "[UNK]" not in reserved:
        raise ValueError("reserved_tokens must include [UNK]")
    counts = count_words(texts, lowercase=lowercase, strip_accents=strip_accents)
    counts.pop("", None)
    if not counts:
        raise ValueError("no words in the training texts")
    tokens = learner.learn(list(counts.items()), vocab_size=vocab_size, reserved_tokens=reserved,
                           upper_thresh=int(1e7), lower_thresh=lower_thresh, num_iterations=num_iterations,
                           max_token_length=max_token_length, max_unique_chars=max_unique_chars)
    seen, out = set(), []
    for token in tokens:  # the learner can repeat a reserved token; keep first occurrences
        if token not in seen:
            seen.add(token)
            out.append(token)
    return out


def is_isolated_char(char: str) -> bool:
    """Whether the basic tokenizer always makes ``char`` a word of its own: a CJK ideograph (the reference's
    ``_is_chinese_char`` ranges) or punctuation (``_is_punctuation``: ASCII symbols and Unicode category P*)."""
    import unicodedata

    cp = ord(char)
    if (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F):
        return True
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def drop_unreachable_continuations(tokens):
    """``tokens`` without the ``##c`` pieces of characters the tokenizer always isolates (CJK ideographs,
    punctuation): the WordPiece learner adds ``##c`` for every character it keeps, but such a ``c`` is always a
    whole word, so ``##c`` can never be produced (for Chinese that is half the vocabulary)."""
    return [t for t in tokens if not (len(t) == 3 and t.startswith("##") and is_isolated_char(t[2]))]


def write_vocabulary(tokens, path):
    """Writes vocab.txt (one token per line) atomically."""
    path = os.fspath(path)
    for i, token in enumerate(tokens):
        if "\n" in token or "\r" in token:
            raise ValueError(f"token {i} ({token!r}) contains a line break")
    with cache.atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(t + "\n" for t in tokens))
    return path


def read_text_lines(paths):
    """Yields the non-empty lines of UTF-8 text files (invalid bytes replaced)."""
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    yield line
