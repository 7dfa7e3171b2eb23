"""The import graph of ``src/genrec`` has no cycle.

Built from the source text (every ``import`` / ``from ... import``, also those inside
functions, which Python runs only when the function is called and so hides from an
import-time check): an edge ``a -> b`` for each genrec module ``b`` that module ``a``
names. ``from genrec.x import y`` points at ``genrec.x.y`` when that is a module,
else at ``genrec.x``. A cycle means a module stands both above and below another one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def module_names(src: Path = SRC) -> dict[str, Path]:
    """``{"genrec.sft.train": path, "genrec.sft": .../sft/__init__.py, ...}``."""
    out = {}
    for path in sorted((src / "genrec").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of a (possibly relative) ``from`` import in ``module``."""
    if level == 0:
        return name or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """``{module: {genrec modules it imports}}`` for every module under ``src/genrec``."""
    modules = module_names(src)

    def target(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, is_package, node.level, node.module)
                names = [f"{base}.{a.name}" for a in node.names] or [base]
            for name in names:
                if name.split(".")[0] != "genrec":
                    continue
                dest = target(name)
                if dest and dest != module:
                    graph[module].add(dest)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each
    sorted; a module in none of them is on no cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_of_genrec_has_no_cycle():
    graph = import_graph()
    assert "genrec.config" in graph and graph["genrec.sft.train"], "graph not built"
    found = cycles(graph)
    assert not found, "import cycles in src/genrec:\n" + "\n".join(" <-> ".join(c) for c in found)


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "genrec" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_through_a_function_local_import_is_found(tmp_path):
    src = _write(
        tmp_path,
        {
            "__init__.py": "",
            "config.py": "def build():\n    from genrec.stage.params import P\n",
            "stage/__init__.py": "",
            "stage/params.py": "from ..config import build\nclass P: ...\n",
            "ground.py": "import genrec.config\n",
        },
    )
    graph = import_graph(src)
    assert graph["genrec.stage.params"] == {"genrec.config"}
    assert graph["genrec.ground"] == {"genrec.config"}
    assert cycles(graph) == [["genrec.config", "genrec.stage.params"]]


@pytest.mark.parametrize(
    "text", ["from genrec import stage\n", "from genrec.stage import params\n"]
)
def test_a_from_import_of_a_submodule_points_at_the_submodule(tmp_path, text):
    src = _write(tmp_path, {"__init__.py": "", "stage/__init__.py": "", "stage/params.py": "",
                            "top.py": text})  # fmt: skip
    expected = "genrec.stage" if text.startswith("from genrec import") else "genrec.stage.params"
    assert import_graph(src)["genrec.top"] == {expected}
