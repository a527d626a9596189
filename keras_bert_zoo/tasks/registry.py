"""The task table: one :class:`TaskSpec` per task, registered next to its task class.

Everything the rest of the package needs to know about a task — its class, CLI name, Hugging Face architecture,
file reader and the file options it reads, evaluator, the `bert-zoo finetune` flags it uses, how its
constructor arguments follow from a training file, its keras_bert_zoo 0.1 format — is one ``TaskSpec``, passed
to :func:`register_task` at the end of the module that defines the class (Model Garden's ``register_task_cls``
pattern)::

    # the end of keras_bert_zoo/tasks/text_classifier.py
    register_task(TaskSpec(
        name="classify", task_class=TextClassifier, hf_architecture="BertForSequenceClassification",
        reader=task_files.labelled_reader, file_options=task_files.LABELLED_OPTIONS,
        evaluator="keras_bert_zoo.tasks.evaluation:evaluate_classifier",
        task_flags=("dropout", "labels", "multi_label", "label_separator", "window_stride"), ...))

Lookups — :func:`get_spec`, :func:`spec_of`, :func:`task_names`, :func:`get_task_class`, :func:`task_models`,
:func:`read_task_file` — import every module of :mod:`keras_bert_zoo.tasks` on first use, so a new built-in
task is one new module there. A task defined outside the package registers when its module is imported:
:func:`import_task_modules` (the CLI's ``--task_module``) does that by name.

Example::

    >>> from keras_bert_zoo import BertBackbone, BertConfig
    >>> from keras_bert_zoo.tasks import registry
    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> spec = registry.get_spec("tag")
    >>> spec.task_class.__name__, spec.hf_architecture, spec.file_options
    ('TokenClassifier', 'BertForTokenClassification', ('word_column', 'tag_column'))
    >>> data = registry.read_task_file("tag", "train.txt")      # spec.reader with the options it reads
    >>> data.task_type, len(data.x), data.x[1].words[:2], data.x[1].tags[:2]
    ('tag', 6, ('Peter', 'Blackburn'), ('B-PER', 'I-PER'))
    >>> args = spec.args_from_data(data, {})                    # what the training file decides
    >>> args
    {'labels': ['O', 'B-LOC', 'I-LOC', 'B-MISC', 'B-ORG', 'I-ORG', 'B-PER', 'I-PER']}
    >>> config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=37)
    >>> preprocessor = BertPreprocessor(WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=16)
    >>> tagger = spec.task_class(BertBackbone(config), preprocessor=preprocessor, **args)
    >>> registry.spec_of(tagger) is spec, tagger.num_classes
    (True, 8)
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
from typing import Any, Callable

from keras_bert_zoo.tasks.base.errors import TaskError

__all__ = ["TaskSpec", "LegacyFormat", "register_task", "get_spec", "spec_of", "specs", "task_names",
           "get_task_class", "task_models", "read_task_file", "import_task_modules", "load_builtin_tasks"]


@dataclasses.dataclass(frozen=True)
class LegacyFormat:
    """How a keras_bert_zoo 0.1 task directory of this task is rebuilt (:mod:`keras_bert_zoo.tasks.legacy`).

    ``model_class``: the 0.1 model class in ``model.keras``; ``config_keys``: the task.json ``"config"`` keys
    the task's constructor takes as they are; ``args(meta, model_config)``: further constructor arguments from
    task.json (``meta``) and the 0.1 model's config (e.g. labels, dropout)."""

    model_class: str
    config_keys: tuple = ()
    args: Callable[[dict, dict], dict] | None = None


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Everything the package needs to know about one task.

    Attributes:
        name: the task's name: ``task.task_type``, ``bert-zoo finetune --task``.
        task_class: the task class (``register_task`` sets its ``task_type`` and ``hf_architecture``).
        hf_architecture: the Hugging Face architecture name the converters build this class for, or None.
        reader: ``reader(path, options, require_targets=True) -> TaskFile`` (:mod:`keras_bert_zoo.data.task_files`);
            None: the task is not fine-tuned from files (e.g. pretraining).
        file_options: the :class:`~keras_bert_zoo.data.task_files.FileOptions` fields the reader reads (also the
            `bert-zoo finetune` / `evaluate` flags of the same names).
        evaluator: ``evaluate(task, data, out_dir, batch_size) -> dict`` (metrics; report files in ``out_dir``
            when it is not None), or its ``"module:function"`` path (imported on first use).
        task_flags: `bert-zoo finetune` flags passed to the task's constructor under the same name (a flag left
            at None is not passed).
        cli_flags: other task-specific `bert-zoo finetune` flags the task supports (``class_weight``,
            ``resample``: single-label classes; ``attention_*``: a heat map of a text input).
        args_from_data: ``args_from_data(train, args) -> dict``: constructor arguments that follow from the
            training file (labels, pairs, number of choices), given those already set.
        check_data: ``check_data(task, data) -> list of str``: warnings about a training file (labels without
            examples, texts longer than the sequence length), or its ``"module:function"`` path.
        legacy: the task's keras_bert_zoo 0.1 format, or None.
    """

    name: str
    task_class: type
    hf_architecture: str | None = None
    reader: Callable | None = None
    file_options: tuple = ()
    evaluator: Callable | str | None = None
    task_flags: tuple = ()
    cli_flags: tuple = ()
    args_from_data: Callable[[Any, dict], dict] | None = None
    check_data: Callable[[Any, Any], list] | str | None = None
    legacy: LegacyFormat | None = None

    @property
    def flags(self) -> frozenset:
        """The task-specific `bert-zoo finetune` flags this task reads."""
        return frozenset(self.task_flags) | frozenset(self.file_options) | frozenset(self.cli_flags)

    def evaluate(self, task, data, out_dir=None, batch_size: int = 64) -> dict:
        """The task's metrics on ``data`` (a TaskFile), and its report files in ``out_dir`` (unless None)."""
        if self.evaluator is None:
            raise TaskError(f"task {self.name!r} has no evaluator")
        return _function(self.evaluator)(task, data, out_dir, batch_size)

    def data_warnings(self, task, data) -> list:
        """The warnings of ``check_data`` about a training file (none without it)."""
        return list(_function(self.check_data)(task, data)) if self.check_data is not None else []

    def task_args(self, train, args: dict) -> dict:
        """``args`` and those that follow from the training file ``train`` (``args_from_data``)."""
        extra = self.args_from_data(train, dict(args)) if self.args_from_data is not None else {}
        return {**args, **extra}

    def read(self, path, options=None, *, require_targets: bool = True):
        """``path`` read with this task's reader; an option it does not read is an error naming it."""
        from keras_bert_zoo.data.task_files import FileOptions

        if self.reader is None:
            raise TaskError(f"task {self.name!r} reads no task files")
        options = options or FileOptions()
        options.check(self.file_options, self.name)
        data = self.reader(path, options, require_targets=require_targets)
        data.task_type = self.name
        return data


def _function(fn):
    """``fn``, or the function a ``"module:function"`` path names (imported now: a spec can name a function of a
    module that imports the task's own module without an import cycle)."""
    if isinstance(fn, str):
        module, _, attr = fn.partition(":")
        return getattr(importlib.import_module(module), attr)
    return fn


_SPECS: dict = {}          # name -> TaskSpec, in registration order
_BUILTINS_LOADED = False


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add ``spec`` to the table (a second spec under the same name, or for the same class, is an error unless it
    is the same spec, as when a module is imported twice) and stamp its class with ``task_type`` and
    ``hf_architecture``. Returns ``spec``."""
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"register_task takes a TaskSpec, got {type(spec).__name__}")
    old = _SPECS.get(spec.name)
    if old is not None and old.task_class is not spec.task_class and (
            old.task_class.__module__, old.task_class.__qualname__) != (spec.task_class.__module__,
                                                                         spec.task_class.__qualname__):
        raise TaskError(f"task {spec.name!r} is already registered for {old.task_class.__qualname__}")
    for other in _SPECS.values():
        if other.task_class is spec.task_class and other.name != spec.name:
            raise TaskError(f"{spec.task_class.__qualname__} is already registered as task {other.name!r}")
    spec.task_class.task_type = spec.name
    spec.task_class.hf_architecture = spec.hf_architecture
    _SPECS[spec.name] = spec
    return spec


def load_builtin_tasks() -> None:
    """Import every module of :mod:`keras_bert_zoo.tasks` (each registers the tasks it defines)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    package = __name__.rpartition(".")[0]          # keras_bert_zoo.tasks, this module's package
    _BUILTINS_LOADED = True            # set first: a module that looks a task up while it loads sees no loop
    try:
        for info in pkgutil.iter_modules([os.path.dirname(__file__)]):
            if not info.ispkg and not info.name.startswith("_"):
                importlib.import_module(f"{package}.{info.name}")
    except BaseException:
        _BUILTINS_LOADED = False
        raise


def import_task_modules(names) -> None:
    """Import the modules ``names`` (dotted names), each of which registers its tasks with
    :func:`register_task` — a task defined outside the package (the CLI's ``--task_module``)."""
    for name in names or ():
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise TaskError(f"task module {name!r} cannot be imported ({err})") from None


def specs() -> list:
    """Every registered TaskSpec, by name."""
    load_builtin_tasks()
    return [_SPECS[name] for name in sorted(_SPECS)]


def task_names() -> list[str]:
    return [spec.name for spec in specs()]


def get_spec(name: str) -> TaskSpec:
    """The TaskSpec named ``name`` (a TaskError listing the known names otherwise)."""
    load_builtin_tasks()
    if name not in _SPECS:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    return _SPECS[name]


def spec_of(task) -> TaskSpec:
    """The TaskSpec of a task model (or task class): the spec of the nearest registered class in its MRO."""
    load_builtin_tasks()
    cls = task if isinstance(task, type) else type(task)
    by_class = {spec.task_class: spec for spec in _SPECS.values()}
    for base in cls.__mro__:
        if base in by_class:
            return by_class[base]
    raise TaskError(f"{cls.__qualname__} is not a registered task (keras_bert_zoo.tasks.registry.register_task)")


def get_task_class(name: str) -> type:
    """The task class registered as ``name`` (e.g. ``"classify"``)."""
    return get_spec(name).task_class


def task_models() -> dict:
    """Hugging Face architecture name -> task class (``BertModel`` is the backbone), what the converters build."""
    from keras_bert_zoo.models.backbone import BertBackbone

    out = {"BertModel": BertBackbone}
    out.update({spec.hf_architecture: spec.task_class for spec in specs() if spec.hf_architecture})
    return out


def read_task_file(task_type: str, path, options=None, *, require_targets: bool = True):
    """Read ``path`` the way the task named ``task_type`` does (its spec's reader and file options)."""
    return get_spec(task_type).read(path, options, require_targets=require_targets)
