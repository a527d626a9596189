"""Reading text data files the same way everywhere: the encoding check and the CSV/TSV record reader that the
labelled, pair, SWAG, CoNLL and SQuAD readers share.

    text, bad_lines = decode_text(raw_bytes, "train.csv")     # UTF-8 (BOM stripped); UTF-16/32 is an error
    for record in csv_records(text, "train.csv", delimiter=","):
        record.line, record.end_line, record.fields

Decisions, each with its reason:

* **Encoding.** Files are UTF-8; a UTF-8 byte-order mark is stripped (Excel writes one; left in place it would
  become part of the first column's name). A UTF-16 or UTF-32 file (BOM, or the NUL bytes of UTF-16 text without
  one) is an error that says so and how to fix it: decoded as UTF-8 it would give a garbled header instead.
  Invalid UTF-8 byte sequences are replaced with U+FFFD, as before, and reported with the lines they are on
  (the caller warns; one stray byte in a corpus should not stop a run).
* **Field size.** Python's csv module refuses fields over 128 KiB with a bare ``field larger than field limit``.
  We read fields up to :data:`MAX_FIELD_CHARS` (16 Mi characters): a long document is legitimate input, and
  the tokenizer truncates it to ``sequence_length`` later, which is counted and warned
  (``reports.warn_truncation``), never silent. A larger field is an error naming the file, the line where the
  field starts, the column and the limit: that much text in one cell is almost always a quote that never closed.
* **Quotes.** The reader is strict: a quoted field still open at the end of the file, or text right after a
  closing quote (``"bad "movie``), is an error naming the line where the quote opened. A quoted field may span
  lines (RFC 4180), so the callers that know their columns check the spanned lines further (see
  :func:`swallowed_rows`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import re

__all__ = ["TextFileError", "decode_text", "read_text", "csv_records", "CsvRecord", "MAX_FIELD_CHARS",
           "swallowed_rows", "describe_lines", "physical_lines"]

#: the largest CSV/TSV field read (characters); see the module docstring
MAX_FIELD_CHARS = 16 * 1024 * 1024

_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe\x00\x00", "UTF-32"), (b"\xfe\xff", "UTF-16"),
         (b"\xff\xfe", "UTF-16"))


class TextFileError(ValueError):
    """A data file that is not UTF-8 text or not valid CSV/TSV: names the file and the line."""


def _utf16_without_bom(raw: bytes) -> bool:
    """UTF-16 text of mostly ASCII characters has a NUL in every other byte; UTF-8 text has none."""
    head = raw[:4096]
    if len(head) < 4 or head.count(0) < len(head) // 4:
        return False
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return max(even, odd) >= len(head) // 2 * 0.6 and min(even, odd) <= len(head) // 2 * 0.1


def physical_lines(text: str) -> list:
    """The lines of ``text`` as the csv module counts them (``\\r\\n``, ``\\r`` or ``\\n`` end a line; unlike
    ``str.splitlines`` no other character does), without their line ends."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def describe_lines(lines, limit: int = 5) -> str:
    """``"3, 7, 9"`` or ``"3, 7, 9, 12, 15 and 4 more"``."""
    lines = list(lines)
    text = ", ".join(str(n) for n in lines[:limit])
    return text + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


def decode_text(raw: bytes, path) -> tuple[str, list[int]]:
    """``(text, lines with invalid UTF-8)`` of a file's bytes (see the module docstring).

    Raises:
        TextFileError: the file is UTF-16 or UTF-32.
    """
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise TextFileError(f"{path}: file is {name} (BOM found); save it as UTF-8")
    if _utf16_without_bom(raw):
        raise TextFileError(f"{path}: file is UTF-16 (no BOM, NUL bytes between the characters); save it as UTF-8")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    bad = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(number)
    return raw.decode("utf-8", errors="replace"), bad


def read_text(path, error=TextFileError, logger=None) -> str:
    """The text of a UTF-8 file (see :func:`decode_text`); ``error``: the caller's exception class, raised for
    a missing file and an encoding problem; invalid bytes are warned on ``logger`` with their lines."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected a file") from None
    try:
        text, bad = decode_text(raw, path)
    except TextFileError as err:
        raise error(str(err)) from None
    if bad and logger is not None:
        logger.warning("%s: invalid UTF-8 bytes on line(s) %s, replaced with U+FFFD", path, describe_lines(bad))
    return text


@dataclasses.dataclass
class CsvRecord:
    """One CSV/TSV record: its fields, the line it starts on and the line it ends on (1-based)."""

    fields: list
    line: int
    end_line: int


@contextlib.contextmanager
def _field_limit(limit):
    old = csv.field_size_limit()
    csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _first_record(text: str, delimiter: str) -> list:
    with _field_limit(2 ** 31 - 1):
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])


def csv_records(text: str, path, delimiter: str = ",", header: list | None = None, error=TextFileError,
                max_field_chars: int | None = None):
    """Yield the :class:`CsvRecord` of ``text`` (the first one is the header row).

    ``header`` names the column of an oversized field in the error (default: the first record). Errors (the
    caller's ``error`` class) name the file and the line where the record (and its open quote) starts.
    """
    max_field_chars = MAX_FIELD_CHARS if max_field_chars is None else int(max_field_chars)
    lines = physical_lines(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            with _field_limit(max_field_chars):   # set per record: never left raised while the caller runs
                fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            rest = "\n".join(lines[start - 1:])
            message = str(err)
            if "field larger than field limit" in message:
                record = _first_record(rest, delimiter)
                big = [i for i, f in enumerate(record) if len(f) > max_field_chars]
                i = big[0] if big else 0
                name = f"column {header[i]!r}" if header and i < len(header) else f"field {i + 1}"
                raise error(f"{path}:{start}: {name} is longer than the limit of {max_field_chars} characters "
                            f"({len(record[i]) if big else 'more'} characters); a quote that never closes "
                            f"makes one field of the rest of the file") from None
            if "unexpected end of data" in message or "newline inside string" in message:
                raise error(f"{path}:{start}: a quoted field opened on this line is never closed (it runs to "
                            f"the end of the file); close it, or double a quote inside it (\"\")") from None
            if "expected after" in message:
                where = "" if reader.line_num == start else f" (the quote opened here closes on line {reader.line_num})"
                raise error(f"{path}:{start}: text right after a closing quote ({message}){where}; a quote "
                            f"inside a quoted field must be doubled (\"\") and a field that contains a quote "
                            f"must be quoted") from None
            raise error(f"{path}:{start}: malformed CSV: {message}") from None
        end = reader.line_num
        if header is None:
            header = [f.strip() for f in fields]
        yield CsvRecord(fields, start, end)


def swallowed_rows(record: CsvRecord, lines: list, delimiter: str, width: int, looks_like_row) -> list:
    """Lines inside a multi-line ``record`` that look like rows of their own: each parses alone into ``width``
    fields and ``looks_like_row(fields)`` says yes. Such lines mean a quote opened on ``record.line`` swallowed
    the rows that follow it. ``lines``: the file's lines (no line ends)."""
    found = []
    for number in range(record.line + 1, record.end_line + 1):
        text = lines[number - 1] if number - 1 < len(lines) else ""
        if '"' in text:
            continue   # the line that closes the quote (or another quoted field): not a plain row
        fields = text.split(delimiter)
        if len(fields) == width and looks_like_row(fields):
            found.append(number)
    return found
