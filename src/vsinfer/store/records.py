"""The JSON records the cache holds, read and written one way: typed schemas, bounded reads, a miss on any doubt.

Four kinds of record live in the store, each a ``msgspec.Struct`` schema here:

- ``CommitRecord``: the sidecar ``<stem>.json`` of an artifact (``vsinfer.store.artifacts``);
- ``ModelMemoRecord``: what an ONNX file holds (``ModelFacts``), kept by ``vsinfer.model.ModelMemo``;
- ``AnalysisRecord``: an fp16 range analysis (``AnalysisFacts``), kept by ``vsinfer.fp16.analysis``;
- ``DecisionRecord``: an autotune decision (``ChoiceFacts``, ``TimingFacts``), kept by ``vsinfer.tune``.

The schemas are plain data; ``ModelInfo``, ``Analysis`` and ``Tuning`` convert from and to them in their own
modules. The cache is a trust boundary, so reading follows these rules:

- a record that is missing, unreadable, not a regular file, larger than ``MAX_BYTES`` (seen by ``fstat`` before
  anything is read), not JSON, of the wrong shape or types, or nested deeper than ``MAX_DEPTH`` (free-form fields
  such as ``identity``, ``meta`` and ``key`` are JSON objects) is a miss: ``read`` returns a ``Miss`` naming the
  reason, ``load`` logs it once per file and reason (WARNING, or DEBUG when the file simply is not there) and
  returns None. Neither ever raises to its caller: the caller rebuilds.
- a record only carries data: nothing read from one names a path to use or code to run (a stored backend spec
  is checked by ``backend_from_spec`` like any user input).

``dump`` writes a record atomically (``atomic_write``), with sorted keys and one-space indents.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import threading
import zlib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

import msgspec

from .files import atomic_write, log_once

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "AnalysisFacts",
    "AnalysisRecord",
    "BackendSpec",
    "ChoiceFacts",
    "CommitRecord",
    "DecisionRecord",
    "Miss",
    "ModelFacts",
    "ModelMemoRecord",
    "OverflowFacts",
    "OverflowReason",
    "QuantizeFacts",
    "QuantizeRecord",
    "Real",
    "Record",
    "ResultRecord",
    "TensorFacts",
    "TimingFacts",
    "canonical_json",
    "dump",
    "encode",
    "load",
    "plain",
    "read",
    "read_object",
    "real",
    "to_data",
    "to_float",
]

logger = logging.getLogger("vsinfer.store")

MAX_BYTES = 1 << 20
"""The largest record read (1 MiB); a larger file is a miss, found by ``fstat`` before a byte is read."""
MAX_DEPTH = 32
"""The deepest nesting of JSON arrays and objects a record may have (the record itself is level 1)."""

U32 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]
"""A CRC32."""
Digest = Annotated[int, msgspec.Meta(ge=0)]
"""A model's content identity (``vsinfer.model.ModelInfo.checksum``: a 128-bit BLAKE2b digest as an int)."""
StatKey = tuple[str, Annotated[int, msgspec.Meta(ge=0)], int, int, int, int]
"""(absolute path, size, mtime_ns, ctime_ns, inode, device) of a file: changes whenever it is rewritten."""
Count = Annotated[int, msgspec.Meta(ge=0)]
"""A size or a number of things."""
Side = Annotated[int, msgspec.Meta(ge=1)]
"""A tile's width or height."""
Real = float | Literal["inf", "-inf", "nan"]
"""A float that may not be finite: JSON has no infinity or NaN, so those are stored as text (see ``real``)."""
JSONObject = dict[str, Any]
"""A free-form JSON object (identity, meta, key): its depth is bounded by ``MAX_DEPTH``."""


def real(value: float) -> Real:
    """``value`` as stored: finite numbers as they are, infinities and NaN as "inf", "-inf", "nan"."""
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"


def to_float(value: Real) -> float:
    """A stored ``Real`` back as a float."""
    return float(value)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same bytes for the same value in every process."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists): what a stored record is compared with."""
    return json.loads(canonical_json(value))


def to_data(facts: msgspec.Struct) -> dict[str, Any]:
    """``facts`` as plain JSON data (dicts, lists, str, numbers), as it reads back from its record."""
    data: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(facts))
    return data


# -- the schemas ------------------------------------------------------------------------------------------
class Record(msgspec.Struct, frozen=True, kw_only=True):
    """A record kept in the store as one JSON file."""

    KIND: ClassVar[str] = "record"
    """What the record is, for the log."""
    ON_MISS: ClassVar[str] = "it will be rebuilt"
    """What the caller does when it is not usable, for the log."""


class CommitRecord(Record, frozen=True, kw_only=True):
    """An artifact's sidecar: what it was built for and the file as it was committed (``store.artifacts``)."""

    KIND: ClassVar[str] = "commit record"
    identity: JSONObject
    """The identity record the artifact was built for."""
    size: Count
    """The artifact's size in bytes."""
    mtime_ns: int
    """Its modification time (ns) when committed."""
    ctime_ns: int | None = None
    """Its inode change time (ns) when committed; None in records of an older vsinfer."""
    crc32: U32
    """CRC32 of its bytes."""
    meta: JSONObject = {}
    """What the builder said about it, for people and ``vsinfer cache list``."""


class TensorFacts(msgspec.Struct, frozen=True, kw_only=True):
    """One graph input or output (``vsinfer.model.TensorInfo``)."""

    name: str
    elem_type: int
    shape: tuple[int | None, ...]


class ModelFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What vsinfer knows about an ONNX file (``vsinfer.model.ModelInfo``)."""

    path: str
    checksum: Digest
    inputs: tuple[TensorFacts, ...]
    outputs: tuple[TensorFacts, ...]
    foreign_ops: tuple[str, ...] | None = None
    external: tuple[str, ...] = ()
    op_types: tuple[str, ...] | None = None
    opset: int | None = None
    graph_inputs: int | None = None


_LATER_FIELDS = ("op_types", "opset", "graph_inputs")
"""ModelFacts fields added later: left out of the checksum while unset, so older memos stay valid."""


def facts_crc32(facts: msgspec.Struct) -> int:
    """CRC32 of the canonical JSON of ``facts``: the checksum a record keeps of its content."""
    data = msgspec.to_builtins(facts)
    if isinstance(facts, ModelFacts):
        data = {k: v for k, v in data.items() if not (k in _LATER_FIELDS and v is None)}
    return zlib.crc32(canonical_json(data).encode())


class ModelMemoRecord(Record, frozen=True, kw_only=True):
    """The memo of one model file: ``{"key": [...], "external": [[...], ...], "info": {...}, "crc32": ...}``.

    A record whose ``crc32`` is not the checksum of its ``info`` is of the wrong shape (``seal`` makes one).
    The memo is only a shortcut: any difference in the stat keys means reading the model again.
    """

    KIND: ClassVar[str] = "model memo"
    ON_MISS: ClassVar[str] = "reading the model again"
    key: StatKey
    """(absolute path, size, mtime_ns, ctime_ns, inode, device) of the model file when it was read."""
    external: tuple[StatKey, ...] = ()
    """The same for each external data file the model names, in ``info.external`` order."""
    info: ModelFacts
    """What it holds."""
    crc32: U32
    """CRC32 of the canonical JSON of ``info``."""

    def __post_init__(self) -> None:
        """Refuse a record whose checksum does not match its content."""
        if facts_crc32(self.info) != self.crc32:
            raise ValueError("its checksum differs from its content")

    @classmethod
    def seal(cls, key: tuple[str, int, int, int, int, int], info: ModelFacts,
             external: tuple[tuple[str, int, int, int, int, int], ...] = ()) -> ModelMemoRecord:
        """The record of ``info`` read from the model file at ``key`` (and its external data files), with its CRC32."""
        return cls(key=key, external=external, info=info, crc32=facts_crc32(info))


OverflowReason = Literal["output", "reads", "constant"]
"""Why the fp16 guard keeps a node in float32."""


class OverflowFacts(msgspec.Struct, frozen=True, kw_only=True):
    """A node the fp16 guard keeps in float32 (``vsinfer.fp16.analysis.OverflowNode``)."""

    name: str
    op_type: str
    reason: OverflowReason
    max_abs: Real
    tensors: tuple[str, ...]


class AnalysisFacts(msgspec.Struct, frozen=True, kw_only=True):
    """The fp16 range analysis of one model (``vsinfer.fp16.analysis.Analysis``)."""

    model_crc32: Digest
    samples: str
    max_abs: Real
    nodes: tuple[OverflowFacts, ...]
    seconds: float


class ResultRecord(Record, frozen=True, kw_only=True):
    """A result kept for what it was computed from: ``{"identity", "meta", ...}``; a lookup must match ``identity``."""

    identity: JSONObject
    """What the result was computed from, and how."""
    meta: JSONObject = {}
    """For ``vsinfer cache list``."""


class AnalysisRecord(ResultRecord, frozen=True, kw_only=True):
    """A stored fp16 analysis: ``{"identity", "meta", "analysis"}`` (identity: model checksum, limits, sampling)."""

    KIND: ClassVar[str] = "fp16 analysis record"
    ON_MISS: ClassVar[str] = "analysing again"
    analysis: AnalysisFacts
    """The result."""


class QuantizeFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a quantization measured (``vsinfer.quantize.Quantized``)."""

    psnr_db: Real
    max_error: Real
    excluded: tuple[str, ...] = ()
    passed: bool
    calibration_frames: tuple[Count, ...] = ()
    held_out_frames: tuple[Count, ...] = ()
    seconds: float = 0.0


class QuantizeRecord(ResultRecord, frozen=True, kw_only=True):
    """A stored quantization verdict: ``{"identity", "meta", "result"}``; the model itself is an ``onnx`` artifact.

    Its identity: the float model, the content of the calibration and judging crops, the settings.
    """

    KIND: ClassVar[str] = "quantization record"
    ON_MISS: ClassVar[str] = "quantizing again"
    result: QuantizeFacts
    """What it measured, and whether it passed the bound."""


class BackendSpec(msgspec.Struct, frozen=True, kw_only=True):
    """``{"class": name, "fields": {...}}`` (``vsinfer.backends.spec.backend_spec``): data, checked when used."""

    backend_class: str = msgspec.field(name="class")
    fields: JSONObject = {}

    def as_mapping(self) -> dict[str, Any]:
        """The spec as ``backend_from_spec`` takes it."""
        return {"class": self.backend_class, "fields": dict(self.fields)}


class ChoiceFacts(msgspec.Struct, frozen=True, kw_only=True):
    """The configuration autotune picked."""

    backend: BackendSpec
    tilesize: tuple[Side, Side] | None = None
    fps: Real = 0.0


class TimingFacts(msgspec.Struct, frozen=True, kw_only=True):
    """One timed configuration (``vsinfer.timing.Timing``)."""

    backend: BackendSpec
    tilesize: tuple[Side, Side] | None = None
    fps: Real
    first_frame_s: Real
    frames: Count
    error: str | None = None
    max_abs_diff: Real | None = None
    stopped_early: bool = False
    label: str = ""


class DecisionRecord(Record, frozen=True, kw_only=True):
    """A stored autotune decision: ``{"key", "choice", "timings", "seconds", "created", "meta"}``."""

    KIND: ClassVar[str] = "autotune decision"
    ON_MISS: ClassVar[str] = "timing again"
    key: JSONObject
    """The model, clips, search settings and machine the decision is for."""
    choice: ChoiceFacts
    """The pick."""
    timings: tuple[TimingFacts, ...] = ()
    """Every trial, in the order timed."""
    seconds: float = 0.0
    """Time the tuning took."""
    created: str = ""
    """When (ISO 8601, local time)."""
    meta: JSONObject = {}
    """For ``vsinfer cache list``."""


# -- reading ------------------------------------------------------------------------------------------------
class Miss(NamedTuple):
    """Why a record could not be used."""

    reason: str
    """For the log: "is not there", "is not JSON (...)", "has the wrong shape (...)"..."""
    code: Literal["absent", "unreadable", "corrupt", "shape"]
    """absent: no such file; unreadable: it cannot be read; corrupt: not a record at all (not JSON, too large,
    too deep); shape: JSON, but not this kind of record (a wrong or missing field, an older vsinfer's)."""


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_decoders_lock = threading.Lock()
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
"""Non-blocking: a FIFO put where a record belongs is refused by ``fstat``, not waited on. No-follow: a symbolic
link put where a record belongs is refused (ELOOP), never followed out of the cache."""


def _decoder(schema: Any) -> msgspec.json.Decoder[Any]:
    found = _decoders.get(schema)
    if found is None:
        with _decoders_lock:
            found = _decoders.setdefault(schema, msgspec.json.Decoder(schema))
    return found


_NESTING = (dict, list, tuple, msgspec.Struct)


def _depth_ok(data: bytes, value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` (decoded from ``data``) nests arrays, objects and records at most ``limit`` deep.

    Walked level by level, without recursion; skipped when ``data`` has too few brackets to nest that deep.
    """
    if data.count(b"{") + data.count(b"[") <= limit:
        return True
    level = [value] if isinstance(value, _NESTING) else []
    for _ in range(limit):
        below: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                items: Any = item.values()
            elif isinstance(item, msgspec.Struct):
                items = [getattr(item, name) for name in item.__struct_fields__]
            else:
                items = item
            below += [child for child in items if isinstance(child, _NESTING)]
        if not below:
            return True
        level = below
    return False


def _bytes(path: str | os.PathLike[str]) -> bytes | Miss:
    """The file's bytes when it is a regular file of at most MAX_BYTES (fstat first: a huge file is not read)."""
    try:
        fd = os.open(path, _O_FLAGS)
    except FileNotFoundError:
        return Miss("is not there", "absent")
    except OSError as exc:
        return Miss(f"cannot be read ({exc.strerror or exc})", "unreadable")
    try:
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return Miss("is not a regular file", "unreadable")
            if st.st_size > MAX_BYTES:
                return Miss(f"is too large ({st.st_size} bytes; a record is at most {MAX_BYTES})", "corrupt")
            data = f.read(st.st_size + 1)
    except OSError as exc:
        return Miss(f"cannot be read ({exc.strerror or exc})", "unreadable")
    if len(data) > MAX_BYTES:  # it grew while being read
        return Miss(f"is too large (more than {MAX_BYTES} bytes)", "corrupt")
    return data


def _decode(data: bytes, schema: Any) -> Any:
    """``data`` decoded as ``schema``, or a Miss: never an exception."""
    try:
        value = _decoder(schema).decode(data)
    except msgspec.ValidationError as exc:
        return Miss(f"has the wrong shape ({exc})", "shape")
    except RecursionError:
        return Miss(f"is nested deeper than {MAX_DEPTH} levels", "corrupt")
    except (msgspec.DecodeError, ValueError, TypeError) as exc:
        return Miss(f"is not JSON ({exc})", "corrupt")
    if not _depth_ok(data, value):
        return Miss(f"is nested deeper than {MAX_DEPTH} levels", "corrupt")
    return value


def read[R: msgspec.Struct](path: str | os.PathLike[str], schema: type[R]) -> R | Miss:
    """The record at ``path`` as ``schema``, or the Miss that says why not; logs nothing, raises nothing."""
    data = _bytes(path)
    if isinstance(data, Miss):
        return data
    result: R | Miss = _decode(data, schema)
    return result


def read_object(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Any JSON object at ``path`` (same limits as ``read``, no schema), or None: for listing the store."""
    data = _bytes(path)
    if isinstance(data, Miss):
        return None
    value = _decode(data, dict[str, Any])
    return None if isinstance(value, Miss) else dict(value)


def load[R: msgspec.Struct](path: str | os.PathLike[str], schema: type[R]) -> R | None:
    """The record at ``path`` as ``schema``, or None: a miss is logged once per file and reason, never raised.

    A file that is not there is logged at DEBUG; anything else (unreadable, corrupt, the wrong shape) at WARNING,
    naming the record's kind and what the caller does instead (its ``KIND`` and ``ON_MISS``).
    """
    result = read(path, schema)
    if not isinstance(result, Miss):
        return result
    kind = getattr(schema, "KIND", "record")
    if result.code == "absent":
        logger.debug("%s %s %s", kind, path, result.reason)
    else:
        then = getattr(schema, "ON_MISS", "it will be rebuilt")
        log_once(logging.WARNING, ("record", os.fspath(path), result.reason),
                 "%s %s is not usable: it %s; %s", kind, path, result.reason, then)
    return None


# -- writing ------------------------------------------------------------------------------------------------
def encode(record: msgspec.Struct) -> bytes:
    """The JSON a record is stored as: sorted keys, one-space indents."""
    return msgspec.json.format(msgspec.json.encode(record, order="sorted"), indent=1)


def dump(path: str | os.PathLike[str], record: msgspec.Struct) -> None:
    """Write ``record`` to ``path`` atomically; an OSError becomes a CacheWriteError and leaves no partial file."""
    atomic_write(Path(path), encode(record))
