"""``vsinfer cache list | verify | clear | prune``: what the cache holds, and keeping it healthy."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

from .common import Json, ago, emit_json, out, split

if TYPE_CHECKING:
    from ..store.inventory import Entry
    from ..store.maintenance import Removal

__all__ = ["cache_clear", "cache_list", "cache_prune", "cache_verify"]


def _kinds(kind: Sequence[str] | None) -> tuple[str, ...] | None:
    from ..store.inventory import check_kinds

    if not kind:
        return None
    return check_kinds([k for item in kind for k in split(item)])


def _entry_row(entry: Entry, now: float) -> list[str]:
    from ..store.maintenance import human_size

    name = entry.name + (f"  [{entry.problem}]" if entry.problem else "")
    return [entry.kind, name, entry.model, entry.precision, entry.shapes, entry.runtime, entry.device,
            human_size(entry.size), ago(entry.last_use, now)]


def cache_list(*, kind: list[str] | None = None, json: Json = False) -> int:
    """List what the cache holds: model, precision, shapes, runtime, device, size and last use of each entry.

    Args:
        kind: Only these kinds (trt, onnx, migx, ov, models, tune, fp16); repeat or comma-separate.
        json: Machine-readable output.

    """
    from rich.table import Table

    from ..store import Store
    from ..store.inventory import scan
    from ..store.maintenance import human_size, totals

    store = Store()
    entries = scan(store, _kinds(kind))
    entries.sort(key=lambda e: e.last_use, reverse=True)
    if json:
        emit_json({"root": str(store.requested), "entries": [e.to_json() for e in entries],
                    "total": sum(e.size for e in entries), "by_kind": totals(entries)})
        return 0
    console = out()
    if not entries:
        console.print(f"the cache at {store.requested} is empty")
        return 0
    now = time.time()
    table = Table("kind", "file", "model", "precision", "shapes", "runtime", "device", "size", "last use",
                  title=f"vsinfer cache: {store.requested}", title_justify="left", box=None)
    for entry in entries:
        table.add_row(*_entry_row(entry, now))
    console.print(table)
    by_kind = ", ".join(f"{k} {human_size(v)}" for k, v in sorted(totals(entries).items()))
    console.print(f"{len(entries)} entries, {human_size(sum(e.size for e in entries))} ({by_kind})")
    return 0


def cache_verify(*, fix: Annotated[bool, Parameter(negative="")] = False, kind: list[str] | None = None,
                 json: Json = False) -> int:
    """Check every entry against its sidecar (size, CRC32) and find leftovers; exit status 1 while problems remain.

    Broken: artifacts without sidecar, orphan sidecars, size or checksum mismatches, unreadable records,
    temp files of interrupted writes. Entries being built (lock held) are skipped.

    Args:
        fix: Remove what is broken.
        kind: Only these kinds; repeat or comma-separate.
        json: Machine-readable output.

    """
    from ..store import Store
    from ..store.maintenance import verify

    store = Store()
    findings = verify(store, fix=fix, kinds=_kinds(kind))
    remaining = [f for f in findings if f.action != "removed"]
    if json:
        emit_json({"root": str(store.requested), "findings": [f.to_json() for f in findings],
                    "ok": not remaining})
    else:
        console = out()
        for f in findings:
            console.print(f"{f.kind:6s} {f.path.name}: {f.problem} -> {f.action}")
        if not findings:
            console.print(f"the cache at {store.requested} is healthy")
        elif remaining and not fix:
            console.print(f"{len(remaining)} problem(s); vsinfer cache verify --fix removes them")
    return 1 if remaining else 0


def _report_removal(removal: Removal, json: bool, what: str) -> int:
    from ..store.maintenance import human_size

    if json:
        emit_json(removal.to_json())
        return 0
    console = out()
    for entry in removal.removed:
        console.print(f"removed {entry.kind}/{entry.name} ({human_size(entry.size)})")
    for entry, reason in removal.skipped:
        console.print(f"kept    {entry.kind}/{entry.name}: {reason}")
    console.print(f"{what}: {len(removal.removed)} removed, {human_size(removal.freed)} freed"
              + (f", {len(removal.skipped)} kept" if removal.skipped else ""))
    return 0


def cache_clear(*, kind: list[str] | None = None, older_than: float | None = None, json: Json = False) -> int:
    """Remove cache entries: all of them, or those of some kinds, or those unused for some days.

    Args:
        kind: Only these kinds (trt, onnx, migx, ov, models, tune, fp16); repeat or comma-separate.
        older_than: Only entries last used more than this many days ago.
        json: Machine-readable output.

    """
    from ..store import Store
    from ..store.maintenance import clear

    return _report_removal(clear(Store(), kinds=_kinds(kind), older_than_days=older_than), json, "clear")


def cache_prune(*, max_size: str, json: Json = False) -> int:
    """Evict the least recently used entries until the cache holds at most --max-size (e.g. 5G, 500M).

    Args:
        max_size: The size to shrink to: a number of bytes or with a unit (K, M, G, T; binary).
        json: Machine-readable output.

    """
    from ..store import Store
    from ..store.maintenance import parse_size, prune

    return _report_removal(prune(Store(), max_size=parse_size(max_size)), json, "prune")
