"""Prediction input and output lines, shared by `bert-zoo predict` and the Beam pipeline (:mod:`.beam`).

Input: numbered records from text or JSON lines, one per input line; output: one JSON line per input line,
written by :func:`output_line` in both routes, so they give the same lines::

    reader = LineReader(sys.stdin.buffer, "auto", ("text",), "<stdin>")
    for number, record in reader:          # record: {"text": ...}, or None for a blank line
        ...
    output_line(("text",), {"text": "good"}, {"label": "pos", "score": 0.9})  # '{"text": "good", "label": ...}'
    output_line(("text",), None, None)                                        # '{"text": "", "empty": true}'

Kept apart from the command module (which defines absl flags at import) so it can be imported anywhere.
"""

import json
import os
import select
import stat
import sys

__all__ = ["MAX_WARNINGS", "PredictInputError", "LineReader", "output_line", "predict_lines"]

#: warnings per kind printed before the rest are only counted
MAX_WARNINGS = 10


class PredictInputError(ValueError):
    """A predict input line that cannot be read (names the source, the line and the field)."""


class LineReader:
    """Numbered records from a binary line stream: ``(line_number, record or None)``; None is a blank line.

    Bytes that are not UTF-8 are replaced with U+FFFD (a warning names the line); a UTF-8 byte-order mark on
    line 1 is dropped.
    """

    def __init__(self, stream, fmt: str, fields, source: str = "<stdin>", warn=None):
        self.stream, self.fmt, self.fields, self.source = stream, fmt, tuple(fields), source
        self.warn = warn or (lambda message: print(f"bert-zoo predict: warning: {message}", file=sys.stderr))
        self.replaced, self.blank = [], []
        self.number = 0

    def _decode(self, raw: bytes) -> str:
        if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            self.replaced.append(self.number)
            if len(self.replaced) <= MAX_WARNINGS:
                self.warn(f"{self.source}:{self.number}: invalid UTF-8 (byte {raw[err.start]:#04x} at column "
                          f"{err.start + 1}) replaced with U+FFFD")
            return raw.decode("utf-8", errors="replace")

    def record(self, line: str):
        where = f"{self.source}:{self.number}"
        if not line.strip():
            self.blank.append(self.number)
            return None
        if self.fmt == "jsonl" or (self.fmt == "auto" and line.lstrip().startswith("{")):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                hint = " (--format=text reads such lines as text)" if self.fmt == "auto" else ""
                raise PredictInputError(f"{where}: invalid JSON: {err.msg} at column {err.colno}{hint}") from None
            if not isinstance(rec, dict):
                raise PredictInputError(f"{where}: expected a JSON object with field(s) {list(self.fields)}, got "
                                        f"a JSON {type(rec).__name__}")
            missing = [name for name in self.fields if name not in rec]
            if missing:
                raise PredictInputError(f"{where}: missing field(s) {missing}; the task takes "
                                        f"{list(self.fields)}")
            for name in self.fields:
                if not isinstance(rec[name], str):
                    raise PredictInputError(f"{where}: field {name!r} must be a string, got "
                                            f"{type(rec[name]).__name__} {json.dumps(rec[name])[:40]}")
            return rec
        if len(self.fields) != 1:
            raise PredictInputError(f"{where}: a text line, but the task takes several inputs "
                                    f"{list(self.fields)}: give JSON lines with those fields")
        return {self.fields[0]: line}

    def __iter__(self):
        for raw in _raw_lines(self.stream):
            self.number += 1
            line = self._decode(raw).rstrip("\r\n")
            yield self.number, self.record(line)

    def chunks(self, size: int):
        """Lists of ``(line_number, record or None)`` of at most ``size`` lines."""
        chunk = []
        for item in self:
            chunk.append(item)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def summary_warnings(self):
        if len(self.replaced) > MAX_WARNINGS:
            self.warn(f"{self.source}: invalid UTF-8 replaced on {len(self.replaced)} lines in all")
        if self.blank:
            shown = ", ".join(map(str, self.blank[:MAX_WARNINGS])) + (", ..." if len(self.blank) > MAX_WARNINGS
                                                                         else "")
            self.warn(f"{self.source}: {len(self.blank)} blank line(s) ({shown}) gave {{\"empty\": true}} "
                      f"records without a prediction")


#: how often a wait for input on a pipe, FIFO or terminal returns to Python (seconds)
POLL_SECONDS = 0.25


def _raw_lines(stream):
    """The byte lines of ``stream`` (newlines kept). A pipe, FIFO or terminal is waited on in short polls, not one
    blocking read: Ctrl-C's SIGINT (or SIGTERM) can be delivered to any thread of the process — TensorFlow's
    thread pools included — and then it does not interrupt the main thread's read, so `bert-zoo predict` would
    only stop once the next line came. Between polls Python runs the pending signal handler in the main thread."""
    try:
        fd = stream.fileno()
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except (AttributeError, OSError, ValueError):      # in-memory streams, closed or fd-less objects
        fd, regular = None, True
    if regular or os.name != "posix":
        yield from stream
        return
    pending = []                         # read from the descriptor: nothing may have been read through ``stream``
    poller = select.poll()               # (poll, not select: no limit on the descriptor's number)
    poller.register(fd, select.POLLIN)
    while True:
        if not poller.poll(POLL_SECONDS * 1000):
            continue
        data = os.read(fd, 1 << 16)
        if not data:
            if pending:
                yield b"".join(pending)
            return
        *lines, rest = data.split(b"\n")           # split only the new bytes: a long line costs linear time
        if lines:
            yield b"".join(pending) + lines[0] + b"\n"
            for line in lines[1:]:
                yield line + b"\n"
            pending = []
        if rest:
            pending.append(rest)


def output_line(fields, record, result) -> str:
    """The output line (no newline) of one input line: the ``record`` (its input fields and any others, e.g. an
    ``"id"``) followed by the decoded prediction ``result``; a blank input line (``record`` None) gives every
    input field of ``fields`` empty and ``"empty": true``, no prediction."""
    row = {**{name: "" for name in fields}, "empty": True} if record is None else {**record, **result}
    return json.dumps(row, ensure_ascii=False)


def predict_lines(task, reader: LineReader, out, batch_size: int, chunk_size: int) -> int:
    """Write one JSON line to ``out`` per input line of ``reader``; returns the number of lines. ``task``: anything
    with ``text_inputs`` and ``predict_records(records, batch_size)`` (a Task, or an exported model)."""
    count = 0
    for chunk in reader.chunks(chunk_size):
        records = [rec for _, rec in chunk if rec is not None]
        results = iter(task.predict_records(records, batch_size=batch_size) if records else [])
        for _, rec in chunk:
            out.write(output_line(task.text_inputs, rec, None if rec is None else next(results)) + "\n")
        out.flush()
        count += len(chunk)
    reader.summary_warnings()
    return count
