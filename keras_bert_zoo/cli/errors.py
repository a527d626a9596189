"""How every `bert-zoo` command reports a failure: one clear line on stderr and exit status 1.

    run_command("finetune", lambda: run_finetune(config))

Errors the package raises on purpose for bad input (:class:`UsageError` for the command line; the error classes
of files, options, checkpoints and exports: :func:`user_error_types`) and the OS errors of reading and writing
files print as ``bert-zoo COMMAND: error: <message>``; the Python traceback is shown only when
``BERT_ZOO_TRACEBACK=1`` is set or absl's ``--verbosity`` is 1 or more. Anything else (a ValueError or KeyError
from inside the package or a library) is a bug and keeps its traceback. Ctrl-C and SIGTERM end a command the
same way: the clean-up of every ``with``/``finally`` runs (atomic writes' temporary files, the claim of a run
directory), then one line (``interrupted`` / ``terminated``) and exit status 130 / 143.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback

__all__ = ["UsageError", "Terminated", "run_command", "repeated_flags", "user_error_types", "check_input_file", "check_model_path",
           "check_writable_dir"]


class UsageError(ValueError):
    """The one error class of a bad command line: a flag value that cannot work, a missing or conflicting flag,
    a flag the chosen task does not use, a missing input file or an unwritable output directory. The message
    names the flag; `run_command` prints it as one line. The path checks below raise it before TensorFlow is
    imported, so such a mistake costs no start-up time."""


#: the error classes the package raises on purpose for bad input, by module (looked up among the modules that
#: are loaded: a class whose module was never imported cannot have been raised)
USER_ERRORS = {
    "keras_bert_zoo.config": ("ConfigError",),
    "keras_bert_zoo.cache": ("DownloadError",),
    "keras_bert_zoo.presets": ("PresetError",),
    "keras_bert_zoo.convert.registry": ("ConversionError",),
    "keras_bert_zoo.convert.table": ("WeightLoadError",),
    "keras_bert_zoo.data.textfile": ("TextFileError",),
    "keras_bert_zoo.data.labelled": ("LabelledFileError",),
    "keras_bert_zoo.data.task_files": ("TaskFileError",),
    "keras_bert_zoo.data.conll": ("ConllError",),
    "keras_bert_zoo.data.squad": ("SquadError",),
    "keras_bert_zoo.data.swag": ("SwagError",),
    "keras_bert_zoo.data.corpus": ("CorpusError",),
    "keras_bert_zoo.data.chinese": ("ChineseCorpusError",),
    "keras_bert_zoo.data.pretraining": ("PretrainingDataError",),
    "keras_bert_zoo.train.callbacks": ("NanLossError",),
    "keras_bert_zoo.train.tuning": ("TuneError",),
    "keras_bert_zoo.train.run_dir": ("RunDirBusyError",),
    "keras_bert_zoo.export.saved_model": ("ExportError",),
    "keras_bert_zoo.export.ops": ("OpCompatibilityError",),
    "keras_bert_zoo.export.verify": ("VerificationError",),
    "keras_bert_zoo.export.onnx": ("MissingOnnxExtraError",),
    "keras_bert_zoo.export.input_checks": ("InputCheckError",),
    "keras_bert_zoo.export.serving_requests": ("RequestError",),
    "keras_bert_zoo.tasks.base.errors": ("TaskError",),
    "keras_bert_zoo.metrics": ("MetricError",),
    "keras_bert_zoo.batch.lines": ("PredictInputError",),
    "keras_bert_zoo.batch.exported": ("ExportedModelError",),
    "keras_bert_zoo.batch.beam": ("BeamPredictError",),
}


def user_error_types() -> tuple:
    """Exception classes that mean "bad input", not "bug": :class:`UsageError`, the package's own error classes
    for bad files, options, checkpoints and exports (:data:`USER_ERRORS`), and ``OSError`` (a file that cannot be
    read or written). Anything else — a ``ValueError``, ``KeyError``, ``TypeError`` from inside the package or a
    library — is a bug and keeps its traceback."""
    types = [UsageError, OSError]
    for module, names in USER_ERRORS.items():
        mod = sys.modules.get(module)
        for name in names:
            if mod is not None and hasattr(mod, name):
                types.append(getattr(mod, name))
    return tuple(types)


def _verbose() -> bool:
    if os.environ.get("BERT_ZOO_TRACEBACK", "") not in ("", "0"):
        return True
    try:
        from absl import flags

        return flags.FLAGS.is_parsed() and flags.FLAGS.verbosity >= 1
    except Exception:  # noqa: BLE001 - flags not defined: not verbose
        return False


def package_log_format():
    """The package's own log records as ``WARNING keras_bert_zoo.x: message`` on stderr, not in absl's
    ``W1201 12:00:00.1 140 file.py:79]`` format that looks like TensorFlow's noise. The level still follows the
    root logger (WARNING, or what --verbosity sets)."""
    logger = logging.getLogger("keras_bert_zoo")
    if not any(getattr(h, "_bert_zoo", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._bert_zoo = True
        logger.addHandler(handler)
        logger.propagate = False


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (``kill PID``, a scheduler's stop, ``docker stop``): raised in the main thread like Ctrl-C's
    KeyboardInterrupt, so every ``finally`` / ``with`` on the way out runs (temporary files of atomic writes
    removed, the run directory's claim released)."""


def _raise_terminated(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)   # a second SIGTERM does not interrupt the clean-up
    raise Terminated()


def run_command(command: str, fn):
    """Run ``fn()``; turn a user error into one line on stderr and exit status 1. Ctrl-C exits 130 and SIGTERM
    143 (128 + the signal number, as a shell reports them), each after cleaning up and with one line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    package_log_format()
    repeated = repeated_flags()
    if repeated:
        print(f"bert-zoo {command}: error: {repeated[0]} (bert-zoo {command} --help lists the flags)", file=sys.stderr)
        sys.exit(2)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return fn()
    except Terminated:
        print(f"bert-zoo {command}: terminated (SIGTERM); temporary files removed, nothing half-written left",
              file=sys.stderr)
        sys.exit(143)
    except KeyboardInterrupt:
        print(f"bert-zoo {command}: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:             # `bert-zoo predict ... | head`: the reader left; nothing to report
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        sys.exit(141)
    except Exception as err:  # noqa: BLE001 - classified below
        if not isinstance(err, user_error_types()):
            raise
        if _verbose():
            traceback.print_exc()
        message = str(err).strip() or type(err).__name__
        first, _, rest = message.partition("\n")
        print(f"bert-zoo {command}: error: {first}" + (f"\n{rest}" if rest else ""), file=sys.stderr)
        sys.exit(1)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def repeated_flags() -> list:
    """One line per single-value flag given more than once on the command line (``--task classify --task tag``
    would silently take the last); flags that collect values (``DEFINE_multi_*``) may repeat."""
    try:
        from absl import flags
    except ImportError:  # pragma: no cover - absl is a dependency
        return []
    if not flags.FLAGS.is_parsed():
        return []
    out = []
    for name in sorted(set(flags.FLAGS)):
        flag = flags.FLAGS[name]
        if name == flag.name and flag.present > 1 and not isinstance(flag, flags.MultiFlag):
            out.append(f"--{name} is given {flag.present} times (the last, {flag.serialize() or flag.value!r}, would win); give it "
                       f"once")
    return out


def check_writable_dir(path, flag: str):
    """Create directory ``path`` (and parents) and check a file can be written in it, so that an unwritable
    ``--out`` fails at once with one line naming the flag, not after training."""
    import tempfile

    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UsageError(f"{flag} {path}: cannot write there ({err.strerror or type(err).__name__})") from None


def check_input_file(path, flag: str):
    """``path`` must be an existing regular file (not a directory)."""
    if not path:
        raise UsageError(f"{flag} is required")
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a directory, not a file")
    if not os.path.exists(path):
        raise UsageError(f"{flag} {path}: no such file")


def check_model_path(path, flag: str = "--model"):
    """``path`` must be a ``.keras`` file or a directory holding ``model.keras`` (what task.save and
    `bert-zoo finetune --out` write); checked before TensorFlow loads. Whether the file really holds a task is
    for the loader to say."""
    if not path:
        raise UsageError(f"{flag} is required")
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "model.keras")):
            raise UsageError(f"{flag} {path}: a directory without model.keras (give the .keras file written by "
                            f"task.save, or the --out directory of `bert-zoo finetune`)")
    elif not os.path.exists(path):
        raise UsageError(f"{flag} {path}: no such file (expected a .keras file written by task.save)")
