"""`bert-zoo finetune`: fine-tune a pretrained BERT on a task file with model.fit.

    bert-zoo finetune --task=classify --train train.csv --eval dev.csv --preset minilm_l6_h384_uncased \
        --out runs/sentiment --epochs 3 --sequence_length 64

The CLI is the file-based front end over the task models of :mod:`keras_bert_zoo.tasks`: ``main`` turns the
flags into one :class:`FinetuneConfig` (rejecting flags the chosen task does not use), and
:func:`run_finetune` reads the files (:mod:`keras_bert_zoo.data.task_files`), builds the task with
``from_preset``, trains it with :func:`keras_bert_zoo.train.loop.fit_task` and writes the reports
(:mod:`keras_bert_zoo.reports`). The output directory gets: model.keras (one file: weights, config,
vocabulary; ``keras.saving.load_model`` or `bert-zoo evaluate/predict/export`), history.jsonl,
training_curves.png, logs/ (TensorBoard), checkpoints/last_good.weights.h5 and, with --eval/--test, eval/ and
test/ reports. Rerunning the same command after a crash resumes from the last completed epoch (backup/);
a finished run (model.keras present) is only replaced with --overwrite.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys

from absl import flags

flags.DEFINE_string("task", "classify", "Task type: classify, regress, tag, qa, choice, fill_mask, embed.")
flags.DEFINE_string("train", None, "Training file (CSV/TSV/JSONL; CoNLL for tag; SQuAD JSON for qa).")
flags.DEFINE_string("eval", None, "Validation file (early stopping, reports).")
flags.DEFINE_string("test", None, "Optional test file, evaluated once at the end.")
flags.DEFINE_string("preset", "minilm_l6_h384_uncased", "Preset name or checkpoint directory.")
flags.DEFINE_string("out", None, "Output directory.")
flags.DEFINE_boolean("overwrite", False, "Replace a finished run in --out (model, reports, history).")
flags.DEFINE_integer("sequence_length", 128, "Packed sequence length.")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_integer("epochs", 3, "Epochs.")
flags.DEFINE_integer("steps_per_epoch", None, "Batches per epoch (default: the whole training set).")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate.")
flags.DEFINE_float("warmup_ratio", 0.1, "Fraction of the updates spent warming up.")
flags.DEFINE_float("weight_decay", 0.01, "AdamW weight decay (not on LayerNorm/biases).")
flags.DEFINE_float("layer_decay", 1.0, "Layer-wise learning-rate decay (1.0: off).", lower_bound=0.0,
                   upper_bound=1.0)
flags.DEFINE_integer("grad_accum", 1, "Gradient accumulation steps.")
flags.DEFINE_float("clipnorm", 1.0, "Global gradient-norm clipping (0: off).")
flags.DEFINE_string("trainable", "all", "all | feature_extraction | K (top K encoder blocks train).")
flags.DEFINE_integer("lora_rank", 0, "LoRA: train rank-R adapters on the attention query/value kernels and the "
                     "head, the rest frozen; writes lora.safetensors (adapters + head) beside model.keras; exports "
                     "merge them (0: full fine-tuning).")
flags.DEFINE_float("lora_alpha", None, "LoRA scale numerator (update = alpha / rank * A B; default: the rank).")
flags.DEFINE_integer("early_stopping", 0, "Patience in epochs on the validation loss (0: off).")
flags.DEFINE_float("dropout", 0.1, "classify/regress/tag/choice: dropout before the task head.")
flags.DEFINE_string("class_weight", None, "classify: 'balanced' to weight classes by inverse frequency.")
flags.DEFINE_string("resample", None, "classify: 'oversample' or 'undersample' the training classes.")
flags.DEFINE_string("text_column", "text", "classify/regress: column / field of the text.")
flags.DEFINE_string("pair_column", None, "classify/regress: column / field of the second text (pairs).")
flags.DEFINE_string("label_column", "label", "classify/regress: column / field of the label.")
flags.DEFINE_string("file_format", None, "classify/regress: csv, tsv or jsonl (default: by extension).")
flags.DEFINE_integer("word_column", 0, "tag: CoNLL column of the words.")
flags.DEFINE_integer("tag_column", -1, "tag: CoNLL column of the tags.")
flags.DEFINE_integer("num_choices", None, "choice: choices per example (default: from the file).")
flags.DEFINE_list("labels", None, "classify/tag: label names in order (default: sorted labels in --train).")
flags.DEFINE_bool("multi_label", False, "classify: multi-label (labels separated by --label_separator).")
flags.DEFINE_string("label_separator", ",", "classify: separator of multi-label labels.")
flags.DEFINE_integer("window_stride", 0, "classify: predict long texts with sliding windows this many tokens "
                     "apart and average the window logits (0: truncate).")
flags.DEFINE_string("mixed_precision", None, "mixed_float16 or mixed_bfloat16.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "auto"], "Distribution.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("attention_text", None, "classify/regress/tag: also draw an attention heat map for this input.")
flags.DEFINE_integer("attention_layer", -1, "Layer of the heat map (negative: from the top).")
flags.DEFINE_integer("attention_head", None, "Head of the heat map (default: mean of heads).")
flags.DEFINE_string("export", None, "Also export a verified SavedModel under this root (TF Serving layout), "
                    "as the next free version of --export_name.")
flags.DEFINE_string("export_name", None, "Model name for --export (default: the --out directory name).")

FLAGS = flags.FLAGS

#: flags read only by some task types (every other flag applies to all)
TASK_FLAGS = {
    "dropout": {"classify", "regress", "tag", "choice"},
    "class_weight": {"classify"},
    "resample": {"classify"},
    "labels": {"classify", "tag"},
    "multi_label": {"classify"},
    "label_separator": {"classify"},
    "window_stride": {"classify"},
    "text_column": {"classify", "regress"},
    "pair_column": {"classify", "regress"},
    "label_column": {"classify", "regress"},
    "file_format": {"classify", "regress"},
    "word_column": {"tag"},
    "tag_column": {"tag"},
    "num_choices": {"choice"},
    "attention_text": {"classify", "regress", "tag"},
    "attention_layer": {"classify", "regress", "tag"},
    "attention_head": {"classify", "regress", "tag"},
}
FILE_FLAGS = ("text_column", "pair_column", "label_column", "file_format", "word_column", "tag_column",
              "num_choices")


class UsageError(ValueError):
    """A flag combination that cannot run (missing, unknown or inapplicable flags)."""


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """Everything one `bert-zoo finetune` run does (built once from the flags in :func:`config_from_flags`)."""

    task: str
    train: str
    out: str
    eval: str | None = None
    test: str | None = None
    preset: str = "minilm_l6_h384_uncased"
    overwrite: bool = False
    sequence_length: int = 128
    batch_size: int = 32
    seed: int = 0
    fit: object = None                         # keras_bert_zoo.train.loop.FitConfig
    file_options: object = None                # keras_bert_zoo.data.task_files.FileOptions
    task_args: dict = dataclasses.field(default_factory=dict)   # named constructor arguments of the task
    class_weight: str | None = None
    resample: str | None = None
    mixed_precision: str | None = None
    strategy: str = "default"
    attention_text: str | None = None
    attention_layer: int = -1
    attention_head: int | None = None
    export: str | None = None
    export_name: str | None = None


def check_paths():
    """The input files exist and --out is writable: checked before TensorFlow is imported, so such a mistake
    fails at once (one line naming the flag), not after the imports or the training."""
    from keras_bert_zoo.cli.errors import check_input_file, check_writable_dir

    if not FLAGS.train or not FLAGS.out:
        raise UsageError("--train and --out are required")
    for name in ("train", "eval", "test"):
        if FLAGS[name].value:
            check_input_file(FLAGS[name].value, f"--{name}")
    check_writable_dir(FLAGS.out, "--out")


def config_from_flags() -> FinetuneConfig:
    from keras_bert_zoo.data.task_files import FileOptions
    from keras_bert_zoo.tasks import task_names
    from keras_bert_zoo.train.loop import FitConfig

    task = FLAGS.task
    if task not in task_names() or task == "pretrain":
        raise UsageError(f"unknown task {task!r}; known tasks: "
                         f"{', '.join(t for t in task_names() if t != 'pretrain')} (pretraining: bert-zoo pretrain)")
    if not FLAGS.train or not FLAGS.out:
        raise UsageError("--train and --out are required")
    wrong = sorted(name for name, tasks in TASK_FLAGS.items() if FLAGS[name].present and task not in tasks)
    if wrong:
        raise UsageError(f"flag(s) {', '.join('--' + w for w in wrong)} do not apply to --task={task}")
    if FLAGS.lora_rank < 0:
        raise UsageError(f"--lora_rank must be >= 0, got {FLAGS.lora_rank}")
    if FLAGS.lora_rank and FLAGS.trainable != "all":
        raise UsageError("--lora_rank trains the adapters and the head: it does not combine with --trainable")
    if FLAGS["lora_alpha"].present and not FLAGS.lora_rank:
        raise UsageError("--lora_alpha needs --lora_rank")
    if FLAGS.class_weight not in (None, "balanced"):
        raise UsageError(f"--class_weight must be 'balanced', got {FLAGS.class_weight!r}")
    file_options = FileOptions(**{name: getattr(FLAGS, name) for name in FILE_FLAGS})
    task_args = {}
    if task in TASK_FLAGS["dropout"]:
        task_args["dropout"] = FLAGS.dropout
    if task == "classify":
        task_args.update(multi_label=FLAGS.multi_label, label_separator=FLAGS.label_separator,
                         window_stride=FLAGS.window_stride, pairs=bool(FLAGS.pair_column))
    if task == "regress":
        task_args["pairs"] = bool(FLAGS.pair_column)
    if FLAGS.labels:
        task_args["labels"] = list(FLAGS.labels)
    fit = FitConfig(epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
                    warmup_ratio=FLAGS.warmup_ratio, weight_decay=FLAGS.weight_decay, layer_decay=FLAGS.layer_decay,
                    gradient_accumulation_steps=FLAGS.grad_accum, clipnorm=FLAGS.clipnorm,
                    trainable=FLAGS.trainable, early_stopping_patience=FLAGS.early_stopping,
                    jit_compile=FLAGS.jit_compile, steps_per_epoch=FLAGS.steps_per_epoch,
                    lora_rank=FLAGS.lora_rank, lora_alpha=FLAGS.lora_alpha)
    return FinetuneConfig(task=task, train=FLAGS.train, out=FLAGS.out, eval=FLAGS.eval, test=FLAGS.test,
                          preset=FLAGS.preset, overwrite=FLAGS.overwrite, sequence_length=FLAGS.sequence_length,
                          batch_size=FLAGS.batch_size, seed=FLAGS.seed, fit=fit, file_options=file_options,
                          task_args=task_args, class_weight=FLAGS.class_weight, resample=FLAGS.resample,
                          mixed_precision=FLAGS.mixed_precision, strategy=FLAGS.strategy,
                          attention_text=FLAGS.attention_text, attention_layer=FLAGS.attention_layer,
                          attention_head=FLAGS.attention_head, export=FLAGS.export, export_name=FLAGS.export_name)


def _labels_from(data, config):
    from keras_bert_zoo.data.labelled import split_labels

    if config.task == "tag":
        from keras_bert_zoo.data.conll import label_list

        return label_list(data.records)
    names = set()
    for value in data.y:
        names.update(split_labels(value, config.task_args["label_separator"]) if config.task_args.get("multi_label")
                     else [str(value).strip()])
    return sorted(names)


def prepare_out_dir(config: FinetuneConfig):
    """Refuse to replace a finished run unless --overwrite; with it, clear what the old run wrote."""
    out = os.path.abspath(config.out)
    finished = os.path.exists(os.path.join(out, "model.keras"))
    if finished and not config.overwrite:
        raise UsageError(f"{config.out} holds a finished run (model.keras); pass --overwrite to replace it, or "
                         f"choose another --out")
    if finished:
        for name in ("history.jsonl", "training_curves.png", "attention.png", "backup", "logs", "eval", "test",
                     "checkpoints", "lora.safetensors"):
            path = os.path.join(out, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)


def run_finetune(config: FinetuneConfig, include_startup: bool = False):
    """Everything `bert-zoo finetune` does, from a :class:`FinetuneConfig`; returns (task, reports).

    ``include_startup``: count the process's age (interpreter, imports, flags) as the run's ``start-up`` phase
    in ``timings.json`` (the CLI does; a call inside a longer-lived process should not)."""
    import keras
    import numpy as np

    from keras_bert_zoo import reports as reports_lib
    from keras_bert_zoo.data.task_files import read_task_file
    from keras_bert_zoo.tasks import get_task_class
    from keras_bert_zoo.train.distribute import get_strategy, is_chief, set_precision
    from keras_bert_zoo.train.loop import fit_task
    from keras_bert_zoo.metrics.classification import class_weights as balanced_weights
    from keras_bert_zoo.metrics.classification import resample_indices
    from keras_bert_zoo.cli.errors import check_writable_dir

    from keras_bert_zoo import cache
    from keras_bert_zoo.train.callbacks import RunClock

    clock = RunClock(include_startup=include_startup)
    prepare_out_dir(config)
    check_writable_dir(config.out, "--out")       # fail now, not after training
    keras.utils.set_random_seed(config.seed)
    set_precision(config.mixed_precision)
    strategy = get_strategy(config.strategy) if config.strategy != "default" else None
    task_cls = get_task_class(config.task)
    with clock.phase("read data"):
        train = read_task_file(config.task, config.train, config.file_options)
    task_args = dict(config.task_args)
    if config.task in ("classify", "tag") and "labels" not in task_args:
        task_args["labels"] = _labels_from(train, config)
    if config.task == "choice":
        task_args["num_choices"] = config.file_options.num_choices or train.extra["num_choices"]

    def build():
        return task_cls.from_preset(config.preset, sequence_length=config.sequence_length, **task_args)

    with clock.phase("build model"):
        if strategy is not None:
            with strategy.scope():
                task = build()
        else:
            task = build()
    if config.task == "classify" and not task.multi_label:
        seen = {str(v).strip() for v in train.y}
        unused = [n for n in task.labels if n not in seen]
        if unused:
            print(f"bert-zoo finetune: warning: label(s) {unused} have no training example in {config.train}",
                  file=sys.stderr)
    x, y, weights = train.x, train.y, None
    if config.class_weight or config.resample:
        if task.multi_label:
            raise UsageError("--class_weight / --resample are defined for single-label classification only")
        ids = task.encode_targets(y)
        idx = resample_indices(ids, config.resample, seed=config.seed) if config.resample else np.arange(len(ids))
        x = {k: [v[i] for i in idx] for k, v in x.items()}
        y = [y[i] for i in idx]
        if config.class_weight:
            table = balanced_weights(ids, len(task.labels), config.class_weight)
            weights = np.asarray([table[int(ids[i])] for i in idx], "float32")
    with clock.phase("datasets"):
        if config.task in ("classify", "regress"):
            reports_lib.warn_truncation(task, train)
        train_ds = task.make_dataset(x, y, weights, batch_size=config.batch_size, training=True, seed=config.seed)
        card = int(train_ds.cardinality().numpy())
        train_size = card * config.batch_size if card > 0 else len(train)
        val_ds = None
        if config.eval:
            val = read_task_file(config.task, config.eval, config.file_options)
            val_ds = task.make_dataset(val.x, val.y, batch_size=config.batch_size, training=False)
    with clock.fitting():
        fit_task(task, train_ds, val_ds, config.out, config.fit, train_size=train_size, strategy=strategy,
                 extra_callbacks=[clock], clock=clock)
    reports = {}
    if not is_chief():
        return task, reports
    model_path = os.path.join(config.out, "model.keras")
    tmp = os.path.join(config.out, f".model.{os.getpid()}.keras")
    with clock.phase("save"):
        task.save(tmp)
        os.replace(tmp, model_path)
        print(f"saved the fine-tuned model to {model_path}")
        if task.backbone.lora:
            task.save_lora_weights(os.path.join(config.out, "lora.safetensors"))
            print(f"saved the LoRA adapters and head to {os.path.join(config.out, 'lora.safetensors')}")
    for name, path in (("eval", config.eval), ("test", config.test)):
        if path:
            with clock.phase(f"{name} report"):
                data = read_task_file(config.task, path, config.file_options)
                report = reports_lib.evaluate_task_file(task, data, out_dir=os.path.join(config.out, name),
                                                        batch_size=config.batch_size)
            reports[name] = report
            print(f"{name}: " + json.dumps({k: round(v, 4) for k, v in report.items() if isinstance(v, float)}))
    if config.attention_text:
        from keras_bert_zoo.viz import attention_scores, plot_attention

        tokens, scores = attention_scores(task, config.attention_text)
        png = plot_attention(tokens, scores, os.path.join(config.out, "attention.png"),
                             layer=config.attention_layer, head=config.attention_head)
        print(f"attention heat map: {png}")
    if config.export:
        name = config.export_name or os.path.basename(os.path.normpath(config.out))
        from keras_bert_zoo.export import next_version

        version = next_version(config.export, name)
        with clock.phase("export"):
            exported = task.export(os.path.join(config.export, name, str(version)),
                                   sample_inputs=train.serving_samples(8))
        print(f"exported SavedModel: {exported.path}")
    work = sum(clock.phases.get(k, 0.0) for k in ("training steps", "validation", "eval report", "test report",
                                                  "export"))
    print(f"{clock.summary()} (overhead beyond training steps, validation, reports and export: "
          f"{clock.total() - work:.0f} s)")
    with cache.atomic_write(os.path.join(config.out, "timings.json"), "w", encoding="utf-8") as f:
        json.dump({k: round(v, 3) for k, v in clock.phases.items()}, f, indent=1)
    return task, reports


def main(argv):
    del argv
    from keras_bert_zoo.cli.errors import run_command

    def finetune():
        check_paths()
        return run_finetune(config_from_flags(), include_startup=True)

    run_command("finetune", finetune)
