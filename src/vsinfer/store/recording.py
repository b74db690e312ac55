"""Recording what a run uses from the store (``vsinfer build --script``): every artifact found or built."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

__all__ = ["Use", "recording"]


# -- recording what a run uses (vsinfer build --script) ---------------------------------------------------------
class Use(NamedTuple):
    """An artifact a lookup or build returned while ``recording()`` was active."""

    kind: str
    """Its kind (folder)."""
    path: Path
    """The artifact."""
    how: str
    """"built", "found" (in the local cache) or "shared" (in a shared layer)."""


_recorders: list[list[Use]] = []
_recorders_lock = threading.Lock()


@contextlib.contextmanager
def recording() -> Iterator[list[Use]]:
    """Collect every artifact the store returns inside the block (in order, each path once)."""
    uses: list[Use] = []
    with _recorders_lock:
        _recorders.append(uses)
    try:
        yield uses
    finally:
        with _recorders_lock:
            _recorders.remove(uses)


def _note(kind: str, path: Path, how: str) -> None:
    with _recorders_lock:
        for uses in _recorders:
            if all(u.path != path for u in uses):
                uses.append(Use(kind, path, how))
