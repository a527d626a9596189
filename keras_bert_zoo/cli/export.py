"""`bert-zoo export`: a saved task (.keras) -> SavedModel or TFLite in TF Serving's layout, verified.

    bert-zoo export --model runs/sentiment/model.keras --format saved_model --name sentiment
    bert-zoo export --model runs/sentiment/model.keras --format tflite --quantize int8 --name sentiment
    bert-zoo export --model runs/sentiment/model.keras --format tflite --quantize full_int8 \
        --representative_file data/train.csv --name sentiment --version 1

--model is a file written by ``task.save`` (``bert-zoo finetune --out``); the export is ``task.export``.
Sample inputs for verification (and warm-up requests, and full-int8 calibration unless --representative_file
is given) come from --samples_file (a file in the task's own training format, or a .txt file of text lines for
single-text tasks) or the task's built-in samples. --version defaults to the next free version number
(``keras_bert_zoo.export.next_version_dir``). SavedModels go to <out>/<name>/<version>/, TFLite files to
<out>/<name>-tflite-<quant>/<version>/model.tflite with export_info.json beside (quant: fp32, fp16, int8,
full_int8). --format also takes Keras's names (tf_saved_model, litert). To write one exact path instead, call
``task.export(filepath, format=...)`` in Python.
The command prints the path and the verification summary as JSON; it exits non-zero, leaving nothing on
disk, when the op check or the verification fails.
"""

import dataclasses
import json
import sys

from absl import flags

from keras_bert_zoo.cli import options

flags.DEFINE_string("model", None, "A task saved by task.save / bert-zoo finetune (model.keras).")
flags.DEFINE_enum("format", "saved_model", ["saved_model", "tflite", "tf_saved_model", "litert"],
                  "Export format (Keras's names tf_saved_model and litert are the same as saved_model and tflite).")
flags.DEFINE_enum("quantize", "none", ["none", "fp16", "int8", "full_int8"], "TFLite quantization.")
flags.DEFINE_string("name", None, "Model name (directory under --out; TF Serving's model name).")
flags.DEFINE_integer("version", None, "Version number (default: the next free one; TF Serving serves the highest).")
options.define("out", "task_module", out="saved_models", out_help="Export root (TF Serving's model base path).")
options.define_alias("root", "out")
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


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """One `bert-zoo export` run (the flags of the same names)."""

    model: str
    name: str
    format: str = "saved_model"
    quantize: str = "none"
    version: int | None = None
    out: str = "saved_models"
    samples_file: str | None = None
    text_column: str = "text"
    pair_column: str | None = None
    max_samples: int = 32
    representative_file: str | None = None
    max_representative: int = 256
    full_int8_float_ops: tuple | None = None
    float_atol: float | None = None
    float_rtol: float | None = None
    min_agreement: float | None = None
    flex: bool = False
    serving_version: str | None = None
    fresh_process_check: bool = True
    overwrite: bool = False
    task_modules: tuple = ()


def read_samples(task, path, limit, config: ExportConfig):
    """Raw serving inputs from a task file (its training format, read by the task's TaskSpec) or, for single-text
    tasks, a .txt file of text lines."""
    from keras_bert_zoo.data.task_files import FileOptions, TaskFileError, read_text_lines
    from keras_bert_zoo.tasks import registry

    if not (path.endswith(".txt") and len(task.text_inputs) == 1):       # the task's own file format
        spec = registry.spec_of(task)
        columns = {"text_column": config.text_column, "pair_column": config.pair_column}
        options = FileOptions(**{k: v for k, v in columns.items() if k in spec.file_options})
        return spec.read(path, options, require_targets=False).serving_samples(limit)
    if len(task.text_inputs) != 1:
        raise TaskFileError(f"{path}: the task takes inputs {list(task.text_inputs)}; give a file in its "
                            f"training format")
    return {task.text_inputs[0]: read_text_lines(path)[:limit]}


def _check(config: ExportConfig):
    """The flags, before TensorFlow is imported: a wrong path or combination fails at once."""
    from keras_bert_zoo.cli.errors import UsageError, check_input_file, check_model_path

    check_model_path(config.model)
    if not config.name:
        raise UsageError("--name is required (the model's directory under --out)")
    for flag in ("samples_file", "representative_file"):
        if getattr(config, flag):
            check_input_file(getattr(config, flag), f"--{flag}")
    if config.format in ("saved_model", "tf_saved_model") and config.quantize != "none":
        raise UsageError("--quantize applies to --format tflite only")


def _tolerance(config: ExportConfig):
    """The verification tolerance with the --float_atol / --float_rtol / --min_agreement overrides, or None."""
    from keras_bert_zoo.export import verify

    if (config.float_atol, config.float_rtol, config.min_agreement) == (None, None, None):
        return None
    base = verify.TOLERANCES["saved_model" if _format(config) == "saved_model" else config.quantize]
    tolerance = verify.Tolerance(
        base.float_atol if config.float_atol is None else config.float_atol,
        base.min_agreement if config.min_agreement is None else config.min_agreement,
        base.float_rtol if config.float_rtol is None else config.float_rtol)
    print(f"bert-zoo export: verification tolerance overridden: {tolerance} (default {base})", file=sys.stderr)
    return tolerance


def _format(config: ExportConfig) -> str:
    from keras_bert_zoo.export import export_format

    return export_format(config.format)


def export_path(config: ExportConfig):
    """Where this run writes: ``<out>/<name>/<version>`` (SavedModel) or
    ``<out>/<name>-tflite-<quant>/<version>/model.tflite``, the version --version or the next free one."""
    from keras_bert_zoo.export import next_version_dir
    from keras_bert_zoo.export.saved_model import version_dir

    name = config.name
    if _format(config) == "tflite":
        name = f"{config.name}-tflite-{'fp32' if config.quantize == 'none' else config.quantize}"
    path = version_dir(config.out, name, config.version) if config.version else next_version_dir(config.out, name)
    return path if _format(config) == "saved_model" else path / "model.tflite"


def _export_tflite(task, path, samples, tolerance, config: ExportConfig) -> dict:
    from keras_bert_zoo import cache
    from keras_bert_zoo.export.tflite import FULL_INT8_FLOAT_OPS

    extra = {}
    if config.representative_file:
        extra["representative_texts"] = read_samples(task, config.representative_file,
                                                     config.max_representative, config)
    float_ops = FULL_INT8_FLOAT_OPS
    if config.full_int8_float_ops is not None:
        float_ops = () if list(config.full_int8_float_ops) in ([], ["none"]) else tuple(
            op.strip().upper() for op in config.full_int8_float_ops)
    result = task.export(path, format="tflite", sample_inputs=samples, quantize=config.quantize,
                         flex=config.flex, full_int8_float_ops=float_ops, tolerance=tolerance,
                         overwrite=config.overwrite, **extra)
    with cache.atomic_write(result.path.parent / "export_info.json", "w", encoding="utf-8") as f:
        json.dump(result.info, f, indent=1, ensure_ascii=False, default=str)
    return {"path": str(result.path), "format": "tflite", "quantize": config.quantize,
            "size_bytes": result.size_bytes, "custom_ops": result.custom_ops, "verification": result.verification}


def run_export(config: ExportConfig) -> dict:
    """Load the task, export and verify it; prints and returns the summary."""
    from keras_bert_zoo.cli.errors import check_writable_dir

    _check(config)
    from keras_bert_zoo.export import ops as ops_lib
    from keras_bert_zoo.tasks import load_task, registry

    registry.import_task_modules(config.task_modules)
    task = load_task(config.model)
    check_writable_dir(config.out, "--out")     # fail now, not after tracing and converting
    tolerance = _tolerance(config)
    samples = read_samples(task, config.samples_file, config.max_samples, config) if config.samples_file else None
    path = export_path(config)
    if _format(config) == "saved_model":
        result = task.export(path, sample_inputs=samples, target=ops_lib.tf_serving_target(config.serving_version),
                             tolerance=tolerance, fresh_process_check=config.fresh_process_check,
                             overwrite=config.overwrite)
        summary = {"path": str(result.path), "format": "saved_model", "tftext_ops": result.info["tftext_ops"],
                   "verification": result.verification}
    else:
        summary = _export_tflite(task, path, samples, tolerance, config)
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    return summary


def main(argv):
    del argv
    options.resolve_aliases()
    names = [f.name for f in dataclasses.fields(ExportConfig) if f.name != "task_modules"]
    values = {name: FLAGS[name].value for name in names}
    if values["full_int8_float_ops"] is not None:
        values["full_int8_float_ops"] = tuple(values["full_int8_float_ops"])
    run_export(ExportConfig(**values, task_modules=tuple(FLAGS.task_module or ())))
