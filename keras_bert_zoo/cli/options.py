"""The flags every `bert-zoo` command shares, defined once: one name, one value set, one help text each.

A command module defines the shared flags it uses at import time and reads every flag once, in ``main``,
into its config dataclass::

    from keras_bert_zoo.cli import options

    options.define("out", "sequence_length", "mixed_precision", "seed", "batch_size",
                   sequence_length=128, out_help="Output directory.")

    def main(argv):
        options.resolve_aliases()
        run_finetune(FinetuneConfig(out=FLAGS.out, ...))

Shared flags: ``--out`` (output directory), ``--sequence_length`` (packed tokens per example, [CLS]/[SEP]
included), ``--mixed_precision`` (``auto``, ``float32``, ``mixed_bfloat16`` or ``mixed_float16``), ``--seed``,
``--batch_size``, ``--task_module`` (modules that register task types of their own: the commands that build or
load a task import them first). Old spellings of a command (``--output_dir``, ``--output``, ``--root``,
``--max_seq_length``) stay one release as aliases: :func:`define_alias` defines one, and :func:`resolve_aliases`
(called once in ``main``) copies its value to the new flag with a one-line deprecation notice on stderr. Giving
both spellings is a usage error. The flags belong to the command module that calls :func:`define` (its
``--help`` lists them).

Only the chosen command's module is imported (see :mod:`keras_bert_zoo.cli.main`), so each command defines
its own copy of the shared flags without collisions.
"""

from __future__ import annotations

import sys

from absl import flags

from keras_bert_zoo.cli.errors import UsageError

__all__ = ["MIXED_PRECISION", "SHARED", "define", "define_alias", "resolve_aliases", "compute_dtype_policy"]

#: the one value set of --mixed_precision (Keras dtype policy names)
MIXED_PRECISION = ("auto", "float32", "mixed_bfloat16", "mixed_float16")

#: name -> (kind, default, help)
SHARED = {
    "out": ("string", None, "Output directory."),
    "sequence_length": ("integer", 128, "Packed sequence length in tokens ([CLS] and [SEP]s included)."),
    "mixed_precision": ("enum", "auto", "Keras dtype policy of training: " + ", ".join(MIXED_PRECISION) + " (auto: "
                        "mixed_bfloat16 on hardware with native bf16 — AVX512_BF16 or AMX CPUs, GPUs of compute "
                        "capability 8+ — float32 elsewhere; the choice is printed)."),
    "seed": ("integer", 0, "Random seed."),
    "batch_size": ("integer", 32, "Batch size (global, across replicas)."),
    "task_module": ("list", None, "Python modules to import first (comma separated): each registers its own task "
                                  "types with keras_bert_zoo.tasks.registry.register_task (a task defined outside "
                                  "the package)."),
}

_ALIASES: dict = {}     # old name -> new name, for the flags of the command that is running


def _caller() -> str:
    """The module that called our caller: the command module the flags belong to (its --help lists them)."""
    import inspect

    frame = inspect.currentframe().f_back.f_back
    return frame.f_globals.get("__name__", "__main__")


def define(*names: str, flag_values=flags.FLAGS, required=(), **overrides):
    """Define the shared flags ``names`` on ``flag_values``.

    ``overrides``: ``<name>=default`` changes a flag's default, ``<name>_help=...`` its help text. Names in
    ``required`` must be given on the command line.
    """
    unknown = sorted(set(names) - set(SHARED))
    if unknown:
        raise ValueError(f"unknown shared flag(s) {unknown}; shared flags: {sorted(SHARED)}")
    module = _caller()
    for name in names:
        kind, default, help_text = SHARED[name]
        default = overrides.get(name, default)
        help_text = overrides.get(f"{name}_help", help_text)
        common = dict(flag_values=flag_values, module_name=module)
        if kind == "string":
            flags.DEFINE_string(name, default, help_text, **common)
        elif kind == "integer":
            flags.DEFINE_integer(name, default, help_text, lower_bound=1 if name != "seed" else None, **common)
        elif kind == "enum":
            flags.DEFINE_enum(name, default, list(MIXED_PRECISION), help_text, **common)
        elif kind == "list":
            flags.DEFINE_list(name, default, help_text, **common)
        if name in required:
            flags.mark_flag_as_required(name, flag_values=flag_values)


def define_alias(old: str, new: str, flag_values=flags.FLAGS):
    """``--old`` as a deprecated spelling of the (already defined) flag ``--new``, for one release."""
    target = flag_values[new]
    flags.DEFINE(target.parser, old, None, f"Deprecated: use --{new}.", serializer=target.serializer,
                 flag_values=flag_values, module_name=_caller())
    _ALIASES[old] = new


def resolve_aliases(flag_values=flags.FLAGS, stream=None):
    """Copy each deprecated alias given on the command line to its new flag, printing one notice per alias;
    a UsageError when both spellings are given."""
    stream = stream or sys.stderr
    for old, new in _ALIASES.items():
        if old not in flag_values or flag_values[old].value is None:
            continue
        if flag_values[new].present:
            raise UsageError(f"--{old} and --{new} are the same flag (--{old} is its old name): give only --{new}")
        print(f"bert-zoo: --{old} is deprecated and will be removed in the next release; use --{new}",
              file=stream)
        flag_values[new].value = flag_values[old].value
        flag_values[new].present = 1


def compute_dtype_policy(value: str) -> str:
    """A --mixed_precision value as the Keras dtype policy name (validated: one line naming the flag)."""
    if value not in MIXED_PRECISION:
        raise UsageError(f"--mixed_precision {value!r}: expected one of {', '.join(MIXED_PRECISION)}")
    return value
