"""`bert-zoo predict`: predictions for texts from a file or stdin, as JSON lines.

    echo "what a great day" | bert-zoo predict --model runs/sentiment/model.keras
    bert-zoo predict --model runs/sentiment/model.keras --input texts.txt > predictions.jsonl

Input: plain text (one text per line), or JSON lines (one object per line with the task's input fields, e.g.
{"text": ..., "text_pair": ...} or {"question": ..., "context": ...}); --format=auto treats a line starting with
"{" as JSON. Output: one JSON object per input line, e.g. {"text": ..., "label": "positive", "score": 0.93,
"probabilities": {...}}.
"""

import json
import os
import sys

from absl import flags

flags.DEFINE_string("model", None, "A task saved by `bert-zoo finetune` (…/model.keras, or its directory).")
flags.DEFINE_string("input", "-", "Input file ('-' for stdin).")
flags.DEFINE_string("output", "-", "Output file ('-' for stdout), written atomically.")
flags.DEFINE_enum("format", "auto", ["auto", "text", "jsonl"],
                  "Input format: text lines, JSON lines, or auto (a line starting with '{' is JSON).")
flags.DEFINE_integer("batch_size", 32, "Batch size.")

FLAGS = flags.FLAGS

#: printed by `bert-zoo predict --help` after the module docstring
HELP = """\
Input (--format): ``text`` is one text per line (the task's first input; a line starting with "{" is text too);
``jsonl`` is one JSON object per line with the task's input fields, e.g. {"text": ..., "text_pair": ...} or
{"question": ..., "context": ...} (other fields are copied to the output, e.g. an "id"); ``auto`` (default)
reads a line starting with "{" as JSON and any other line as text. A line that should be JSON but is not, a
JSON object without one of the task's input fields, or a text line for a task that takes several inputs is an
error naming the line (and the field); with --output nothing is written then.

Output: exactly one JSON object per input line, in order, e.g. {"text": ..., "label": "positive", "score": 0.93,
"probabilities": {...}}. A blank line gives {"text": "", "empty": true} (every input field empty, no
prediction), so output line N always belongs to input line N; a warning names the blank lines. Invalid UTF-8 is
replaced with U+FFFD (as the file readers do) with a warning naming the line. --output is written atomically:
the file appears complete, or (after an error or Ctrl-C) not at all. Lines are predicted in chunks of
8 x --batch_size (one line at a time when typing at a terminal); on stdout the chunks before a bad line stay
printed.
"""

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
        for raw in self.stream:
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


def predict_lines(task, reader: LineReader, out, batch_size: int, chunk_size: int) -> int:
    """Write one JSON line to ``out`` per input line of ``reader``; returns the number of lines."""
    empty = {name: "" for name in task.text_inputs}
    count = 0
    for chunk in reader.chunks(chunk_size):
        records = [rec for _, rec in chunk if rec is not None]
        results = iter(task.predict_records(records, batch_size=batch_size) if records else [])
        for _, rec in chunk:
            row = {**empty, "empty": True} if rec is None else {**rec, **next(results)}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()
        count += len(chunk)
    reader.summary_warnings()
    return count


def run_predict():
    """Checks every flag before TensorFlow is imported (a wrong path fails at once), then predicts."""
    import contextlib

    from keras_bert_zoo import cache
    from keras_bert_zoo.cli.errors import FlagError, check_input_file, check_model_path

    check_model_path(FLAGS.model)
    if FLAGS.batch_size < 1:
        raise FlagError(f"--batch_size must be at least 1, got {FLAGS.batch_size}")
    if FLAGS.input != "-":
        check_input_file(FLAGS.input, "--input")
    with contextlib.ExitStack() as stack:
        if FLAGS.output == "-":
            out = sys.stdout
        else:
            if os.path.isdir(FLAGS.output):
                raise FlagError(f"--output {FLAGS.output}: is a directory")
            # the temporary file is created now: an unwritable --output fails before the model loads
            try:
                out = stack.enter_context(cache.atomic_write(FLAGS.output, "w", encoding="utf-8"))
            except OSError as err:
                raise FlagError(f"--output {FLAGS.output}: cannot write there "
                                f"({err.strerror or type(err).__name__})") from None
        from keras_bert_zoo.tasks import load_task

        task = load_task(FLAGS.model)
        if not task.text_inputs:
            raise FlagError(f"--model {FLAGS.model}: a {type(task).__name__} takes no text inputs; predict runs a "
                            f"fine-tuned task model")
        if FLAGS.input == "-":
            stream, source = sys.stdin.buffer, "<stdin>"
        else:                                  # opened once the model is loaded (a FIFO's writer waits)
            stream, source = stack.enter_context(open(FLAGS.input, "rb")), FLAGS.input
        interactive = stream.isatty() if hasattr(stream, "isatty") else False
        reader = LineReader(stream, FLAGS.format, task.text_inputs, source)
        predict_lines(task, reader, out, FLAGS.batch_size, 1 if interactive else 8 * FLAGS.batch_size)


def main(argv):
    del argv
    from keras_bert_zoo.cli.errors import run_command

    run_command("predict", run_predict)
