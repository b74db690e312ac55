"""Writing the store's files: atomic writes, checksums while writing, disk errors named, problems logged once.

Every byte the store writes goes through ``_write`` (tests patch it to simulate a full disk).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
import threading
import zlib
from collections.abc import Buffer
from pathlib import Path
from typing import IO, Any

from ..errors import CacheWriteError

__all__ = ["CHUNK", "ENV_VAR", "atomic_write", "crc32_of"]

logger = logging.getLogger("vsinfer.store")

ENV_VAR = "VSINFER_CACHE_DIR"
"""Environment variable that overrides the default cache root."""

CHUNK = 1 << 20
"""Bytes per read / write when streaming an artifact through its checksum."""

_DISK_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if e is not None)

# -- logging each problem once --------------------------------------------------------------------------
_logged: set[tuple[Any, ...]] = set()
_logged_lock = threading.Lock()


def _log_once(level: int, key: tuple[Any, ...], msg: str, *args: Any) -> None:
    """Log ``msg`` unless the same ``key`` was logged before in this process."""
    with _logged_lock:
        if key in _logged:
            return
        _logged.add(key)
    logger.log(level, msg, *args)


# -- writing -------------------------------------------------------------------------------------------
def _write(f: IO[bytes], data: Buffer) -> None:
    """The one place the store's bytes reach a file (tests patch it to simulate a full disk)."""
    f.write(data)


def _write_stream(f: IO[bytes], data: Buffer) -> int:
    """Write ``data`` in chunks, fsync, and return its CRC32 computed on the way."""
    view = memoryview(data).cast("B")
    crc = 0
    for start in range(0, len(view), CHUNK):
        chunk = view[start:start + CHUNK]
        crc = zlib.crc32(chunk, crc)
        _write(f, chunk)
    f.flush()
    os.fsync(f.fileno())
    return crc


def crc32_of(f: IO[bytes]) -> int:
    """CRC32 of an open binary file's remaining bytes, read in chunks."""
    crc = 0
    while chunk := f.read(CHUNK):
        crc = zlib.crc32(chunk, crc)
    return crc


def _disk_error(path: Path, exc: OSError) -> CacheWriteError:
    if exc.errno in _DISK_ERRNOS:
        detail = (f"{exc.strerror or exc} (the disk is full: free space there, or point {ENV_VAR} at a folder "
                  "on another disk)")
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        detail = f"{exc.strerror or exc} (point {ENV_VAR} at a writable folder)"
    else:
        detail = str(exc)
    return CacheWriteError(str(path), detail)


def atomic_write(path: Path, data: Buffer) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, then ``os.replace``.

    An OSError leaves no temp file and becomes a CacheWriteError naming the path.
    """
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            _write_stream(f, data)
        _share(tmp)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise _disk_error(path, exc) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _share(path: str | Path) -> None:
    """Give a finished artifact a shareable mode (mkstemp makes it private to its writer)."""
    os.chmod(path, 0o644)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _touch(path: Path) -> None:
    """Mark ``path`` used now (its mtime); a read-only cache simply keeps the old time."""
    with contextlib.suppress(OSError):
        os.utime(path)

