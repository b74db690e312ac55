"""The docs site stays complete: every error has a troubleshooting section, every page is in the nav, every backend
field is on its family's page, every public module has an API reference page.

mkdocs itself is not needed here (`make docs` builds the site with --strict); mkdocs.yml is read as text, so these
checks run in `make test` without the docs extra.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

import vsinfer.backends as backends_module
import vsinfer.errors as errors_module
from vsinfer.backends import FAMILIES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"

FAMILY_PAGES = {p.namespace: Path(f.DOCS_PAGE).name for f in FAMILIES for p in f.PLUGINS}
"""Plugin namespace -> the page under docs/backends/ that documents that family's classes and fields (declared)."""

REFERENCE_MODULES = ["vsinfer", "vsinfer.backends.base", *(f.__name__ for f in FAMILIES), "vsinfer.errors",
                     "vsinfer.tiling", "vsinfer.select", "vsinfer.presets", "vsinfer.store",
                     "vsinfer.jetpack", "vsinfer.fp16", "vsinfer.tune", "vsinfer.export"]
"""Modules whose docstrings must be rendered in docs/reference (those that exist in src/)."""


def _yaml_block(text: str, key: str) -> list[str]:
    """The lines of the top-level mapping ``key`` in a YAML file (until the next top-level key)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"{re.escape(key)}:", line)), None)
    if start is None:
        return []
    block = [lines[start]]
    for line in lines[start + 1:]:
        if line and not line[0].isspace() and not line.startswith("#"):
            break
        block.append(line)
    return block


def nav_pages() -> list[str]:
    """Every page named in mkdocs.yml's nav, relative to docs/."""
    return [m.group(1) for line in _yaml_block(CONFIG.read_text(), "nav")
            if (m := re.search(r":\s*([\w./-]+\.md)\s*$", line) or re.search(r"^\s*-\s*([\w./-]+\.md)\s*$", line))]


def excluded_patterns() -> list[str]:
    """The gitignore-style patterns of mkdocs.yml's ``not_in_nav`` and ``exclude_docs`` blocks."""
    patterns: list[str] = []
    for key in ("not_in_nav", "exclude_docs"):
        for line in _yaml_block(CONFIG.read_text(), key)[1:]:
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line.lstrip("/"))
    return patterns


def doc_pages() -> list[str]:
    """Every markdown page in docs/, relative to it."""
    return sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))


def headings(page: Path) -> set[str]:
    """The text of every markdown heading of ``page``, without backticks."""
    return {m.group(1).strip().strip("`") for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", page.read_text(), re.M)}


def error_classes() -> dict[str, type]:
    """Every exception class defined in vsinfer.errors, by name."""
    return {name: obj for name, obj in vars(errors_module).items()
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == errors_module.__name__}


def test_every_error_class_is_exported() -> None:
    defined = set(error_classes())
    assert defined, "vsinfer.errors defines no exception class"
    unexported = sorted(defined - set(errors_module.__all__))
    assert not unexported, f"exception classes missing from vsinfer.errors.__all__: {unexported}"


@pytest.mark.parametrize("name", sorted(errors_module.__all__))
def test_every_error_has_a_troubleshooting_section(name: str) -> None:
    obj = getattr(errors_module, name)
    assert inspect.isclass(obj) and issubclass(obj, BaseException), f"{name} in __all__ is not an exception class"
    assert name in headings(DOCS / "troubleshooting.md"), (
        f"docs/troubleshooting.md has no section for {name}: add a heading '### {name}' saying when it is raised, "
        "what it means and what to do")


def test_troubleshooting_has_no_section_for_a_removed_error() -> None:
    page = (DOCS / "troubleshooting.md").read_text()
    section = page.split("## Error classes", 1)[1].split("\n## ", 1)[0]
    documented = {m.group(1) for m in re.finditer(r"^###\s+`?(\w+)`?\s*$", section, re.M)}
    unknown = sorted(documented - set(errors_module.__all__))
    assert not unknown, f"docs/troubleshooting.md has sections for errors vsinfer.errors does not export: {unknown}"


def test_every_page_is_in_the_nav_or_deliberately_excluded() -> None:
    nav = set(nav_pages())
    excluded = excluded_patterns()
    orphans = [p for p in doc_pages() if p not in nav and not any(fnmatch.fnmatch(p, x) for x in excluded)]
    assert not orphans, f"pages in docs/ that are neither in mkdocs.yml's nav nor in not_in_nav: {orphans}"


def test_every_nav_entry_exists() -> None:
    nav = nav_pages()
    assert "index.md" in nav and "troubleshooting.md" in nav
    missing = [p for p in nav if not (DOCS / p).is_file()]
    assert not missing, f"mkdocs.yml's nav names pages that do not exist: {missing}"
    assert len(nav) == len(set(nav)), "a page is in the nav twice"


BACKEND_CLASSES = sorted({getattr(backends_module, n) for n in backends_module.__all__ if n != "Backend"},
                         key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", BACKEND_CLASSES, ids=lambda c: c.__name__)
def test_every_backend_field_is_on_its_family_page(cls: type) -> None:
    page = DOCS / "backends" / FAMILY_PAGES[cls.namespace]
    text = page.read_text()
    assert f"`{cls.__name__}`" in text, f"{page.name} does not mention `{cls.__name__}`"
    missing = [f.name for f in dataclasses.fields(cls) if f.init and f"`{f.name}`" not in text]
    assert not missing, f"{page.relative_to(ROOT)} does not document these fields of {cls.__name__}: {missing}"


def test_every_family_page_is_linked_from_the_overview() -> None:
    overview = (DOCS / "backends.md").read_text()
    for page in sorted(set(FAMILY_PAGES.values())):
        assert f"(backends/{page})" in overview, f"docs/backends.md does not link backends/{page}"


def reference_directives() -> dict[str, str]:
    """``::: module`` directives of docs/reference, module -> page."""
    found: dict[str, str] = {}
    for page in (DOCS / "reference").glob("*.md"):
        for m in re.finditer(r"^:::\s+([\w.]+)\s*$", page.read_text(), re.M):
            found[m.group(1)] = page.name
    return found


def test_reference_directives_name_real_modules() -> None:
    directives = reference_directives()
    assert directives, "docs/reference has no ::: directives"
    unknown = [m for m in directives if importlib.util.find_spec(m) is None]
    assert not unknown, f"docs/reference renders modules that do not exist: {unknown}"


def test_every_public_module_has_a_reference_page() -> None:
    directives = reference_directives()
    present = [m for m in REFERENCE_MODULES if importlib.util.find_spec(m) is not None]
    missing = [m for m in present if m not in directives]
    assert not missing, f"no API reference (::: module) for {missing} in docs/reference"


def test_readme_links_into_docs_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#\s]+)", readme)
    broken = [link for link in links if not (ROOT / link).exists()]
    assert not broken, f"README.md links to files that do not exist: {broken}"


def prose_pages() -> list[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


TRACKER_WORDS = re.compile(r"\bissues? \d+(?:/\d+)*\b|\bthis issue\b|\bthe [\d.]+x target\b", re.I)
"""Words that only mean something to someone reading the project's tracker: a page says what is, not which ticket.
(Another project's issue is cited with its name and ``#``, "vs-mlrt issues #91", and is not one of them.)"""

@pytest.mark.parametrize("page", prose_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_tracker_words(page: Path) -> None:
    found = [m.group(0) for m in TRACKER_WORDS.finditer(page.read_text())]
    assert not found, (f"{page.relative_to(ROOT)} speaks of the tracker ({found}): say what is true now, "
                       "without ticket numbers or targets")


REPO_PATH = re.compile(r"(?<![\w./~$-])((?:src|tests|tools|benchmarks|scripts|examples|docs|\.ci|shared)/[\w./-]*\w)")
"""A path into the repository as a page writes it (`tests/test_docs.py`, src/vsinfer/models/demo_2x.onnx)."""


@pytest.mark.parametrize("page", prose_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_files_exist(page: Path) -> None:
    missing = sorted({p for p in REPO_PATH.findall(page.read_text()) if not (ROOT / p).exists()})
    assert not missing, f"{page.relative_to(ROOT)} names files the repository does not have: {missing}"


def test_the_docs_checks_can_fail() -> None:
    assert TRACKER_WORDS.search("as planned in issue 9/17") and TRACKER_WORDS.search("the 1.05x target")
    assert TRACKER_WORDS.search("earlier in this issue") and not TRACKER_WORDS.search("an issue of taste")
    assert not TRACKER_WORDS.search("reported upstream (vs-mlrt issues #91, #148)")
    assert REPO_PATH.findall("see `tests/test_nothing.py` and shared/DESIGN.md.") == ["tests/test_nothing.py",
                                                                                    "shared/DESIGN.md"]
