"""`bert-zoo` entry point: dispatches `bert-zoo COMMAND [--flags]` to one absl app per command.

Each command lives in its own module under keras_bert_zoo.cli with module-level absl flags and a
``main(argv)``; only the chosen command's module is imported, so flag names never collide.
"""

import importlib
import os
import re
import sys
import warnings

COMMANDS = {
    "info": ("keras_bert_zoo.cli.info", "list the named BERT sizes and their parameter counts"),
    "demo": ("keras_bert_zoo.cli.demo", "fine-tune real MiniLM on the tweet sentiment corpus (the main job)"),
    "make-vocab": ("keras_bert_zoo.cli.make_vocab", "learn a WordPiece vocab.txt from text files"),
    "convert": ("keras_bert_zoo.cli.convert", "convert a checkpoint (hf, google, garden, keras_hub) to .keras"),
    "presets": ("keras_bert_zoo.cli.presets", "list preset names and whether each is cached"),
    "finetune": ("keras_bert_zoo.cli.finetune", "fine-tune a task model with model.fit"),
    "tune": ("keras_bert_zoo.cli.tune", "search the fine-tuning recipe with KerasTuner on the validation split"),
    "distill": ("keras_bert_zoo.cli.distill", "distil a fine-tuned classifier into a smaller student"),
    "evaluate": ("keras_bert_zoo.cli.evaluate", "evaluate a fine-tuned model on a labelled file"),
    "predict": ("keras_bert_zoo.cli.predict", "predict on texts from a file or stdin (JSON lines out)"),
    "make-pretraining-data": ("keras_bert_zoo.cli.make_pretraining_data", "write MLM+NSP TFRecord shards"),
    "pretrain": ("keras_bert_zoo.cli.pretrain", "pretrain (or continue pretraining) with MLM + NSP"),
    "export": ("keras_bert_zoo.cli.export", "export a model as SavedModel (TF Serving) or TFLite"),
    "report": ("keras_bert_zoo.cli.report", "rebuild a run directory's report.html (metrics, curves, attention)"),
    "convert-task": ("keras_bert_zoo.cli.convert_task", "convert a 0.1 task directory to one .keras file"),
}

#: argv entries that ask for a command's help (before a ``--``), and for the full help
HELP_FLAGS = ("-h", "-?", "--help", "-help", "--helpshort", "-helpshort")
HELPFULL_FLAGS = ("--helpfull", "-helpfull")

#: Python warnings from TensorFlow / Keras internals hidden unless --verbosity asks (message regexes; the
#: package's own warnings and anything naming the user's data stay)
QUIET_WARNINGS = (
    r".*`shuffle=True`.*",                 # Keras: fit(shuffle=True) on a tf.data.Dataset is ignored
    r".*[Ss]kipping variable loading for optimizer.*",   # Keras: loading a compiled model for inference
)


def usage():
    lines = ["usage: bert-zoo COMMAND [--flags]  (bert-zoo COMMAND --help for a command's flags)", "",
             "commands:"]
    width = max(map(len, COMMANDS))
    lines += [f"  {name:<{width}}  {doc}" for name, (_, doc) in COMMANDS.items()]
    return "\n".join(lines)


def _args_before_terminator(args):
    return args[:args.index("--")] if "--" in args else args


def help_request(args):
    """None, "short" or "full": whether ``args`` (a command's arguments) ask for its help."""
    args = _args_before_terminator(args)
    if any(a in HELPFULL_FLAGS for a in args):
        return "full"
    if any(a in HELP_FLAGS for a in args):
        return "short"
    return None


def verbosity_requested(args) -> bool:
    """Whether ``args`` set absl's --verbosity / -v (then nothing is silenced)."""
    return any(re.match(r"^--?(verbosity|v)(=|$)", a) for a in _args_before_terminator(args))


def quiet_environment(verbose: bool):
    """Silence TensorFlow's C++ log (and the native INFO / WARNING lines that ignore its level:
    :mod:`keras_bert_zoo.cli.native_log`) and internal Python warnings; call before TensorFlow is imported."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for pattern in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] >= "1":        # TF_CPP_MIN_LOG_LEVEL=0 asks for TensorFlow's INFO
        from keras_bert_zoo.cli.native_log import filter_native_stderr

        filter_native_stderr()


def command_help(command: str, module, full: bool = False) -> str:
    """The command's description (its module docstring) and its own flags; ``full`` adds every other flag."""
    from absl import flags

    doc = (module.__doc__ or "").strip()
    lines = [f"usage: bert-zoo {command} [--flags]", ""]
    if doc:
        lines += [doc, ""]
    details = getattr(module, "HELP", "").strip()       # a command's longer notes, beside its docstring
    if details:
        lines += [details, ""]
    own = flags.FLAGS.get_flags_for_module(module.__name__)
    if own:
        body = flags.FLAGS.module_help(module.__name__).strip().splitlines()[1:]   # drop the module name line
        lines += [f"flags of bert-zoo {command}:"] + body
    else:
        lines.append(f"bert-zoo {command} has no flags of its own.")
    if full:
        from absl import app, logging  # noqa: F401 - they define absl's own flags

        app.define_help_flags()
        for name, module_flags in sorted(flags.FLAGS.flags_by_module_dict().items()):
            if name != module.__name__ and module_flags:
                lines += ["", f"{name}:"] + flags.FLAGS.module_help(name).strip().splitlines()[1:]
    else:
        lines += ["", f"bert-zoo {command} --helpfull also lists absl's flags (--verbosity=0 shows "
                      f"TensorFlow's INFO log, --logger_levels, ...)."]
    return "\n".join(lines)


def flag_error_line(err) -> str:
    """absl's flag-parsing error (several lines for several flags) as one line naming each flag."""
    text = str(err)
    missing = re.findall(r"Flag --(\w+) must have a value other than None", text)
    if missing:
        return "missing required flag(s): " + ", ".join(f"--{name}" for name in dict.fromkeys(missing))
    unknown = re.match(r"Unknown command line flag '([^']+)'(?:\. Did you mean: (.+?) \?)?", text)
    if unknown:
        hint = f" (did you mean --{unknown.group(2).strip()}?)" if unknown.group(2) else ""
        return f"unknown flag --{unknown.group(1)}{hint}"
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def parse_flags(command: str, argv):
    """absl's parser with a one-line error (exit status 2) and the log level kept at WARNING unless
    --verbosity is given (absl's app.run would raise it to INFO)."""
    from absl import flags

    try:
        rest = flags.FLAGS(argv)
    except flags.Error as err:
        print(f"bert-zoo {command}: error: {flag_error_line(err)} (bert-zoo {command} --help lists the flags)",
              file=sys.stderr)
        sys.exit(2)
    if flags.FLAGS["verbosity"].using_default_value:
        flags.FLAGS.verbosity = -1    # WARNING; marks the flag as set, so app.run leaves it
    return rest


def run(argv=None):
    """`bert-zoo COMMAND [--flags]`. Importing this module or a command module imports neither TensorFlow
    nor Keras (a command imports them when it runs), so ``bert-zoo --help`` and ``COMMAND --help`` answer at once.

    * ``bert-zoo COMMAND --help`` (``-h``, ``--helpshort``, ``bert-zoo help COMMAND``) prints the command's
      description and its own flags (name, help, default) and exits 0; ``--helpfull`` adds absl's flags
      (``--verbosity``, ``--logger_levels``, ...).
    * A flag that is unknown, lacks a value it needs or has a bad value: one line naming the flag, status 2.
    * An error the package raises for bad input: one line ``bert-zoo COMMAND: error: ...``, status 1
      (:mod:`keras_bert_zoo.cli.errors`; ``BERT_ZOO_TRACEBACK=1`` shows the traceback); Ctrl-C: one line
      ``bert-zoo COMMAND: interrupted``, status 130.
    * Quiet by default: TensorFlow's C++ log (CUDA probes, oneDNN and CPU-feature notices;
      ``TF_CPP_MIN_LOG_LEVEL`` is set to 3 unless already set; the TFLite converter's, XLA's and Grappler's
      native INFO / WARNING lines, which ignore it, are dropped from stderr by
      :mod:`keras_bert_zoo.cli.native_log`), absl/TensorFlow INFO lines (the log level stays
      WARNING; absl's app.run would raise it to INFO) and the Keras warnings in :data:`QUIET_WARNINGS` are not
      shown. Keras progress bars and the package's own warnings stay. ``--verbosity=0`` (INFO) or higher shows
      everything again.
    """
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2:
        print(usage())
        return 2
    if argv[1] in ("-h", "--help") or argv[1:] == ["help"]:
        print(usage())
        return 0
    if argv[1] == "help":                                   # bert-zoo help COMMAND
        argv = [argv[0], argv[2], "--help"]
    command, args = argv[1], argv[2:]
    if command not in COMMANDS:
        print(f"bert-zoo: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    quiet_environment(verbosity_requested(args))
    try:
        module = importlib.import_module(COMMANDS[command][0])
        wanted = help_request(args)
        if wanted:
            print(command_help(command, module, full=wanted == "full"))
            return 0
        from absl import app

        from keras_bert_zoo.cli.errors import run_command

        app.run(lambda rest: run_command(command, lambda: module.main(rest)),
                argv=[f"bert-zoo {command}"] + args, flags_parser=lambda a: parse_flags(command, a))
    except KeyboardInterrupt:
        print(f"bert-zoo {command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:             # `bert-zoo ... | head`: the reader left; not an error of ours
        _silence_stdout()
        return 141
    return 0


def _silence_stdout():
    """Point stdout at /dev/null so the interpreter's final flush cannot fail on a closed pipe again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(run())
