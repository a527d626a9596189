"""`bert-zoo predict`: predictions for texts from a file or stdin, as JSON lines.

    echo "what a great day" | bert-zoo predict --model runs/sentiment/model
    bert-zoo predict --model runs/sentiment/model --input texts.txt > predictions.jsonl

Input: plain text (one text per line), or JSON lines (one object per line with the task's input fields, e.g.
{"text": ..., "text_pair": ...} or {"question": ..., "context": ...}); --format=auto treats a line starting with
"{" as JSON. Output: one JSON object per input line, e.g. {"text": ..., "label": "positive", "score": 0.93,
"probabilities": {...}}.
"""

import json
import logging
import sys

from absl import flags

flags.DEFINE_string("model", None, "Directory written by `bert-zoo finetune` (…/model).")
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


def main(argv):
    del argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from keras_bert_zoo.tasks import BertTask, TaskError

    try:
        if not FLAGS.model:
            raise TaskError("--model is required")
        task = BertTask.load(FLAGS.model)
        if FLAGS.input == "-":
            stream, source = sys.stdin, "<stdin>"
        else:
            stream, source = open(FLAGS.input, encoding="utf-8", errors="replace"), FLAGS.input
        with stream:
            records = read_records(stream, FLAGS.format, task.text_inputs[0], source)
        results = task.predict_records(records, batch_size=FLAGS.batch_size)
    except (TaskError, ValueError, OSError) as err:
        print(f"bert-zoo predict: error: {err}", file=sys.stderr)
        sys.exit(1)
    out = sys.stdout if FLAGS.output == "-" else open(FLAGS.output, "w", encoding="utf-8")
    with out if out is not sys.stdout else _nullctx():
        for rec, res in zip(records, results):
            out.write(json.dumps({**rec, **res}, ensure_ascii=False) + "\n")


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        sys.stdout.flush()
