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

The sidecar is read and written through ``vsinfer.store.records`` (schema ``CommitRecord``): a sidecar that is
too large, too deep, not JSON or of another shape is a miss like a missing one, never an exception.

Trust (docs/cache-security.md): the writable root and its kind folders must be the user's and not writable by
others (``files.folder_problem``), else they are neither read nor written (one warning naming the fix, and the
next candidate: the user cache dir, then a private 0700 temp folder vsinfer makes itself). A root vsinfer creates
gets the marker ``files.MARKER``, which maintenance requires. An artifact that is a symbolic link is never
followed (``lstat``, ``O_NOFOLLOW``). Read-only shared layers (``$VSINFER_SHARED_CACHE``, and the requested root
when it turns out read-only) are looked up first; their entries are verified (size and CRC32) on first use in
each process and a damaged one is skipped, never served. ``recording()`` collects what a block of code got from
the store (``vsinfer build --script``).
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import tempfile
import threading
import zlib
from collections.abc import Buffer, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from ..errors import CacheWriteError
from .checks import (
    _READ_ONLY,
    _examine,
    _layer_problem,
    _shared_entry,
    _used,
    _Verdict,
    _verify,
    sidecar_of,
)
from .files import (
    _DISK_ERRNOS,
    ENV_VAR,
    _disk_error,
    _share,
    _touch,
    _unlink,
    _write_stream,
    atomic_write,
    crc32_of,
    expand_path,
    log_once,
    shared_roots,
)
from .locks import lock, lock_file
from .recording import Use, _note, recording
from .records import CommitRecord, Miss, canonical_json, encode, read, read_object
from .roots import _kind_folder, _make_root, default_root, mark, requested_root, temp_root

__all__ = ["Store", "Use", "canonical_json", "default_root", "identity_name", "mark", "read_record", "recording",
           "requested_root", "sidecar_of", "temp_root"]

logger = logging.getLogger("vsinfer.store")

Creator = Callable[[Path], object]
"""``create(tmp)``: returns the artifact's bytes (any buffer) for the store to write, or writes ``tmp`` itself
(whatever else it returns, e.g. ``Path.write_bytes``'s count, is ignored)."""


def identity_name(identity: Mapping[str, Any]) -> str:
    """CRC32 (8 hex digits) of the canonical JSON of ``identity``: the artifact's file stem."""
    return f"{zlib.crc32(canonical_json(identity).encode()):08x}"




def read_record(sidecar: Path) -> dict[str, Any] | None:
    """The sidecar's JSON object as it is (an older one may lack keys), or None: for showing what the store holds.

    None when it is missing, not a JSON object, too large or too deep to be a record. Using an artifact takes
    the strict schema (``records.CommitRecord``) instead.
    """
    return read_object(sidecar)


class Store:
    """Cache folders under one root, with a logged fallback when the root cannot be written.

    Lookups also read the read-only shared layers (``$VSINFER_SHARED_CACHE``) first; builds write locally.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None,
                 shared: Sequence[str | os.PathLike[str]] | None = None) -> None:
        """Use ``root`` (argument > ``VSINFER_CACHE_DIR`` > user cache dir); folders are made on first use.

        ``shared``: read-only layers read before the local cache (default: ``$VSINFER_SHARED_CACHE``).
        """
        self.requested = requested_root(root)
        """The root asked for; ``folder()`` may fall back elsewhere if it is not writable."""
        layers = shared_roots() if shared is None else tuple(expand_path(p, "shared") for p in shared)
        self.shared: tuple[Path, ...] = tuple(p for p in layers if p != self.requested)
        """Read-only layers, in lookup order; their entries are verified on first use in each process."""
        self._folders: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._read_only: tuple[Path, ...] = ()
        """The requested root, when it turned out read-only: read after the shared layers, verified like them."""

    def _from_shared(self, kind: str, name: str, identity: Any) -> Path | None:
        """The first shared layer's verified artifact ``<layer>/<kind>/<name>``, or None."""
        for layer in (*self.shared, *self._read_only):
            folder = layer / kind
            if _layer_problem(layer) is None and _layer_problem(folder, kind=True) is None:
                path = folder / name
                if _shared_entry(path, identity):
                    logger.debug("shared cache hit %s", path)
                    _note(kind, path, "shared")
                    return path
        return None

    def _candidates(self) -> Iterator[tuple[Path, bool]]:
        """(root, private) in the order tried: the requested root, the user cache dir, the private temp folder.

        Lazily: the fallbacks are looked up only when the requested root cannot be used (a cache hit never
        imports platformdirs).
        """
        yield self.requested, False
        fallback = default_root()
        if fallback != self.requested:
            yield fallback, False
        temp = temp_root()
        if temp not in (self.requested, fallback):
            yield temp, True

    def folder(self, kind: str) -> Path:
        """``<root>/<kind>``, created; falls back to the user cache or a temp folder with a warning.

        A root or kind folder that cannot be trusted (another user's, writable by others, a symbolic link) is
        neither read nor written: the warning names the fix.
        """
        with self._lock:
            found = self._folders.get(kind)
            if found is not None:
                return found
            errors: list[str] = []
            for root, private in self._candidates():
                path = root / kind
                problem = _make_root(root, private=private)
                where = root
                if problem is None:
                    problem, where = _kind_folder(path), path
                if problem is None:
                    try:
                        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe.", delete=True)  # noqa: SIM115
                        probe.close()
                    except OSError as exc:
                        problem = exc.strerror or str(exc)
                        if root == self.requested and exc.errno in _READ_ONLY and root not in self.shared:
                            # a read-only cache (a mounted snapshot, a share): still read, as a verified layer
                            self._read_only = (*self._read_only, root)[:1]
                            problem += "; reading it as a read-only layer"
                if problem is not None:
                    errors.append(f"{where}: {problem}")
                    continue
                if errors:
                    log_once(logging.WARNING, ("fallback", str(self.requested), str(root)),
                             "cache folder not writable or not trusted (%s); using %s instead", "; ".join(errors),
                             root)
                self._folders[kind] = path
                return path
            raise CacheWriteError(str(self.requested / kind),
                                  f"no writable cache folder ({'; '.join(errors)}); set {ENV_VAR} to a writable one")

    def lock(self, path: Path) -> contextlib.AbstractContextManager[bool]:
        """A lock on ``<path>.lock``, serializing writers of ``path`` across processes and threads.

        The holder removes the lock file before releasing it, so a finished or failed call leaves none.
        """
        return lock(lock_file(path))

    def try_lock(self, path: Path) -> contextlib.AbstractContextManager[bool]:
        """``lock(path)`` without waiting: yields True when taken, False when someone holds it now.

        For maintenance that must not touch an artifact being built (``vsinfer cache clear``).
        """
        return lock(lock_file(path), blocking=False)

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
        shared = self._from_shared(kind, path.name, wanted)
        if shared is not None:
            return shared
        verdict = _examine(path, wanted)
        if verdict.state == "unsure":
            with self.lock(path):
                verdict = self._settle(path, wanted)
        if verdict.state == "hit":
            _used(path)
            _note(kind, path, "found")
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
            log_once(logging.INFO, ("verified", str(path), st.st_mtime_ns, st.st_ctime_ns),
                     "%s was touched on disk but its content matches its record; re-recording its times", path)
            record = msgspec.structs.replace(verdict.record, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns)
            with contextlib.suppress(CacheWriteError):  # a read-only cache verifies again next time
                atomic_write(sidecar_of(path), encode(record))
        return verdict

    def _report(self, path: Path, verdict: _Verdict) -> None:
        crc = verdict.record.crc32 if verdict.record is not None else None
        log_once(logging.WARNING, ("bad", str(path), verdict.reason, crc),
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
        if not force:
            shared = self._from_shared(kind, path.name, wanted)
            if shared is not None:
                return shared
        if not force and _examine(path, wanted).state == "hit":
            _used(path)
            logger.debug("cache hit %s", path)
            _note(kind, path, "found")
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
                    _note(kind, path, "found")
                    return path
                if verdict.state == "bad":
                    self._report(path, verdict)
                    _unlink(sidecar_of(path))
                    _unlink(path)
            self._commit(path, wanted, create, dict(meta or {}))
            logger.info("stored %s", path)
            _note(kind, path, "built")
            return path

    def _sweep(self, path: Path) -> None:
        """Under the lock: remove temp files of writers of ``path`` that died (only lock holders make them)."""
        for name in (path.name, sidecar_of(path).name):
            for leftover in glob.glob(os.path.join(glob.escape(str(path.parent)), f".{glob.escape(name)}.*.tmp")):
                logger.debug("removing %s, left by an interrupted build", leftover)
                _unlink(Path(leftover))

    def _commit(self, path: Path, identity: dict[str, Any], create: Creator, meta: dict[str, Any]) -> None:
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
            record = CommitRecord(identity=identity, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                  ctime_ns=st.st_ctime_ns, crc32=crc, meta=meta)
            atomic_write(sidecar, encode(record))
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
        record = read(sidecar_of(path), CommitRecord)
        reason = None
        if not data:
            reason = "is empty"
        elif isinstance(record, Miss) and record.code == "absent":
            reason = "has no commit record (written by an older vsinfer or interrupted)"
        elif isinstance(record, Miss):
            reason = f"has an unusable commit record (it {record.reason})"
        elif record.identity != {"file": path.name} or record.size != len(data):
            reason = "does not match its record"
        elif zlib.crc32(data) != record.crc32:
            reason = "is corrupt (its checksum differs from its record)"
        if reason is None:
            _touch(sidecar_of(path))
            return data
        log_once(logging.WARNING, ("blob", str(path), reason, len(data)), "%s %s; discarding it", path, reason)
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
            record = CommitRecord(identity={"file": path.name}, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                  ctime_ns=st.st_ctime_ns, crc32=zlib.crc32(data), meta=dict(meta or {}))
            atomic_write(sidecar, encode(record))
        except BaseException:
            _unlink(path)
            raise
