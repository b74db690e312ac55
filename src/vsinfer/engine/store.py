"""The artifact store: where engines, programs, converted models and memos live, and how they are written.

Rules (DESIGN principle 6): an artifact is written to a temp file in its own folder, fsynced and moved into
place with ``os.replace``; its JSON sidecar is written the same way, last, and is the commit record. An
artifact whose sidecar is missing, disagrees with the requested identity or with the file on disk is a miss,
logged once and rebuilt. One lock file per artifact serializes builders across processes and threads; whoever
waited re-checks and reuses. The lock file is removed by its holder before release (a waiter that then gets
the unlinked file's lock sees that and locks the new one), so nothing is left behind, not even by a failed build.

The sidecar ``<stem>.json`` next to ``<stem><suffix>`` (a stable format; ``vsinfer cache list`` reads it):

``identity``
    The identity record the artifact was built for (plain JSON). A lookup must match it exactly.
``size``
    The artifact's size in bytes.
``mtime_ns``
    The artifact's modification time (ns) when it was committed.
``ctime_ns``
    The artifact's inode change time (ns) when it was committed: ``os.utime`` cannot set it back, so an
    in-place edit whose mtime was restored still shows.
``crc32``
    CRC32 of the artifact's bytes, computed while committing.
``meta``
    What the caller said about the artifact, for people and ``vsinfer cache list`` (a JSON object, possibly
    empty). Conventional keys: ``model`` (the source model's file name), ``precision`` ("fp32", "fp16",
    "bf16"), ``io``, ``shapes`` ({"min", "opt", "max"} as [w, h]), ``runtime`` ("TensorRT-RTX 1.2.0"),
    ``device`` (its name), ``kind`` (e.g. "timing cache").

The sidecar's own mtime is the artifact's last use: a cache hit touches it (and removes a lock file that a
process which died while holding it left behind).

Writes that fail with an OSError (a full disk, a read-only folder) raise ``CacheWriteError`` and leave no
partial file; a build that raises leaves no artifact, temp or lock file. ``try_lock`` lets maintenance
(``vsinfer cache clear``) skip what is being built.

A hit whose size, mtime_ns and ctime_ns match the record costs one small JSON read and two ``stat``-sized
calls, whatever the artifact's size. Any mismatch verifies the checksum under the lock: the same content is
still a hit (logged once, the times re-recorded), other content is rebuilt. Single-blob caches that are read
whole and merged (the TensorRT timing cache) use ``read_checked`` / ``write_checked`` with the same record.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import os
import sys
import tempfile
import threading
import zlib
from collections.abc import Buffer, Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple

from ..errors import CacheWriteError
from ..model import ModelInfo

__all__ = [
    "ENV_VAR",
    "ModelMemo",
    "Store",
    "atomic_write",
    "crc32_of",
    "identity_name",
    "model_memo",
    "read_record",
    "requested_root",
    "sidecar_of",
]

logger = logging.getLogger(__name__)

ENV_VAR = "VSINFER_CACHE_DIR"
"""Environment variable that overrides the default cache root."""

CHUNK = 1 << 20
"""Bytes per read / write when streaming an artifact through its checksum."""

RECORD_KEYS = ("identity", "size", "mtime_ns", "crc32")
"""Keys every commit record has; a record without them (an older vsinfer's) is a miss."""

_NO_FLOCK = frozenset({errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP})
"""``flock`` errors of file systems that do not support it (some network mounts): filelock's fallback is used."""

_DISK_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if e is not None)

Creator = Callable[[Path], object]
"""``create(tmp)``: returns the artifact's bytes (any buffer) for the store to write, or writes ``tmp`` itself
(whatever else it returns, e.g. ``Path.write_bytes``'s count, is ignored)."""


def requested_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The cache root asked for: the argument, else ``$VSINFER_CACHE_DIR``, else the user cache dir."""
    if root is not None:
        return Path(root)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("vsinfer", appauthor=False))


def identity_name(identity: Mapping[str, Any]) -> str:
    """CRC32 (8 hex digits) of the canonical JSON of ``identity``: the artifact's file stem."""
    return f"{zlib.crc32(canonical_json(identity).encode()):08x}"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same bytes for the same value in every process."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def sidecar_of(path: Path) -> Path:
    """The commit record of the artifact ``path``: ``<stem>.json`` beside it."""
    return path.with_suffix(".json")


def read_record(sidecar: Path) -> dict[str, Any] | None:
    """The sidecar's JSON object, or None when it is missing or not a JSON object."""
    return _read_json(sidecar)


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


# -- locks ---------------------------------------------------------------------------------------------
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
                _log_once(logging.INFO, ("wait", str(path), os.fstat(candidate).st_ino),
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


def _lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _reap_stale_lock(path: Path) -> None:
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


def _lock(path: Path, blocking: bool = True) -> contextlib.AbstractContextManager[bool]:
    if sys.platform == "win32":
        return _portable_lock(path, blocking)
    return _posix_lock(path, blocking)


# -- checking an artifact against its record -----------------------------------------------------------
class _Verdict(NamedTuple):
    state: str
    """"hit", "unsure" (times or size differ: verify the checksum), "miss" (nothing there), "bad"."""
    reason: str
    """Why it is not a hit, for the log."""
    record: dict[str, Any] | None
    """The sidecar's contents."""


def _same_file(record: Mapping[str, Any], st: os.stat_result) -> bool:
    return (record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns
            and record.get("ctime_ns", st.st_ctime_ns) == st.st_ctime_ns)


def _examine(path: Path, identity: Any) -> _Verdict:
    """Compare ``path`` with its sidecar without reading the artifact (O(1) in its size).

    On the hit path, plain ``os`` calls on strings: pathlib's objects cost more than the syscalls here.
    """
    artifact = os.fspath(path)
    sidecar = os.path.splitext(artifact)[0] + ".json"  # sidecar_of(path), without building Paths
    try:
        with open(sidecar, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        if os.path.exists(artifact):
            return _Verdict("bad", "has no commit record (sidecar): an interrupted build", None)
        return _Verdict("miss", "not built yet", None)
    except OSError as exc:
        return _Verdict("bad", f"has an unreadable sidecar ({exc})", None)
    try:
        record = json.loads(text)
    except ValueError:
        return _Verdict("bad", "has a corrupt sidecar (not JSON)", None)
    if not isinstance(record, dict) or not all(k in record for k in RECORD_KEYS):
        return _Verdict("bad", "has a commit record from an older vsinfer (no checksum)", None)
    if record["identity"] != identity:
        return _Verdict("bad", "has a sidecar that belongs to another build (CRC32 collision or copied sidecar)",
                        record)
    try:
        st = os.stat(artifact)
    except FileNotFoundError:
        return _Verdict("bad", "is missing although its sidecar is there", record)
    except OSError as exc:
        return _Verdict("bad", f"cannot be read ({exc})", record)
    if _same_file(record, st):
        return _Verdict("hit", "", record)
    return _Verdict("unsure", f"changed on disk (size {st.st_size}, recorded {record['size']})", record)


def _used(path: Path) -> None:
    """After a hit: the sidecar's mtime records the use; a lock file a dead builder left is removed."""
    artifact = os.fspath(path)
    with contextlib.suppress(OSError):  # a read-only cache simply keeps the old time
        os.utime(os.path.splitext(artifact)[0] + ".json")
    _reap_stale_lock(Path(artifact + ".lock"))


def _verify(path: Path, verdict: _Verdict) -> tuple[_Verdict, os.stat_result | None]:
    """Settle an "unsure" verdict by the checksum: the same bytes are a hit."""
    record = verdict.record
    assert record is not None
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            crc = crc32_of(f) if st.st_size == record["size"] else None
    except OSError as exc:
        return _Verdict("bad", f"cannot be read ({exc})", record), None
    if crc is None:
        return _Verdict("bad", f"is {st.st_size} bytes, its record says {record['size']}", record), st
    if crc != record["crc32"]:
        return _Verdict("bad", f"has other content than it was committed with (crc32 {crc:08x}, recorded "
                               f"{int(record['crc32']):08x})", record), st
    return _Verdict("hit", "", record), st


class Store:
    """Cache folders under one root, with a logged fallback when the root cannot be written."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        """Use ``root`` (argument > ``VSINFER_CACHE_DIR`` > user cache dir); folders are made on first use."""
        self.requested = requested_root(root)
        """The root asked for; ``folder()`` may fall back elsewhere if it is not writable."""
        self._folders: dict[str, Path] = {}
        self._lock = threading.Lock()

    def _candidates(self) -> list[Path]:
        import platformdirs

        user = Path(platformdirs.user_cache_dir("vsinfer", appauthor=False))
        temp = Path(tempfile.gettempdir()) / f"vsinfer-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
        return list(dict.fromkeys([self.requested, user, temp]))

    def folder(self, kind: str) -> Path:
        """``<root>/<kind>``, created; falls back to the user cache or a temp folder with a warning."""
        with self._lock:
            found = self._folders.get(kind)
            if found is not None:
                return found
            errors: list[str] = []
            for root in self._candidates():
                path = root / kind
                try:
                    path.mkdir(parents=True, exist_ok=True)
                    probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe.", delete=True)  # noqa: SIM115
                    probe.close()
                except OSError as exc:
                    errors.append(f"{path}: {exc.strerror or exc}")
                    continue
                if errors:
                    _log_once(logging.WARNING, ("fallback", str(self.requested), str(root)),
                              "cache folder not writable (%s); using %s instead", "; ".join(errors), root)
                self._folders[kind] = path
                return path
            raise CacheWriteError(str(self.requested / kind),
                                  f"no writable cache folder ({'; '.join(errors)}); set {ENV_VAR} to a writable one")

    def lock(self, path: Path) -> contextlib.AbstractContextManager[bool]:
        """A lock on ``<path>.lock``, serializing writers of ``path`` across processes and threads.

        The holder removes the lock file before releasing it, so a finished or failed call leaves none.
        """
        return _lock(_lock_file(path))

    def try_lock(self, path: Path) -> contextlib.AbstractContextManager[bool]:
        """``lock(path)`` without waiting: yields True when taken, False when someone holds it now.

        For maintenance that must not touch an artifact being built (``vsinfer cache clear``).
        """
        return _lock(_lock_file(path), blocking=False)

    def path_for(self, kind: str, suffix: str, identity: Mapping[str, Any], prefix: str = "") -> Path:
        """``<root>/<kind>/[<prefix>-]<crc32 of identity><suffix>``."""
        return self._locate(kind, suffix, identity, prefix)[0]

    def _locate(self, kind: str, suffix: str, identity: Mapping[str, Any], prefix: str) -> tuple[Path, Any]:
        """The artifact's path and the identity as its sidecar holds it (plain JSON), from one serialization."""
        text = canonical_json(identity)
        name = f"{zlib.crc32(text.encode()):08x}"
        if prefix:
            name = f"{prefix}-{name}"
        return self.folder(kind) / f"{name}{suffix}", json.loads(text)

    def lookup(self, kind: str, suffix: str, identity: Mapping[str, Any], prefix: str = "") -> Path | None:
        """The committed artifact for ``identity``, or None when there is none or it does not match its record.

        A changed size or time is settled by the checksum under the artifact's lock.
        """
        path, wanted = self._locate(kind, suffix, identity, prefix)
        verdict = _examine(path, wanted)
        if verdict.state == "unsure":
            with self.lock(path):
                verdict = self._settle(path, wanted)
        if verdict.state == "hit":
            _used(path)
            return path
        if verdict.state == "bad":
            self._report(path, verdict)
        return None

    def _settle(self, path: Path, identity: Any) -> _Verdict:
        """Under the lock: examine again, verify the checksum when unsure, re-record verified times."""
        verdict = _examine(path, identity)
        if verdict.state != "unsure":
            return verdict
        verdict, st = _verify(path, verdict)
        if verdict.state == "hit" and st is not None and verdict.record is not None:
            _log_once(logging.INFO, ("verified", str(path), st.st_mtime_ns, st.st_ctime_ns),
                      "%s was touched on disk but its content matches its record; re-recording its times", path)
            record = dict(verdict.record, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns)
            with contextlib.suppress(CacheWriteError):  # a read-only cache verifies again next time
                atomic_write(sidecar_of(path), _record_bytes(record))
        return verdict

    def _report(self, path: Path, verdict: _Verdict) -> None:
        record = verdict.record or {}
        _log_once(logging.WARNING, ("bad", str(path), verdict.reason, record.get("crc32")),
                  "cached %s %s; it will be rebuilt", path, verdict.reason)

    def get_or_create(
        self,
        kind: str,
        suffix: str,
        identity: Mapping[str, Any],
        create: Creator,
        *,
        force: bool = False,
        prefix: str = "",
        meta: Mapping[str, Any] | None = None,
    ) -> Path:
        """Return the artifact for ``identity``, calling ``create(tmp_path)`` under its lock when missing.

        ``create`` writes the artifact to the temp path it is given, or returns its bytes; the store fsyncs it,
        moves it into place and commits the sidecar, with ``meta`` (JSON data) in it. A call that waited on the
        lock reuses what the holder committed. A failed call leaves no artifact, temp or lock file.
        """
        path, wanted = self._locate(kind, suffix, identity, prefix)
        if not force and _examine(path, wanted).state == "hit":
            _used(path)
            logger.debug("cache hit %s", path)
            return path
        with self.lock(path):
            self._sweep(path)
            if force:
                logger.info("force_rebuild: rebuilding %s", path)
            else:
                verdict = self._settle(path, wanted)
                if verdict.state == "hit":
                    _touch(sidecar_of(path))  # the lock file is ours: it goes on release
                    logger.debug("cache hit after waiting or verifying: %s", path)
                    return path
                if verdict.state == "bad":
                    self._report(path, verdict)
                    _unlink(sidecar_of(path))
                    _unlink(path)
            self._commit(path, wanted, create, dict(meta or {}))
            logger.info("stored %s", path)
            return path

    def _sweep(self, path: Path) -> None:
        """Under the lock: remove temp files of writers of ``path`` that died (only lock holders make them)."""
        for name in (path.name, sidecar_of(path).name):
            for leftover in glob.glob(os.path.join(glob.escape(str(path.parent)), f".{glob.escape(name)}.*.tmp")):
                logger.debug("removing %s, left by an interrupted build", leftover)
                _unlink(Path(leftover))

    def _commit(self, path: Path, identity: Any, create: Creator, meta: dict[str, Any]) -> None:
        """Under the lock: create into a temp file, fsync, checksum, move into place, write the sidecar."""
        sidecar = sidecar_of(path)
        try:
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
        except OSError as exc:
            raise _disk_error(path.parent, exc) from exc
        tmp = Path(tmp_name)
        placed = False
        try:
            try:
                data = create(tmp)
            except OSError as exc:
                if exc.errno in _DISK_ERRNOS:
                    raise _disk_error(tmp, exc) from exc
                raise
            try:
                buffer = data if isinstance(data, Buffer) else None
                with open(tmp, "wb" if buffer is not None else "rb+") as f:
                    if buffer is not None:
                        crc = _write_stream(f, buffer)
                    else:
                        crc = crc32_of(f)
                        os.fsync(f.fileno())
                _share(tmp)
                _unlink(sidecar)  # the old record must not vouch for the new bytes
                os.replace(tmp, path)
                placed = True
                st = path.stat()
            except OSError as exc:
                raise _disk_error(path, exc) from exc
            record = {"identity": identity, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                      "ctime_ns": st.st_ctime_ns, "crc32": crc, "meta": meta}
            atomic_write(sidecar, _record_bytes(record))
        except BaseException:
            if placed:  # an artifact without its commit record would only be rebuilt: do not leave it
                _unlink(path)
            raise
        finally:
            _unlink(tmp)

    # -- single blobs that are read whole (the timing cache) ---------------------------------------------
    def read_checked(self, path: Path) -> bytes:
        """The bytes of ``path`` when they match their record; else b"" (logged once, the file removed).

        Call under ``lock(path)``. An empty file, a file without record (an older vsinfer's) and a file
        whose checksum differs from its record all count as absent.
        """
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            logger.warning("cannot read %s (%s); starting without it", path, exc)
            return b""
        record = _read_json(sidecar_of(path))
        reason = None
        if not data:
            reason = "is empty"
        elif record is None or not all(k in record for k in RECORD_KEYS):
            reason = "has no commit record (written by an older vsinfer or interrupted)"
        elif record["identity"] != {"file": path.name} or record["size"] != len(data):
            reason = "does not match its record"
        elif zlib.crc32(data) != record["crc32"]:
            reason = "is corrupt (its checksum differs from its record)"
        if reason is None:
            _touch(sidecar_of(path))
            return data
        _log_once(logging.WARNING, ("blob", str(path), reason, len(data)), "%s %s; discarding it", path, reason)
        _unlink(sidecar_of(path))
        _unlink(path)
        return b""

    def write_checked(self, path: Path, data: Buffer, meta: Mapping[str, Any] | None = None) -> None:
        """Write ``data`` to ``path`` atomically with its commit record; call under ``lock(path)``."""
        sidecar = sidecar_of(path)
        _unlink(sidecar)
        atomic_write(path, data)
        try:
            st = path.stat()
            record = {"identity": {"file": path.name}, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                      "ctime_ns": st.st_ctime_ns, "crc32": zlib.crc32(data), "meta": dict(meta or {})}
            atomic_write(sidecar, _record_bytes(record))
        except BaseException:
            _unlink(path)
            raise


def _record_bytes(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, indent=1, sort_keys=True).encode()


class ModelMemo:
    """On-disk memo of ModelInfo keyed by (path, size, mtime_ns): a cache hit never re-reads the model.

    Each memo file holds ``{"key": [path, size, mtime_ns], "info": {...}, "crc32": <crc32 of the canonical
    info JSON>}``; a file that is not such a record (corrupt, or an older vsinfer's) is logged once and
    re-read from the model.
    """

    def __init__(self, store: Store) -> None:
        """Keep the memo files in ``<root>/models``."""
        self.store = store
        """The store whose ``models`` folder holds the memo."""

    def _file(self, key: tuple[str, int, int]) -> Path | None:
        try:
            folder = self.store.folder("models")
        except OSError:
            return None
        return folder / f"{zlib.crc32(key[0].encode()):08x}.json"

    def get(self, key: tuple[str, int, int]) -> ModelInfo | None:
        """The remembered ModelInfo when path, size and mtime_ns all match and the record is intact."""
        file = self._file(key)
        if file is None or not file.exists():
            return None
        record = _read_json(file)
        if record is not None and record.get("key") != list(key):
            return None  # another model at this name, or this one changed: a plain miss
        try:
            if record is None:
                raise ValueError("not a JSON object")
            if "crc32" not in record:
                raise ValueError("written by an older vsinfer, without checksum")
            info = record["info"]
            if zlib.crc32(canonical_json(info).encode()) != record["crc32"]:
                raise ValueError("its checksum differs from its content")
            return ModelInfo.from_json(info)
        except (KeyError, TypeError, ValueError) as exc:
            _log_once(logging.WARNING, ("memo", str(file), key, str(exc)), "model memo %s for %s is not usable (%s); "
                      "reading the model again", file, key[0], exc)
            return None

    def put(self, key: tuple[str, int, int], info: ModelInfo) -> None:
        """Remember ``info``; a folder that cannot be written only costs a re-read later."""
        file = self._file(key)
        if file is None:
            return
        data = info.to_json()
        record = {"key": list(key), "info": data, "crc32": zlib.crc32(canonical_json(data).encode())}
        try:
            atomic_write(file, json.dumps(record).encode())
        except OSError as exc:
            logger.debug("could not remember %s: %s", key[0], exc)


_default_memo: ModelMemo | None = None


def model_memo() -> ModelMemo:
    """The process-wide memo in the default store (re-created when ``VSINFER_CACHE_DIR`` changes)."""
    global _default_memo
    root = requested_root()
    if _default_memo is None or _default_memo.store.requested != root:
        _default_memo = ModelMemo(Store(root))
    return _default_memo
