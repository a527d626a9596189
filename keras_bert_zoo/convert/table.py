"""The shared converter mechanism: declarative weight tables, reshape hooks, one all-or-nothing loader.

A format module (``hf``, ``google``, ``garden``, ``keras_hub``) declares a :class:`WeightTable`: a list of
:class:`Rule` rows ``source name pattern -> our variable path``, each with a :class:`Hook` that turns the
source array into ours (transpose, head split/merge) and back (for export). ``{i}`` in a pattern stands for
the encoder layer index. Rows belong to a *group* ("backbone", "pooler", "classifier", "qa_outputs", "mlm",
"nsp"); a model is loaded from the groups it has.

:func:`load_weights` plans the whole load first: every variable of the model must be covered by a row, every
row's source must exist with the expected shape, and every source tensor must be used, ignored, or (with
``backbone_only``) a known head weight that is skipped and logged. All problems — missing, unexpected and
mis-shaped weights with their expected and found shapes — are reported together in one
:class:`WeightLoadError`, and nothing is assigned unless the plan is clean.

The row builders (:func:`pair`, :func:`encoder_layer_rows`, :func:`embedding_rows`) spell the shared shape of
BERT once; a format lists only its own names:

    TABLE = WeightTable("My format", tuple(
        embedding_rows("tok/emb", "pos/emb", "seg/emb", "emb_norm")
        + encoder_layer_rows("layer_{i}", BERT_LAYER_NAMES)
        + pair("pooler", "pooler/dense", group="pooler")))
    report = load_weights(model, reader, TABLE, config, groups=("backbone", "pooler"))
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["Hook", "Rule", "WeightTable", "WeightLoadError", "LoadReport", "TensorReader", "DictReader",
           "IDENTITY", "TRANSPOSE", "SPLIT_HEADS", "SPLIT_HEADS_BIAS", "MERGE_HEADS_OUT", "load_weights",
           "export_weights", "model_variables", "pair", "encoder_layer_rows", "embedding_rows", "ENCODER_LAYER",
           "BERT_LAYER_NAMES", "EINSUM_ATTENTION_HOOKS", "einsum_encoder_table"]

logger = logging.getLogger("keras_bert_zoo.convert")


class WeightLoadError(ValueError):
    """A checkpoint that does not fit the model; lists every missing, unexpected and mis-shaped weight."""


# --------------------------------------------------------------------------------------------------- hooks
@dataclasses.dataclass(frozen=True)
class Hook:
    """How one source array relates to one of our variables.

    ``to_ours(array, config)`` converts a source array to our layout; ``to_source(array, config)`` is its
    inverse (used by export); ``source_shape(our_shape, config)`` is the shape the source must have.
    """

    name: str
    to_ours: Callable
    to_source: Callable
    source_shape: Callable

    def __repr__(self):
        return f"Hook({self.name})"


def _heads(config):
    return config.num_heads, config.head_size


IDENTITY = Hook("identity", lambda a, c: a, lambda a, c: a, lambda s, c: tuple(s))
# torch Linear weights and Google's [out, in] head matrices: ours are [in, out].
TRANSPOSE = Hook("transpose", lambda a, c: np.transpose(a), lambda a, c: np.transpose(a),
                 lambda s, c: tuple(reversed(s)))
# EinsumDense q/k/v kernels [D, N, H] <-> our [D, N*H]; biases [N, H] <-> [N*H]; output [N, H, D] <-> [N*H, D].
SPLIT_HEADS = Hook("split_heads",
                   lambda a, c: np.reshape(a, (a.shape[0], -1)),
                   lambda a, c: np.reshape(a, (a.shape[0],) + _heads(c)),
                   lambda s, c: (s[0],) + _heads(c))
SPLIT_HEADS_BIAS = Hook("split_heads_bias",
                        lambda a, c: np.reshape(a, (-1,)),
                        lambda a, c: np.reshape(a, _heads(c)),
                        lambda s, c: _heads(c))
MERGE_HEADS_OUT = Hook("merge_heads_out",
                       lambda a, c: np.reshape(a, (-1, a.shape[-1])),
                       lambda a, c: np.reshape(a, _heads(c) + (a.shape[-1],)),
                       lambda s, c: _heads(c) + (s[-1],))


# ---------------------------------------------------------------------------------------------------- rows
@dataclasses.dataclass(frozen=True)
class Rule:
    """One row of a weight table.

    Attributes:
        source: the source weight name; ``{i}`` is the encoder layer index.
        target: our variable path (``keras.Variable.path`` inside the model, e.g.
            ``encoder_layer_{i}/attention/query/kernel``).
        hook: how the arrays relate (default identity).
        group: which part of a model the row belongs to.
        optional: when the source lacks it, our variable keeps its initial value and the load report says so
            (Hugging Face task models without a pooler).
    """

    source: str
    target: str
    hook: Hook = IDENTITY
    group: str = "backbone"
    optional: bool = False


@dataclasses.dataclass(frozen=True)
class WeightTable:
    """A format's rows plus the source names it ignores (regexes: optimizer slots, step counters, buffers) and
    tied aliases (``alias -> source name``): an alias, when present, must equal the tensor it is tied to."""

    format: str
    rules: tuple
    ignore: tuple = ()
    tied: tuple = ()  # ((alias, source), ...)

    def groups(self) -> set:
        return {r.group for r in self.rules}

    def expand(self, config, groups: Iterable[str]):
        """Concrete ``(source, target, rule)`` rows for a model with ``config`` and the given groups."""
        groups = set(groups)
        rows = []
        for rule in self.rules:
            if rule.group not in groups:
                continue
            if "{i}" in rule.source or "{i}" in rule.target:
                for i in range(config.num_layers):
                    rows.append((rule.source.format(i=i), rule.target.format(i=i), rule))
            else:
                rows.append((rule.source, rule.target, rule))
        return rows

    def is_ignored(self, name: str) -> bool:
        return any(re.search(p, name) for p in self.ignore)


# ------------------------------------------------------------------------------------------ row builders
#: Our parameters of encoder layer {i} (under ``encoder_layer_{i}/``), in the order every format's table lists
#: its source names: (our sublayer, "dense" = kernel + bias | "norm" = gamma + beta).
ENCODER_LAYER = (("attention/query", "dense"), ("attention/key", "dense"), ("attention/value", "dense"),
                 ("attention/attention_output", "dense"), ("attention_layer_norm", "norm"),
                 ("intermediate", "dense"), ("output", "dense"), ("output_layer_norm", "norm"))
#: google-research/bert's sublayer names for ENCODER_LAYER (Hugging Face uses the same with "." for "/").
BERT_LAYER_NAMES = ("attention/self/query", "attention/self/key", "attention/self/value", "attention/output/dense",
                    "attention/output/LayerNorm", "intermediate/dense", "output/dense", "output/LayerNorm")
#: Hooks of the EinsumDense attention projections (Model Garden, keras-hub): [D, N, H] / [N, H, D] kernels.
EINSUM_ATTENTION_HOOKS = {"attention/query": (SPLIT_HEADS, SPLIT_HEADS_BIAS),
                          "attention/key": (SPLIT_HEADS, SPLIT_HEADS_BIAS),
                          "attention/value": (SPLIT_HEADS, SPLIT_HEADS_BIAS),
                          "attention/attention_output": (MERGE_HEADS_OUT, IDENTITY)}
_OURS = {"dense": ("kernel", "bias"), "norm": ("gamma", "beta")}


def pair(source: str, target: str, kind: str = "dense", *, names: Sequence[str] | None = None,
         hooks: Sequence[Hook] = (IDENTITY, IDENTITY), group: str = "backbone", sep: str = "/",
         optional: bool = False) -> list:
    """The two rows of one layer's parameters: ``source<sep><name> -> target/<ours>`` where ours are
    ``(kernel, bias)`` (``kind="dense"``) or ``(gamma, beta)`` (``"norm"``) and ``names`` the source's (default:
    ours). An empty ``source`` means top-level names (``output_weights``).

        pair("classifier", "classifier", names=("weight", "bias"), hooks=(TRANSPOSE, IDENTITY), sep=".")
    """
    ours = _OURS[kind]
    names = names or ours
    return [Rule(f"{source}{sep}{n}" if source else n, f"{target}/{o}", h, group, optional)
            for n, o, h in zip(names, ours, hooks)]


def encoder_layer_rows(prefix: str, sources: Sequence[str], *, sep: str = "/", dense_names=None, norm_names=None,
                       dense_hooks: Sequence[Hook] = (IDENTITY, IDENTITY), hooks: Mapping | None = None) -> list:
    """Rows for every parameter of encoder layer ``{i}``: ``sources[k]`` is the source sublayer of
    ``ENCODER_LAYER[k]`` under ``prefix``; ``hooks`` overrides the hooks of some sublayers."""
    rows = []
    for (ours, kind), source in zip(ENCODER_LAYER, sources, strict=True):
        default = dense_hooks if kind == "dense" else (IDENTITY, IDENTITY)
        rows += pair(f"{prefix}{sep}{source}", f"encoder_layer_{{i}}/{ours}", kind, sep=sep,
                     names=dense_names if kind == "dense" else norm_names, hooks=(hooks or {}).get(ours, default))
    return rows


def embedding_rows(token: str, position: str, segment: str, layer_norm: str, *, norm_names=None,
                   sep: str = "/") -> list:
    """Rows for the embedding tables and the embedding LayerNorm."""
    return [Rule(token, "embeddings/token_embedding/embeddings"), Rule(position, "embeddings/position_embedding"),
            Rule(segment, "embeddings/segment_embedding/embeddings")] + pair(
        layer_norm, "embeddings/layer_norm", "norm", names=norm_names, sep=sep)


def einsum_encoder_table(format: str, names: Sequence[str], layer: str, ignore: tuple = ()) -> WeightTable:
    """The table of a Keras BERT encoder with EinsumDense attention (Model Garden, keras-hub): ``names`` are
    its token / position / segment embedding, embedding LayerNorm and pooler names followed by the eight
    sublayers of :data:`ENCODER_LAYER`, these under ``layer`` (which holds ``{i}``)."""
    token, position, segment, norm, pooler, *sublayers = names
    return WeightTable(format=format, ignore=ignore, rules=tuple(
        embedding_rows(token, position, segment, norm)
        + encoder_layer_rows(layer, sublayers, hooks=EINSUM_ATTENTION_HOOKS)
        + pair(pooler, "pooler/dense", group="pooler")))


# ------------------------------------------------------------------------------------------------- readers
class TensorReader:
    """Name -> array access that can report shapes without reading the data."""

    description = "checkpoint"

    def names(self) -> Sequence[str]:
        raise NotImplementedError

    def shape(self, name: str) -> tuple:
        raise NotImplementedError

    def get(self, name: str) -> np.ndarray:
        raise NotImplementedError


class DictReader(TensorReader):
    """A reader over an in-memory mapping of arrays (optionally renamed: ``{our name: original name}``)."""

    def __init__(self, tensors: Mapping[str, np.ndarray], description: str = "weights"):
        self._tensors = dict(tensors)
        self.description = description

    def names(self):
        return list(self._tensors)

    def shape(self, name):
        return tuple(int(d) for d in np.shape(self._tensors[name]))

    def get(self, name):
        return np.asarray(self._tensors[name])


# -------------------------------------------------------------------------------------------------- loader
@dataclasses.dataclass
class LoadReport:
    """What a load did: how many variables were assigned, what was skipped and what kept its initial value."""

    assigned: int = 0
    skipped: list = dataclasses.field(default_factory=list)       # source names of heads not loaded
    ignored: list = dataclasses.field(default_factory=list)       # optimizer slots, counters, buffers
    initialised: list = dataclasses.field(default_factory=list)   # our paths left at init (optional rows)


def model_variables(model) -> dict:
    """Our model's variables by path. Paths are unique by construction (every layer is named)."""
    out = {}
    for v in model.weights:
        if v.path in out:
            raise WeightLoadError(f"Variable path {v.path!r} occurs twice in {model.name}; cannot map weights")
        out[v.path] = v
    return out


def _plan_assignments(rows, variables, reader, config, report):
    """Match the table rows to the model's variables and the reader's tensors: -> (plan [(source, variable,
    hook)], missing, misshaped, errors, covered variable paths); optional rows without a source tensor are
    recorded in ``report.initialised``."""
    available = set(reader.names())
    plan, missing, misshaped, errors, covered = [], [], [], [], set()
    for source, target, rule in rows:
        if target not in variables:
            errors.append(f"table row {source!r} -> {target!r}: the model has no variable {target!r}")
            continue
        covered.add(target)
        var = variables[target]
        expected = tuple(int(d) for d in rule.hook.source_shape(tuple(var.shape), config))
        if source not in available:
            if rule.optional:
                report.initialised.append(target)
            else:
                missing.append(f"  {source}  expected shape {list(expected)}  (for {target})")
            continue
        found = reader.shape(source)
        if tuple(found) != expected:
            misshaped.append(f"  {source}  expected shape {list(expected)}  found {list(found)}  (for {target})")
            continue
        plan.append((source, var, rule.hook))
    return plan, missing, misshaped, errors, covered


def _unused_sources(reader, table, rows, skip_rows, report) -> tuple:
    """Source tensors no row uses: skipped (``skip_groups``) and ignored ones go to ``report``; -> (unexpected
    lines, tie errors)."""
    available = set(reader.names())
    used = {s for s, _, _ in rows}
    skippable = {s for s, _, _ in skip_rows}
    for alias, tied_to in table.tied:  # an alias goes wherever the tensor it is tied to goes
        if tied_to in used:
            used.add(alias)
        elif tied_to in skippable:
            skippable.add(alias)
    unexpected, errors = [], []
    for name in sorted(available - used):
        if name in skippable:
            report.skipped.append(name)
        elif table.is_ignored(name):
            report.ignored.append(name)
        else:
            unexpected.append(f"  {name}  found shape {list(reader.shape(name))}")
    for alias, tied_to in table.tied:
        if alias in available and tied_to in available and tied_to in used:
            a, b = reader.get(alias), reader.get(tied_to)
            if a.shape != b.shape or not np.array_equal(a, b):
                errors.append(f"{alias} is not tied to {tied_to} (values differ); untied output embeddings "
                              f"are not supported")
    return unexpected, errors


def _load_error(reader, model, table, missing, misshaped, unexpected, errors) -> WeightLoadError:
    first = (misshaped or missing or unexpected or errors)[0].strip().replace("  ", " ")
    counts = ", ".join(f"{len(v)} {k}" for k, v in (("mis-shaped", misshaped), ("missing", missing),
                                                     ("unexpected", unexpected), ("other", errors)) if v)
    parts = [f"Cannot load {reader.description} into {model.name} ({table.format} format); "
             f"nothing was assigned ({counts}; first: {first})."]
    if missing:
        parts.append(f"Missing weights ({len(missing)}):\n" + "\n".join(missing))
    if misshaped:
        parts.append(f"Mis-shaped weights ({len(misshaped)}) — does the config match the "
                     f"checkpoint?\n" + "\n".join(misshaped))
    if unexpected:
        parts.append(f"Unexpected weights ({len(unexpected)}) — pass backbone_only=True to load only the "
                     f"encoder, or pick the matching task:\n" + "\n".join(unexpected))
    parts.extend(errors)
    return WeightLoadError("\n".join(parts))


def load_weights(model, reader: TensorReader, table: WeightTable, config, groups: Iterable[str],
                 skip_groups: Iterable[str] = ()) -> LoadReport:
    """Assign every variable of ``model`` from ``reader`` through ``table``, or raise before assigning any.

    Args:
        model: our keras model (built).
        reader: the source tensors.
        table: the format's weight table.
        config: the :class:`BertConfig` the model was built from (hooks need heads / head size).
        groups: the table groups the model has.
        skip_groups: groups whose source weights may be present but are deliberately not loaded
            (``backbone_only``); they are logged, not errors.
    """
    groups = set(groups)
    rows = table.expand(config, groups)
    skip_rows = table.expand(config, set(skip_groups) - groups)
    variables = model_variables(model)
    report = LoadReport()
    plan, missing, misshaped, errors, covered = _plan_assignments(rows, variables, reader, config, report)
    uncovered = sorted(set(variables) - covered)
    if uncovered:
        errors.append(f"no table row for model variables {uncovered}")
    unexpected, tie_errors = _unused_sources(reader, table, rows, skip_rows, report)
    errors.extend(tie_errors)
    if missing or misshaped or unexpected or errors:
        raise _load_error(reader, model, table, missing, misshaped, unexpected, errors)
    values = [(var, np.asarray(hook.to_ours(reader.get(source), config), dtype=var.dtype))
              for source, var, hook in plan]
    for var, value in values:
        var.assign(value)
    report.assigned = len(values)
    if report.skipped:
        logger.warning("Loaded only the backbone; skipped %d head weights of %s: %s", len(report.skipped),
                       reader.description, ", ".join(report.skipped))
    if report.initialised:
        logger.warning("%s has no weights for %s; they keep their initial values", reader.description,
                       ", ".join(report.initialised))
    if report.ignored:
        logger.info("Ignored %d non-model entries of %s (e.g. %s)", len(report.ignored), reader.description,
                    report.ignored[0])
    return report


def export_weights(model, table: WeightTable, config, groups: Iterable[str]) -> dict:
    """The inverse of :func:`load_weights`: ``{source name: array}`` in the table's format."""
    variables = model_variables(model)
    out = {}
    for source, target, rule in table.expand(config, groups):
        if target not in variables:
            raise WeightLoadError(f"Cannot export {model.name}: it has no variable {target!r} ({source})")
        value = np.asarray(variables[target].numpy() if hasattr(variables[target], "numpy")
                           else variables[target])
        out[source] = np.ascontiguousarray(rule.hook.to_source(value, config))
    return out
