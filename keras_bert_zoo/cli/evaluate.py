"""`bert-zoo evaluate`: evaluate a fine-tuned task (a .keras file) on a task file.

    bert-zoo evaluate --model runs/sentiment/model.keras --data test.csv --out runs/sentiment/test

Prints the metrics; with --out writes the task's reports (the evaluator of its TaskSpec, through
:mod:`keras_bert_zoo.reports`) and report.html (with the attention explorer's attention.json for classify / regress /
tag tasks: :mod:`keras_bert_zoo.viz.html_report`).
"""

import dataclasses
import json

from absl import flags

from keras_bert_zoo.cli import options

flags.DEFINE_string("model", None, "A task saved by `bert-zoo finetune` (…/model.keras, or its directory).")
flags.DEFINE_string("data", None, "File in the same format as the training file.")
options.define("out", "batch_size", "task_module", batch_size=64, out_help="Directory for the reports (optional).")
flags.DEFINE_string("text_column", "text", "File option (classify/regress): column / field of the text.")
flags.DEFINE_string("pair_column", None, "File option (classify/regress): column / field of the second text.")
flags.DEFINE_string("label_column", "label", "File option (classify/regress): column / field of the label.")
flags.DEFINE_string("file_format", None, "File option (classify/regress): csv, tsv or jsonl (default: by extension).")
flags.DEFINE_integer("word_column", 0, "File option (tag): CoNLL column of the words.")
flags.DEFINE_integer("tag_column", -1, "File option (tag): CoNLL column of the tags.")

FLAGS = flags.FLAGS

FILE_FLAGS = ("text_column", "pair_column", "label_column", "file_format", "word_column", "tag_column")


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """One `bert-zoo evaluate` run. ``file_options``: the file options given (the rest: the task's defaults)."""

    model: str
    data: str
    out: str | None = None
    batch_size: int = 64
    file_options: dict = dataclasses.field(default_factory=dict)
    task_modules: tuple = ()


def run_evaluate(config: EvaluateConfig) -> dict:
    """Paths checked before TensorFlow is imported (a wrong path fails at once), then the report."""
    from keras_bert_zoo.cli.errors import check_input_file, check_model_path, check_writable_dir

    check_model_path(config.model)
    check_input_file(config.data, "--data")
    from keras_bert_zoo import reports
    from keras_bert_zoo.data.task_files import FileOptions
    from keras_bert_zoo.tasks import load_task, registry
    from keras_bert_zoo.metrics.classification import format_report

    registry.import_task_modules(config.task_modules)
    task = load_task(config.model)
    if config.out:
        check_writable_dir(config.out, "--out")   # fail now, not after evaluating
    file_options = dict(config.file_options)
    if getattr(task, "pairs", False) and not file_options.get("pair_column"):
        file_options["pair_column"] = "text_pair"
    spec = registry.spec_of(task)
    report = reports.evaluate_task_file(task, spec.read(config.data, FileOptions(**file_options)),
                                        out_dir=config.out, batch_size=config.batch_size)
    if config.out:
        from keras_bert_zoo.viz.html_report import write_run_report

        explore = "attention_text" in spec.flags and not task.backbone.lora
        print(f"report: {write_run_report(config.out, task=task if explore else None)}")
    text = format_report(report)
    print(text if text else json.dumps(report, indent=2, default=str))
    return report


def main(argv):
    del argv
    options.resolve_aliases()
    run_evaluate(EvaluateConfig(model=FLAGS.model, data=FLAGS.data, out=FLAGS.out, batch_size=FLAGS.batch_size,
                                file_options={n: FLAGS[n].value for n in FILE_FLAGS if FLAGS[n].present},
                                task_modules=tuple(FLAGS.task_module or ())))
