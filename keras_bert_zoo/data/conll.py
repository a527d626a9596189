"""CoNLL-style token-classification files (CoNLL-2003, WNUT, MSRA/People's Daily character files, ...).

Format: one token per line, columns separated by whitespace (or tabs), the word first and the tag in a chosen
column (last by default); a blank line ends a sentence; ``-DOCSTART-`` lines are document separators and are
skipped. Tags use a prefix scheme (``B-``/``I-``/``E-``/``S-`` + type, or ``O``).

Public API:
    Sentence(words, tags, line, source)    one sentence; ``line`` is its first line number (1-based), ``source``
                                            the file it was read from ("" when built in memory)
    read_conll(path, word_column=0, tag_column=-1) -> list[Sentence]
    label_list(sentences)                   sorted label set with "O" first
    join_words(words) -> (text, char_starts)  the sentence text as the words joined by one space
    write_conll(path, sentences)            atomic write (used by tests and examples)

Example::

    >>> from keras_bert_zoo.data.conll import label_list, read_conll
    >>> sentences = read_conll("train.txt")              # CoNLL-2003: the word first, the NER tag last
    >>> label_list(sentences)[:4]
    ['O', 'B-LOC', 'I-LOC', 'B-MISC']
    >>> sentences[0].words[:3], sentences[0].tags[:3], sentences[0].line
    (('EU', 'rejects', 'German'), ('B-ORG', 'O', 'B-MISC'), 3)
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

from keras_bert_zoo import cache
from keras_bert_zoo.data.textfile import physical_lines, read_text

__all__ = ["Sentence", "ConllError", "read_conll", "label_list", "join_words", "write_conll", "TAG_PATTERN"]

logger = logging.getLogger(__name__)

#: tags accepted by the entity decoder (seqeval's prefix schemes)
TAG_PATTERN = re.compile(r"^(O|[BIES](-.+)?)$")


class ConllError(ValueError):
    """A malformed CoNLL file: names the file, the line and what was expected."""


@dataclasses.dataclass(frozen=True)
class Sentence:
    words: tuple
    tags: tuple
    line: int = 0
    source: str = ""

    def where(self, word_index: int | None = None) -> str:
        """``file:line`` of the sentence (of its ``word_index``-th word: one word a line), for error messages."""
        line = self.line + (word_index or 0) if self.line else 0
        if self.source:
            return f"{self.source}:{line}" if line else self.source
        return f"line {line}" if line else "<memory>"


def read_conll(path, word_column: int = 0, tag_column: int = -1, encoding: str = "utf-8",
               validate_tags: bool = True) -> list[Sentence]:
    """Read a CoNLL file into sentences.

    Args:
        path: the file.
        word_column / tag_column: column indices (negative counts from the end).
        validate_tags: raise on tags outside the ``O`` / ``[BIES]-TYPE`` schemes.
    Raises:
        ConllError: missing file, a UTF-16/32 file, empty file (no sentence), a line with too few columns or
            with another number of columns than the file's first token line, a bad tag.
    """
    path = Path(path)
    if not path.is_file():
        raise ConllError(f"{path}: no such file")
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        text = read_text(path, ConllError, logger)
    else:
        with open(path, encoding=encoding, errors="replace", newline="") as f:
            text = f.read()
    sentences, words, tags, start = [], [], [], 0
    width = None   # (columns, first line with that many): every token line of a file has the same columns
    need = max(word_column if word_column >= 0 else -word_column - 1,
               tag_column if tag_column >= 0 else -tag_column - 1) + 1
    for lineno, raw in enumerate(physical_lines(text), 1):
        line = raw.strip()
        if not line or line.startswith("-DOCSTART-"):
            if words:
                sentences.append(Sentence(tuple(words), tuple(tags), start, str(path)))
                words, tags = [], []
            continue
        cols = line.split()
        if len(cols) < max(need, 2):
            raise ConllError(f"{path}:{lineno}: expected at least {max(need, 2)} columns (word ... tag), "
                             f"got {len(cols)}: {line!r}")
        if width is None:
            width = (len(cols), lineno)
        elif len(cols) != width[0]:
            raise ConllError(f"{path}:{lineno}: {len(cols)} columns, but line {width[1]} has {width[0]} (every token "
                             f"line needs the same columns; a word with a space in it?): {line!r}")
        tag = cols[tag_column]
        if validate_tags and not TAG_PATTERN.match(tag):
            raise ConllError(f"{path}:{lineno}: tag {tag!r} is not 'O' or B-/I-/E-/S-TYPE (column {tag_column}; "
                             f"the IOB/IOBES tag schemes)")
        if not words:
            start = lineno
        words.append(cols[word_column])
        tags.append(tag)
    if words:
        sentences.append(Sentence(tuple(words), tuple(tags), start, str(path)))
    if not sentences:
        raise ConllError(f"{path}: no sentences (empty file?)")
    return sentences


def label_list(sentences) -> list[str]:
    """All tags, ``O`` first then sorted by entity type and prefix (B before I before E before S)."""
    tags = {t for s in sentences for t in s.tags}
    tags.add("O")
    order = {"B": 0, "I": 1, "E": 2, "S": 3}
    rest = sorted(tags - {"O"}, key=lambda t: (t[2:], order.get(t[0], 9), t))
    return ["O"] + rest


def join_words(words) -> tuple[str, list[int]]:
    """``" ".join(words)`` and the character offset where each word starts."""
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    return " ".join(words), starts


def write_conll(path, sentences, encoding: str = "utf-8"):
    """Write ``word tag`` lines, a blank line after each sentence (atomic: temp file then rename)."""
    with cache.atomic_write(path, "w", encoding=encoding) as f:
        for s in sentences:
            for w, t in zip(s.words, s.tags):
                f.write(f"{w} {t}\n")
            f.write("\n")
