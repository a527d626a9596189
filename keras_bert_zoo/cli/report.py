"""`bert-zoo report RUN_DIR`: (re)build RUN_DIR/report.html from the files the run wrote.

    bert-zoo report runs/sentiment
    bert-zoo report runs/sentiment --model runs/sentiment/model.keras   # also recompute attention.json

The page is one self-contained file (inline style, script and SVG; nothing fetched when viewed): the metrics beside
any baselines, the training curves by step, each evaluation's confusion matrix, per-class scores and most
confidently wrong examples (taggers: entities and highlighted spans), and the attention explorer over the inputs in
RUN_DIR/attention.json (:mod:`keras_bert_zoo.viz.html_report`). `bert-zoo finetune`, `evaluate --out` and `demo`
write it themselves; this command rebuilds it (after a run of an older version, or with ``--model`` to compute the
attention of a model that wrote none).
"""

import dataclasses

from absl import flags

from keras_bert_zoo.cli import options
from keras_bert_zoo.cli.errors import UsageError

flags.DEFINE_string("model", None, "A task saved by `bert-zoo finetune` (model.keras): recompute RUN_DIR/"
                    "attention.json from it (classify / regress / tag tasks) before building the page.")
flags.DEFINE_list("attention_text", None, "With --model: inputs shown first in the attention explorer (comma "
                  "separated; default: picked from the run's evaluation).")
options.define("task_module")

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    run_dir: str
    model: str | None = None
    attention_text: tuple = ()
    task_modules: tuple = ()


def run_report(config: ReportConfig):
    """Write ``config.run_dir``/report.html (and attention.json with ``config.model``); returns its path."""
    import os

    from keras_bert_zoo.cli.errors import check_model_path, check_writable_dir

    if not os.path.isdir(config.run_dir):
        raise UsageError(f"RUN_DIR {config.run_dir!r} is not a directory")
    check_writable_dir(config.run_dir, "RUN_DIR")
    if config.attention_text and not config.model:
        raise UsageError("--attention_text needs --model (the attention is computed from the model)")
    task = None
    if config.model:
        check_model_path(config.model)
        from keras_bert_zoo.tasks import load_task, registry

        registry.import_task_modules(config.task_modules)
        task = load_task(config.model)
        if "attention_text" not in registry.spec_of(task).flags:
            raise UsageError(f"--model: a {task.task_type!r} task has no attention explorer (classify, regress "
                             f"and tag tasks have)")
    from keras_bert_zoo.viz.html_report import write_run_report

    path = write_run_report(config.run_dir, task=task, texts=list(config.attention_text))
    print(f"report: {path} ({os.path.getsize(path) / 1024:.0f} KiB)")
    return path


def main(argv):
    if len(argv) != 2:
        raise UsageError("usage: bert-zoo report RUN_DIR [--model MODEL.keras] (one run directory)")
    options.resolve_aliases()
    run_report(ReportConfig(run_dir=argv[1], model=FLAGS.model, attention_text=tuple(FLAGS.attention_text or ()),
                            task_modules=tuple(FLAGS.task_module or ())))
