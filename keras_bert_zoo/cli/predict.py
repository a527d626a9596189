"""`bert-zoo predict`: predictions for texts from a file or stdin, as JSON lines.

    echo "what a great day" | bert-zoo predict --model runs/sentiment/model.keras
    bert-zoo predict --model runs/sentiment/model.keras --input texts.txt > predictions.jsonl
    bert-zoo predict --runner=DirectRunner --model saved_models/sentiment/1 --input 'texts/part-*.txt' \
        --out predictions/texts -- --direct_running_mode=multi_processing --direct_num_workers=2

Input: plain text (one text per line), or JSON lines (one object per line with the task's input fields, e.g.
{"text": ..., "text_pair": ...} or {"question": ..., "context": ...}); --format=auto treats a line starting with
"{" as JSON. Output: one JSON object per input line, e.g. {"text": ..., "label": "positive", "score": 0.93,
"probabilities": {...}}.
"""

import dataclasses
import os
import sys

from absl import flags

from keras_bert_zoo.cli import options

flags.DEFINE_string("model", None, "A task saved by `bert-zoo finetune` (…/model.keras, or its directory); with "
                    "--runner the SavedModel directory `bert-zoo export` wrote.")
flags.DEFINE_string("input", "-", "Input file ('-' for stdin); with --runner a file pattern ('texts/part-*.jsonl', "
                    "gs://...).")
options.define("out", "batch_size", "task_module", out="-",
               out_help="Output file ('-' for stdout), written atomically; with --runner the prefix of the output "
                        "shards (PREFIX-SSSSS-of-NNNNN.jsonl).")
flags.DEFINE_string("runner", None, "Run as an Apache Beam job on this runner (DirectRunner, DataflowRunner, "
                    "FlinkRunner, SparkRunner; needs the beam extra); Beam pipeline options follow `--`.")
flags.DEFINE_enum("format", "auto", ["auto", "text", "jsonl"],
                  "Input format: text lines, JSON lines, or auto (a line starting with '{' is JSON).")
options.define_alias("output", "out")

FLAGS = flags.FLAGS

#: printed by `bert-zoo predict --help` after the module docstring
HELP = """\
Input (--format): ``text`` is one text per line (the task's first input; a line starting with "{" is text too);
``jsonl`` is one JSON object per line with the task's input fields, e.g. {"text": ..., "text_pair": ...} or
{"question": ..., "context": ...} (other fields are copied to the output, e.g. an "id"); ``auto`` (default)
reads a line starting with "{" as JSON and any other line as text. A line that should be JSON but is not, a
JSON object without one of the task's input fields, or a text line for a task that takes several inputs is an
error naming the line (and the field); with --out nothing is written then.

Output: exactly one JSON object per input line, in order, e.g. {"text": ..., "label": "positive", "score": 0.93,
"probabilities": {...}}. A blank line gives {"text": "", "empty": true} (every input field empty, no
prediction), so output line N always belongs to input line N; a warning names the blank lines. Invalid UTF-8 is
replaced with U+FFFD (as the file readers do) with a warning naming the line. --out is written atomically:
the file appears complete, or (after an error or Ctrl-C) not at all. Lines are predicted in chunks of
8 x --batch_size (one line at a time when typing at a terminal); on stdout the chunks before a bad line stay
printed.

On Apache Beam (--runner; pip install 'keras_bert_zoo[beam]'): --model is an exported SavedModel directory,
--input a file pattern (sharded text or JSON-lines files, read as above), --out the prefix of the output shards;
RunInference calls the SavedModel's serving_default signature on batches of at most --batch_size lines, on as
many workers as the runner gives. Each input line gets the JSON line it gets without --runner; the order of the
lines is the runner's (copy an "id" field through JSON-lines input to join them). Beam pipeline options go
after `--` (e.g. -- --direct_running_mode=multi_processing --direct_num_workers=2, or -- --project=P
--region=R --temp_location=gs://... for Dataflow). See keras_bert_zoo.batch.beam.
"""

from keras_bert_zoo.batch.lines import LineReader, predict_lines


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    """One `bert-zoo predict` run: ``input`` / ``out`` are paths, ``"-"`` for stdin / stdout."""

    model: str
    input: str = "-"
    out: str = "-"
    format: str = "auto"
    batch_size: int = 32
    task_modules: tuple = ()
    runner: str | None = None        # a Beam runner: predict on Apache Beam (run_on_beam)
    pipeline_args: tuple = ()        # Beam pipeline options (the arguments after `--`)


def _open_out(stack, config: PredictConfig):
    """stdout, or the atomic temporary file of --out (created now: an unwritable --out fails before the model
    loads)."""
    from keras_bert_zoo import cache
    from keras_bert_zoo.cli.errors import UsageError

    if config.out == "-":
        return sys.stdout
    if os.path.isdir(config.out):
        raise UsageError(f"--out {config.out}: is a directory")
    try:
        return stack.enter_context(cache.atomic_write(config.out, "w", encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"--out {config.out}: cannot write there ({err.strerror or type(err).__name__})") from None


def run_predict(config: PredictConfig) -> int:
    """Checks every path before TensorFlow is imported (a wrong path fails at once), then predicts; returns the
    number of lines."""
    import contextlib

    from keras_bert_zoo.cli.errors import UsageError, check_input_file, check_model_path

    if config.runner is not None:
        return run_on_beam(config)
    if config.pipeline_args:
        raise UsageError(f"unexpected arguments {list(config.pipeline_args)}: only --runner takes (Beam pipeline) "
                         f"options after `--`")
    check_model_path(config.model)
    if config.input != "-":
        check_input_file(config.input, "--input")
    with contextlib.ExitStack() as stack:
        out = _open_out(stack, config)
        from keras_bert_zoo.tasks import load_task, registry

        registry.import_task_modules(config.task_modules)
        task = load_task(config.model)
        if not task.text_inputs:
            raise UsageError(f"--model {config.model}: a {type(task).__name__} takes no text inputs; predict runs a "
                             f"fine-tuned task model")
        if config.input == "-":
            stream, source = sys.stdin.buffer, "<stdin>"
        else:                                  # opened once the model is loaded (a FIFO's writer waits)
            stream, source = stack.enter_context(open(config.input, "rb")), config.input
        interactive = stream.isatty() if hasattr(stream, "isatty") else False
        reader = LineReader(stream, config.format, task.text_inputs, source)
        return predict_lines(task, reader, out, config.batch_size, 1 if interactive else 8 * config.batch_size)


def run_on_beam(config: PredictConfig) -> int:
    """`bert-zoo predict --runner`: the Beam job of :func:`keras_bert_zoo.batch.beam.predict_on_beam`; returns the
    number of lines written (a summary line on stderr)."""
    from keras_bert_zoo.batch import beam
    from keras_bert_zoo.cli.errors import UsageError

    beam.check_runner(config.runner)
    if not config.model:
        raise UsageError("--model is required (with --runner: the SavedModel directory `bert-zoo export` wrote)")
    if config.input == "-":
        raise UsageError("--runner reads files, not stdin: give --input PATTERN (e.g. 'texts/part-*.txt')")
    if config.out == "-":
        raise UsageError("--runner writes output shards, not stdout: give --out PREFIX "
                         f"(files PREFIX-SSSSS-of-NNNNN{beam.SUFFIX})")
    result = beam.predict_on_beam(config.model, config.input, config.out, runner=config.runner,
                                  pipeline_args=config.pipeline_args, fmt=config.format,
                                  batch_size=config.batch_size, task_modules=config.task_modules)
    print(f"bert-zoo predict: {result.lines} lines written to {len(result.files)} file(s) "
          f"{config.out}-*{beam.SUFFIX}", file=sys.stderr)
    return result.lines or 0


def main(argv):
    options.resolve_aliases()
    run_predict(PredictConfig(model=FLAGS.model, input=FLAGS.input, out=FLAGS.out, format=FLAGS.format,
                              batch_size=FLAGS.batch_size, task_modules=tuple(FLAGS.task_module or ()),
                              runner=FLAGS.runner, pipeline_args=tuple(argv[1:])))
