"""Raw text corpora for pretraining: documents made of sentences.

Two on-disk formats:

* ``"bert"``  the google-research/bert format: one sentence per line, a blank line between documents.
* ``"plain"`` ordinary text: paragraphs separated by blank lines are documents; each is split into sentences
  by :func:`split_sentences` (English ``. ! ?`` followed by space, and Chinese/Japanese ``。！？…`` which need
  no space after them; closing quotes and brackets stay with their sentence).

Files are read as UTF-8; a file that is not valid UTF-8 is an error naming the file and the line, unless
``errors="replace"`` is given. Documents are yielded one at a time, so a corpus larger than memory can be
streamed (see :func:`iter_documents`).

    from keras_bert_zoo.data.corpus import iter_documents, write_bert_corpus
    for document in iter_documents(["wiki.txt"], corpus_format="plain"):
        ...                                                   # a list of sentences
    write_bert_corpus(read_documents("wiki.txt", "plain"), "wiki.bert.txt")
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Iterator, Sequence

from keras_bert_zoo import cache

__all__ = ["CORPUS_FORMATS", "CorpusError", "split_sentences", "iter_documents", "read_documents"]

CORPUS_FORMATS = ("bert", "plain")


class CorpusError(ValueError):
    """A corpus file that cannot be read as asked."""


# A sentence ends at CJK end punctuation (possibly repeated, e.g. "！！" or "……"), or at ASCII . ! ? followed by
# whitespace; trailing closing quotes/brackets belong to the sentence that they close.
_CLOSERS = "\"'”’」』）)】》"
_SENTENCE_END = re.compile(
    rf"(?:[。！？!?…]+|(?<=[^\s.])\.)[{re.escape(_CLOSERS)}]*(?=\s|$)"   # ASCII or CJK end followed by space / end
    rf"|[。！？…]+[{re.escape(_CLOSERS)}]*"                             # CJK end: no space needed
)


def split_sentences(text: str) -> list[str]:
    """Splits a paragraph into sentences (English and Chinese end punctuation); strips each, drops empties.

    >>> split_sentences("It works. Does it? 我们走吧。好！")
    ['It works.', 'Does it?', '我们走吧。', '好！']
    """
    text = " ".join(text.split())  # newlines inside a paragraph are soft wraps
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        sentences.append(text[start:match.end()])
        start = match.end()
    sentences.append(text[start:])
    return [s.strip() for s in sentences if s.strip()]


def _lines(path: str, errors: str) -> Iterator[tuple[int, str]]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8", errors=errors)
            except UnicodeDecodeError as e:
                raise CorpusError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start}); "
                                  "fix the file or pass errors='replace'") from None
            yield lineno, line.rstrip("\r\n").lstrip("\ufeff")


def iter_documents(paths: str | os.PathLike | Sequence[str | os.PathLike], corpus_format: str = "bert",
                   errors: str = "strict") -> Iterator[list[str]]:
    """Yields documents (lists of sentence strings), one file after another, in order.

    Args:
        paths: a file or a list of files.
        corpus_format: ``"bert"`` (one sentence per line, blank line between documents) or ``"plain"``
            (blank-line separated paragraphs, split into sentences).
        errors: UTF-8 decoding policy (``"strict"`` raises :class:`CorpusError`; ``"replace"`` / ``"ignore"``).
    """
    if corpus_format not in CORPUS_FORMATS:
        raise CorpusError(f"corpus_format must be one of {CORPUS_FORMATS}, got {corpus_format!r}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in map(os.fspath, paths):
        if not os.path.isfile(path):
            raise CorpusError(f"corpus file not found: {path}")
        block: list[str] = []
        for _, line in _lines(path, errors):
            line = line.strip()
            if line:
                block.append(line)
                continue
            if block:
                yield _document(block, corpus_format)
                block = []
        if block:
            yield _document(block, corpus_format)


def _document(lines: list[str], corpus_format: str) -> list[str]:
    if corpus_format == "bert":
        return list(lines)
    return split_sentences(" ".join(lines))


def read_documents(paths, corpus_format: str = "bert", errors: str = "strict") -> list[list[str]]:
    """All documents of :func:`iter_documents` in a list (for corpora that fit in memory)."""
    return [d for d in iter_documents(paths, corpus_format, errors) if d]


def write_bert_corpus(documents: Iterable[Sequence[str]], path: str | os.PathLike) -> str:
    """Writes documents in the bert format (atomically: temp file, then rename). Returns the path."""
    path = os.fspath(path)
    with cache.atomic_write(path, "w", encoding="utf-8") as f:
        for doc in documents:
            sentences = [" ".join(s.split()) for s in doc if s.strip()]
            if sentences:
                f.write("\n".join(sentences) + "\n\n")
    return path
