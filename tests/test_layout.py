"""The structure holds: no import circle, nothing imports the package face, generic modules never name a family.

The layers themselves are import-linter's contracts (pyproject.toml, run by ``make lint``); these are the rules it
does not express. Every import counts: module level, inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import grimp
import pytest

from vsinfer.backends import FAMILIES

SRC = Path(__file__).resolve().parents[1] / "src" / "vsinfer"

FAMILY_PLACES = tuple(f"backends/{f.__name__.rsplit('.', 1)[1]}/" for f in FAMILIES)
"""Where a family lives: each keeps everything specific to it in its own folder (read from ``backends.FAMILIES``)."""
FACT_PLACES = ("backends/__init__.py",)
"""Not generic on purpose: the one list of vsinfer's families."""

FAMILY_NAMES = frozenset({c.__name__ for f in FAMILIES for c in f.CLASSES} | {"NCNN_VK"})
NAMESPACES = frozenset(p.namespace for f in FAMILIES for p in f.PLUGINS)
"""The family class names and plugin namespaces, from the families' own declarations."""


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("vsinfer", include_external_packages=False)


def test_no_import_circle() -> None:
    graph = _graph()
    modules = sorted(graph.modules)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(imported) == 1:
                circles.append([*path[path.index(imported):], imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[module] = 2

    for module in modules:
        if module not in state:
            visit(module)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_graph_sees_imports_inside_functions_and_under_type_checking() -> None:
    """The two rules above would pass vacuously if these imports were not read."""
    graph = _graph()
    assert "vsinfer.validation" in graph.find_modules_directly_imported_by("vsinfer.backends.call")
    assert graph.direct_import_exists(importer="vsinfer.cli.info", imported="vsinfer.select")  # inside info()
    assert graph.direct_import_exists(importer="vsinfer.fp16.analysis", imported="vsinfer.model")  # TYPE_CHECKING


def test_nothing_imports_the_package_face() -> None:
    """``vsinfer/__init__.py`` attaches autoselect, autotune and preset to Backend: it must stay on top."""
    assert _graph().find_modules_that_directly_import("vsinfer") == set()


def _generic_modules() -> list[Path]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if not rel.startswith(FAMILY_PLACES) and rel not in FACT_PLACES:
            found.append(path)
    return found


def _named_families(source: str) -> list[str]:
    """Family class names used in code, and namespace strings compared or looked up; docstrings and messages aside."""
    hits = []
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.NAME and tok.string in FAMILY_NAMES:
            hits.append(f"line {tok.start[0]}: {tok.string}")
        elif tok.type == tokenize.STRING and tok.string.strip("\"'") in NAMESPACES:
            before = tokens[i - 1].string if i else ""
            if before in ("==", "!=", "in", "(", "[", "{", ","):
                hits.append(f"line {tok.start[0]}: {tok.string}")
    return hits


def test_generic_modules_never_name_a_family() -> None:
    modules = _generic_modules()
    assert len(modules) > 30 and SRC / "backends" / "base.py" in modules and SRC / "fp16" / "analysis.py" in modules
    found = {str(p.relative_to(SRC)): hits for p in modules if (hits := _named_families(p.read_text()))}
    assert not found, f"generic modules that name a family (move it into the family, behind a hook): {found}"


@pytest.mark.parametrize("code", [
    "if backend.namespace == 'ncnn':\n    pass\n",
    "isinstance(backend, OV_CPU)\n",
    "from .backends.trt import TRT\n",
    "x = {'ort': 1}\n",
])
def test_the_family_name_rule_can_fail(code: str) -> None:
    assert _named_families(code)


def test_the_family_name_rule_leaves_messages_alone() -> None:
    assert not _named_families('"""Use Backend.ORT_CPU() or NCNN."""\nraise ValueError("e.g. Backend.OV_CPU()")\n')


def test_the_families_contract_lists_the_declared_families() -> None:
    """import-linter's contracts are data in pyproject.toml: this holds their family lists to ``backends.FAMILIES``."""
    import tomllib

    config = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    families = {f.__name__ for f in FAMILIES}
    independent = next(c for c in config if c["type"] == "independence")
    assert set(independent["modules"]) == families
    inside = next(c for c in config if c.get("containers") == ["vsinfer.backends"])
    top = {f"vsinfer.backends.{m.strip()}" for m in inside["layers"][0].split("|")}
    assert top == families
