"""Writing the store's files: atomic writes, checksums while writing, disk errors named, problems logged once.

Every byte the store writes goes through ``_write`` (tests patch it to simulate a full disk).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
import threading
import zlib
from collections.abc import Buffer
from pathlib import Path
from typing import IO, Any

from .. import config
from ..errors import CacheWriteError, ConfigError

__all__ = ["CHUNK", "ENV_VAR", "MARKER", "SHARED_ENV_VAR", "atomic_write", "crc32_of", "expand_path", "folder_problem",
           "log_once", "shared_roots"]

logger = logging.getLogger("vsinfer.store")

ENV_VAR = "VSINFER_CACHE_DIR"
"""Environment variable that overrides the default cache root."""

SHARED_ENV_VAR = "VSINFER_SHARED_CACHE"
"""Environment variable naming read-only shared cache layers (a farm's share), ``os.pathsep``-separated."""

MARKER = ".vsinfer-cache"
"""The file vsinfer writes in a cache root it creates: maintenance refuses a root without it."""

CHUNK = 1 << 20
"""Bytes per read / write when streaming an artifact through its checksum."""

_DISK_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if e is not None)

# -- logging each problem once --------------------------------------------------------------------------
_logged: set[tuple[Any, ...]] = set()
_logged_lock = threading.Lock()


def log_once(level: int, key: tuple[Any, ...], msg: str, *args: Any, to: logging.Logger | None = None) -> None:
    """Log ``msg`` (to the store's logger, or ``to``) unless the same ``key`` was logged before in this process."""
    with _logged_lock:
        if key in _logged:
            return
        _logged.add(key)
    (to or logger).log(level, msg, *args)


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




def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _touch(path: Path) -> None:
    """Mark ``path`` used now (its mtime); a read-only cache simply keeps the old time."""
    with contextlib.suppress(OSError):
        os.utime(path)



# -- paths and trust ----------------------------------------------------------------------------------------
def expand_path(value: str | os.PathLike[str], parameter: str) -> Path:
    """``value`` as a cache path, ``~`` expanded; an empty string is refused (it would mean the current folder)."""
    text = os.fspath(value)
    if not str(text).strip():
        raise ConfigError(parameter, text, "a folder path (an empty one would put the cache in the current folder; "
                          "leave the option out for the default)", where="vsinfer cache")
    return Path(os.path.expanduser(text))


def shared_roots() -> tuple[Path, ...]:
    """The read-only shared layers: ``$VSINFER_SHARED_CACHE``, else the settings file's ``shared_cache``.

    Folders are ``os.pathsep``-separated, ``~`` expanded.
    """
    value = os.environ.get(SHARED_ENV_VAR) or config.setting("shared_cache") or ""
    return tuple(dict.fromkeys(Path(os.path.expanduser(part)) for part in value.split(os.pathsep) if part.strip()))


def _private_group(gid: int) -> bool:
    """True when ``gid`` is the user's own primary group with no other member (a "user private group")."""
    if not hasattr(os, "getgid") or gid != os.getgid():
        return False
    try:
        import grp
        import pwd

        group = grp.getgrgid(gid)
        user = pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return False
    return group.gr_name == user and set(group.gr_mem) <= {user}


def folder_problem(path: Path, st: os.stat_result, *, shared: bool = False) -> str | None:
    """Why the folder ``path`` (stat ``st``) cannot be trusted as a cache folder, with the fix; None when it can.

    Writable (local) cache: a folder owned by the user (or root) that neither group nor others can write (a group
    that is the user's private group is fine), as OpenSSH's StrictModes asks of ``~/.ssh``. A shared layer is only
    read: it must not be writable by everyone (a sticky-less world-writable folder); its entries are verified.
    Not checked where there are no uids (Windows).
    """
    import stat

    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    if not hasattr(os, "geteuid"):
        return None
    if shared:
        if st.st_mode & 0o002:
            return f"is writable by every user (fix: chmod o-w {path})"
        return None
    uid = os.geteuid()
    if st.st_uid not in (uid, 0):
        return (f"belongs to another user (uid {st.st_uid}, you are {uid}): point {ENV_VAR} at a folder of your own, "
                f"or use it read-only through {SHARED_ENV_VAR}")
    if st.st_mode & 0o002 or (st.st_mode & 0o020 and not _private_group(st.st_gid)):
        return f"is writable by other users (fix: chmod go-w {path})"
    return None
