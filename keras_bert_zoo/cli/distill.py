"""`bert-zoo distill`: distil a fine-tuned classifier (the teacher) into a smaller one (the student).

    bert-zoo distill --teacher runs/sentiment/model.keras --student layers:0,2,4 --train train.csv \\
        --unlabelled more_tweets.txt --eval dev.csv --test test.csv --out runs/student

``--student``: ``layers:0,2,4`` (the teacher's own blocks, embeddings, pooler and head copied), ``size:NAME`` (a
named BertConfig from random initialisation, with the teacher's tokenizer), or a preset name / checkpoint
directory (a pretrained small model, e.g. one made by `bert-zoo pretrain`). The student trains on
``alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)`` (see keras_bert_zoo.tasks.distiller);
lines of ``--unlabelled`` (one text per line) add teacher-only targets. Writes ``<out>/model.keras`` (the
student, an ordinary classifier for predict / evaluate / export) and the eval/test reports.
"""

import dataclasses
import json
import os

from absl import flags

from keras_bert_zoo.cli import options

flags.DEFINE_string("teacher", None, "The fine-tuned teacher (…/model.keras from `bert-zoo finetune`).")
flags.DEFINE_string("student", "layers:0,2,4", "layers:I,J,... | size:NAME | a preset name or checkpoint directory.")
flags.DEFINE_string("train", None, "Labelled training file (CSV/TSV/JSONL, as for finetune --task=classify).")
flags.DEFINE_string("unlabelled", None, "Optional text file, one text per line: soft targets only.")
flags.DEFINE_string("eval", None, "Optional labelled validation file (reports).")
flags.DEFINE_string("test", None, "Optional labelled test file (reports).")
options.define("out", "batch_size", "sequence_length", "seed", sequence_length=None,
               out_help="Output directory (model.keras, reports).",
               sequence_length_help="Student sequence length (default: the teacher's).")
flags.DEFINE_boolean("overwrite", False, "Replace a finished run in --out.")
flags.DEFINE_float("temperature", 2.0, "Softening temperature T.")
flags.DEFINE_float("alpha", 0.5, "Weight of the hard-label loss (1 - alpha on the soft term).")
flags.DEFINE_integer("epochs", 3, "Epochs.")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate (AdamW, warm-up + linear decay).")
flags.DEFINE_string("text_column", "text", "Column / field of the text.")
flags.DEFINE_string("label_column", "label", "Column / field of the label.")
flags.DEFINE_string("file_format", None, "csv, tsv or jsonl (default: by extension).")

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """One `bert-zoo distill` run (the flags of the same names)."""

    teacher: str
    train: str
    out: str
    student: str = "layers:0,2,4"
    unlabelled: str | None = None
    eval: str | None = None
    test: str | None = None
    overwrite: bool = False
    temperature: float = 2.0
    alpha: float = 0.5
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    sequence_length: int | None = None
    text_column: str = "text"
    label_column: str = "label"
    file_format: str | None = None
    seed: int = 0


def make_student(teacher, spec: str, sequence_length: int):
    """The student classifier that ``--student`` names."""
    from keras_bert_zoo import BertBackbone, BertConfig
    from keras_bert_zoo.tasks import TaskError, TextClassifier
    from keras_bert_zoo.tasks.distiller import student_from_teacher
    from keras_bert_zoo.text import BertPreprocessor

    args = dict(labels=teacher.labels, pairs=teacher.pairs, dropout=teacher.dropout)
    if spec.startswith("layers:"):
        try:
            layers = [int(v) for v in spec[len("layers:"):].split(",") if v.strip()]
        except ValueError:
            raise TaskError(f"--student {spec!r}: layers:I,J,... takes block indices") from None
        return student_from_teacher(teacher, layers)
    if spec.startswith("size:"):
        config = BertConfig.from_name(spec[len("size:"):])
        if config.vocab_size < teacher.tokenizer.vocab_size:
            raise TaskError(f"--student {spec}: vocab_size {config.vocab_size} is smaller than the teacher's "
                            f"vocabulary ({teacher.tokenizer.vocab_size} tokens)")
        pre = BertPreprocessor(teacher.tokenizer, sequence_length=sequence_length)
        return TextClassifier(BertBackbone(config), preprocessor=pre, name="student", **args)
    return TextClassifier.from_preset(spec, sequence_length=sequence_length, **args)


def _check(config: DistillConfig) -> str:
    """Paths before TensorFlow is imported (wrong ones fail at once); returns the student's model path."""
    from keras_bert_zoo.cli.errors import UsageError, check_input_file, check_model_path, check_writable_dir

    check_model_path(config.teacher, "--teacher")
    check_input_file(config.train, "--train")
    for name in ("unlabelled", "eval", "test"):
        if getattr(config, name):
            check_input_file(getattr(config, name), f"--{name}")
    if not config.out:
        raise UsageError("--out is required")
    check_writable_dir(config.out, "--out")
    model_path = os.path.join(config.out, "model.keras")
    if os.path.exists(model_path) and not config.overwrite:
        raise UsageError(f"{config.out} holds a finished run (model.keras); pass --overwrite to replace it")
    return model_path


def run_distill(config: DistillConfig):
    """Distil the teacher into the student, save it, write the eval/test reports; returns the student. One run
    per --out at a time (:func:`~keras_bert_zoo.train.run_dir.claim_run_dir`)."""
    model_path = _check(config)
    from keras_bert_zoo.train.run_dir import claim_run_dir

    with claim_run_dir(config.out, owner="bert-zoo distill", flag="--out"):
        return _distill(config, model_path)


def _distill(config: DistillConfig, model_path: str):
    import keras

    from keras_bert_zoo import reports
    from keras_bert_zoo.data.task_files import FileOptions, read_text_lines
    from keras_bert_zoo.tasks import TaskError, TextClassifier, load_task, registry
    from keras_bert_zoo.tasks.distiller import Distiller

    keras.utils.set_random_seed(config.seed)
    teacher = load_task(config.teacher)
    if not isinstance(teacher, TextClassifier):
        raise TaskError(f"{config.teacher}: distillation takes a classify model, this one is {teacher.task_type!r}")
    spec = registry.spec_of(TextClassifier)      # the student is a classifier: the files are classify files
    file_options = FileOptions(text_column=config.text_column, label_column=config.label_column,
                               file_format=config.file_format, pair_column="text_pair" if teacher.pairs else None)
    train = spec.read(config.train, file_options)
    unlabelled = read_text_lines(config.unlabelled) if config.unlabelled else None
    if unlabelled is not None and teacher.pairs:
        raise TaskError("--unlabelled takes single texts; the teacher classifies pairs")
    student = make_student(teacher, config.student, config.sequence_length or teacher.sequence_length)
    distiller = Distiller(teacher, student, temperature=config.temperature, alpha=config.alpha)
    distiller.compile(learning_rate=config.learning_rate)
    fit_args = dict(epochs=config.epochs, batch_size=config.batch_size)
    if config.eval:
        dev = spec.read(config.eval, file_options)
        fit_args["validation_data"] = (dev.x, dev.y)
    print(f"teacher {teacher.count_params():,} parameters, student {student.count_params():,}; "
          f"{len(train)} labelled + {len(unlabelled or [])} unlabelled texts")
    distiller.fit(train.x, train.y, unlabelled=unlabelled, **fit_args)
    student.save(model_path)                   # atomic: the old file or the complete new one (Task.save)
    print(f"saved the student to {model_path}")
    for name, path in (("eval", config.eval), ("test", config.test)):
        if path:
            report = reports.evaluate_task_file(student, spec.read(path, file_options),
                                                out_dir=os.path.join(config.out, name), batch_size=config.batch_size)
            print(f"{name}: " + json.dumps({k: round(v, 4) for k, v in report.items() if isinstance(v, float)}))
    return student


def main(argv):
    del argv
    options.resolve_aliases()
    names = [f.name for f in dataclasses.fields(DistillConfig)]
    run_distill(DistillConfig(**{name: FLAGS[name].value for name in names}))
