"""The artifact store: where engines, programs, converted models and memos live, and how they are written.

Rules (DESIGN principle 6): an artifact is written to a temp file in its own folder, fsynced and moved into
place with ``os.replace``; its JSON sidecar is written the same way, last, and is the commit record. An
artifact whose sidecar is missing or disagrees with the requested identity is a miss. One lock file per
identity serializes builders across processes and threads; whoever waited re-checks and reuses.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model import ModelInfo

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = ["ENV_VAR", "ModelMemo", "Store", "atomic_write", "identity_name", "model_memo", "requested_root"]

logger = logging.getLogger(__name__)

ENV_VAR = "VSINFER_CACHE_DIR"
"""Environment variable that overrides the default cache root."""


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


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, then ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _share(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _share(path: str | Path) -> None:
    """Give a finished artifact a shareable mode (mkstemp makes it private to its writer)."""
    os.chmod(path, 0o644)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
                    errors.append(f"{path}: {exc}")
                    continue
                if errors:
                    logger.warning("cache folder not writable (%s); using %s instead", "; ".join(errors), path)
                self._folders[kind] = path
                return path
            raise OSError(f"no writable cache folder for {kind!r}: {'; '.join(errors)}")

    def lock(self, path: Path) -> FileLock:
        """The lock file ``<path>.lock`` that serializes writers of ``path`` across processes and threads."""
        from filelock import FileLock  # only writers need it: a cache hit takes no lock

        return FileLock(str(path.with_name(path.name + ".lock")), thread_local=False)

    def path_for(self, kind: str, suffix: str, identity: Mapping[str, Any], prefix: str = "") -> Path:
        """``<root>/<kind>/[<prefix>-]<crc32 of identity><suffix>``."""
        name = f"{prefix}-{identity_name(identity)}" if prefix else identity_name(identity)
        return self.folder(kind) / f"{name}{suffix}"

    def lookup(self, kind: str, suffix: str, identity: Mapping[str, Any], prefix: str = "") -> Path | None:
        """The committed artifact for ``identity``, or None: its sidecar must exist and match exactly."""
        path = self.path_for(kind, suffix, identity, prefix)
        record = _read_json(path.with_suffix(".json"))
        if record is None:
            if path.exists():
                logger.info("%s has no commit record (sidecar); it will be rebuilt", path)
            return None
        if record.get("identity") != json.loads(canonical_json(identity)):
            logger.warning("%s belongs to another build (CRC32 collision or stale sidecar); rebuilding", path)
            return None
        try:
            size = path.stat().st_size
        except OSError:
            return None
        if size != record.get("size"):
            logger.warning("%s is %d bytes, its sidecar says %s; rebuilding", path, size, record.get("size"))
            return None
        return path

    def get_or_create(
        self,
        kind: str,
        suffix: str,
        identity: Mapping[str, Any],
        create: Callable[[Path], None],
        *,
        force: bool = False,
        prefix: str = "",
    ) -> Path:
        """Return the artifact for ``identity``, calling ``create(tmp_path)`` under its lock when missing.

        ``create`` writes the artifact to the temp path it is given; the store fsyncs it, moves it into place
        and commits the sidecar. A process that waited on the lock reuses what the holder committed.
        """
        if not force:
            hit = self.lookup(kind, suffix, identity, prefix)
            if hit is not None:
                logger.debug("cache hit %s", hit)
                return hit
        path = self.path_for(kind, suffix, identity, prefix)
        with self.lock(path):
            if not force:
                hit = self.lookup(kind, suffix, identity, prefix)
                if hit is not None:
                    logger.debug("built by another process while waiting: %s", hit)
                    return hit
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                create(tmp)
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
                size = tmp.stat().st_size
                _share(tmp)
                with contextlib.suppress(FileNotFoundError):
                    path.with_suffix(".json").unlink()  # the old record must not vouch for the new bytes
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            record = {"identity": json.loads(canonical_json(identity)), "size": size}
            atomic_write(path.with_suffix(".json"), json.dumps(record, indent=1, sort_keys=True).encode())
            logger.info("stored %s", path)
            return path


class ModelMemo:
    """On-disk memo of ModelInfo keyed by (path, size, mtime_ns): a cache hit never re-reads the model."""

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
        """The remembered ModelInfo when path, size and mtime_ns all match."""
        file = self._file(key)
        record = _read_json(file) if file else None
        if record is None or record.get("key") != list(key):
            return None
        try:
            return ModelInfo.from_json(record["info"])
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, key: tuple[str, int, int], info: ModelInfo) -> None:
        """Remember ``info``; a folder that cannot be written only costs a re-read later."""
        file = self._file(key)
        if file is None:
            return
        try:
            atomic_write(file, json.dumps({"key": list(key), "info": info.to_json()}).encode())
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
