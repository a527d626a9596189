"""`bert-zoo tune`: search the fine-tuning recipe with KerasTuner, scored on the validation split (--eval).

    bert-zoo tune --task=classify --train train.csv --eval dev.csv --test test.csv --trials 6 --out runs/tune

Searches learning rate, batch size, epochs (the most; early stopping on the validation loss, patience
--early_stopping or 1), layer-wise learning-rate decay, dropout and class weighting (--space names a subset;
those the task does not read are left out). Trial 0 is the recipe's defaults. Each trial is one
`bert-zoo finetune` run in --out/tuner/trial_N/run. --out then holds best/ (the best trial's run directory:
model.keras, history, eval/ and with --test test/ reports, finetune_command.txt: the `bert-zoo finetune` command
line that reproduces it) and tuning.json (every trial: values, validation score, seconds). Rerunning the same
command after a kill resumes the search: finished trials are not run again, the interrupted one restarts from
its last completed epoch; a larger --trials continues a finished search.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
from pathlib import Path

from absl import flags

from keras_bert_zoo.cli import finetune   # its flags (every `bert-zoo finetune` flag) are the fixed part of a trial
from keras_bert_zoo.cli.errors import UsageError

HELP = """Every `bert-zoo finetune` flag is accepted too (bert-zoo finetune --help): the data, --preset, the task
options and the recipe flags not searched are the same in every trial. A flag of a hyper-parameter
(--learning_rate, --batch_size, --epochs, --layer_decay, --dropout, --class_weight) fixes it: it is left out of
the default space, and naming it in --space too is a usage error."""

flags.DEFINE_integer("trials", 10, "Trials in all (finished trials in --out/tuner count).", lower_bound=1)
flags.DEFINE_list("space", None, "Hyper-parameters to search (default: every one the task reads): learning_rate, "
                  "batch_size, epochs, layer_decay, dropout, class_weight.")
flags.DEFINE_string("objective", None, "Validation metric of the eval report that chooses the best trial (default: "
                    "classify macro_f1, regress mse, tag entity_f1, qa f1, choice accuracy).")
flags.DEFINE_enum("algorithm", "random", ["random", "bayesian"], "KerasTuner oracle: random search or Bayesian "
                  "optimisation (both start from the recipe's defaults).")

FLAGS = flags.FLAGS

#: the report metric a task is tuned on unless --objective says otherwise
DEFAULT_OBJECTIVE = {"classify": "macro_f1", "regress": "mse", "tag": "entity_f1", "qa": "f1", "choice": "accuracy"}
#: searched hyper-parameter -> the `bert-zoo finetune` flag that sets it
FLAG_OF = {"learning_rate": "learning_rate", "batch_size": "batch_size", "epochs": "epochs",
           "layer_decay": "layer_decay", "dropout": "dropout", "class_weight": "class_weight"}
#: finetune flags that tune sets itself (each trial's output, the search's overwrite) or does not take
NOT_PASSED = ("out", "overwrite", "export", "export_name", "early_stopping")


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """One `bert-zoo tune` run: the finetune run every trial starts from, and the search."""

    base: finetune.FinetuneConfig
    out: str
    trials: int
    space: tuple | None
    objective: str | None
    algorithm: str = "random"
    patience: int = 1
    fixed_flags: tuple = ()     # the fixed part of the reproducing command line ("--name=value", ...)


def _fixed_flags() -> tuple:
    """The finetune flags given on the command line (not searched, not tune's own), as ``--name=value``."""
    given = []
    for flag in FLAGS.get_flags_for_module(finetune.__name__):
        if flag.present and flag.name not in NOT_PASSED:
            given.append(flag.serialize())
    return tuple(given)


def config_from_flags() -> TuneConfig:
    """The flags, read once: the finetune flags as the fixed part of every trial, and the search."""
    if not FLAGS.eval:
        raise UsageError("--eval is required: the trials are scored on the validation split")
    if FLAGS.export:
        raise UsageError("--export does not apply to bert-zoo tune: export the best run (--out/best/model.keras) "
                         "with bert-zoo export")
    space = tuple(FLAGS.space) if FLAGS.space is not None else None
    searched = set(space) if space is not None else set(FLAG_OF)
    clash = sorted(f"--{FLAG_OF[n]}" for n in searched if n in FLAG_OF and FLAGS[FLAG_OF[n]].present)
    if clash and space is not None:
        raise UsageError(f"{', '.join(clash)} set(s) a searched hyper-parameter: drop it, or leave it out of --space")
    if clash:       # the default space: a hyper-parameter fixed on the command line is not searched
        searched -= {n for n in FLAG_OF if FLAGS[FLAG_OF[n]].present}
        space = tuple(n for n in FLAG_OF if n in searched)
    patience = FLAGS.early_stopping if FLAGS["early_stopping"].present else 1
    base = finetune.config_from_flags()
    return TuneConfig(base=base, out=FLAGS.out, trials=FLAGS.trials, space=space, objective=FLAGS.objective,
                      algorithm=FLAGS.algorithm, patience=patience, fixed_flags=_fixed_flags())


def _trial_config(config: TuneConfig, values: dict, out) -> finetune.FinetuneConfig:
    """The finetune run of one trial: the base run with the trial's values, written to ``out``."""
    base = config.base
    fit = dataclasses.replace(base.fit, learning_rate=values["learning_rate"], batch_size=values["batch_size"],
                              epochs=values["epochs"], layer_decay=values["layer_decay"],
                              early_stopping_patience=config.patience)
    task_args = dict(base.task_args)
    if "dropout" in values:
        task_args["dropout"] = values["dropout"]
    class_weight = values.get("class_weight", base.class_weight)
    return dataclasses.replace(base, out=str(out), overwrite=True, test=None, export=None,
                               batch_size=values["batch_size"], fit=fit, task_args=task_args,
                               class_weight=None if class_weight in (None, "none") else class_weight)


def _fixed_values(config: TuneConfig, applicable) -> dict:
    """The values of the hyper-parameters not searched: the command line's, else the recipe's."""
    fit = config.base.fit
    fixed = {"learning_rate": fit.learning_rate, "batch_size": fit.batch_size, "epochs": fit.epochs,
             "layer_decay": fit.layer_decay, "class_weight": config.base.class_weight or "none"}
    if "dropout" in config.base.task_args:
        fixed["dropout"] = config.base.task_args["dropout"]
    return {k: v for k, v in fixed.items() if k in applicable}


def finetune_command(config: TuneConfig, searched: dict, out: str) -> str:
    """The `bert-zoo finetune` command line that reproduces the trial whose searched values are ``searched``
    (into ``out``): the fixed flags of this command line, the searched values, the early-stopping patience."""
    args = ["bert-zoo", "finetune", *config.fixed_flags, f"--out={out}"]
    for name, value in searched.items():
        if name == "class_weight":
            if value != "none":
                args.append(f"--class_weight={value}")
        else:
            args.append(f"--{FLAG_OF[name]}={value!r}" if isinstance(value, float) else f"--{FLAG_OF[name]}={value}")
    if config.patience:
        args.append(f"--early_stopping={config.patience}")
    return " ".join(shlex.quote(a) for a in args)


def _applicable(spec) -> tuple:
    """The hyper-parameters a task's runs can take: the recipe's four, and its own dropout / class weighting."""
    from keras_bert_zoo.train.tuning import FIT_FIELDS, SEARCHABLE

    return tuple(n for n in SEARCHABLE if n in FIT_FIELDS or n in spec.flags)


def _objective(config: TuneConfig, spec) -> str:
    objective = config.objective or DEFAULT_OBJECTIVE.get(spec.name)
    if not objective:
        raise UsageError(f"--objective is required for --task={spec.name} (a metric of its eval report)")
    return objective


def _trial_runner(config: TuneConfig, applicable, objective):
    """``run(searched, trial_dir)`` of the search: one `bert-zoo finetune` run -> its eval report's metrics."""
    import keras

    from keras_bert_zoo.train import tuning

    fixed = _fixed_values(config, applicable)

    def run(searched, trial_dir):
        values = {k: v for k, v in tuning.trial_values(searched, fixed).items() if k in applicable}
        keras.backend.clear_session()
        _, reports = finetune.run_finetune(_trial_config(config, values, trial_dir / "run"))
        report = {k: v for k, v in reports["eval"].items() if isinstance(v, (int, float))}
        if objective not in report:
            raise UsageError(f"--objective {objective!r} is not a metric of the eval report (it has: "
                             f"{', '.join(sorted(report))})")
        return report

    return run


def _write_best(config: TuneConfig, result, spec, command: str):
    """--out/best: a copy of the best trial's run directory, its test report and finetune_command.txt."""
    from keras_bert_zoo import cache
    from keras_bert_zoo import reports as reports_lib
    from keras_bert_zoo.tasks import load_task

    test_report = None
    with cache.atomic_dir(os.path.join(config.out, "best"), overwrite=True) as tmp:
        shutil.copytree(result.best_dir / "run", tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("backup"))
        (tmp / "finetune_command.txt").write_text(command + "\n", encoding="utf-8")
        if config.base.test:
            task = load_task(str(tmp / "model.keras"))
            data = spec.read(config.base.test, config.base.file_options)
            test_report = reports_lib.evaluate_task_file(task, data, out_dir=tmp / "test",
                                                         batch_size=config.base.batch_size)
    return test_report


def _drop_other_models(result):
    """Only the best trial keeps its model (and NaN-guard checkpoint): a search of N trials is not N models."""
    for trial in result.trials:
        if trial["trial_id"] == result.best_trial_id:
            continue
        run = Path(trial["dir"]) / "run"
        for name in ("model.keras", "lora.safetensors"):
            if (run / name).exists():
                (run / name).unlink()
        shutil.rmtree(run / "checkpoints", ignore_errors=True)


def _print_summary(result, best_out, command, test_report):
    print(f"\n{len(result.trials)} trials, {result.objective} ({result.direction}imised) on the validation split:")
    for t in result.trials:
        score = "-" if t["score"] is None else f"{t['score']:.4f}"
        mark = "*" if t["trial_id"] == result.best_trial_id else " "
        print(f" {mark} trial {t['trial_id']}: {score:>8}  {t['seconds'] or 0:7.1f} s  {json.dumps(t['values'])}")
    print(f"best: trial {result.best_trial_id}, {result.objective} {result.best_score:.4f} -> {best_out}")
    if test_report:
        print("test: " + json.dumps({k: round(v, 4) for k, v in test_report.items() if isinstance(v, float)}))
    print(f"reproduce it: {command}")


def run_tune(config: TuneConfig):
    """Everything `bert-zoo tune` does (see the module docstring) -> the search's result."""
    from keras_bert_zoo import cache
    from keras_bert_zoo.train import tuning

    spec = finetune.task_spec(config.base)
    applicable = _applicable(spec)
    space = tuning.search_space(list(config.space) if config.space is not None else None, applicable)
    objective = _objective(config, spec)
    result = tuning.search(_trial_runner(config, applicable, objective), space, config.out, objective=objective,
                           max_trials=config.trials, algorithm=config.algorithm, seed=config.base.seed,
                           overwrite=config.base.overwrite)
    best_out = os.path.join(config.out, "best")
    command = finetune_command(config, result.best_values, os.path.join(config.out, "best_rerun"))
    test_report = _write_best(config, result, spec, command)
    _drop_other_models(result)
    summary = dict(result.to_json(), command=command, best_run=best_out, test=test_report,
                   fixed_flags=list(config.fixed_flags))
    with cache.atomic_write(os.path.join(config.out, "tuning.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    _print_summary(result, best_out, command, test_report)
    return result


def main(argv):
    """Flags -> one TuneConfig -> :func:`run_tune`."""
    del argv
    run_tune(config_from_flags())
