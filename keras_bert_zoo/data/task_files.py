"""Task files: the readers of the task models' file formats, each returning what ``fit`` / ``predict`` take.

    options = FileOptions(text_column="review", label_column="stars")
    data = labelled_reader("train.csv", options)
    data.x, data.y, data.lines                     # -> task.fit(data.x, data.y) / task.make_dataset(...)

Which reader a task uses, and which of the options it reads, is part of the task's
:class:`~keras_bert_zoo.tasks.registry.TaskSpec` (``keras_bert_zoo.tasks.read_task_file(task_type, path)``
reads a file the way the task named ``task_type`` does). The built-in readers:

=================  ==========================================  ============================================
reader             file                                        ``x`` / ``y``
=================  ==========================================  ============================================
labelled_reader    CSV / TSV / JSON lines (header names cols)  ``{"text": [...](, "text_pair")}`` / labels
regression_reader  same; targets must be finite numbers        same / float strings
conll_reader       CoNLL (word ... tag per line)               list of ``conll.Sentence`` / None
squad_reader       SQuAD JSON (v1.1 / v2.0)                    list of ``squad.QAExample`` / None
swag_reader        SWAG-style CSV / JSONL                      list of ``swag.ChoiceExample`` / None
lines_reader       text, one example per line                  list of str / None
pairs_reader       CSV / TSV with anchor and positive columns  ``{"anchor": [...], "positive": [...]}`` / None
=================  ==========================================  ============================================

Every reader is ``reader(path, options, require_targets=True) -> TaskFile``. :class:`FileOptions` is the one
set of file options; an option that the task's reader does not read is an error that names it
(:meth:`FileOptions.check`). Readers' errors name the file, the line and the column.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

from keras_bert_zoo.data.labelled import LabelledFileError, read_labelled_file
from keras_bert_zoo.data.textfile import csv_records, physical_lines, read_text

logger = logging.getLogger(__name__)

__all__ = ["FileOptions", "TaskFile", "TaskFileError", "read_text_lines", "read_pairs", "labelled_reader",
           "regression_reader", "conll_reader", "squad_reader", "swag_reader", "lines_reader", "pairs_reader",
           "LABELLED_OPTIONS"]


class TaskFileError(ValueError):
    """A task file that cannot be read, or an option that does not apply to the task type."""


@dataclasses.dataclass(frozen=True)
class FileOptions:
    """How to read a task's files (defaults in brackets).

    labelled / regression: ``text_column`` [text], ``pair_column`` [None], ``label_column`` [label],
    ``file_format`` [by extension: csv, tsv, jsonl]; CoNLL: ``word_column`` [0], ``tag_column`` [-1];
    SWAG: ``num_choices`` [from the file]; pairs: ``anchor_column`` [anchor], ``positive_column`` [positive].
    """

    text_column: str = "text"
    pair_column: str | None = None
    label_column: str = "label"
    file_format: str | None = None
    word_column: int = 0
    tag_column: int = -1
    num_choices: int | None = None
    anchor_column: str = "anchor"
    positive_column: str = "positive"

    def changed(self) -> list[str]:
        default = FileOptions()
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(default, f.name)]

    def check(self, read: tuple | set | frozenset, task_type: str) -> None:
        """Raise naming every option that was set but is not in ``read`` (the options the reader of the task
        ``task_type`` reads)."""
        unused = [name for name in self.changed() if name not in read]
        if unused:
            raise TaskFileError(f"option(s) {unused} do not apply to task {task_type!r} (its file options: "
                                f"{sorted(read) or 'none'})")


#: the options of :func:`labelled_reader` and :func:`regression_reader`
LABELLED_OPTIONS = ("text_column", "pair_column", "label_column", "file_format")


def _head(x, n: int) -> dict:
    """The first ``n`` examples of ``x`` as raw serving inputs (a dict of columns, or single texts)."""
    if isinstance(x, dict):
        return {k: list(v[:n]) for k, v in x.items()}
    return {"text": list(x[:n])}


@dataclasses.dataclass
class TaskFile:
    """A task file read into memory: ``x`` / ``y`` as the task's ``fit`` takes them, the source ``lines`` of
    the examples, ``records`` (the reader's own objects: LabelledData, sentences, examples, ...) and
    ``sampler`` (``sampler(x, n)``: the first ``n`` examples as raw serving inputs; default: the columns of a
    dict ``x``, or ``{"text": x[:n]}``). ``task_type`` is the task the file was read for."""

    task_type: str | None
    path: str
    x: Any
    y: Any
    lines: list
    records: Any = None
    extra: dict = dataclasses.field(default_factory=dict)
    sampler: Any = None

    def __len__(self):
        return len(self.lines)

    def serving_samples(self, n: int = 8) -> dict:
        """The first ``n`` examples as raw serving inputs ({input name: list of str}), e.g. to verify an export
        of a model trained on this file."""
        return (self.sampler or _head)(self.x, n)


def read_text_lines(path) -> list[str]:
    """Non-empty lines of a UTF-8 text file (BOM stripped, invalid bytes replaced and warned with their lines;
    UTF-16/32 is an error)."""
    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: no such file")
    lines = [line for line in physical_lines(read_text(path, TaskFileError, logger)) if line.strip()]
    if not lines:
        raise TaskFileError(f"{path}: no text lines (empty file?)")
    return lines


def read_pairs(path, anchor_column="anchor", positive_column="positive") -> tuple[list, list]:
    """(anchors, positives) from a CSV / TSV file with a header."""
    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: no such file")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    records = csv_records(read_text(path, TaskFileError, logger), path, delimiter, error=TaskFileError)
    first = next(records, None)
    if first is None:
        raise TaskFileError(f"{path}: the file is empty")
    header = [h.strip() for h in first.fields]
    missing = [c for c in (anchor_column, positive_column) if c not in header]
    if missing:
        raise TaskFileError(f"{path}:1: missing column(s) {missing}; header is {header}")
    a, p = header.index(anchor_column), header.index(positive_column)
    anchors, positives = [], []
    for record in records:
        row = record.fields
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            raise TaskFileError(f"{path}:{record.line}: row has {len(row)} fields, expected {len(header)} (the "
                                f"header's columns {header})")
        anchors.append(row[a])
        positives.append(row[p])
    if not anchors:
        raise TaskFileError(f"{path}: no rows")
    return anchors, positives


def _check_targets(data, path, column) -> None:
    """Regression targets must be finite numbers: name the first line that is not."""
    for value, line in zip(data.labels, data.lines):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not math.isfinite(number):
            raise TaskFileError(f"{path}:{line}: column {column!r}: expected a number (a regression target), got "
                                f"{value!r}")


def labelled_reader(path, options: FileOptions, require_targets: bool = True) -> TaskFile:
    """A CSV / TSV / JSON lines file of texts (and pairs) and labels."""
    path = str(path)
    try:
        data = read_labelled_file(path, options.text_column, options.pair_column,
                                  options.label_column if require_targets else None, options.file_format,
                                  require_labels=require_targets)
    except LabelledFileError as err:
        raise TaskFileError(str(err)) from None
    x = {"text": data.texts}
    if options.pair_column:
        x["text_pair"] = data.pairs
    return TaskFile(None, path, x, data.labels if require_targets else None, data.lines, data)


def regression_reader(path, options: FileOptions, require_targets: bool = True) -> TaskFile:
    """As :func:`labelled_reader`, the targets finite numbers (the first line that is not is named)."""
    data = labelled_reader(path, options, require_targets)
    if require_targets:
        _check_targets(data.records, data.path, options.label_column)
    return data


def _sentences_samples(x, n):
    return {"text": [" ".join(s.words) for s in x[:n]]}


def conll_reader(path, options: FileOptions, require_targets: bool = True) -> TaskFile:
    """A CoNLL file: one word and its tag per line, sentences separated by blank lines."""
    from keras_bert_zoo.data.conll import read_conll

    sentences = read_conll(str(path), word_column=options.word_column, tag_column=options.tag_column,
                           validate_tags=require_targets)
    return TaskFile(None, str(path), sentences, None, [s.line for s in sentences], sentences,
                    sampler=_sentences_samples)


def _qa_samples(x, n):
    return {"question": [e.question for e in x[:n]], "context": [e.context for e in x[:n]]}


def squad_reader(path, options: FileOptions, require_targets: bool = True) -> TaskFile:
    """A SQuAD JSON file (v1.1 or v2.0; ``extra["version"]``)."""
    from keras_bert_zoo.data.squad import read_squad

    examples, version = read_squad(str(path), check_answers=require_targets)
    return TaskFile(None, str(path), examples, None, list(range(1, len(examples) + 1)), examples,
                    {"version": version}, sampler=_qa_samples)


def _choice_samples(x, n):
    k = len(x[0].choices)
    return {"context": [e.context for e in x[:n]], **{f"choice_{i}": [e.choices[i] for e in x[:n]] for i in range(k)}}


def swag_reader(path, options: FileOptions, require_targets: bool = True) -> TaskFile:
    """A SWAG-style CSV / JSONL file (``extra["num_choices"]``: choices per example)."""
    from keras_bert_zoo.data.swag import read_swag

    examples = read_swag(str(path), num_choices=options.num_choices, require_labels=require_targets)
    return TaskFile(None, str(path), examples, None, [e.line for e in examples], examples,
                    {"num_choices": len(examples[0].choices)}, sampler=_choice_samples)


def lines_reader(path, options: FileOptions, require_targets: bool = True) -> TaskFile:
    """Plain text, one example per non-empty line."""
    lines = read_text_lines(path)
    return TaskFile(None, str(path), lines, None, list(range(1, len(lines) + 1)), lines)


def _anchor_samples(x, n):
    return {"text": list(x["anchor"][:n])}


def pairs_reader(path, options: FileOptions, require_targets: bool = True) -> TaskFile:
    """A CSV / TSV file of (anchor, positive) text pairs."""
    anchors, positives = read_pairs(path, options.anchor_column, options.positive_column)
    return TaskFile(None, str(path), {"anchor": anchors, "positive": positives}, None,
                    list(range(2, len(anchors) + 2)), (anchors, positives), sampler=_anchor_samples)
