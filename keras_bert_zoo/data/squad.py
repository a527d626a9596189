"""SQuAD v1.1 / v2.0 JSON files for extractive question answering.

The file is ``{"version": ..., "data": [{"title": ..., "paragraphs": [{"context": ..., "qas": [{"id", "question",
"answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}``. v2.0 adds ``is_impossible`` (and
``plausible_answers``, ignored). Character offsets (``answer_start``) index the context as a Python string.

Public API:
    QAExample(id, question, context, answers, is_impossible)
        ``answers``: tuple of (text, char_start); empty for unanswerable questions.
    read_squad(path, check_answers=True) -> (examples, version)   version "1.1" or "2.0"
    char_to_byte(text, char_index) -> byte offset in UTF-8

Example::

    >>> from keras_bert_zoo.data.squad import read_squad
    >>> examples, version = read_squad("dev-v2.0.json")
    >>> version
    '2.0'
    >>> examples[0].question, examples[0].answers, examples[0].is_impossible
    ('Which team won Super Bowl 50?', (('Denver Broncos', 127),), False)
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from keras_bert_zoo.data.textfile import read_text

__all__ = ["QAExample", "SquadError", "read_squad", "char_to_byte", "byte_to_char"]

logger = logging.getLogger(__name__)


class SquadError(ValueError):
    """A malformed SQuAD file: names the file, the question id (or position) and the field."""


@dataclasses.dataclass(frozen=True)
class QAExample:
    id: str
    question: str
    context: str
    answers: tuple = ()          # ((text, char_start), ...)
    is_impossible: bool = False


def char_to_byte(text: str, char_index: int) -> int:
    return len(text[:char_index].encode("utf-8"))


def byte_to_char(text: str, byte_index: int) -> int:
    return len(text.encode("utf-8")[:byte_index].decode("utf-8", errors="ignore"))


def _field(obj, key, kind, where, path):
    if not isinstance(obj, dict) or key not in obj:
        raise SquadError(f"{path}: {where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind):
        raise SquadError(f"{path}: {where}: field {key!r} should be {kind.__name__ if isinstance(kind, type) else kind}"
                         f", got {type(value).__name__}")
    return value


def read_squad(path, check_answers: bool = True) -> tuple[list[QAExample], str]:
    """Parse a SQuAD v1.1/v2.0 file.

    With ``check_answers``, an answer whose ``text`` does not equal ``context[answer_start:...]`` is an error
    naming the question id (the official files are consistent; hand-made files often are not).
    Returns the examples and the version ("2.0" when any question carries ``is_impossible``).
    """
    path = Path(path)
    if not path.is_file():
        raise SquadError(f"{path}: no such file")
    text = read_text(path, SquadError, logger)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise SquadError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    data = _field(doc, "data", list, "top level", path)
    examples, v2 = [], str(doc.get("version", "")).startswith("2")
    for a, article in enumerate(data):
        for p, para in enumerate(_field(article, "paragraphs", list, f"data[{a}]", path)):
            context = _field(para, "context", str, f"data[{a}].paragraphs[{p}]", path)
            for q, qa in enumerate(_field(para, "qas", list, f"data[{a}].paragraphs[{p}]", path)):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                qid = str(_field(qa, "id", (str, int), where, path))
                where = f"question id {qid!r}"
                question = _field(qa, "question", str, where, path)
                impossible = bool(qa.get("is_impossible", False))
                v2 = v2 or "is_impossible" in qa
                answers = []
                for n, ans in enumerate(_field(qa, "answers", list, where, path) if not impossible
                                        else qa.get("answers", []) or []):
                    text = _field(ans, "text", str, f"{where} answers[{n}]", path)
                    start = _field(ans, "answer_start", int, f"{where} answers[{n}]", path)
                    if isinstance(start, bool):
                        raise SquadError(f"{path}: {where} answers[{n}]: field 'answer_start' should be int, got bool")
                    if check_answers and not 0 <= start <= len(context) - len(text):
                        raise SquadError(
                            f"{path}: {where} answers[{n}]: answer_start {start} is outside the context "
                            f"({len(context)} characters; the answer {text!r} needs [0, "
                            f"{max(len(context) - len(text), 0)}])")
                    if check_answers and context[start:start + len(text)] != text:
                        raise SquadError(
                            f"{path}: {where} answers[{n}]: text {text!r} is not at answer_start {start} "
                            f"(context there reads {context[start:start + len(text)]!r})")
                    answers.append((text, start))
                if not impossible and not answers:
                    raise SquadError(f"{path}: {where}: no answers and not marked is_impossible")
                examples.append(QAExample(qid, question, context, tuple(answers), impossible))
    if not examples:
        raise SquadError(f"{path}: no questions")
    return examples, ("2.0" if v2 else "1.1")
