"""`bert-zoo evaluate`: evaluate a fine-tuned model (a `bert-zoo finetune` model/ directory) on a labelled file.

    bert-zoo evaluate --model runs/sentiment/model --data test.csv --out runs/sentiment/test

Prints the metrics; with --out writes report.json/.txt, predictions.csv (predictions vs labels) and the
confusion matrix PNG.
"""

import json
import logging
import sys

from absl import flags

flags.DEFINE_string("model", None, "Directory written by `bert-zoo finetune` (…/model).")
flags.DEFINE_string("data", None, "Labelled file in the same format as the training file.")
flags.DEFINE_string("out", None, "Directory for the reports (optional).")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_string("text_column", "text", "Column / field of the text.")
flags.DEFINE_string("pair_column", None, "Column / field of the second text (pair tasks).")
flags.DEFINE_string("label_column", "label", "Column / field of the label.")

FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from keras_bert_zoo.tasks import BertTask, TaskError
    from keras_bert_zoo.train.metrics import format_report

    try:
        if not FLAGS.model or not FLAGS.data:
            raise TaskError("--model and --data are required")
        task = BertTask.load(FLAGS.model)
        report = task.evaluate_file(FLAGS.data, out_dir=FLAGS.out, batch_size=FLAGS.batch_size,
                                    text_column=FLAGS.text_column, pair_column=FLAGS.pair_column,
                                    label_column=FLAGS.label_column)
    except TaskError as err:
        print(f"bert-zoo evaluate: error: {err}", file=sys.stderr)
        sys.exit(1)
    text = format_report(report)
    print(text if text else json.dumps(report, indent=2, default=str))
