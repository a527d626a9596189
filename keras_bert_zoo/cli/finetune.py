"""`bert-zoo finetune`: fine-tune a pretrained BERT on a task file with model.fit.

    bert-zoo finetune --task=classify --train train.csv --eval dev.csv --preset minilm_l6_h384_uncased \
        --out runs/sentiment --epochs 3 --sequence_length 64

The CLI is the file-based front end over the task models of :mod:`keras_bert_zoo.tasks`: ``main`` turns the
flags into one :class:`FinetuneConfig` (rejecting flags the chosen task does not use), and
:func:`run_finetune` reads the files (:mod:`keras_bert_zoo.data.task_files`), builds the task with
``from_preset``, trains it with :func:`keras_bert_zoo.train.loop.fit_task` and writes the reports
(:mod:`keras_bert_zoo.reports`). The output directory gets: model.keras (one file: weights, config,
vocabulary; ``keras.saving.load_model`` or `bert-zoo evaluate/predict/export`), history.jsonl,
steps.jsonl, training_curves.png, logs/ (TensorBoard), checkpoints/last_good.weights.h5, with --eval/--test eval/
and test/ reports, and report.html (one self-contained page: metrics, curves, evaluation, attention explorer over
attention.json; `bert-zoo report` rebuilds it). Rerunning the same command after a crash resumes from the last completed epoch (backup/);
a finished run (model.keras present) is only replaced with --overwrite. One run at a time per --out: the
directory is claimed (``.bert-zoo-run.lock``, the owner's pid) and a second run into it refuses in one line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys

from absl import flags

from keras_bert_zoo.cli import options
from keras_bert_zoo.cli.errors import UsageError

options.define("out", "sequence_length", "mixed_precision", "seed", "batch_size", "task_module",
               out_help="Output directory (model.keras, history, reports).")
flags.DEFINE_string("task", "classify", "Task name: classify, regress, tag, qa, choice, fill_mask, embed, or a task "
                    "registered by --task_module (keras_bert_zoo.tasks.task_names()).")
flags.DEFINE_string("train", None, "Training file (CSV/TSV/JSONL; CoNLL for tag; SQuAD JSON for qa).")
flags.DEFINE_string("eval", None, "Validation file (early stopping, reports).")
flags.DEFINE_string("test", None, "Optional test file, evaluated once at the end.")
flags.DEFINE_string("preset", "minilm_l6_h384_uncased", "Preset name or checkpoint directory.")
flags.DEFINE_boolean("overwrite", False, "Replace a finished run in --out (model, reports, history).")
flags.DEFINE_integer("epochs", 3, "Epochs.")
flags.DEFINE_integer("steps_per_epoch", None, "Batches per epoch (default: the whole training set).")
# the recipe's flags default to None: unset, the value is keras_bert_zoo.train.recipe.Recipe's (its one default)
flags.DEFINE_float("learning_rate", None, "Peak learning rate (default: the recipe's, 5e-5).")
flags.DEFINE_float("warmup_ratio", None, "Fraction of the updates spent warming up (default: the recipe's, 0.1).")
flags.DEFINE_float("weight_decay", None, "AdamW weight decay, not on LayerNorm/biases (default: the recipe's, 0.01).")
flags.DEFINE_float("layer_decay", None, "Layer-wise learning-rate decay, 1.0: off (default: the recipe's, 1.0).",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("grad_accum", None, "Gradient accumulation steps (default: the recipe's, 1).")
flags.DEFINE_float("clipnorm", None, "Global gradient-norm clipping, 0: off (default: the recipe's, 1.0).")
flags.DEFINE_string("trainable", "all", "all | feature_extraction | K (top K encoder blocks train).")
flags.DEFINE_integer("lora_rank", 0, "LoRA: train rank-R adapters on the attention query/value kernels and the "
                     "head, the rest frozen; writes lora.safetensors (adapters + head) beside model.keras; exports "
                     "merge them (0: full fine-tuning).")
flags.DEFINE_float("lora_alpha", None, "LoRA scale numerator (update = alpha / rank * A B; default: the rank).")
flags.DEFINE_integer("early_stopping", 0, "Patience in epochs on the validation loss (0: off).")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "auto"], "Distribution.")
flags.DEFINE_string("export", None, "Also export a verified SavedModel under this root (TF Serving layout), "
                    "as the next free version of --export_name.")
flags.DEFINE_string("export_name", None, "Model name for --export (default: the --out directory name).")
# the task options: a task's TaskSpec says which of them it reads (task_flags / file_options / cli_flags); one that
# the chosen task does not read is a usage error naming it
flags.DEFINE_float("dropout", 0.1, "Task option: dropout before the task head (classify/regress/tag/choice).")
flags.DEFINE_string("class_weight", None, "Task option (classify): 'balanced' to weight classes by inverse "
                    "frequency.")
flags.DEFINE_string("resample", None, "Task option (classify): 'oversample' or 'undersample' the training classes.")
flags.DEFINE_list("labels", None, "Task option (classify/tag): label names in order (default: sorted labels in "
                  "--train).")
flags.DEFINE_bool("multi_label", False, "Task option (classify): multi-label (labels separated by "
                  "--label_separator).")
flags.DEFINE_string("label_separator", ",", "Task option (classify): separator of multi-label labels.")
flags.DEFINE_integer("window_stride", 0, "Task option (classify): train on and predict long texts with sliding "
                     "windows this many tokens apart, averaging the window logits (0: truncate).")
flags.DEFINE_integer("max_windows", None, "Task option (classify, with --window_stride): most windows per text "
                     "(default: no cap; texts beyond it are reported as truncated).")
flags.DEFINE_bool("crf", False, "Task option (tag): a CRF on the tag logits (trained by its likelihood, decoded by "
                  "Viterbi over each text's words, BIO rules from the tag names).")
flags.DEFINE_string("text_column", "text", "File option (classify/regress): column / field of the text.")
flags.DEFINE_string("pair_column", None, "File option (classify/regress): column / field of the second text.")
flags.DEFINE_string("label_column", "label", "File option (classify/regress): column / field of the label.")
flags.DEFINE_string("file_format", None, "File option (classify/regress): csv, tsv or jsonl (default: by "
                    "extension).")
flags.DEFINE_integer("word_column", 0, "File option (tag): CoNLL column of the words.")
flags.DEFINE_integer("tag_column", -1, "File option (tag): CoNLL column of the tags.")
flags.DEFINE_integer("num_choices", None, "File option (choice): choices per example (default: from the file).")
flags.DEFINE_string("attention_text", None, "Task option (classify/regress/tag): also draw an attention heat map "
                    "for this input.")
flags.DEFINE_integer("attention_layer", -1, "Layer of the heat map (negative: from the top).")
flags.DEFINE_integer("attention_head", None, "Head of the heat map (default: mean of heads).")

#: the recipe flags (flag name -> keras_bert_zoo.train.recipe.Recipe field)
RECIPE_FLAGS = {"learning_rate": "learning_rate", "warmup_ratio": "warmup_ratio", "weight_decay": "weight_decay",
                "layer_decay": "layer_decay", "grad_accum": "gradient_accumulation_steps", "clipnorm": "clipnorm"}

FLAGS = flags.FLAGS

#: task options passed to the task's constructor (TaskSpec.task_flags names those a task takes)
CONSTRUCTOR_FLAGS = ("dropout", "labels", "multi_label", "label_separator", "window_stride", "max_windows", "crf")
#: file options (fields of keras_bert_zoo.data.task_files.FileOptions; TaskSpec.file_options)
FILE_FLAGS = ("text_column", "pair_column", "label_column", "file_format", "word_column", "tag_column",
              "num_choices")


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """Everything one `bert-zoo finetune` run does (built once from the flags in :func:`config_from_flags`).

    ``task_args``: constructor arguments of the task (those the command line gave; the rest follow from the
    training file: ``TaskSpec.args_from_data``); ``file_options``: how the task's files are read. Both, and
    ``class_weight`` / ``resample`` / ``attention_text``, must be options the task's TaskSpec reads."""

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
    task_modules: tuple = ()                   # modules that register tasks (--task_module)
    class_weight: str | None = None
    resample: str | None = None
    mixed_precision: str = "auto"
    strategy: str = "default"
    attention_text: str | None = None
    attention_layer: int = -1
    attention_head: int | None = None
    export: str | None = None
    export_name: str | None = None


def _check_flags(v: dict):
    """Flag values (``v``: every flag by name) that cannot work together: one line naming the flag."""
    if not v["train"] or not v["out"]:
        raise UsageError("--train and --out are required")
    if v["lora_rank"] < 0:
        raise UsageError(f"--lora_rank must be >= 0, got {v['lora_rank']}")
    if v["lora_rank"] and v["trainable"] != "all":
        raise UsageError("--lora_rank trains the adapters and the head: it does not combine with --trainable")
    if v["lora_alpha"] is not None and not v["lora_rank"]:
        raise UsageError("--lora_alpha needs --lora_rank")
    if v["class_weight"] not in (None, "balanced"):
        raise UsageError(f"--class_weight must be 'balanced', got {v['class_weight']!r}")


def config_from_flags() -> FinetuneConfig:
    """The flags, read once (their values and which task options were given). The paths are checked before
    TensorFlow is imported (train.loop imports it), so such a mistake fails at once; the task options are checked
    against the task's TaskSpec when the run starts (:func:`task_spec`)."""
    from keras_bert_zoo.data.task_files import FileOptions

    options.resolve_aliases()
    v = FLAGS.flag_values_dict()
    given = {name for name in CONSTRUCTOR_FLAGS + FILE_FLAGS if FLAGS[name].present}
    _check_flags(v)
    check_paths({name: v[name] for name in ("train", "eval", "test")}, v["out"])
    from keras_bert_zoo.train.loop import FitConfig

    task_args = {name: v[name] for name in CONSTRUCTOR_FLAGS if name in given}
    if "labels" in task_args:
        task_args["labels"] = list(task_args["labels"])
    file_options = FileOptions(**{name: v[name] for name in FILE_FLAGS if name in given})
    recipe = {field: v[flag] for flag, field in RECIPE_FLAGS.items() if v[flag] is not None}
    fit = FitConfig(epochs=v["epochs"], batch_size=v["batch_size"], **recipe, trainable=v["trainable"],
                    early_stopping_patience=v["early_stopping"], jit_compile=v["jit_compile"],
                    steps_per_epoch=v["steps_per_epoch"], lora_rank=v["lora_rank"], lora_alpha=v["lora_alpha"])
    same = ("task", "train", "out", "eval", "test", "preset", "overwrite", "sequence_length", "batch_size", "seed",
            "class_weight", "resample", "mixed_precision", "strategy", "attention_text", "attention_layer",
            "attention_head", "export", "export_name")
    return FinetuneConfig(**{name: v[name] for name in same}, fit=fit, file_options=file_options,
                          task_args=task_args, task_modules=tuple(v["task_module"] or ()))


def check_paths(inputs: dict, out: str):
    """The input files ({flag name: path}) exist and ``out`` is writable: one line naming the flag, not an error
    after the imports or the training."""
    from keras_bert_zoo.cli.errors import check_input_file, check_writable_dir

    for name, path in inputs.items():
        if path:
            check_input_file(path, f"--{name}")
    check_writable_dir(out, "--out")


def task_spec(config: FinetuneConfig):
    """The TaskSpec of ``config.task`` (its --task_module imported first); a task option it does not read is a
    UsageError naming the flags."""
    from keras_bert_zoo.tasks import registry

    registry.import_task_modules(config.task_modules)
    spec = registry.get_spec(config.task)
    if spec.reader is None:
        raise UsageError(f"--task={config.task} is not fine-tuned from files (pretraining: bert-zoo pretrain)")
    given = set(config.task_args) | set(config.file_options.changed() if config.file_options else ())
    given |= {name for name in ("class_weight", "resample", "attention_text") if getattr(config, name)}
    wrong = sorted(given - spec.flags)
    if wrong:
        raise UsageError(f"flag(s) {', '.join('--' + w for w in wrong)} do not apply to --task={config.task}")
    return spec


def prepare_out_dir(config: FinetuneConfig):
    """Refuse to replace a finished run unless --overwrite; with it, clear what the old run wrote."""
    out = os.path.abspath(config.out)
    finished = os.path.exists(os.path.join(out, "model.keras"))
    if finished and not config.overwrite:
        raise UsageError(f"{config.out} holds a finished run (model.keras); pass --overwrite to replace it, or "
                         f"choose another --out")
    if finished:
        for name in ("history.jsonl", "steps.jsonl", "training_curves.png", "attention.png", "attention.json",
                     "report.html", "backup", "logs", "eval", "test", "checkpoints", "lora.safetensors"):
            path = os.path.join(out, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)


def _training_data(task, train, config: FinetuneConfig):
    """(x, y, sample weights) of the training file, with --resample / --class_weight applied."""
    import numpy as np

    from keras_bert_zoo.metrics.classification import class_weights as balanced_weights
    from keras_bert_zoo.metrics.classification import resample_indices

    x, y = train.x, train.y
    if not (config.class_weight or config.resample):
        return x, y, None
    if getattr(task, "multi_label", False):
        raise UsageError("--class_weight / --resample are defined for single-label classification only")
    ids = task.encode_targets(y)
    idx = resample_indices(ids, config.resample, seed=config.seed) if config.resample else np.arange(len(ids))
    x = {k: [v[i] for i in idx] for k, v in x.items()}
    y = [y[i] for i in idx]
    weights = None
    if config.class_weight:
        table = balanced_weights(ids, len(task.labels), config.class_weight)
        weights = np.asarray([table[int(ids[i])] for i in idx], "float32")
    return x, y, weights


def _build_task(spec, train, config: FinetuneConfig, strategy):
    """The task from ``config.preset`` with the constructor arguments of the flags and the training file."""
    task_args = spec.task_args(train, config.task_args)

    def build():
        return spec.task_class.from_preset(config.preset, sequence_length=config.sequence_length, **task_args)

    if strategy is None:
        return build()
    with strategy.scope():
        return build()


def _save_and_report(task, spec, config: FinetuneConfig, clock) -> dict:
    """model.keras (and lora.safetensors), the eval/test reports, the attention heat map."""
    from keras_bert_zoo import reports as reports_lib

    model_path = os.path.join(config.out, "model.keras")
    with clock.phase("save"):
        task.save(model_path)                  # atomic: the old file or the complete new one (Task.save)
        print(f"saved the fine-tuned model to {model_path}")
        if task.backbone.lora:
            task.save_lora_weights(os.path.join(config.out, "lora.safetensors"))
            print(f"saved the LoRA adapters and head to {os.path.join(config.out, 'lora.safetensors')}")
    reports = {}
    for name, path in (("eval", config.eval), ("test", config.test)):
        if path:
            with clock.phase(f"{name} report"):
                data = spec.read(path, config.file_options)
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
    from keras_bert_zoo.viz.html_report import write_run_report

    explore = "attention_text" in spec.flags and not task.backbone.lora   # (LoRA: the adapters are not merged)
    with clock.phase("html report"):
        page = write_run_report(config.out, task=task if explore else None,
                                texts=[config.attention_text] if config.attention_text and explore else [])
    print(f"report: {page}")
    return reports


def _export(task, train, config: FinetuneConfig, clock):
    from keras_bert_zoo.export import next_version_dir

    name = config.export_name or os.path.basename(os.path.normpath(config.out))
    with clock.phase("export"):
        exported = task.export(next_version_dir(config.export, name), sample_inputs=train.serving_samples(8))
    print(f"exported SavedModel: {exported.path}")


def run_finetune(config: FinetuneConfig, include_startup: bool = False):
    """Everything `bert-zoo finetune` does, from a :class:`FinetuneConfig`; returns (task, reports).

    The task's :class:`~keras_bert_zoo.tasks.registry.TaskSpec` reads the files, names the constructor
    arguments that follow from the training file, warns about it and evaluates. ``include_startup``: count the
    process's age (interpreter, imports, flags) as the run's ``start-up`` phase in ``timings.json`` (the CLI
    does; a call inside a longer-lived process should not). ``config.out`` is claimed for the whole run
    (:func:`~keras_bert_zoo.train.run_dir.claim_run_dir`): a second run into it refuses in one line."""
    import contextlib

    from keras_bert_zoo.train.clocks import RunClock
    from keras_bert_zoo.train.distribute import is_chief
    from keras_bert_zoo.train.run_dir import claim_run_dir

    clock = RunClock(include_startup=include_startup)
    spec = task_spec(config)
    # one process per --out (the other workers of a multi-worker cluster share the chief's directory)
    claim = claim_run_dir(config.out, owner="bert-zoo finetune", flag="--out") if is_chief() else \
        contextlib.nullcontext()
    with claim:
        return _run_claimed(config, spec, clock)


def _run_claimed(config: FinetuneConfig, spec, clock):
    """:func:`run_finetune` once ``config.out`` is claimed."""
    import keras

    from keras_bert_zoo.cli.errors import check_writable_dir
    from keras_bert_zoo.train.distribute import precision_scope

    prepare_out_dir(config)
    check_writable_dir(config.out, "--out")       # fail now, not after training
    keras.utils.set_random_seed(config.seed)
    with precision_scope(config.mixed_precision):   # the caller's global dtype policy is back afterwards
        return _run_in_precision(config, spec, clock)


def _run_in_precision(config: FinetuneConfig, spec, clock):
    """:func:`_run_claimed` under the run's dtype policy: build, train, report, export."""
    from keras_bert_zoo import cache
    from keras_bert_zoo.train.distribute import get_strategy, is_chief
    from keras_bert_zoo.train.loop import fit_task

    strategy = get_strategy(config.strategy) if config.strategy != "default" else None
    with clock.phase("read data"):
        train = spec.read(config.train, config.file_options)
    with clock.phase("build model"):
        task = _build_task(spec, train, config, strategy)
    for warning in spec.data_warnings(task, train):
        print(f"bert-zoo finetune: warning: {warning}", file=sys.stderr)
    x, y, weights = _training_data(task, train, config)
    with clock.phase("datasets"):
        train_ds = task.make_dataset(x, y, weights, batch_size=config.batch_size, training=True, seed=config.seed)
        card = int(train_ds.cardinality().numpy())
        train_size = card * config.batch_size if card > 0 else len(train)
        val_ds = None
        if config.eval:
            val = spec.read(config.eval, config.file_options)
            val_ds = task.make_dataset(val.x, val.y, batch_size=config.batch_size, training=False)
    with clock.fitting():
        fit_task(task, train_ds, val_ds, config.out, config.fit, train_size=train_size, strategy=strategy,
                 extra_callbacks=[clock], clock=clock)
    if not is_chief():
        return task, {}
    reports = _save_and_report(task, spec, config, clock)
    if config.export:
        _export(task, train, config, clock)
    work = sum(clock.phases.get(k, 0.0) for k in ("training steps", "validation", "eval report", "test report",
                                                  "export"))
    print(f"{clock.summary()} (overhead beyond training steps, validation, reports and export: "
          f"{clock.total() - work:.0f} s)")
    with cache.atomic_write(os.path.join(config.out, "timings.json"), "w", encoding="utf-8") as f:
        json.dump({k: round(v, 3) for k, v in clock.phases.items()}, f, indent=1)
    return task, reports


def main(argv):
    """Flags -> one FinetuneConfig (paths checked before TensorFlow loads) -> :func:`run_finetune`."""
    del argv
    run_finetune(config_from_flags(), include_startup=True)
