"""Locks that serialize writers of one artifact across processes and threads, and leave no file behind."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .files import _disk_error, _unlink, log_once

__all__ = ["lock", "lock_file", "reap_stale_lock"]

logger = logging.getLogger("vsinfer.store")

_NO_FLOCK = frozenset({errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP})
"""``flock`` errors of file systems that do not support it (some network mounts): filelock's fallback is used."""

@contextlib.contextmanager
def _posix_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """``flock`` on ``path``, which is unlinked by its holder before release; yields whether it is held.

    A waiter may hold a descriptor of a lock file that its holder unlinked; after getting the lock it checks
    that ``path`` still names the file it locked, else it starts over. A dead holder's lock is released by the
    kernel, so its leftover file never blocks anyone. Not ``blocking``: yields False at once when it is taken.
    """
    import fcntl

    fd = -1
    busy = False
    while fd < 0:
        try:
            candidate = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _disk_error(path, exc) from exc
        try:
            try:
                fcntl.flock(candidate, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not blocking:
                    os.close(candidate)
                    busy = True
                    break
                log_once(logging.INFO, ("wait", str(path), os.fstat(candidate).st_ino),
                         "waiting for another process or thread building %s", path.with_suffix(""))
                fcntl.flock(candidate, fcntl.LOCK_EX)
            held = os.fstat(candidate)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
        except OSError as exc:
            os.close(candidate)
            if exc.errno not in _NO_FLOCK:
                raise
            break
        except BaseException:
            os.close(candidate)
            raise
        if now is not None and (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
            fd = candidate
        else:  # the holder we waited for removed this file: lock the one that names the path now
            os.close(candidate)
    if busy:
        yield False
        return
    if fd < 0:  # this file system has no flock
        with _portable_lock(path, blocking) as got:
            yield got
        return
    try:
        yield True
    finally:
        try:
            _unlink(path)  # still holding the lock: nobody can have it, and waiters will notice the unlink
        finally:
            os.close(fd)  # releases the lock


@contextlib.contextmanager
def _portable_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """The filelock library's lock: on Windows (it removes its file there) and where ``flock`` is missing."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), thread_local=False)
    try:
        lock.acquire(timeout=-1 if blocking else 0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def lock_file(path: Path) -> Path:
    """``<path>.lock``: the lock file that serializes writers of ``path``."""
    return path.with_name(path.name + ".lock")


def reap_stale_lock(path: Path) -> None:
    """Remove the lock file ``path`` when a dead process left it (nobody holds it); one ``stat`` otherwise."""
    if sys.platform == "win32" or not os.path.exists(os.fspath(path)):
        return
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held, now = os.fstat(fd), os.stat(path)
        if (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
            logger.debug("removing %s, left by a process that died holding it", path)
            os.unlink(path)
    except OSError:
        pass  # held by a live builder, or already gone
    finally:
        os.close(fd)


def lock(path: Path, blocking: bool = True) -> contextlib.AbstractContextManager[bool]:
    """A lock on the lock file ``path`` (flock, or filelock where flock is missing); yields whether it is held."""
    if sys.platform == "win32":
        return _portable_lock(path, blocking)
    return _posix_lock(path, blocking)

