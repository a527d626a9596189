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

import json
import os

from absl import flags

flags.DEFINE_string("teacher", None, "The fine-tuned teacher (…/model.keras from `bert-zoo finetune`).")
flags.DEFINE_string("student", "layers:0,2,4", "layers:I,J,... | size:NAME | a preset name or checkpoint directory.")
flags.DEFINE_string("train", None, "Labelled training file (CSV/TSV/JSONL, as for finetune --task=classify).")
flags.DEFINE_string("unlabelled", None, "Optional text file, one text per line: soft targets only.")
flags.DEFINE_string("eval", None, "Optional labelled validation file (reports).")
flags.DEFINE_string("test", None, "Optional labelled test file (reports).")
flags.DEFINE_string("out", None, "Output directory (model.keras, reports).")
flags.DEFINE_boolean("overwrite", False, "Replace a finished run in --out.")
flags.DEFINE_float("temperature", 2.0, "Softening temperature T.")
flags.DEFINE_float("alpha", 0.5, "Weight of the hard-label loss (1 - alpha on the soft term).")
flags.DEFINE_integer("epochs", 3, "Epochs.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate (AdamW, warm-up + linear decay).")
flags.DEFINE_integer("sequence_length", None, "Student sequence length (default: the teacher's).")
flags.DEFINE_string("text_column", "text", "Column / field of the text.")
flags.DEFINE_string("label_column", "label", "Column / field of the label.")
flags.DEFINE_string("file_format", None, "csv, tsv or jsonl (default: by extension).")
flags.DEFINE_integer("seed", 0, "Random seed.")

FLAGS = flags.FLAGS


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


def run_distill():
    from keras_bert_zoo.cli.errors import check_input_file, check_model_path, check_writable_dir

    check_model_path(FLAGS.teacher, "--teacher")          # before TensorFlow: wrong paths fail at once
    check_input_file(FLAGS.train, "--train")
    for name in ("unlabelled", "eval", "test"):
        if FLAGS[name].value:
            check_input_file(FLAGS[name].value, f"--{name}")
    if not FLAGS.out:
        from keras_bert_zoo.cli.errors import FlagError

        raise FlagError("--out is required")
    check_writable_dir(FLAGS.out, "--out")
    model_path = os.path.join(FLAGS.out, "model.keras")
    if os.path.exists(model_path) and not FLAGS.overwrite:
        from keras_bert_zoo.cli.errors import FlagError

        raise FlagError(f"{FLAGS.out} holds a finished run (model.keras); pass --overwrite to replace it")

    import keras

    from keras_bert_zoo import reports
    from keras_bert_zoo.data.task_files import FileOptions, read_task_file, read_text_lines
    from keras_bert_zoo.tasks import TaskError, load_task
    from keras_bert_zoo.tasks.distiller import Distiller

    keras.utils.set_random_seed(FLAGS.seed)
    teacher = load_task(FLAGS.teacher)
    if teacher.task_type != "classify":
        raise TaskError(f"{FLAGS.teacher}: distillation takes a classify model, this one is {teacher.task_type!r}")
    options = FileOptions(text_column=FLAGS.text_column, label_column=FLAGS.label_column,
                          file_format=FLAGS.file_format, pair_column="text_pair" if teacher.pairs else None)
    train = read_task_file("classify", FLAGS.train, options)
    unlabelled = read_text_lines(FLAGS.unlabelled) if FLAGS.unlabelled else None
    if unlabelled is not None and teacher.pairs:
        raise TaskError("--unlabelled takes single texts; the teacher classifies pairs")
    student = make_student(teacher, FLAGS.student, FLAGS.sequence_length or teacher.sequence_length)
    distiller = Distiller(teacher, student, temperature=FLAGS.temperature, alpha=FLAGS.alpha)
    distiller.compile(learning_rate=FLAGS.learning_rate)
    fit_args = dict(epochs=FLAGS.epochs, batch_size=FLAGS.batch_size)
    if FLAGS.eval:
        dev = read_task_file("classify", FLAGS.eval, options)
        fit_args["validation_data"] = (dev.x, dev.y)
    print(f"teacher {teacher.count_params():,} parameters, student {student.count_params():,}; "
          f"{len(train)} labelled + {len(unlabelled or [])} unlabelled texts")
    distiller.fit(train.x, train.y, unlabelled=unlabelled, **fit_args)
    tmp = os.path.join(FLAGS.out, f".model.{os.getpid()}.keras")
    student.save(tmp)
    os.replace(tmp, model_path)
    print(f"saved the student to {model_path}")
    for name, path in (("eval", FLAGS.eval), ("test", FLAGS.test)):
        if path:
            report = reports.evaluate_task_file(student, read_task_file("classify", path, options),
                                                out_dir=os.path.join(FLAGS.out, name), batch_size=FLAGS.batch_size)
            print(f"{name}: " + json.dumps({k: round(v, 4) for k, v in report.items() if isinstance(v, float)}))


def main(argv):
    del argv
    from keras_bert_zoo.cli.errors import run_command

    run_command("distill", run_distill)
