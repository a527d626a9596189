"""`bert-zoo export`: a saved task directory -> SavedModel (TF Serving layout) or TFLite, verified.

    bert-zoo export --model runs/sentiment --format saved_model --name sentiment --version 1
    bert-zoo export --model runs/sentiment --format tflite --quantize int8 --name sentiment --version 1
    bert-zoo export --model runs/sentiment --format tflite --quantize full_int8 \
        --representative_file data/train.csv --name sentiment --version 1

--model is a directory written by ``task.save`` (``bert-zoo finetune --out``). Sample texts for verification
(and warm-up requests, and full-int8 calibration unless --representative_file is given) come from
--samples_file (one text per line, or the --text_column of a CSV/TSV/JSONL file) or a built-in multilingual set.
SavedModels go to <root>/<name>/<version>/, TFLite files to <root>/<name>-tflite-<quant>/<version>/model.tflite.
The command prints the path and the verification summary as JSON; it exits non-zero, leaving nothing on
disk, when the op check or the verification fails.
"""

import json
import sys

from absl import flags

flags.DEFINE_string("model", None, "Saved task directory (task.save / bert-zoo finetune --out).")
flags.DEFINE_enum("format", "saved_model", ["saved_model", "tflite"], "Export format.")
flags.DEFINE_enum("quantize", "none", ["none", "fp16", "int8", "full_int8"], "TFLite quantization.")
flags.DEFINE_string("name", None, "Model name (directory under --root; TF Serving's model name).")
flags.DEFINE_integer("version", 1, "Version number (a new directory; TF Serving serves the highest).")
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
                    "(default: the installed TensorFlow's).")
flags.DEFINE_boolean("fresh_process_check", True, "SavedModel: also verify in a fresh process.")
flags.DEFINE_boolean("overwrite", False, "Replace an existing version directory.")

FLAGS = flags.FLAGS

#: used when no --samples_file is given: English, accents, Chinese, punctuation, empty, long
DEFAULT_SAMPLES = [
    "I love this, it's wonderful!", "This is the worst day ever.", "ok", "",
    "Café naïve über résumé", "今天天气很好，我们去公园散步吧。", "这部电影太无聊了",
    "Mixed 中文 and English text", "@user http://t.co/xyz #hashtag :)",
    "a very long sentence " * 40,
]


def read_texts(path, column, pair_column=None, limit=None):
    """Texts (and pairs) from a plain text file (one per line) or a CSV/TSV/JSONL file with a header."""
    from keras_bert_zoo.tasks.classification import read_labelled_file

    if path.endswith((".csv", ".tsv", ".jsonl", ".json")):
        data = read_labelled_file(path, text_column=column, pair_column=pair_column, label_column=None,
                                  require_labels=False)
        texts, pairs = list(data.texts), (list(data.pairs) if data.pairs is not None else None)
    else:
        with open(path, encoding="utf-8", errors="replace") as f:
            texts, pairs = [line.rstrip("\n") for line in f if line.strip()], None
    if not texts:
        raise ValueError(f"{path}: no texts found")
    if limit:
        texts = texts[:limit]
        pairs = pairs[:limit] if pairs is not None else None
    return texts, pairs


def main(argv):
    del argv
    if not FLAGS.model or not FLAGS.name:
        print("bert-zoo export: --model and --name are required", file=sys.stderr)
        return 2
    from keras_bert_zoo.export import ops as ops_lib
    from keras_bert_zoo.export import verify
    from keras_bert_zoo.export.saved_model import export_saved_model
    from keras_bert_zoo.export.tflite import FULL_INT8_FLOAT_OPS, export_tflite
    from keras_bert_zoo.tasks import BertTask

    task = BertTask.load(FLAGS.model)
    tolerance = None
    if (FLAGS.float_atol, FLAGS.float_rtol, FLAGS.min_agreement) != (None, None, None):
        base = verify.TOLERANCES["saved_model" if FLAGS.format == "saved_model" else FLAGS.quantize]
        tolerance = verify.Tolerance(
            base.float_atol if FLAGS.float_atol is None else FLAGS.float_atol,
            base.min_agreement if FLAGS.min_agreement is None else FLAGS.min_agreement,
            base.float_rtol if FLAGS.float_rtol is None else FLAGS.float_rtol)
        print(f"bert-zoo export: verification tolerance overridden: {tolerance} (default {base})", file=sys.stderr)
    pair_task = len(task.serving_input_spec()) > 1
    if FLAGS.samples_file:
        texts, pairs = read_texts(FLAGS.samples_file, FLAGS.text_column, FLAGS.pair_column, FLAGS.max_samples)
    else:
        texts = DEFAULT_SAMPLES[:FLAGS.max_samples]
        pairs = list(reversed(texts)) if pair_task else None
    if pair_task and pairs is None:
        print("bert-zoo export: this task takes text pairs; give --pair_column", file=sys.stderr)
        return 2
    if FLAGS.format == "saved_model":
        if FLAGS.quantize != "none":
            print("bert-zoo export: --quantize applies to --format tflite only", file=sys.stderr)
            return 2
        target = ops_lib.tf_serving_target(FLAGS.serving_version)
        result = export_saved_model(task, FLAGS.root, FLAGS.name, FLAGS.version, texts, pairs, target=target,
                                    tolerance=tolerance, fresh_process_check=FLAGS.fresh_process_check,
                                    overwrite=FLAGS.overwrite)
        summary = {"path": str(result.path), "format": "saved_model", "tftext_ops": result.info["tftext_ops"],
                   "verification": result.verification}
    else:
        rep_texts = rep_pairs = None
        if FLAGS.representative_file:
            rep_texts, rep_pairs = read_texts(FLAGS.representative_file, FLAGS.text_column, FLAGS.pair_column,
                                              FLAGS.max_representative)
        float_ops = FULL_INT8_FLOAT_OPS
        if FLAGS.full_int8_float_ops is not None:
            float_ops = () if FLAGS.full_int8_float_ops in ([], ["none"]) else tuple(
                op.strip().upper() for op in FLAGS.full_int8_float_ops)
        result = export_tflite(task, FLAGS.root, FLAGS.name, FLAGS.version, texts, pairs, quantize=FLAGS.quantize,
                               representative_texts=rep_texts, representative_pairs=rep_pairs, flex=FLAGS.flex,
                               full_int8_float_ops=float_ops, tolerance=tolerance, overwrite=FLAGS.overwrite)
        summary = {"path": str(result.path), "format": "tflite", "quantize": FLAGS.quantize,
                   "size_bytes": result.size_bytes, "custom_ops": result.custom_ops,
                   "verification": result.verification}
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    return 0
