"""`bert-zoo predict`: predictions for texts from a file or stdin, as JSON lines.

    echo "what a great day" | bert-zoo predict --model runs/sentiment/model.keras
    bert-zoo predict --model runs/sentiment/model.keras --input texts.txt > predictions.jsonl

Input: plain text (one text per line), or JSON lines (one object per line with the task's input fields, e.g.
{"text": ..., "text_pair": ...} or {"question": ..., "context": ...}); --format=auto treats a line starting with
"{" as JSON. Output: one JSON object per input line, e.g. {"text": ..., "label": "positive", "score": 0.93,
"probabilities": {...}}.
"""

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

from keras_bert_zoo.cli.lines import LineReader, predict_lines


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
