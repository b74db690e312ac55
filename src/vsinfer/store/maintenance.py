"""Keeping the store healthy: verify, clear and prune (``vsinfer cache verify | clear | prune``).

Whatever deletes first checks the root (``inventory.root_problem``: a vsinfer cache, marked, the user's own) and
then only touches the regular files ``inventory.scan`` lists as vsinfer's; a symbolic link is never followed.

Nothing being written at that moment is touched: an artifact whose lock (``<artifact>.lock``) is held by a builder
is skipped, and temp files younger than ``TEMP_GRACE_S`` are left alone.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .artifacts import Store
from .files import crc32_of
from .inventory import (
    _TEMP,
    TEMP_GRACE_S,
    Entry,
    Kind,
    _folders,
    _is_temp,
    _kinds,
    _mtime,
    _regular_files,
    _size,
    check_kinds,
    root_problem,
    scan,
)
from .records import read_object

__all__ = ["MAX_DAYS", "Finding", "Removal", "check_days", "clear", "file_crc32", "human_size", "parse_size", "prune",
           "totals", "verify"]

MAX_DAYS = 36500.0
"""The largest ``older_than_days`` accepted (a century): beyond it a number is a typo."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem ``verify`` found, and what was done about it."""

    path: Path
    """The file concerned."""
    kind: str
    """Store kind."""
    problem: str
    """What is wrong."""
    action: str
    """"reported", "removed", or "skipped: ..." (in use)."""

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"path": str(self.path), "kind": self.kind, "problem": self.problem, "action": self.action}


@dataclass
class Removal:
    """What ``clear`` / ``prune`` removed and what they had to leave."""

    removed: list[Entry] = field(default_factory=list)
    """Entries deleted."""
    skipped: list[tuple[Entry, str]] = field(default_factory=list)
    """Entries left, with the reason (in use, could not delete)."""

    @property
    def freed(self) -> int:
        """Bytes freed."""
        return sum(e.size for e in self.removed)

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"removed": [e.to_json() for e in self.removed], "freed": self.freed,
                "skipped": [{**e.to_json(), "reason": why} for e, why in self.skipped]}


# -- locks -----------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _hold(path: Path, *, create: bool = False) -> Iterator[bool]:
    """Try to take ``<path>.lock`` (the store's lock of ``path``) at once; yields False when a builder holds it.

    Without ``create``, a missing lock file means nobody builds ``path`` and the body runs unlocked. The store's
    protocol is kept: the holder unlinks the lock file before releasing it, and waiters that locked the unlinked
    file notice and start over on a fresh one.
    """
    from filelock import FileLock, Timeout

    lock_path = path.with_name(path.name + ".lock")
    if not create and not lock_path.exists():
        yield True
        return
    lock = FileLock(str(lock_path), timeout=0, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    except OSError as exc:  # a read-only folder: no builder can be writing there either
        logger.debug("cannot lock %s: %s", lock_path, exc)
        yield True
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        lock.release()


def _in_use(entry: Entry) -> bool:
    """True when a builder holds the entry's lock right now."""
    with _hold(entry.path) as free:
        return not free


def _writable_root(store: Store, where: str) -> None:
    """Refuse to delete under a root that is not a vsinfer cache (no marker) or that others can write."""
    problem = root_problem(store)
    if problem is not None:
        raise ConfigError("cache root", str(store.requested), f"a vsinfer cache: {problem}", where=where)


def check_days(days: float, where: str = "vsinfer cache clear") -> float:
    """``days`` when it is a finite number of days in 0..MAX_DAYS; ConfigError otherwise (nan, negative, absurd)."""
    if not isinstance(days, int | float) or not math.isfinite(days) or not 0 <= days <= MAX_DAYS:
        raise ConfigError("older_than", days, f"a number of days from 0 to {MAX_DAYS:.0f}", where=where)
    return float(days)


def _layout(kind: str) -> str:
    """The layout of a kind's folder ("artifacts", "records", "foreign"); an undeclared kind holds records."""
    return _kinds.get(kind, Kind(kind, "records")).layout


def _delete(entry: Entry, removal: Removal) -> None:
    artifact = _layout(entry.kind) == "artifacts"
    with _hold(entry.path, create=artifact and entry.role != "sidecar") as free:
        if not free:
            removal.skipped.append((entry, "in use: its lock is held (being built)"))
            return
        try:
            for path in (entry.sidecar, entry.path):  # the commit record first: an artifact never looks committed
                if path is not None:
                    path.unlink(missing_ok=True)
        except OSError as exc:
            removal.skipped.append((entry, f"could not delete: {exc}"))
            return
    removal.removed.append(entry)
    logger.info("removed %s", entry.path)


# -- verify / clear / prune -----------------------------------------------------------------------------------
def file_crc32(path: Path) -> int:
    """CRC32 of a file's bytes (``files.crc32_of``), never through a symbolic link."""
    with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as f:
        return crc32_of(f)


def verify(store: Store | None = None, *, fix: bool = False, kinds: Iterable[str] | None = None,
           now: float | None = None) -> list[Finding]:
    """Check every entry against its sidecar (size, CRC32) and look for leftovers; ``fix`` removes what is broken.

    Broken: an artifact without sidecar, an orphan sidecar, an unreadable sidecar or record, a size or CRC32
    that differs from the sidecar, a temp file older than ``TEMP_GRACE_S``. Entries whose lock is held are
    skipped, never removed.
    """
    store = store or Store()
    now = time.time() if now is None else now
    chosen = check_kinds(kinds)
    if fix:
        _writable_root(store, "vsinfer cache verify --fix")
    findings: list[Finding] = []

    def note(entry: Entry, problem: str, action: str) -> None:
        findings.append(Finding(path=entry.path, kind=entry.kind, problem=problem, action=action))

    def act(entry: Entry, problem: str) -> None:
        if not fix:
            note(entry, problem, "reported")
            return
        removal = Removal()
        _delete(entry, removal)
        note(entry, problem, "removed" if removal.removed else f"skipped: {removal.skipped[0][1]}")

    for entry in scan(store, chosen):
        if _layout(entry.kind) == "foreign":
            continue  # another program's own files (OpenVINO's compiled models): it checks them itself
        if entry.problem is not None:
            if entry.role == "unknown":
                note(entry, entry.problem, "reported")  # not ours to delete
            elif _in_use(entry):
                note(entry, entry.problem, "skipped: in use (being built)")
            else:
                act(entry, entry.problem)
            continue
        if entry.sidecar is None:
            continue
        record = read_object(entry.sidecar) or {}
        if _in_use(entry):
            continue  # being rebuilt right now: its bytes are in flux
        expected = record.get("crc32")
        if not isinstance(expected, int):
            continue  # an older sidecar without a checksum: the size was checked by scan
        try:
            actual = file_crc32(entry.path)
        except OSError as exc:
            act(entry, f"unreadable: {exc}")
            continue
        if actual != expected:
            act(entry, f"CRC32 {actual:08x} differs from the sidecar's {expected:08x}")
    for kind, folder in _folders(store, chosen):
        for path in _regular_files(folder)[0]:
            if not _is_temp(path):
                continue
            entry = Entry(kind, path, None, _size(path), _mtime(path), role="temp")
            match = _TEMP.match(path.name)
            target = folder / match.group("target") if match else None
            if target is not None and _in_use(Entry(kind, target, None, 0, 0.0)):
                continue  # a build in progress writes it
            if now - entry.last_use < TEMP_GRACE_S:
                continue  # may be an atomic write in progress
            act(entry, "leftover temp file")
    return findings


def clear(store: Store | None = None, *, kinds: Iterable[str] | None = None, older_than_days: float | None = None,
          now: float | None = None, dry_run: bool = False) -> Removal:
    """Remove the entries of ``kinds`` (default: all) last used more than ``older_than_days`` ago (default: all).

    Entries whose lock is held are skipped and listed in the result. ``dry_run``: nothing is deleted; the result
    lists what would be. Refused (ConfigError) on a root that is not a vsinfer cache.
    """
    if older_than_days is not None:
        older_than_days = check_days(older_than_days)
    store = store or Store()
    _writable_root(store, "vsinfer cache clear")
    now = time.time() if now is None else now
    removal = Removal()
    for entry in scan(store, kinds):
        if older_than_days is not None and now - entry.last_use < older_than_days * 86400:
            continue
        if entry.role == "unknown":
            continue
        if dry_run:
            removal.removed.append(entry)
        else:
            _delete(entry, removal)
    return removal


def prune(store: Store | None = None, *, max_size: int, kinds: Iterable[str] | None = None) -> Removal:
    """Remove the least recently used entries until the store holds at most ``max_size`` bytes."""
    if max_size < 0:
        raise ConfigError("max_size", max_size, "a size >= 0", where="vsinfer cache prune")
    store = store or Store()
    _writable_root(store, "vsinfer cache prune")
    entries = [e for e in scan(store, kinds) if e.role != "unknown"]
    total = sum(e.size for e in entries)
    removal = Removal()
    for entry in entries:  # oldest use first
        if total <= max_size:
            break
        before = len(removal.removed)
        _delete(entry, removal)
        if len(removal.removed) > before:
            total -= entry.size
    return removal


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


def parse_size(text: str) -> int:
    """``"5G"``, ``"500M"``, ``"1.5GiB"``, ``"1024"`` -> bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ConfigError("max_size", text, "a size such as 5G, 500M, 1.5GiB or a number of bytes",
                          where="vsinfer cache prune")
    return int(float(match.group(1)) * _UNITS[unit])


def human_size(size: float) -> str:
    """Bytes as ``1.2 GiB`` (humanize's binary units)."""
    import humanize

    return str(humanize.naturalsize(size, binary=True, format="%.1f"))


def totals(entries: Sequence[Entry]) -> dict[str, int]:
    """Bytes per kind."""
    out: dict[str, int] = {}
    for e in entries:
        out[e.kind] = out.get(e.kind, 0) + e.size
    return out
