"""`bert-zoo predict`: predictions for texts from a file or stdin, as JSON lines.

    echo "what a great day" | bert-zoo predict --model runs/sentiment/model.keras
    bert-zoo predict --model runs/sentiment/model.keras --input texts.txt > predictions.jsonl

Input: plain text (one text per line), or JSON lines (one object per line with the task's input fields, e.g.
{"text": ..., "text_pair": ...} or {"question": ..., "context": ...}); --format=auto treats a line starting with
"{" as JSON. Output: one JSON object per input line, e.g. {"text": ..., "label": "positive", "score": 0.93,
"probabilities": {...}}.
"""

import json
import sys

from absl import flags

flags.DEFINE_string("model", None, "A task saved by `bert-zoo finetune` (…/model.keras, or its directory).")
flags.DEFINE_string("input", "-", "Input file ('-' for stdin).")
flags.DEFINE_string("output", "-", "Output file ('-' for stdout).")
flags.DEFINE_enum("format", "auto", ["auto", "text", "jsonl"], "Input format.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")

FLAGS = flags.FLAGS


def read_records(stream, fmt, first_field, source="<stdin>"):
    records = []
    for i, line in enumerate(stream, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if fmt == "jsonl" or (fmt == "auto" and line.lstrip().startswith("{")):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{source}:{i}: invalid JSON: {err.msg}") from err
            if not isinstance(rec, dict):
                raise ValueError(f"{source}:{i}: expected a JSON object")
        else:
            rec = {first_field: line}
        records.append(rec)
    return records


def run_predict():
    from keras_bert_zoo.tasks import TaskError, load_task

    if not FLAGS.model:
        raise TaskError("--model is required")
    task = load_task(FLAGS.model)
    if FLAGS.input == "-":
        stream, source = sys.stdin, "<stdin>"
    else:
        stream, source = open(FLAGS.input, encoding="utf-8", errors="replace"), FLAGS.input
    with stream:
        records = read_records(stream, FLAGS.format, task.text_inputs[0], source)
    results = task.predict_records(records, batch_size=FLAGS.batch_size)
    out = sys.stdout if FLAGS.output == "-" else open(FLAGS.output, "w", encoding="utf-8")
    with out if out is not sys.stdout else _nullctx():
        for rec, res in zip(records, results):
            out.write(json.dumps({**rec, **res}, ensure_ascii=False) + "\n")


def main(argv):
    del argv
    from keras_bert_zoo.cli.errors import run_command

    run_command("predict", run_predict)


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        sys.stdout.flush()
