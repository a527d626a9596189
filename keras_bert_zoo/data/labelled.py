"""Labelled text files (CSV, TSV or JSON lines) -> texts, optional second segments, raw labels, line numbers.

    data = read_labelled_file("train.csv", text_column="text", label_column="label")
    data.texts, data.pairs, data.labels, data.lines

A header row names the columns (JSON lines: the fields). Invalid UTF-8 is replaced (counted and warned with
its lines, not fatal); a UTF-8 BOM is stripped; a UTF-16/32 file is an error (:mod:`keras_bert_zoo.data.textfile`).
Empty files, missing columns, rows with too few or too many fields, empty labels and quotes that swallow the
rows after them are errors that name the file, the line and the column.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

import numpy as np

from keras_bert_zoo.data.textfile import TextFileError, csv_records, decode_text, describe_lines, physical_lines, \
    swallowed_rows

__all__ = ["LabelledData", "LabelledFileError", "read_labelled_file", "count_truncated", "split_labels"]

logger = logging.getLogger(__name__)


class LabelledFileError(ValueError):
    """A labelled file that cannot be read: names the file, the line and the column."""


@dataclass
class LabelledData:
    """Rows read from a file: texts, optional second segments, raw label strings and source line numbers."""

    path: str
    texts: list = field(default_factory=list)
    pairs: list | None = None
    labels: list | None = None
    lines: list = field(default_factory=list)
    replaced_utf8: int = 0
    replaced_lines: list = field(default_factory=list)

    def __len__(self):
        return len(self.texts)


def _detect_format(path: str, file_format: str | None) -> str:
    if file_format:
        return file_format
    lower = path.lower()
    if lower.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if lower.endswith((".tsv", ".tab")):
        return "tsv"
    return "csv"


def _add_row(data: LabelledData, row: dict, line: int, path: str, columns: tuple, require_labels: bool):
    """Append one row (a dict by column) to ``data``; ``columns``: (text, pair or None, label or None)."""
    text_column, pair_column, label_column = columns
    for col in (text_column, pair_column, label_column if require_labels else None):
        if col and row.get(col) is None:
            raise LabelledFileError(f"{path}:{line}: column {col!r} is missing in this row")
    data.texts.append(str(row[text_column]))
    if pair_column:
        data.pairs.append(str(row[pair_column]))
    if label_column:
        if label_column in row and row[label_column] is not None:
            value = row[label_column]
            if isinstance(value, str):
                value = value.strip()
                if not value and require_labels:
                    raise LabelledFileError(f"{path}:{line}: empty value in column {label_column!r}")
            data.labels.append(value)
        elif require_labels:
            raise LabelledFileError(f"{path}:{line}: column {label_column!r} is missing in this row")
        else:
            data.labels.append(None)
    data.lines.append(line)


def _jsonl_rows(text: str, path: str):
    """(row dict, line) of each non-blank line of a JSON-lines text."""
    for i, line_text in enumerate(text.splitlines(), start=1):
        if not line_text.strip():
            continue
        try:
            row = json.loads(line_text)
        except json.JSONDecodeError as err:
            raise LabelledFileError(f"{path}:{i}: invalid JSON: {err.msg}") from err
        if not isinstance(row, dict):
            raise LabelledFileError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
        yield row, i


def _read_delimited(data: LabelledData, text: str, path: str, fmt: str, columns: tuple, require_labels: bool):
    """Add the rows of a CSV / TSV text to ``data``, checking the header, row widths and stray quotes."""
    label_column = columns[2]
    wanted = [c for c in (columns[0], columns[1], label_column if require_labels else None) if c]
    delimiter = "\t" if fmt == "tsv" else ","
    records = csv_records(text, path, delimiter, error=LabelledFileError)
    try:
        header = [h.strip() for h in next(records).fields]
    except StopIteration:
        raise LabelledFileError(f"{path}: the file is empty") from None
    missing = [c for c in wanted if c not in header]
    if missing:
        raise LabelledFileError(f"{path}:1: missing column(s) {missing} in the header; found columns {header}")
    spanning = []
    for record in records:
        row, line = record.fields, record.line
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) < len(header):
            short = [h for h in header[len(row):] if h in wanted]
            if short:
                raise LabelledFileError(f"{path}:{line}: row has {len(row)} fields, expected {len(header)}; "
                                        f"column(s) {short} missing")
        if len(row) > len(header) and any(v.strip() for v in row[len(header):]):
            raise LabelledFileError(f"{path}:{line}: row has {len(row)} fields, expected {len(header)} (the "
                                    f"header's columns {header}); quote a field that contains "
                                    f"{'a tab' if fmt == 'tsv' else 'a comma'}")
        if record.end_line > record.line:
            spanning.append(record)
        _add_row(data, dict(zip(header, row)), line, path, columns, require_labels)
    _check_quotes(data, spanning, text, header, label_column if require_labels else None, path, delimiter)


def read_labelled_file(path, text_column="text", pair_column=None, label_column="label",
                       file_format=None, require_labels=True) -> LabelledData:
    """Read a CSV / TSV / JSONL file of texts (+ pairs) (+ labels), with errors naming file, line and column."""
    path = str(path)
    if not os.path.isfile(path):
        raise LabelledFileError(f"{path}: no such file")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text, replaced_lines = decode_text(raw, path)
    except TextFileError as err:
        raise LabelledFileError(str(err)) from None
    replaced = (text.count("\ufffd") - raw.decode("utf-8", errors="ignore").count("\ufffd")) if replaced_lines else 0
    if not text.strip():
        raise LabelledFileError(f"{path}: the file is empty")
    fmt = _detect_format(path, file_format)
    data = LabelledData(path=path, pairs=[] if pair_column else None, labels=[] if label_column else None,
                        replaced_utf8=replaced, replaced_lines=replaced_lines)
    columns = (text_column, pair_column, label_column)
    if fmt == "jsonl":
        for row, line in _jsonl_rows(text, path):
            _add_row(data, row, line, path, columns, require_labels)
    elif fmt in ("csv", "tsv"):
        _read_delimited(data, text, path, fmt, columns, require_labels)
    else:
        raise LabelledFileError(f"{path}: unknown file format {fmt!r} (expected csv, tsv or jsonl)")
    if not data.texts:
        raise LabelledFileError(f"{path}: no data rows (only a header or blank lines)")
    if replaced:
        logger.warning("%s: %d invalid UTF-8 byte sequence(s) replaced with U+FFFD, on line(s) %s", path, replaced,
                       describe_lines(replaced_lines))
    return data


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _check_quotes(data, spanning, text, header, label_column, path, delimiter):
    """A quote that opens a field and closes rows later swallows those rows into one field: the label of such
    a row then holds a line break or a quote, or the field's inner lines look like rows of their own (each
    splits into the header's columns and ends in a known label). Raise naming the line where the quote opened.
    """
    labels = data.labels if label_column else None
    if labels is not None:
        for value, line in zip(labels, data.lines):
            if isinstance(value, str) and any(c in value for c in '"\r\n'):
                what = "a quote" if '"' in value and "\n" not in value and "\r" not in value else "a line break"
                raise LabelledFileError(
                    f"{path}:{line}: column {label_column!r} holds {what} ({value[:60]!r}): a quote opened on line "
                    f"{line} is not closed where it should be, so the rows after it were read into one field")
    if not spanning:
        return
    lines = physical_lines(text)
    known = set(labels or ())
    numeric = bool(known) and all(_is_number(v) for v in known)
    position = header.index(label_column) if label_column else None

    def looks_like_row(fields):
        if position is None:
            return False    # without labels an inner line cannot be told from a multi-line text
        value = fields[position].strip()
        return value in known or (numeric and _is_number(value))

    for record in spanning:
        inner = swallowed_rows(record, lines, delimiter, len(header), looks_like_row)
        if inner:
            raise LabelledFileError(
                f"{path}:{record.line}: a quoted field opened on this line runs to line {record.end_line} and holds "
                f"line(s) {describe_lines(inner)} that look like rows of their own; close the quote where the field "
                f"ends, or double a quote inside it (\"\")")


def count_truncated(tokenizer, texts, pairs, sequence_length) -> int:
    """How many examples need more than ``sequence_length`` tokens (with [CLS]/[SEP]) and will be truncated."""
    import tensorflow as tf

    def lengths(values):
        out = []
        for start in range(0, len(values), 1024):
            ids = tokenizer(tf.constant(values[start:start + 1024], dtype=tf.string))
            out.append(ids.row_lengths().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    total = lengths(list(texts)) + 2
    if pairs is not None:
        total = total + lengths(list(pairs)) + 1
    return int((total > sequence_length).sum())



def split_labels(value, separator):
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [p.strip() for p in str(value).split(separator) if p.strip()]


