"""The package's layout: no module imports, even lazily, one that imports it back, and none imports a
module of a higher layer (the engine's parts below the engine, the engine below its callers)."""

from __future__ import annotations

import ast
from pathlib import Path

from paths import ROOT

SOURCE = ROOT / "src"


def modules() -> dict[str, Path]:
    found = {}
    for path in (SOURCE / "memskill").rglob("*.py"):
        name = ".".join(path.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules `name` imports anywhere in its file (inside functions too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("memskill"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name.startswith("memskill")}
    return {module for module in out if module in known and module != name}


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of `graph` (module → the modules it imports), or [] when there is none."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return []


def test_no_module_imports_one_that_imports_it_back() -> None:
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert len(graph) > 100 and graph["memskill.engine"], "the graph was read"
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"], "the check can fail"
    assert cycle(graph) == []


LAYERS: list[tuple[str, ...]] = [
    (
        "memskill.models",
        "memskill.errors",
        "memskill.config",
        "memskill.text",
        "memskill.serialise",
        "memskill.version",
    ),
    (
        "memskill.providers",
        "memskill.tagger",
        "memskill.generalise",
        "memskill.topics",
        "memskill.filters",
        "memskill.ingest",
        "memskill.skillfile",
        "memskill.stores",
        "memskill.naming",
        "memskill.kinds",
        "memskill.gazetteer",
        "memskill.vectors",
        "memskill.wire",
    ),
    (
        "memskill.extract",
        "memskill.segment",
        "memskill.cluster",
        "memskill.kmeans",
        "memskill.consolidate",
        "memskill.skill_items",
        "memskill.procedure",
        "memskill.synthesize",
        "memskill.evidence",
        "memskill.retrieve",
        "memskill.prompts",
        "memskill.llm",
        "memskill.stages",
        "memskill.export",
        "memskill.archive",
        "memskill.reembed",
        "memskill.lifecycle",
        "memskill.rechunk",
    ),
    ("memskill.pipeline", "memskill.jobs"),
    ("memskill.engine", "memskill.engine_data", "memskill.client"),
    ("memskill", "memskill.server", "memskill.cli", "memskill.demo", "memskill.testing", "memskill.bench"),
]
"""From the bottom up: plain types and settings; providers, stores, the tagger and text rules; the stages;
the pipeline and its workers; the engine; what calls the engine (the package's surface, the server, the
command line, the demo, the fakes, the benches)."""


def layer_of(module: str) -> int:
    """The layer of a module: that of the longest name in `LAYERS` it is, or is inside of."""
    found = [
        (len(name), index)
        for index, names in enumerate(LAYERS)
        for name in names
        if module == name
        or (name != "memskill" and module.startswith(name + "."))
        or module.startswith(name + "_")
    ]
    assert found, f"{module} is in no layer: add it to LAYERS"
    return max(found)[1]


def test_no_module_imports_one_of_a_higher_layer() -> None:
    known = modules()
    upward = [
        f"{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)})"
        for name, path in known.items()
        for target in imports(name, path, known)
        if layer_of(target) > layer_of(name)
    ]
    assert layer_of("memskill.stores.sqlite.store") == 1 and layer_of("memskill.cli_review") == 5
    assert upward == []


MAX_LINES = 500


def test_no_source_module_is_over_500_lines() -> None:
    """A module over 500 lines holds more than one decision: split it where a newcomer would look."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in sorted((ROOT / "src" / "memskill").rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long
