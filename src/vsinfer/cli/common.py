"""What every ``vsinfer`` command shares: usage errors, size pairs, backend names, consoles, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from ..backends import registry
from ..errors import ModelError
from ..export import onnx_model_path

if TYPE_CHECKING:
    from rich.console import Console

    from ..backends.base import Backend

__all__ = ["Json", "UsageError", "backend_class", "emit_json", "err", "model_file", "out", "parse_size_pair", "split"]

Json = Annotated[bool, Parameter(name="--json", negative="")]
"""The ``--json`` flag every command that a program may read has."""


class UsageError(Exception):
    """A command-line value that cannot be used (printed; exit status 2)."""


def parse_size_pair(text: str, option: str) -> tuple[int, int]:
    """``"1280x720"`` (or a single ``"256"``) -> (1280, 720); UsageError naming ``option`` otherwise."""
    parts = text.strip().lower().replace("*", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise UsageError(f"{option}={text!r} is not valid; expected WIDTHxHEIGHT, e.g. 1280x720")
    return values[0], values[-1]


def split(text: str) -> list[str]:
    """The comma-separated items of ``text``, stripped, empty ones dropped."""
    return [p.strip() for p in text.split(",") if p.strip()]


def backend_class(name: str, option: str, *, builds: bool = False) -> type[Backend]:
    """The registered backend class named ``name`` on the command line ("ort-cpu"); UsageError naming ``option``.

    With ``builds``, only classes that build an artifact ahead (an engine, a program) are accepted.
    """
    choices = [c for c in registry.classes() if c.builds or not builds]
    cls = registry.find(name)
    if cls is None or cls not in choices:
        names = ", ".join(registry.cli_name(c) for c in choices)
        raise UsageError(f"{option}={name!r} is not valid; expected one of {names}")
    return cls


def out() -> Console:
    """The console for results (stdout): whole lines when it is not a terminal."""
    from rich.console import Console

    wide = None if sys.stdout.isatty() else 200  # a pipe or file gets whole lines, not 80 columns
    return Console(highlight=False, markup=False, width=wide)  # names like net[v2].onnx print as they are


def err() -> Console:
    """The console for progress and errors (stderr)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, soft_wrap=not sys.stderr.isatty())


def emit_json(data: Any) -> None:
    """``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def ago(timestamp: float, now: float) -> str:
    """"3 hours ago": how long before ``now`` ``timestamp`` was (humanize), "just now" within a minute."""
    import humanize

    seconds = max(0.0, now - timestamp)
    return "just now" if seconds < 60 else f"{humanize.naturaldelta(seconds)} ago"


DEMO = "demo"
"""The name that stands for the bundled demo model (vsinfer's 2x network) wherever a command takes MODEL."""


def model_file(path: Path) -> Path:
    """``path`` when it is an existing file (``demo``: the bundled demo model), else a ModelError naming MODEL."""
    if str(path) == DEMO and not path.exists():
        from importlib.resources import files

        return Path(str(files("vsinfer") / "models" / "demo_2x.onnx"))
    if not path.is_file():
        raise ModelError("MODEL", str(path), f"an existing ONNX file, or {DEMO!r} for the bundled demo model")
    return onnx_model_path(path, "MODEL")  # a .pth / .safetensors: its ONNX export (vsinfer.export)
