"""`bert-zoo finetune`: fine-tune a pretrained BERT on a labelled file with model.fit.

    bert-zoo finetune --task=classify --train train.csv --eval dev.csv --preset minilm_l6_h384_uncased \
        --out runs/sentiment --epochs 3 --sequence_length 64

Tasks come from the registry in keras_bert_zoo.tasks (classify, regress, tag, qa, choice, ...). The output
directory gets: model/ (model.keras + vocab.txt + task.json, loadable with BertTask.load or `bert-zoo
evaluate/predict`), history.jsonl, training_curves.png, logs/ (TensorBoard), checkpoints/last_good.weights.h5,
and, with --eval/--test, eval/ and test/ reports (report.json/.txt, predictions.csv, confusion_matrix.png).
Rerunning the same command after a crash resumes from the last completed epoch (backup/ in --out).
"""

import json
import logging
import os
import sys

from absl import flags

flags.DEFINE_string("task", "classify", "Task type: classify, regress, tag, qa, choice.")
flags.DEFINE_string("train", None, "Training file (CSV/TSV/JSONL; CoNLL for tag; SQuAD JSON for qa).")
flags.DEFINE_string("eval", None, "Validation file (early stopping, reports).")
flags.DEFINE_string("test", None, "Optional test file, evaluated once at the end.")
flags.DEFINE_string("preset", "minilm_l6_h384_uncased", "Preset name or checkpoint directory.")
flags.DEFINE_string("out", None, "Output directory.")
flags.DEFINE_integer("sequence_length", 128, "Packed sequence length.")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_integer("epochs", 3, "Epochs.")
flags.DEFINE_integer("steps_per_epoch", None, "Batches per epoch (default: the whole training set).")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate.")
flags.DEFINE_float("warmup_ratio", 0.1, "Fraction of the updates spent warming up.")
flags.DEFINE_float("weight_decay", 0.01, "AdamW weight decay (not on LayerNorm/biases).")
flags.DEFINE_float("layer_decay", 1.0, "Layer-wise learning-rate decay (1.0: off).")
flags.DEFINE_integer("grad_accum", 1, "Gradient accumulation steps.")
flags.DEFINE_float("clipnorm", 1.0, "Global gradient-norm clipping (0: off).")
flags.DEFINE_string("trainable", "all", "all | feature_extraction | K (top K encoder blocks train).")
flags.DEFINE_integer("early_stopping", 0, "Patience in epochs on the validation loss (0: off).")
flags.DEFINE_float("dropout", 0.1, "Dropout before the task head.")
flags.DEFINE_string("class_weight", None, "'balanced' to weight classes by inverse frequency.")
flags.DEFINE_string("resample", None, "'oversample' or 'undersample' the training classes.")
flags.DEFINE_string("text_column", "text", "Column / field of the text.")
flags.DEFINE_string("pair_column", None, "Column / field of the second text (pair tasks).")
flags.DEFINE_string("label_column", "label", "Column / field of the label.")
flags.DEFINE_list("labels", None, "Label names in order (default: sorted labels found in --train).")
flags.DEFINE_bool("multi_label", False, "Multi-label classification (labels separated by --label_separator).")
flags.DEFINE_string("label_separator", ",", "Separator of multi-label labels.")
flags.DEFINE_integer("window_stride", 0, "classify: predict long texts with sliding windows this many tokens "
                     "apart and average the window logits (0: truncate).")
flags.DEFINE_string("mixed_precision", None, "mixed_float16 or mixed_bfloat16.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "auto"], "Distribution.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("attention_text", None, "Also draw an attention heat map for this input.")
flags.DEFINE_integer("attention_layer", -1, "Layer of the heat map (negative: from the top).")
flags.DEFINE_integer("attention_head", None, "Head of the heat map (default: mean of heads).")
flags.DEFINE_string("export", None, "Also export a SavedModel under this root (TF Serving layout).")
flags.DEFINE_string("export_name", None, "Model name for --export (default: the --out directory name).")

FLAGS = flags.FLAGS

from keras_bert_zoo.cli.export_hook import export_saved_model  # noqa: E402

TASK_OPTION_FLAGS = ("text_column", "pair_column", "label_column", "multi_label", "label_separator")


def task_options():
    """The data options every task receives (tasks ignore the ones they do not use)."""
    return {name: getattr(FLAGS, name) for name in TASK_OPTION_FLAGS}


def run_finetune(flags_values=None):
    """Everything `bert-zoo finetune` does, from parsed flags; returns (task, reports)."""
    import keras

    from keras_bert_zoo import presets
    from keras_bert_zoo.tasks import TaskError, get_task_class
    from keras_bert_zoo.train.distribute import get_strategy, is_chief, set_precision
    from keras_bert_zoo.train.loop import FitConfig, fit_task

    if not FLAGS.train or not FLAGS.out:
        raise TaskError("--train and --out are required")
    keras.utils.set_random_seed(FLAGS.seed)
    set_precision(FLAGS.mixed_precision)
    strategy = get_strategy(FLAGS.strategy) if FLAGS.strategy != "default" else None
    task_cls = get_task_class(FLAGS.task)
    options = task_options()
    if FLAGS.labels:
        options["labels"] = FLAGS.labels
    if FLAGS.window_stride:
        options["window_stride"] = FLAGS.window_stride

    def build():
        backbone, tokenizer = presets.from_preset(FLAGS.preset, backbone_only=True)
        return task_cls.from_train_file(FLAGS.train, backbone, tokenizer, sequence_length=FLAGS.sequence_length,
                                        dropout=FLAGS.dropout, **options)

    if strategy is not None:
        with strategy.scope():
            task = build()
    else:
        task = build()
    read_opts = {k: v for k, v in options.items() if k not in ("labels", "window_stride")}
    train_kwargs = {}
    if FLAGS.class_weight:
        train_kwargs["class_weight"] = FLAGS.class_weight
    if FLAGS.resample:
        train_kwargs["resample"] = FLAGS.resample
    train_ds = task.dataset_from_file(FLAGS.train, batch_size=FLAGS.batch_size, training=True, seed=FLAGS.seed,
                                      **train_kwargs, **read_opts)
    train_size = int(train_ds.cardinality().numpy()) * FLAGS.batch_size if train_ds.cardinality() > 0 else 0
    val_ds = (task.dataset_from_file(FLAGS.eval, batch_size=FLAGS.batch_size, training=False, **read_opts)
              if FLAGS.eval else None)
    config = FitConfig(epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
                       warmup_ratio=FLAGS.warmup_ratio, weight_decay=FLAGS.weight_decay,
                       layer_decay=FLAGS.layer_decay, gradient_accumulation_steps=FLAGS.grad_accum,
                       clipnorm=FLAGS.clipnorm, trainable=FLAGS.trainable,
                       early_stopping_patience=FLAGS.early_stopping, jit_compile=FLAGS.jit_compile,
                       steps_per_epoch=FLAGS.steps_per_epoch)
    fit_task(task, train_ds, val_ds, FLAGS.out, config, train_size=train_size, strategy=strategy)
    reports = {}
    if not is_chief():
        return task, reports
    model_dir = task.save(os.path.join(FLAGS.out, "model"))
    print(f"saved the fine-tuned model to {model_dir}")
    for name, path in (("eval", FLAGS.eval), ("test", FLAGS.test)):
        if path:
            report = task.evaluate_file(path, out_dir=os.path.join(FLAGS.out, name), batch_size=FLAGS.batch_size,
                                        **read_opts)
            reports[name] = report
            print(f"{name}: " + json.dumps({k: round(v, 4) for k, v in report.items()
                                            if isinstance(v, float)}))
    if FLAGS.attention_text:
        from keras_bert_zoo.viz import attention_scores, plot_attention

        tokens, scores = attention_scores(task, FLAGS.attention_text)
        png = plot_attention(tokens, scores, os.path.join(FLAGS.out, "attention.png"),
                             layer=FLAGS.attention_layer, head=FLAGS.attention_head)
        print(f"attention heat map: {png}")
    if FLAGS.export:
        from keras_bert_zoo.tasks.classification import read_labelled_file

        sample = ["a short example", ""]
        if FLAGS.task in ("classify", "regress") and not task.pairs:
            sample = read_labelled_file(FLAGS.eval or FLAGS.train, FLAGS.text_column, None, None).texts[:8]
        exported = export_saved_model(task, FLAGS.export, FLAGS.export_name or os.path.basename(
            os.path.normpath(FLAGS.out)), sample)
        if exported:
            print(f"exported SavedModel: {getattr(exported, 'path', exported)}")
    return task, reports


def main(argv):
    del argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from keras_bert_zoo.tasks import TaskError
    from keras_bert_zoo.train.callbacks import NanLossError

    try:
        run_finetune()
    except (TaskError, NanLossError) as err:
        print(f"bert-zoo finetune: error: {err}", file=sys.stderr)
        sys.exit(1)
