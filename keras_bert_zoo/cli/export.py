"""`bert-zoo export`: a saved task (.keras) -> SavedModel (TF Serving layout) or TFLite, verified.

    bert-zoo export --model runs/sentiment/model.keras --format saved_model --name sentiment
    bert-zoo export --model runs/sentiment/model.keras --format tflite --quantize int8 --name sentiment
    bert-zoo export --model runs/sentiment/model.keras --format tflite --quantize full_int8 \
        --representative_file data/train.csv --name sentiment --version 1

--model is a file written by ``task.save`` (``bert-zoo finetune --out``); the export is ``task.export``.
Sample inputs for verification (and warm-up requests, and full-int8 calibration unless --representative_file
is given) come from --samples_file (a file in the task's own training format, or plain text lines for
single-text tasks) or the task's built-in samples. --version defaults to the next free version number.
SavedModels go to <root>/<name>/<version>/, TFLite files to <root>/<name>-tflite-<quant>/<version>/model.tflite.
The command prints the path and the verification summary as JSON; it exits non-zero, leaving nothing on
disk, when the op check or the verification fails.
"""

import json
import sys

from absl import flags

flags.DEFINE_string("model", None, "A task saved by task.save / bert-zoo finetune (model.keras).")
flags.DEFINE_enum("format", "saved_model", ["saved_model", "tflite"], "Export format.")
flags.DEFINE_enum("quantize", "none", ["none", "fp16", "int8", "full_int8"], "TFLite quantization.")
flags.DEFINE_string("name", None, "Model name (directory under --root; TF Serving's model name).")
flags.DEFINE_integer("version", None, "Version number (default: the next free one; TF Serving serves the highest).")
flags.DEFINE_string("root", "saved_models", "Export root.")
flags.DEFINE_string("samples_file", None, "Texts to verify with (default: a built-in multilingual set).")
flags.DEFINE_string("text_column", "text", "Column of --samples_file / --representative_file (CSV/TSV/JSONL).")
flags.DEFINE_string("pair_column", None, "Second-segment column for pair tasks.")
flags.DEFINE_integer("max_samples", 32, "Use at most this many sample texts for verification.")
flags.DEFINE_string("representative_file", None, "Calibration texts for --quantize full_int8.")
flags.DEFINE_integer("max_representative", 256, "Use at most this many calibration texts.")
flags.DEFINE_list("full_int8_float_ops", None, "--quantize full_int8: TFLite op types kept in float "
                  "(default: residual adds and LayerNorm, export.tflite.FULL_INT8_FLOAT_OPS; 'none' quantizes all).")
flags.DEFINE_float("float_atol", None, "Override the verification tolerance: max |exported - Keras| of float "
                   "outputs (default per format/quantization: export.verify.TOLERANCES).")
flags.DEFINE_float("float_rtol", None, "Override: extra allowance per unit of max |Keras| of each float output.")
flags.DEFINE_float("min_agreement", None, "Override: fraction of rows whose labels must equal the Keras model's.")
flags.DEFINE_boolean("flex", False, "TFLite: allow TensorFlow ops through the Flex delegate.")
flags.DEFINE_string("serving_version", None, "Check ops against this tensorflow/serving release "
                    "(default: the installed TensorFlow's; 2.12-2.19: op names against the tf-text 2.12.1 and "
                    "TensorFlow 2.12.1 lists they bundle, naming each missing op).")
flags.DEFINE_boolean("fresh_process_check", True, "SavedModel: also verify in a fresh process.")
flags.DEFINE_boolean("overwrite", False, "Replace an existing version directory.")

FLAGS = flags.FLAGS

def read_samples(task, path, limit):
    """Raw serving inputs from a task file (its training format) or, for single-text tasks, text lines."""
    from keras_bert_zoo.data.task_files import FileOptions, TaskFileError, read_task_file, read_text_lines

    structured = path.endswith((".csv", ".tsv", ".jsonl", ".json", ".conll", ".txt")) and not (
        path.endswith(".txt") and len(task.text_inputs) == 1)
    if structured:
        options = FileOptions(text_column=FLAGS.text_column, pair_column=FLAGS.pair_column) \
            if task.task_type in ("classify", "regress") else FileOptions()
        return read_task_file(task.task_type, path, options, require_targets=False).serving_samples(limit)
    if len(task.text_inputs) != 1:
        raise TaskFileError(f"{path}: the task takes inputs {list(task.text_inputs)}; give a file in its "
                            f"training format")
    return {task.text_inputs[0]: read_text_lines(path)[:limit]}


def run_export():
    from keras_bert_zoo.cli.errors import FlagError, check_input_file, check_model_path, check_writable_dir

    check_model_path(FLAGS.model)          # before TensorFlow is imported: a wrong path fails at once
    if not FLAGS.name:
        raise FlagError("--name is required (the model's directory under --root)")
    for flag in ("samples_file", "representative_file"):
        if FLAGS[flag].value:
            check_input_file(FLAGS[flag].value, f"--{flag}")
    if FLAGS.format == "saved_model" and FLAGS.quantize != "none":
        raise FlagError("--quantize applies to --format tflite only")
    from keras_bert_zoo.export import next_version
    from keras_bert_zoo.export import ops as ops_lib
    from keras_bert_zoo.export import verify
    from keras_bert_zoo.export.tflite import FULL_INT8_FLOAT_OPS
    from keras_bert_zoo.tasks import load_task

    task = load_task(FLAGS.model)
    check_writable_dir(FLAGS.root, "--root")     # fail now, not after tracing and converting
    tolerance = None
    if (FLAGS.float_atol, FLAGS.float_rtol, FLAGS.min_agreement) != (None, None, None):
        base = verify.TOLERANCES["saved_model" if FLAGS.format == "saved_model" else FLAGS.quantize]
        tolerance = verify.Tolerance(
            base.float_atol if FLAGS.float_atol is None else FLAGS.float_atol,
            base.min_agreement if FLAGS.min_agreement is None else FLAGS.min_agreement,
            base.float_rtol if FLAGS.float_rtol is None else FLAGS.float_rtol)
        print(f"bert-zoo export: verification tolerance overridden: {tolerance} (default {base})", file=sys.stderr)
    samples = read_samples(task, FLAGS.samples_file, FLAGS.max_samples) if FLAGS.samples_file else None
    name_dir = FLAGS.name if FLAGS.format == "saved_model" else f"{FLAGS.name}-tflite-{FLAGS.quantize}"
    version = FLAGS.version or next_version(FLAGS.root, name_dir)
    path = f"{FLAGS.root}/{FLAGS.name}/{version}"
    if FLAGS.format == "saved_model":
        result = task.export(path, sample_inputs=samples, target=ops_lib.tf_serving_target(FLAGS.serving_version),
                             tolerance=tolerance, fresh_process_check=FLAGS.fresh_process_check,
                             overwrite=FLAGS.overwrite)
        summary = {"path": str(result.path), "format": "saved_model", "tftext_ops": result.info["tftext_ops"],
                   "verification": result.verification}
    else:
        extra = {}
        if FLAGS.representative_file:
            rep = read_samples(task, FLAGS.representative_file, FLAGS.max_representative)
            extra["representative_texts"] = rep
        float_ops = FULL_INT8_FLOAT_OPS
        if FLAGS.full_int8_float_ops is not None:
            float_ops = () if FLAGS.full_int8_float_ops in ([], ["none"]) else tuple(
                op.strip().upper() for op in FLAGS.full_int8_float_ops)
        result = task.export(path, format="tflite", sample_inputs=samples, quantize=FLAGS.quantize,
                             flex=FLAGS.flex, full_int8_float_ops=float_ops, tolerance=tolerance,
                             overwrite=FLAGS.overwrite, **extra)
        summary = {"path": str(result.path), "format": "tflite", "quantize": FLAGS.quantize,
                   "size_bytes": result.size_bytes, "custom_ops": result.custom_ops,
                   "verification": result.verification}
    print(json.dumps(summary, indent=1, ensure_ascii=False))


def main(argv):
    del argv
    from keras_bert_zoo.cli.errors import run_command

    run_command("export", run_export)
