"""What the store holds: its kinds, and every entry in them (``vsinfer cache list``; ``maintenance`` acts on them).

Each folder under the store's root is a kind, declared by whoever keeps it (``declare``): the store's own
(``onnx``, ``models``, ``tune``, ``fp16``) and each backend family's (``CACHE_KINDS`` in its module). A kind has one
of three layouts:

- artifacts with a JSON sidecar (the commit record), e.g. ``onnx/<name>.onnx`` beside ``<name>.json`` =
  ``{"identity", "size", "mtime_ns", "crc32", "meta"}``. The sidecar's own mtime is the artifact's last use. A blob
  shared by many artifacts (a build timing cache) has the same kind of sidecar; its ``meta["kind"]`` is its role.
- JSON records that are their own entry: ``models`` (ModelInfo memo), ``tune`` (autotune decisions), ``fp16``
  (fp16 analysis results).
- another program's cache (a family's runtime cache): its own files; each file is an entry.

Maintenance never leaves the cache: only regular files are entries (``lstat``; a symbolic link is never followed,
and a kind folder that is a link is not entered), only names vsinfer writes there count as its own (a kind's
suffixes, sidecars, lock and temp files; anything else is "unknown" and never deleted), and whatever deletes
asks ``root_problem`` first: a root without the marker vsinfer writes when it creates one (a user's project
folder given as ``VSINFER_CACHE_DIR``) or that others can write is refused.

Nothing being written at that moment is touched: an artifact whose lock (``<artifact>.lock``) is held by a
builder is skipped, and temp files younger than ``TEMP_GRACE_S`` are left alone. Sidecars of an older format
(no ``crc32``, no ``meta``) are read as far as they go: missing facts show as "?". Every record is read through
``vsinfer.store.records.read_object`` (bounded in size and depth; anything else is "not a readable record").
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .artifacts import Store
from .files import MARKER, folder_problem, log_once
from .records import read_object
from .roots import _empty, default_root, mark

__all__ = ["Entry", "Kind", "check_kinds", "declare", "is_facts", "known_kinds", "root_problem", "scan"]

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class Kind:
    """A folder of the store and what lives in it."""

    name: str
    """The folder's name under the root."""
    layout: str
    """"artifacts" (files with a JSON sidecar: their commit record), "records" (JSON records that are their own
    entries) or "foreign" (another program's cache: each file an entry, nothing to verify)."""
    suffixes: tuple[str, ...] = ()
    """Artifacts: the suffixes of the files vsinfer writes there (anything else is "unknown": never deleted).
    Records: always ``.json``."""
    role: str = ""
    """Foreign: what its files are, for ``vsinfer cache list``."""
    facts: bool = False
    """Records vsinfer keeps for itself (memos, analyses, probe verdicts), not what a user built or chose:
    ``vsinfer cache list`` counts them and lists them with ``--all``."""


_kinds: dict[str, Kind] = {k.name: k for k in (
    Kind("onnx", "artifacts", (".onnx",)),  # converted models (vsinfer.conversion)
    Kind("models", "records", facts=True),  # the model memo
    Kind("tune", "records"),  # autotune decisions
    Kind("fp16", "records", facts=True),  # fp16 analyses
    Kind("sizes", "records", facts=True),  # the sizes each model takes (vsinfer.sizes)
    Kind("quantize", "records", facts=True),  # INT8 quantization verdicts (vsinfer.quantize; models in onnx)
)}


def declare(*kinds: Kind) -> None:
    """Add the kinds a backend family keeps in the store (each family declares its own; see ``vsinfer.backends``)."""
    for kind in kinds:
        _kinds[kind.name] = kind


def is_facts(kind: str) -> bool:
    """Whether ``kind`` holds facts vsinfer keeps for itself (``Kind.facts``)."""
    found = _kinds.get(kind)
    return found is not None and found.facts


def known_kinds() -> tuple[str, ...]:
    """Every kind declared so far, in declaration order."""
    return tuple(_kinds)


TEMP_GRACE_S = 600.0
"""A temp file younger than this may still be being written (atomic writes take no lock): left alone."""
UNKNOWN = "?"
"""Shown for a fact an (older) sidecar does not record."""

_TEMP = re.compile(r"^\.(?P<target>.+)\.[^.]+\.tmp$")
"""``atomic_write`` / ``get_or_create`` temp files: ``.<target name>.<random>.tmp``."""


@dataclass(frozen=True)
class Entry:
    """One thing in the store, as ``vsinfer cache list`` shows it."""

    kind: str
    """Store kind: trt, onnx, migx, ov, models, tune, fp16."""
    path: Path
    """The artifact (or record, or OpenVINO file)."""
    sidecar: Path | None
    """Its commit record, for artifacts that have one."""
    size: int
    """Bytes on disk: artifact plus sidecar."""
    last_use: float
    """Seconds since the epoch: the sidecar's mtime, else the file's."""
    model: str = UNKNOWN
    """File name of the model it was made from."""
    precision: str = UNKNOWN
    """fp32 / fp16 / bf16..."""
    shapes: str = UNKNOWN
    """Shape profile or frame size."""
    runtime: str = UNKNOWN
    """Runtime (or backend) and version."""
    device: str = UNKNOWN
    """Device it was made for."""
    role: str = "artifact"
    """artifact, record, timing cache, openvino cache."""
    problem: str | None = None
    """What a cheap look found wrong (no sidecar, size differs, unreadable record); None when it looks fine."""

    @property
    def name(self) -> str:
        """The file name."""
        return self.path.name

    def files(self) -> list[Path]:
        """The files this entry consists of."""
        return [p for p in (self.path, self.sidecar) if p is not None]

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"kind": self.kind, "path": str(self.path), "sidecar": str(self.sidecar) if self.sidecar else None,
                "size": self.size, "last_use": self.last_use, "model": self.model, "precision": self.precision,
                "shapes": self.shapes, "runtime": self.runtime, "device": self.device, "role": self.role,
                "problem": self.problem}


# -- reading ---------------------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None or value == "":
        return UNKNOWN
    if isinstance(value, Mapping):
        return " ".join(str(v) for v in value.values() if v not in (None, "")) or UNKNOWN
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


def _shapes(value: Any) -> str:
    """A shape profile {"min": [w, h], "opt": ..., "max": ...} as ``WxH`` or ``min..opt..max``."""
    if isinstance(value, Mapping) and {"min", "opt", "max"} <= value.keys():
        parts = [f"{v[0]}x{v[1]}" if isinstance(v, list | tuple) and len(v) == 2 else _text(v)
                 for v in (value["min"], value["opt"], value["max"])]
        return parts[0] if len(set(parts)) == 1 else "..".join(parts)
    return _text(value)


def _describe(record: Mapping[str, Any]) -> dict[str, str]:
    """Model, precision, shapes, runtime and device from a sidecar's ``meta``, else from its identity."""
    meta = record.get("meta") if isinstance(record.get("meta"), Mapping) else {}
    identity = record.get("identity") if isinstance(record.get("identity"), Mapping) else {}
    assert isinstance(meta, Mapping) and isinstance(identity, Mapping)
    runtime = meta.get("runtime")
    if runtime is None and identity.get("runtime_version"):
        runtime = f"{identity.get('backend', '')} {identity['runtime_version']}".strip()
    precision = meta.get("precision") or identity.get("io") or identity.get("precision")
    model = meta.get("model")
    if model is None and isinstance(identity.get("model_crc32"), int):
        model = f"model {identity['model_crc32']:08x}"[:22]  # records that know the model by its digest only
    return {
        "model": _text(model),
        "precision": _text(precision),
        "shapes": _shapes(meta.get("shapes", identity.get("profile"))),
        "runtime": _text(runtime),
        "device": _text(meta.get("device", identity.get("device"))),
    }


def _mtime(path: Path) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def _size(path: Path | None) -> int:
    if path is None:
        return 0
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _is_temp(path: Path) -> bool:
    return path.name.startswith(".") and (path.suffix == ".tmp" or path.name.startswith(".probe."))


def _folders(store: Store, kinds: Iterable[str]) -> Iterator[tuple[str, Path]]:
    """The kind folders under the store's root that are real folders (a symbolic link is logged and skipped)."""
    for kind in kinds:
        folder = store.requested / kind
        try:
            st = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            log_once(logging.WARNING, ("kind-link", str(folder)), "%s is a symbolic link: vsinfer never follows "
                     "links in its cache, so it is neither listed nor cleaned (remove the link)", folder)
        elif stat.S_ISDIR(st.st_mode):
            yield kind, folder


def _regular_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(regular files, other things such as symbolic links) in ``folder``, by ``lstat``, sorted by name."""
    regular: list[Path] = []
    other: list[Path] = []
    try:
        with os.scandir(folder) as it:
            for item in it:
                if item.is_file(follow_symlinks=False):
                    regular.append(Path(item.path))
                elif not item.is_dir(follow_symlinks=False):
                    other.append(Path(item.path))
    except OSError as exc:
        logger.warning("cannot list %s: %s", folder, exc)
    return sorted(regular), sorted(other)


def root_problem(store: Store) -> str | None:
    """Why maintenance must not delete anything under the store's root; None when it is a vsinfer cache.

    A vsinfer cache holds the marker vsinfer writes when it creates the root (the default root is vsinfer's by its
    name and is marked on first use), is a real folder owned by the user and not writable by others.
    """
    root = store.requested
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return None  # nothing there: nothing to delete either
    except OSError as exc:
        return f"{root} cannot be read ({exc.strerror or exc})"
    problem = folder_problem(root, st)
    if problem is not None:
        return f"{root} {problem}"
    marker = root / MARKER
    try:
        marked = stat.S_ISREG(os.lstat(marker).st_mode)
    except OSError:
        marked = False
    if not marked and _empty(root):
        return None  # empty: nothing to delete, nothing to protect
    if not marked and root == default_root():
        mark(root)  # a cache an older vsinfer made at the default place
        return None
    if not marked:
        return (f"{root} is not a vsinfer cache: it has no {MARKER} file, which vsinfer writes in a cache folder it "
                f"creates (vsinfer only deletes in its own caches). If this folder holds nothing but vsinfer's "
                f"cache, mark it: touch {marker}")
    return None


def check_kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    """``kinds`` validated against the declared kinds (None: all of them)."""
    every = known_kinds()
    if kinds is None:
        return every
    chosen = tuple(dict.fromkeys(kinds))
    unknown = [k for k in chosen if k not in every]
    if unknown:
        raise ConfigError("kind", unknown[0] if len(unknown) == 1 else unknown, f"one of {', '.join(every)}",
                          where="vsinfer cache")
    return chosen


def scan(store: Store | None = None, kinds: Iterable[str] | None = None) -> list[Entry]:
    """Every entry in the store's root (cheap: reads sidecars, not artifacts), oldest use first."""
    store = store or Store()
    entries: list[Entry] = []
    for kind, folder in _folders(store, check_kinds(kinds)):
        files, others = _regular_files(folder)
        entries += [Entry(kind, path, None, 0, 0.0, role="unknown", problem="not a regular file (a symbolic link is "
                          "never followed)") for path in others]
        layout = _kinds[kind]
        if layout.layout == "artifacts":
            entries += _scan_artifacts(layout, files)
        else:
            for path in files:
                if _is_temp(path) or path.suffix == ".lock":
                    continue
                if layout.layout == "records" and path.suffix != ".json":
                    entries.append(Entry(kind, path, None, _size(path), _mtime(path), role="unknown",
                                         problem="not a file vsinfer writes here"))
                    continue
                if layout.layout == "foreign":
                    entries.append(Entry(kind, path, None, _size(path), _mtime(path), role=layout.role))
                    continue
                record = read_object(path) if path.suffix == ".json" else None
                facts = _describe(record) if record else {}
                key = record.get("key") if record else None
                if facts.get("model") == UNKNOWN and isinstance(key, list) and key and isinstance(key[0], str):
                    facts["model"] = Path(key[0]).name  # a ModelInfo memo: keyed by the model's path
                problem = None if record is not None else "not a readable JSON record"
                entries.append(Entry(kind, path, None, _size(path), _mtime(path), role="record", problem=problem,
                                     **facts))
    return sorted(entries, key=lambda e: e.last_use)


_NAMED = re.compile(r"^(?:.+-)?[0-9a-f]{8}$")
"""The stem of an artifact the store names: ``[<prefix>-]<crc32 of its identity>``."""


def _committed(record: Mapping[str, Any] | None) -> bool:
    """True when ``record`` looks like a commit record the store wrote (an identity and a size)."""
    return record is not None and isinstance(record.get("identity"), Mapping) and "size" in record


def _scan_artifacts(layout: Kind, files: list[Path]) -> list[Entry]:
    """Artifacts and their sidecars; a file vsinfer would not have written (by name or record) is "unknown"."""
    kind = layout.name
    sidecars = {p.stem: p for p in files if p.suffix == ".json" and not _is_temp(p)}
    entries = []
    for path in files:
        if _is_temp(path) or path.suffix in (".lock", ".json"):
            continue
        named = path.suffix in layout.suffixes and _NAMED.match(path.stem) is not None
        sidecar = sidecars.pop(path.stem, None)
        record = read_object(sidecar) if sidecar is not None else None
        if not _committed(record):
            if not named:  # neither named by the store nor committed by it: someone else's file
                for file in (path, sidecar):
                    if file is not None:
                        entries.append(Entry(kind, file, None, _size(file), _mtime(file), role="unknown",
                                             problem="not a file vsinfer writes here"))
                continue
            why = ("no sidecar (commit record)" if sidecar is None else
                   "unreadable sidecar" if record is None else "its sidecar is not a commit record")
            entries.append(Entry(kind, path, sidecar, _size(path) + _size(sidecar),
                                 _mtime(sidecar if sidecar is not None else path), role="artifact", problem=why))
            continue
        assert record is not None and sidecar is not None
        size = _size(path) + _size(sidecar)
        problem: str | None = None
        if record.get("size") != _size(path):
            problem = f"size {_size(path)} differs from the sidecar's {record.get('size')}"
        facts = _describe(record)
        role = "artifact"
        meta = record.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("kind"), str) and "model" not in meta:
            role, facts = meta["kind"], {**facts, "model": "-", "shapes": "-"}  # a blob many builds share
        entries.append(Entry(kind, path, sidecar, size, _mtime(sidecar), role=role, problem=problem, **facts))
    for sidecar in sidecars.values():
        record = read_object(sidecar)
        if _committed(record) or (_NAMED.match(sidecar.stem) and record is None):
            entries.append(Entry(kind, sidecar, None, _size(sidecar), _mtime(sidecar), role="sidecar",
                                 problem="orphan sidecar (its artifact is missing)"))
        else:
            entries.append(Entry(kind, sidecar, None, _size(sidecar), _mtime(sidecar), role="unknown",
                                 problem="not a file vsinfer writes here"))
    return entries
