"""`bert-zoo evaluate`: evaluate a fine-tuned task (a .keras file) on a task file.

    bert-zoo evaluate --model runs/sentiment/model.keras --data test.csv --out runs/sentiment/test

Prints the metrics; with --out writes the task's reports (:mod:`keras_bert_zoo.reports`).
"""

import json

from absl import flags

flags.DEFINE_string("model", None, "A task saved by `bert-zoo finetune` (…/model.keras, or its directory).")
flags.DEFINE_string("data", None, "File in the same format as the training file.")
flags.DEFINE_string("out", None, "Directory for the reports (optional).")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_string("text_column", "text", "classify/regress: column / field of the text.")
flags.DEFINE_string("pair_column", None, "classify/regress: column / field of the second text.")
flags.DEFINE_string("label_column", "label", "classify/regress: column / field of the label.")
flags.DEFINE_string("file_format", None, "classify/regress: csv, tsv or jsonl (default: by extension).")
flags.DEFINE_integer("word_column", 0, "tag: CoNLL column of the words.")
flags.DEFINE_integer("tag_column", -1, "tag: CoNLL column of the tags.")

FLAGS = flags.FLAGS


def run_evaluate():
    from keras_bert_zoo.cli.errors import check_input_file, check_model_path

    check_model_path(FLAGS.model)          # before TensorFlow is imported: a wrong path fails at once
    check_input_file(FLAGS.data, "--data")
    from keras_bert_zoo import reports
    from keras_bert_zoo.data.task_files import FileOptions, read_task_file
    from keras_bert_zoo.tasks import load_task
    from keras_bert_zoo.metrics.classification import format_report

    task = load_task(FLAGS.model)
    if FLAGS.out:
        from keras_bert_zoo.cli.errors import check_writable_dir

        check_writable_dir(FLAGS.out, "--out")   # fail now, not after evaluating
    names = ("text_column", "pair_column", "label_column", "file_format", "word_column", "tag_column")
    options = FileOptions(**{n: getattr(FLAGS, n) for n in names if FLAGS[n].present})
    if task.task_type in ("classify", "regress") and task.pairs and not options.pair_column:
        options = FileOptions(**{**options.__dict__, "pair_column": "text_pair"})
    report = reports.evaluate_task_file(task, read_task_file(task.task_type, FLAGS.data, options),
                                        out_dir=FLAGS.out, batch_size=FLAGS.batch_size)
    text = format_report(report)
    print(text if text else json.dumps(report, indent=2, default=str))


def main(argv):
    del argv
    from keras_bert_zoo.cli.errors import run_command

    run_command("evaluate", run_evaluate)
