"""The package's import graph, read with ``ast`` (module-level and lazy imports inside functions alike).

ARCHITECTURE.md point 14, as the Keras-native tasks redesign shaped it: each level imports only levels below it,
and nothing imports in a circle:

    config, cache, compat -> layers -> text -> models -> data -> metrics -> convert, presets -> viz -> train
    -> export -> tasks -> reports -> batch -> apps -> cli

The task models are the top-level objects users hold (keras-hub's shape): ``compile()`` builds the recipe's
optimizer (train), ``from_preset`` loads through presets/convert, ``export`` calls the exporters; so tasks sit
above those, and the converters build a task head from the classes their caller passes (``model_classes``),
never by importing tasks. ``metrics`` (classification, entities, SQuAD, retrieval scores of predictions already
computed) sits just above ``data`` (the entity metric reads CoNLL tag names), so train, tasks, reports and cli
can all use it.

An edge ``a -> b`` is any ``import`` / ``from ... import`` of ``b`` anywhere in ``a``'s source. Importing
``p.q.m`` also runs ``p/q/__init__.py``, so it adds an edge to every package above ``m`` that ``a`` is not
inside of (the package root ``keras_bert_zoo`` excepted: it is a lazy facade that imports on attribute access).
"""

import ast
import pathlib

import pytest

PACKAGE = "keras_bert_zoo"
ROOT = pathlib.Path(__file__).resolve().parents[1] / PACKAGE

LAYERS = [("config", "cache", "compat"), ("layers",), ("text",), ("models",), ("data",), ("metrics",),
          ("convert", "presets"), ("viz",), ("train",), ("export",), ("tasks",), ("reports",), ("batch",), ("apps",),
          ("cli",)]
GROUND = ("config", "cache", "compat", "layers", "text")  # these must never import upwards
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The longest module of the package that ``name`` names (``pkg.mod.attr`` -> ``pkg.mod``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> dict:
    """{imported package module: first line number} for every import statement in ``module``."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    found = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [f"{source}.{alias.name}" for alias in node.names] or [source]
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                target = _resolve(name)
                if target and target != module:
                    found.setdefault(target, node.lineno)
    return found


def _graph() -> dict:
    graph = {}
    for module in MODULES:
        edges = {}
        for target, line in imports_of(module).items():
            edges.setdefault(target, line)
            parent = target.rpartition(".")[0]
            while parent and parent != PACKAGE:  # importing p.q.m runs p/q/__init__.py too
                if not (module == parent or module.startswith(parent + ".")):
                    edges.setdefault(parent, line)
                parent = parent.rpartition(".")[0]
        graph[module] = edges
    return graph


GRAPH = _graph()


def _cycles(graph) -> list:
    """Every strongly connected component with more than one module (Tarjan), as sorted lists."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _level(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _violations(levels) -> list:
    """``module:line imports target`` for each import of a higher level by a module of ``levels``."""
    bad = []
    for module, edges in sorted(GRAPH.items()):
        level = _level(module)
        if level not in levels:
            continue
        for target, line in sorted(edges.items()):
            other = _level(target)
            if other is None or other == level:
                continue
            if RANK.get(other, len(LAYERS)) > RANK[level]:
                bad.append(f"{MODULES[module].relative_to(ROOT.parent)}:{line} ({level}) imports {target} ({other})")
    return bad


def test_every_module_is_in_a_layer():
    unknown = sorted({_level(m) for m in MODULES if _level(m) is not None} - set(RANK))
    assert not unknown, f"modules outside the layer order of ARCHITECTURE.md point 14: {unknown}"


def test_the_graph_sees_lazy_and_relative_imports():
    # sanity of the parser itself: a lazy import inside a function is an edge
    assert "keras_bert_zoo.convert" in GRAPH["keras_bert_zoo.presets"]
    assert "keras_bert_zoo.cache" in GRAPH["keras_bert_zoo.text.charmap"]


_LEVELS = [n for names in LAYERS for n in names]


# One case per level: a cycle fails the case of every level it passes through.
@pytest.mark.parametrize("level", _LEVELS)
def test_no_import_cycles(level):
    cycles = [c for c in _cycles(GRAPH) if any(_level(m) == level for m in c)]
    assert not cycles, "import cycles (each line one strongly connected set of modules):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_no_import_cycles_at_the_package_root():
    cycles = [c for c in _cycles(GRAPH) if any(_level(m) is None for m in c)]
    assert not cycles, cycles


@pytest.mark.parametrize("level", GROUND)
def test_ground_floor_imports_nothing_above(level):
    bad = _violations({level})
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("level", [n for n in _LEVELS if n not in GROUND])
def test_upper_levels_import_only_below(level):
    bad = _violations({level})
    assert not bad, "\n".join(bad)
