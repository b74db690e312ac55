"""Checking what the store holds against its records: a committed artifact, and an entry of a read-only shared layer.

O(1) on a hit (one small JSON read and a ``stat``); the checksum only when the size or times differ; a shared
layer's entry verified (size and checksum) once per process before it is served.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any, NamedTuple

from .files import crc32_of, folder_problem, log_once
from .locks import reap_stale_lock
from .records import CommitRecord, Miss, read

__all__ = ["sidecar_of"]


def sidecar_of(path: Path) -> Path:
    """The commit record of the artifact ``path``: ``<stem>.json`` beside it."""
    return path.with_suffix(".json")


# -- checking an artifact against its record -----------------------------------------------------------
class _Verdict(NamedTuple):
    state: str
    """"hit", "unsure" (times or size differ: verify the checksum), "miss" (nothing there), "bad"."""
    reason: str
    """Why it is not a hit, for the log."""
    record: CommitRecord | None
    """The sidecar's contents."""


def _same_file(record: CommitRecord, st: os.stat_result) -> bool:
    return (record.size == st.st_size and record.mtime_ns == st.st_mtime_ns
            and record.ctime_ns in (None, st.st_ctime_ns))


_SIDECAR_MISS = {
    "unreadable": "has an unreadable sidecar",
    "corrupt": "has a corrupt sidecar",
    "shape": "has a commit record from an older vsinfer or of another shape",
}
"""How ``_examine`` words a sidecar that cannot be used, by ``Miss.code``."""


def _examine(path: Path, identity: Any) -> _Verdict:
    """Compare ``path`` with its sidecar without reading the artifact (O(1) in its size).

    On the hit path, plain ``os`` calls on strings: pathlib's objects cost more than the syscalls here.
    """
    artifact = os.fspath(path)
    sidecar = os.path.splitext(artifact)[0] + ".json"  # sidecar_of(path), without building Paths
    record = read(sidecar, CommitRecord)
    if isinstance(record, Miss):
        if record.code != "absent":
            return _Verdict("bad", f"{_SIDECAR_MISS[record.code]}: it {record.reason}", None)
        if os.path.exists(artifact):
            return _Verdict("bad", "has no commit record (sidecar): an interrupted build", None)
        return _Verdict("miss", "not built yet", None)
    if record.identity != identity:
        return _Verdict("bad", "has a sidecar that belongs to another build (CRC32 collision or copied sidecar)",
                        record)
    try:
        st = os.lstat(artifact)  # a link is never followed: whatever it points at is not what was committed
    except FileNotFoundError:
        return _Verdict("bad", "is missing although its sidecar is there", record)
    except OSError as exc:
        return _Verdict("bad", f"cannot be read ({exc})", record)
    if not stat.S_ISREG(st.st_mode):
        return _Verdict("bad", "is not a regular file (a link or another kind of file: never followed)", record)
    if _same_file(record, st):
        return _Verdict("hit", "", record)
    return _Verdict("unsure", f"changed on disk (size {st.st_size}, recorded {record.size})", record)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_ONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
"""Errors that say a folder can be read but not written."""


def _used(path: Path) -> None:
    """After a hit: the sidecar's mtime records the use; a lock file a dead builder left is removed."""
    artifact = os.fspath(path)
    with contextlib.suppress(OSError):  # a read-only cache simply keeps the old time
        os.utime(os.path.splitext(artifact)[0] + ".json")
    reap_stale_lock(Path(artifact + ".lock"))


def _verify(path: Path, verdict: _Verdict) -> tuple[_Verdict, os.stat_result | None]:
    """Settle an "unsure" verdict by the checksum: the same bytes are a hit."""
    record = verdict.record
    assert record is not None
    try:
        with os.fdopen(os.open(path, os.O_RDONLY | _NOFOLLOW), "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return _Verdict("bad", "is not a regular file", record), None
            crc = crc32_of(f) if st.st_size == record.size else None
    except OSError as exc:
        return _Verdict("bad", f"cannot be read ({exc})", record), None
    if crc is None:
        return _Verdict("bad", f"is {st.st_size} bytes, its record says {record.size}", record), st
    if crc != record.crc32:
        return _Verdict("bad", f"has other content than it was committed with (crc32 {crc:08x}, recorded "
                               f"{record.crc32:08x})", record), st
    return _Verdict("hit", "", record), st


# -- read-only shared layers (a render farm's share) -------------------------------------------------------
_shared_checked: dict[tuple[Any, ...], bool] = {}
"""Shared files verified in this process, by (path, size, mtime_ns, ctime_ns, inode, device, recorded crc32)."""
_layer_problems: dict[str, str | None] = {}
_shared_lock = threading.Lock()


def _layer_problem(folder: Path, *, kind: bool = False) -> str | None:
    """Why a shared layer (or, ``kind``, one of its kind folders) is not used, checked once per process; None if usable.

    The layer itself may be a symbolic link (to a mount); a kind folder inside it may not.
    """
    key = os.fspath(folder)
    with _shared_lock:
        if key in _layer_problems:
            return _layer_problems[key]
    try:
        st = os.lstat(folder)
        if stat.S_ISLNK(st.st_mode) and kind:
            problem: str | None = "is a symbolic link (never followed inside a cache)"
        else:
            problem = folder_problem(folder, os.stat(folder), shared=True)
    except FileNotFoundError:
        problem = "is not there"
    except OSError as exc:
        problem = exc.strerror or str(exc)
    if problem is not None and problem != "is not there":
        log_once(logging.WARNING, ("layer", key, problem), "shared cache %s %s; not used", folder, problem)
    if problem != "is not there":  # a layer that appears later (mounted, published to) is used then
        with _shared_lock:
            _layer_problems[key] = problem
    return problem


def _shared_entry(path: Path, identity: Any) -> bool:
    """True when the shared artifact ``path`` is committed for ``identity`` and its bytes match the record.

    The size and CRC32 are verified on first use in this process (and again whenever the file changes); a damaged
    or foreign entry is logged once and skipped, never served.
    """
    verdict = _examine(path, identity)
    if verdict.state == "miss":
        return False
    if verdict.state != "bad":
        record = verdict.record
        assert record is not None
        try:
            st = os.lstat(path)
        except OSError:
            return False
        key = (os.fspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, record.crc32)
        with _shared_lock:
            known = _shared_checked.get(key)
        if known is None:
            verdict, _ = _verify(path, verdict)
            known = verdict.state == "hit"
            with _shared_lock:
                _shared_checked[key] = known
        if known:
            return True
    log_once(logging.WARNING, ("shared", os.fspath(path), verdict.reason), "shared cache entry %s %s; skipped "
             "(it is never served)", path, verdict.reason or "does not match its record")
    return False
