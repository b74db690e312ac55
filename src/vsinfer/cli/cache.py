"""``vsinfer cache list | verify | clear | prune | publish``: what the cache holds, keeping it healthy, sharing it.

File names come from the disk: they print as they are (no rich markup), with control characters shown escaped.
"""

from __future__ import annotations

import math
import re
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

from .common import Json, UsageError, ago, emit_json, err, out, split

if TYPE_CHECKING:
    from ..store.inventory import Entry
    from ..store.maintenance import Removal

__all__ = ["cache_clear", "cache_list", "cache_prune", "cache_publish", "cache_verify", "shown", "unreadable_folders"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(text: object) -> str:
    """``text`` safe for a terminal: control characters (escape sequences, newlines) shown as a hex escape."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _kinds(kind: Sequence[str] | None) -> tuple[str, ...] | None:
    from ..store.inventory import check_kinds

    if not kind:
        return None
    return check_kinds([k for item in kind for k in split(item)])


def _entry_row(entry: Entry, now: float) -> list[str]:
    from ..store.maintenance import human_size

    name = entry.name + (f"  [{entry.problem}]" if entry.problem else "")
    return [shown(v) for v in (entry.kind, name, entry.model, entry.precision, entry.shapes, entry.runtime,
                               entry.device, human_size(entry.size), ago(entry.last_use, now))]


def cache_list(*, kind: list[str] | None = None, all: Annotated[bool, Parameter(negative="")] = False,
               wide: Annotated[bool, Parameter(negative="")] = False, json: Json = False) -> int:
    """List what the cache holds: each engine, program, converted model and decision with its model, size and age.

    The facts vsinfer keeps for itself (model memos, fp16 analyses) are counted on the last line; ``--all`` lists
    them too. ``--wide`` adds the shapes, runtime and device columns (they need about 150 columns).

    Args:
        kind: Only these kinds (trt, onnx, migx, ov, models, tune, fp16); repeat or comma-separate.
        all: Also list the model memos and fp16 analyses.
        wide: Also show shapes, runtime and device.
        json: Machine-readable output (every entry, every field).

    """
    from rich.table import Table

    from ..store import Store
    from ..store.inventory import is_facts, scan
    from ..store.maintenance import human_size, totals

    store = Store()
    chosen = _kinds(kind)
    entries = scan(store, chosen)
    entries.sort(key=lambda e: e.last_use, reverse=True)
    if json:
        emit_json({"root": str(store.requested), "entries": [e.to_json() for e in entries],
                    "total": sum(e.size for e in entries), "by_kind": totals(entries)})
        return 0
    console = out()
    if not entries:
        console.print(f"the cache at {shown(store.requested)} is empty")
        return 0
    listed = entries if all or kind else [e for e in entries if not is_facts(e.kind)]
    hidden = len(entries) - len(listed)
    by_kind = ", ".join(f"{k} {human_size(v)}" for k, v in sorted(totals(entries).items()))
    if not listed:  # only the facts vsinfer keeps for itself: no empty table
        console.print(f"the cache at {shown(store.requested)} holds no engine, program, converted model or decision")
        console.print(f"{hidden} records vsinfer keeps for itself, {human_size(sum(e.size for e in entries))}; "
                      "--all lists them")
        return 0
    now = time.time()
    columns = ["kind", "file", "model", "precision", *(["shapes", "runtime", "device"] if wide else []), "size",
               "last use"]
    table = Table(*columns, title=f"vsinfer cache: {shown(store.requested)}", title_justify="left", box=None)
    table.columns[1].overflow = "ellipsis"
    table.columns[1].max_width = None if wide else 24
    table.columns[2].max_width = None if wide else 18
    for entry in listed:
        row = _entry_row(entry, now)
        table.add_row(*(row if wide else [*row[:4], *row[7:]]))
    console.print(table)
    summary = f"{len(entries)} entries, {human_size(sum(e.size for e in entries))}: {by_kind}"
    console.print(textwrap.fill(summary, 80, subsequent_indent="  ", break_on_hyphens=False))  # an 80-column terminal
    if hidden:  # a line of its own: the summary stays within 80 columns
        console.print(f"{hidden} records vsinfer keeps for itself not shown (--all lists them)")
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
    kinds = _kinds(kind)
    unreadable = unreadable_folders(store.requested)
    if not store.requested.exists() and not unreadable:
        if json:
            emit_json({"root": str(store.requested), "findings": [], "ok": True, "exists": False})
        else:
            out().print(f"there is no cache at {shown(store.requested)}: nothing to verify")
        return 0
    findings = verify(store, fix=fix, kinds=kinds)
    remaining = [f for f in findings if f.action != "removed"]
    if json:
        emit_json({"root": str(store.requested), "findings": [f.to_json() for f in findings],
                    "unreadable": unreadable, "ok": not remaining and not unreadable})
    else:
        console = out()
        for f in findings:
            console.print(shown(f"{f.kind:6s} {f.path.name}: {f.problem} -> {f.action}"))
        for problem in unreadable:
            console.print(shown(f"cannot read {problem}: nothing in it was checked"))
        if not findings and not unreadable:
            console.print(f"the cache at {shown(store.requested)} is healthy")
        elif remaining and not fix:
            console.print(f"{len(remaining)} problem(s); vsinfer cache verify --fix removes them")
        elif unreadable:
            console.print(f"the cache at {shown(store.requested)} could not be read (run as the user who owns it, or "
                          "fix its permissions)")
    return 1 if remaining or unreadable else 0


def unreadable_folders(root: Path) -> list[str]:
    """The cache root and its folders that cannot be listed, each with the reason ("<path> (Permission denied)").

    A missing root is not unreadable (there is no cache); a root that is a file is.
    """
    import os

    problems: list[str] = []
    try:
        with os.scandir(root) as it:
            folders = [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"{root} ({exc.strerror or exc})"]
    for folder in sorted(folders):
        try:
            with os.scandir(folder) as it:
                for _ in it:
                    break
        except OSError as exc:
            problems.append(f"{folder} ({exc.strerror or exc})")
    return problems


def _report_removal(removal: Removal, json: bool, what: str, dry_run: bool = False) -> int:
    from ..store.maintenance import human_size

    if json:
        emit_json({**removal.to_json(), "dry_run": dry_run})
        return 0
    console = out()
    verb = "would remove" if dry_run else "removed"
    for entry in removal.removed:
        console.print(shown(f"{verb} {entry.kind}/{entry.name} ({human_size(entry.size)})"))
    for entry, reason in removal.skipped:
        console.print(shown(f"kept    {entry.kind}/{entry.name}: {reason}"))
    console.print(f"{what}{' (dry run)' if dry_run else ''}: {len(removal.removed)} {verb}, "
                  f"{human_size(removal.freed)} {'to free' if dry_run else 'freed'}"
                  + (f", {len(removal.skipped)} kept" if removal.skipped else ""))
    return 0


def _older_than(days: float | None) -> float | None:
    from ..store.maintenance import MAX_DAYS

    if days is not None and not (math.isfinite(days) and 0 <= days <= MAX_DAYS):
        hint = " (to remove every entry, leave --older-than out)" if days is not None and days > MAX_DAYS else ""
        raise UsageError(f"--older-than={days!r} is not valid; expected a number of days from 0 to {MAX_DAYS:.0f}"
                         f"{hint}")
    return days


def _confirm(count: int, size: str, root: object) -> bool:
    """Ask on the terminal before removing everything; False when the answer is not yes."""
    if not sys.stdin.isatty():
        raise UsageError("cache clear without --kind or --older-than removes every entry; add --yes to confirm "
                         "(stdin is not a terminal), or --dry-run to see what it would remove")
    err().print(shown(f"remove all {count} entries ({size}) from {root}? [y/N] "), end="")
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def cache_clear(*, kind: list[str] | None = None, older_than: float | None = None,
                yes: Annotated[bool, Parameter(negative="")] = False,
                dry_run: Annotated[bool, Parameter(negative="")] = False, json: Json = False) -> int:
    """Remove cache entries: all of them, or those of some kinds, or those unused for some days.

    Only a vsinfer cache is cleared (a folder vsinfer created: it holds a .vsinfer-cache marker), and only the
    files vsinfer writes there; symbolic links are never followed.

    Args:
        kind: Only these kinds (trt, onnx, migx, ov, models, tune, fp16); repeat or comma-separate.
        older_than: Only entries last used more than this many days ago (0 to 36500).
        yes: Remove everything without asking (needed without --kind / --older-than when stdin is not a terminal).
        dry_run: Only show what would be removed.
        json: Machine-readable output.

    """
    from ..store import Store
    from ..store.maintenance import clear, human_size

    days = _older_than(older_than)
    store = Store()
    kinds = _kinds(kind)
    if kinds is None and days is None and not yes and not dry_run:
        preview = clear(store, dry_run=True)
        if preview.removed and not _confirm(len(preview.removed), human_size(preview.freed), store.requested):
            err().print("nothing removed")
            return 1
    removal = clear(store, kinds=kinds, older_than_days=days, dry_run=dry_run)
    return _report_removal(removal, json, "clear", dry_run)


def cache_prune(*, max_size: str, json: Json = False) -> int:
    """Evict the least recently used entries until the cache holds at most --max-size (e.g. 5G, 500M).

    Args:
        max_size: The size to shrink to: a number of bytes or with a unit (K, M, G, T; binary).
        json: Machine-readable output.

    """
    from ..store import Store
    from ..store.maintenance import parse_size, prune

    return _report_removal(prune(Store(), max_size=parse_size(max_size)), json, "prune")


def cache_publish(dest: Path, *, kind: list[str] | None = None, json: Json = False) -> int:
    """Copy the local cache's verified artifacts into a shared, read-only layer (a render farm's share).

    Machines that name DEST in VSINFER_SHARED_CACHE find them there without building. Each artifact is verified
    against its record while copied and moved into place atomically, its record last; a damaged one is skipped
    (exit status 1).

    Args:
        dest: The shared folder (created if missing).
        kind: Only these kinds; repeat or comma-separate.
        json: Machine-readable output.

    """
    from ..store import Store
    from ..store.publish import publish

    done = publish(Store(), dest, kinds=_kinds(kind))
    return report_published(done, json)


def report_published(done: Sequence[object], json: bool) -> int:
    """Print what ``publish`` did; exit status 1 when an entry was skipped (damaged or unreadable)."""
    from ..store.publish import Published

    items = [d for d in done if isinstance(d, Published)]
    failed = [d for d in items if d.action.startswith("skipped")]
    if json:
        emit_json({"published": [d.to_json() for d in items], "ok": not failed})
    else:
        console = out()
        for d in items:
            console.print(shown(f"{d.action:13s} {d.kind}/{d.source.name} -> {d.dest}"))
        console.print(f"publish: {sum(d.action == 'published' for d in items)} published, "
                      f"{sum(d.action == 'already there' for d in items)} already there, {len(failed)} skipped")
    return 1 if failed else 0
