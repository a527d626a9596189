"""Task files: one reader per task type, returning what the task models' ``fit`` / ``predict`` take.

    options = FileOptions(text_column="review", label_column="stars")
    data = read_task_file("classify", "train.csv", options)
    data.x, data.y, data.lines                     # -> task.fit(data.x, data.y) / task.make_dataset(...)

==========  ==========================================  ===================================================
task type   file                                        ``x`` / ``y``
==========  ==========================================  ===================================================
classify    CSV / TSV / JSON lines (header names cols)  ``{"text": [...](, "text_pair")}`` / label strings
regress     same                                        same / float strings
tag         CoNLL (word ... tag per line)               list of ``conll.Sentence`` / None (tags inside)
qa          SQuAD JSON (v1.1 / v2.0)                    list of ``squad.QAExample`` / None
choice      SWAG-style CSV / JSONL                      list of ``swag.ChoiceExample`` / None
fill_mask   text, one example per line                  list of str / None
embed       CSV / TSV with anchor and positive columns  ``{"anchor": [...], "positive": [...]}`` / None
==========  ==========================================  ===================================================

:class:`FileOptions` is the one set of file options; an option that the task type does not read is an error
that names it (:meth:`FileOptions.check`). Readers' errors name the file, the line and the column.
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

__all__ = ["FileOptions", "TaskFile", "TaskFileError", "read_task_file", "read_text_lines", "read_pairs",
           "FILE_OPTIONS"]


class TaskFileError(ValueError):
    """A task file that cannot be read, or an option that does not apply to the task type."""


@dataclasses.dataclass(frozen=True)
class FileOptions:
    """How to read a task's files (defaults in brackets).

    classify / regress: ``text_column`` [text], ``pair_column`` [None], ``label_column`` [label],
    ``file_format`` [by extension: csv, tsv, jsonl]; tag: ``word_column`` [0], ``tag_column`` [-1];
    choice: ``num_choices`` [from the file]; embed: ``anchor_column`` [anchor], ``positive_column`` [positive].
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

    def check(self, task_type: str) -> None:
        """Raise naming every option that was set but is not read for ``task_type``."""
        if task_type not in FILE_OPTIONS:
            raise TaskFileError(f"unknown task type {task_type!r}; known: {sorted(FILE_OPTIONS)}")
        unused = [name for name in self.changed() if name not in FILE_OPTIONS[task_type]]
        if unused:
            raise TaskFileError(f"option(s) {unused} do not apply to task {task_type!r} (its file options: "
                                f"{sorted(FILE_OPTIONS[task_type]) or 'none'})")


_LABELLED = ("text_column", "pair_column", "label_column", "file_format")
FILE_OPTIONS = {
    "classify": set(_LABELLED),
    "regress": set(_LABELLED),
    "tag": {"word_column", "tag_column"},
    "qa": set(),
    "choice": {"num_choices"},
    "fill_mask": set(),
    "embed": {"anchor_column", "positive_column"},
}


@dataclasses.dataclass
class TaskFile:
    """A task file read into memory: ``x`` / ``y`` as the task's ``fit`` takes them, the source ``lines`` of
    the examples, and ``records`` (the reader's own objects: LabelledData, sentences, examples, ...)."""

    task_type: str
    path: str
    x: Any
    y: Any
    lines: list
    records: Any = None
    extra: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return len(self.lines)

    def serving_samples(self, n: int = 8) -> dict:
        """The first ``n`` examples as raw serving inputs ({input name: list of str}), e.g. to verify an export
        of a model trained on this file."""
        t, x = self.task_type, self.x
        if t in ("classify", "regress"):
            return {k: list(v[:n]) for k, v in x.items()}
        if t == "tag":
            return {"text": [" ".join(s.words) for s in x[:n]]}
        if t == "qa":
            return {"question": [e.question for e in x[:n]], "context": [e.context for e in x[:n]]}
        if t == "choice":
            k = len(x[0].choices)
            return {"context": [e.context for e in x[:n]],
                    **{f"choice_{i}": [e.choices[i] for e in x[:n]] for i in range(k)}}
        if t == "embed":
            return {"text": list(x["anchor"][:n])}
        return {"text": list(x[:n])}


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


def read_task_file(task_type: str, path, options: FileOptions | None = None, *,
                   require_targets: bool = True) -> TaskFile:
    """Read ``path`` as a ``task_type`` file (see the module docstring)."""
    options = options or FileOptions()
    options.check(task_type)
    path = str(path)
    if task_type in ("classify", "regress"):
        try:
            data = read_labelled_file(path, options.text_column, options.pair_column,
                                      options.label_column if require_targets else None, options.file_format,
                                      require_labels=require_targets)
        except LabelledFileError as err:
            raise TaskFileError(str(err)) from None
        if task_type == "regress" and require_targets:
            _check_targets(data, path, options.label_column)
        x = {"text": data.texts}
        if options.pair_column:
            x["text_pair"] = data.pairs
        return TaskFile(task_type, path, x, data.labels if require_targets else None, data.lines, data)
    if task_type == "tag":
        from keras_bert_zoo.data.conll import read_conll

        sentences = read_conll(path, word_column=options.word_column, tag_column=options.tag_column,
                               validate_tags=require_targets)
        return TaskFile(task_type, path, sentences, None, [s.line for s in sentences], sentences)
    if task_type == "qa":
        from keras_bert_zoo.data.squad import read_squad

        examples, version = read_squad(path, check_answers=require_targets)
        return TaskFile(task_type, path, examples, None, list(range(1, len(examples) + 1)), examples,
                        {"version": version})
    if task_type == "choice":
        from keras_bert_zoo.data.swag import read_swag

        examples = read_swag(path, num_choices=options.num_choices, require_labels=require_targets)
        return TaskFile(task_type, path, examples, None, [e.line for e in examples], examples,
                        {"num_choices": len(examples[0].choices)})
    if task_type == "fill_mask":
        lines = read_text_lines(path)
        return TaskFile(task_type, path, lines, None, list(range(1, len(lines) + 1)), lines)
    anchors, positives = read_pairs(path, options.anchor_column, options.positive_column)
    return TaskFile(task_type, path, {"anchor": anchors, "positive": positives}, None,
                    list(range(2, len(anchors) + 2)), (anchors, positives))
