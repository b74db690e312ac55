"""Publishing verified cache entries into a shared layer (``vsinfer cache publish DEST``, ``vsinfer build --publish``).

A render farm keeps one read-only share that every machine names in ``VSINFER_SHARED_CACHE``; a machine that
builds publishes what it built there. Each artifact is verified against its commit record (size and CRC32) while
it is copied, written to a temp file in the destination folder, fsynced and moved into place with ``os.replace``;
its sidecar follows the same way, last, so a reader never sees an artifact without its record, nor a half copy.
Readers verify shared entries again on first use in each process (``store.artifacts``), so a damaged copy is
skipped, never served. Only artifacts are published (engines, programs, converted models), never records or
another program's cache; a symbolic link is never followed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ..errors import CacheWriteError, ConfigError
from .artifacts import Store, mark, sidecar_of
from .files import CHUNK, MARKER, _disk_error, _share, _unlink, expand_path
from .inventory import _kinds, scan
from .locks import lock, lock_file
from .records import CommitRecord, Miss, dump, read

__all__ = ["Published", "publish"]

logger = logging.getLogger("vsinfer.store")


@dataclass(frozen=True)
class Published:
    """What ``publish`` did with one artifact."""

    kind: str
    """Its kind (folder)."""
    source: Path
    """The artifact in the local cache."""
    dest: Path
    """Where it is (or would be) in the shared layer."""
    action: str
    """"published", "already there", or "skipped: <why>"."""

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"kind": self.kind, "source": str(self.source), "dest": str(self.dest), "action": self.action}


def _same(dest: Path, record: CommitRecord) -> bool:
    """True when ``dest`` already holds this artifact, committed (its record agrees and the size matches)."""
    there = read(sidecar_of(dest), CommitRecord)
    if isinstance(there, Miss) or there.identity != record.identity or there.crc32 != record.crc32:
        return False
    try:
        st = os.lstat(dest)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == record.size


def _copy(source: Path, dest: Path, record: CommitRecord) -> str:
    """Copy ``source`` to ``dest`` atomically, verifying it against ``record`` on the way; the action taken."""
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return f"skipped: cannot be read ({exc.strerror or exc})"
    with os.fdopen(fd, "rb") as src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode):
            return "skipped: not a regular file"
        if st.st_size != record.size:
            return f"skipped: damaged ({st.st_size} bytes, its record says {record.size})"
        try:
            tmp_fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        except OSError as exc:
            raise _disk_error(dest.parent, exc) from exc
        try:
            crc = 0
            with os.fdopen(tmp_fd, "wb") as out:
                while chunk := src.read(CHUNK):
                    crc = zlib.crc32(chunk, crc)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if crc != record.crc32:
                return f"skipped: damaged (crc32 {crc:08x}, its record says {record.crc32:08x})"
            _share(tmp)
            _unlink(sidecar_of(dest))  # an old record must not vouch for the new bytes
            os.replace(tmp, dest)
            placed = os.stat(dest)
            dump(sidecar_of(dest), msgspec.structs.replace(
                record, mtime_ns=placed.st_mtime_ns, ctime_ns=placed.st_ctime_ns))
        except OSError as exc:
            raise _disk_error(dest, exc) from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return "published"


def _dest_root(dest: Path) -> None:
    """Create the shared folder (marked as a vsinfer cache); an existing one must be a vsinfer cache or empty."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with os.scandir(dest) as it:
            names = {e.name for e in it}
    except OSError as exc:
        raise _disk_error(dest, exc) from exc
    if names and MARKER not in names:
        raise ConfigError("DEST", str(dest), f"a vsinfer cache folder (one holding {MARKER}) or an empty or new "
                          "folder: this one holds other files", where="vsinfer publish")
    mark(dest)


def publish(store: Store, dest: str | os.PathLike[str], paths: Iterable[Path] | None = None,
            kinds: Iterable[str] | None = None) -> list[Published]:
    """Copy the local cache's verified artifacts (``paths``, else every artifact of ``kinds``) into ``dest``.

    Each is verified against its commit record while copied; a damaged one is skipped and reported. An entry
    already in ``dest`` is left alone. Raises ConfigError when ``dest`` is the local cache itself, and
    CacheWriteError when ``dest`` cannot be written.
    """
    root = expand_path(dest, "DEST")
    if root.resolve() == store.requested.resolve():
        raise ConfigError("DEST", str(dest), "a shared folder other than the local cache", where="vsinfer publish")
    if paths is None:
        chosen = [(e.kind, e.path) for e in scan(store, kinds)
                  if e.role == "artifact" and e.sidecar is not None and _kinds[e.kind].layout == "artifacts"]
    else:
        chosen = [(p.parent.name, p) for p in paths]
    _dest_root(root)
    done: list[Published] = []
    for kind, source in chosen:
        target = root / kind / source.name
        if source.parent.resolve() == target.parent.resolve():
            done.append(Published(kind, source, target, "already there"))
            continue
        record = read(sidecar_of(source), CommitRecord)
        if isinstance(record, Miss):
            done.append(Published(kind, source, target, f"skipped: its commit record {record.reason}"))
            continue
        try:
            target.parent.mkdir(exist_ok=True)
            if os.path.islink(target.parent):
                raise CacheWriteError(str(target.parent), "it is a symbolic link (never followed)")
        except OSError as exc:
            raise _disk_error(target.parent, exc) from exc
        with lock(lock_file(target)):
            action = "already there" if _same(target, record) else _copy(source, target, record)
        if action.startswith("skipped"):
            logger.warning("not publishing %s: %s", source, action.removeprefix("skipped: "))
        else:
            logger.info("%s: %s", target, action)
        done.append(Published(kind, source, target, action))
    return done
