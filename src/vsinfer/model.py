"""ONNX introspection: input names, channels, IO precision, dynamic dims, content identity.

A model's identity is its content: a BLAKE2b digest of the ONNX file and of every external data file it names
(a new ``.data`` beside an unchanged ``.onnx`` is a new model). Hashing is done when the model is read, once per
version of its files: ``stat_key`` (path, size, mtime_ns, ctime_ns, inode, device) of the model and of each
external file is a shortcut, in the process and in the store (``ModelMemo``), and any difference in it means
reading the model again. ``ctime_ns`` cannot be set back by ``os.utime``, so an in-place rewrite that restores
size and mtime still shows. A cache hit costs a few ``stat`` calls and one small record, never a hash.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from .errors import ModelError
from .export import onnx_model_path
from .store import Store, requested_root
from .store.files import log_once
from .store.records import ModelFacts, ModelMemoRecord, TensorFacts, dump, load, to_data

__all__ = [
    "KNOWN_DOMAINS", "QDQ_OPS", "STANDARD_DOMAINS", "GraphOps", "ModelInfo", "ModelMemo", "StatKey", "TensorInfo",
    "content_digest", "external_files", "foreign_ops", "graph_ops", "model_info", "quantized", "stat_key",
]

logger = logging.getLogger(__name__)

__all__ += [  # the checks of what the plugins can feed (issue 29)
    "channels_last", "check_external_data", "image_input", "is_nhwc", "require_nchw", "shape_text", "type_name",
]

# onnx.TensorProto element types, spelled out so that reading a cached ModelInfo does not import onnx.
FLOAT = 1
FLOAT16 = 10
BFLOAT16 = 16
_TYPE_NAMES = {FLOAT: "float32", FLOAT16: "float16", BFLOAT16: "bfloat16"}


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output."""

    name: str
    """Tensor name in the graph."""
    elem_type: int
    """ONNX element type (``onnx.TensorProto`` value: 1 float32, 10 float16, ...)."""
    shape: tuple[int | None, ...]
    """Dimensions, None where the dim is dynamic (a dim_param or unset)."""

    @property
    def type_name(self) -> str:
        """Readable element type name."""
        return _TYPE_NAMES.get(self.elem_type, f"onnx type {self.elem_type}")

    @property
    def channels(self) -> int | None:
        """The channel dim of an NCHW tensor, None when dynamic or not 4-D."""
        return self.shape[1] if len(self.shape) == 4 else None

    @property
    def spatial(self) -> tuple[int | None, int | None]:
        """(width, height) of an NCHW tensor; None for a dynamic dim."""
        if len(self.shape) != 4:
            return (None, None)
        return (self.shape[3], self.shape[2])


@dataclass(frozen=True)
class ModelInfo:
    """What vsinfer needs to know about an ONNX file, read without loading external weights."""

    path: str
    """Absolute path of the file."""
    checksum: int
    """The model's content identity: its 128-bit BLAKE2b digest (of the file and its external data), as an int.

    Engine, conversion and analysis identities hold it; ``f"{checksum:08x}"`` names files."""
    inputs: tuple[TensorInfo, ...]
    """Graph inputs that are not initializers."""
    outputs: tuple[TensorInfo, ...]
    """Graph outputs."""
    foreign_ops: tuple[str, ...] | None = None
    """Ops ("domain.op") outside the ONNX standard domains and the runtimes' own (``vsinfer.validation`` refuses
    them); None when not recorded."""
    external: tuple[str, ...] = ()
    """The external data files the model names (locations relative to its folder), sorted; part of ``checksum``."""
    graph: GraphOps | None = None
    """Its op types and opset (``graph_ops`` reads them when a memo of an older vsinfer lacks them)."""
    graph_inputs: int | None = None
    """How many inputs the graph lists, initializers included (the plugins count them all); None when not recorded."""

    def input(self, name: str | None = None) -> TensorInfo:
        """The input called ``name``; without a name, the model's only input."""
        for tensor in self.inputs:
            if tensor.name == name:
                return tensor
        if len(self.inputs) != 1:  # a single-input model answers to any name
            raise ModelError(
                "input_name", name, f"one of the model's inputs {[t.name for t in self.inputs]}", where=self.path
            )
        return self.inputs[0]

    def input_for(self, channels: int, name: str | None = None) -> TensorInfo:
        """The input ``name`` (or the only one), checked to take ``channels`` channels."""
        tensor = self.input(name)
        if tensor.channels is not None and tensor.channels != channels:
            raise ModelError("channels", channels, f"{tensor.channels}, the channels of input {tensor.name!r}",
                             where=self.path)
        return tensor

    @property
    def fp16_io(self) -> bool:
        """True when the (only) input is float16: the clip must be 16-bit float."""
        return self.input().elem_type == FLOAT16

    def to_facts(self) -> ModelFacts:
        """The record schema's form (``vsinfer.store.records.ModelFacts``); ``from_facts`` reads it back."""

        def tensors(items: tuple[TensorInfo, ...]) -> tuple[TensorFacts, ...]:
            return tuple(TensorFacts(name=t.name, elem_type=t.elem_type, shape=t.shape) for t in items)

        graph = self.graph
        return ModelFacts(path=self.path, checksum=self.checksum, inputs=tensors(self.inputs),
                          outputs=tensors(self.outputs), foreign_ops=self.foreign_ops, external=self.external,
                          op_types=graph.op_types if graph else None, opset=graph.opset if graph else None,
                          graph_inputs=self.graph_inputs)

    @classmethod
    def from_facts(cls, facts: ModelFacts) -> ModelInfo:
        """Rebuild from ``to_facts`` output."""

        def tensors(items: tuple[TensorFacts, ...]) -> tuple[TensorInfo, ...]:
            return tuple(TensorInfo(t.name, t.elem_type, t.shape) for t in items)

        graph = GraphOps(facts.op_types, facts.opset) if facts.op_types is not None and facts.opset is not None \
            else None
        return cls(facts.path, facts.checksum, tensors(facts.inputs), tensors(facts.outputs), facts.foreign_ops,
                   facts.external, graph, facts.graph_inputs)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_json`` reads it back."""
        return to_data(self.to_facts())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        """Rebuild from ``to_json`` output; ``msgspec.ValidationError`` when it is not such a dict."""
        return cls.from_facts(msgspec.convert(data, ModelFacts))


STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview", "ai.onnx.preview.training"})
"""The ONNX standard operator domains."""

KNOWN_DOMAINS = frozenset({
    "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc",  # onnxruntime
    "org.openvinotoolkit",  # OpenVINO
    "trt.plugins",  # TensorRT plugins
})
"""Domains outside the standard that one of the runtimes implements: left to that runtime to judge."""


def _graph_ops(graph: Any, local: frozenset[str]) -> set[str]:
    from onnx import AttributeProto

    found: set[str] = set()
    for node in graph.node:
        if node.domain not in STANDARD_DOMAINS | KNOWN_DOMAINS | local:
            found.add(f"{node.domain}.{node.op_type}")
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                found |= _graph_ops(attr.g, local)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    found |= _graph_ops(sub, local)
    return found


def foreign_ops(proto: Any) -> tuple[str, ...]:
    """The ops of an ONNX ``ModelProto`` (subgraphs included) that no vs-mlrt runtime implements, as "domain.op".

    An op is foreign when its domain is neither an ONNX standard domain, nor a runtime's own (``KNOWN_DOMAINS``),
    nor the domain of one of the model's local functions.
    """
    local = frozenset(f.domain for f in proto.functions)
    found = _graph_ops(proto.graph, local)
    for function in proto.functions:
        for node in function.node:
            if node.domain not in STANDARD_DOMAINS | KNOWN_DOMAINS | local:
                found.add(f"{node.domain}.{node.op_type}")
    return tuple(sorted(found))



@dataclass(frozen=True)
class GraphOps:
    """The op types of a model's graph and the ONNX opset it imports."""

    op_types: tuple[str, ...]
    """Op types of the graph and its subgraphs, sorted; empty when the file cannot be read."""
    opset: int
    """The default domain's opset version (0 when unknown)."""


QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
"""The ops of a quantized (Q/DQ) model, whose scales stay float32 in a reduced-precision run."""


def quantized(model: ModelInfo) -> bool:
    """Whether ``model`` is a quantized (Q/DQ) model."""
    return bool(QDQ_OPS & set(graph_ops(model).op_types))


_ops_seen: dict[tuple[str, int], GraphOps] = {}
_graph_ops_lock = threading.Lock()


def graph_ops(model: ModelInfo) -> GraphOps:
    """``model``'s op types and opset: from its facts, else read once per file and content in a process.

    A model onnx cannot read has no ops here (validation names it).
    """
    if model.graph is not None:
        return model.graph
    return _read_once(_ops_seen, model, "its op types", _read_graph_ops, GraphOps((), 0))


def _read_once[T](seen: dict[tuple[str, int], T], model: ModelInfo, what: str, read: Callable[[Any], T],
                  unreadable: T) -> T:
    """``read(the model's proto)`` once per file and content in a process; ``unreadable`` when onnx cannot load it."""
    key = (model.path, model.checksum)
    with _graph_ops_lock:
        found = seen.get(key)
    if found is not None:
        return found
    import onnx

    try:
        proto = onnx.load_model(model.path, load_external_data=False)
    except Exception as exc:  # unreadable here: validation or the plugin says what it finds
        logger.debug("could not read %s for %s: %s", model.path, what, exc)
        return unreadable
    found = read(proto)
    with _graph_ops_lock:
        seen[key] = found
    return found


def _read_graph_ops(proto: Any) -> GraphOps:
    """The op types (subgraphs included) and the default domain's opset of a ``ModelProto``."""
    ops: set[str] = set()
    graphs = [proto.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            ops.add(node.op_type)
            for attr in node.attribute:
                graphs.extend([attr.g] if attr.HasField("g") else [])
                graphs.extend(attr.graphs)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return GraphOps(tuple(sorted(ops)), opset)


# -- what the plugins can feed -----------------------------------------------------------------------------------
def type_name(elem_type: int) -> str:
    """An ONNX element type by name: "float32", "int64", ... ("onnx type N" for one onnx does not know)."""
    names = {FLOAT: "float32", FLOAT16: "float16", BFLOAT16: "bfloat16"}
    if elem_type in names:
        return names[elem_type]
    try:
        import onnx

        return str(onnx.TensorProto.DataType.Name(elem_type)).lower()
    except Exception:  # an element type onnx does not know
        return f"onnx type {elem_type}"


def shape_text(tensor: TensorInfo) -> str:
    """A tensor's shape as "[1, 3, ?, ?]" (? for a dynamic dim)."""
    return "[" + ", ".join("?" if d is None else str(d) for d in tensor.shape) + "]"


def image_input(model: ModelInfo, where: str, parameter: str = "network_path") -> TensorInfo:
    """The model's one image input: 4-D NCHW, float32 or float16, batch 1; the model uses only runnable ops.

    ``parameter`` names the model in errors about the whole model (``model_path`` for the fp16 report).
    """
    if len(model.inputs) != 1:
        listed = ", ".join(f"{t.name!r} {shape_text(t)}" for t in model.inputs) or "none"
        raise ModelError(
            parameter,
            model.path,
            f"a model with one image input: inference() feeds all clips, plane by plane, into a single NCHW input, "
            f"but this model has {len(model.inputs)} inputs ({listed})",
            where=where,
        )
    counted = model.graph_inputs
    if counted is not None and counted > len(model.inputs):
        raise ModelError(
            parameter,
            model.path,
            f"a model whose graph inputs are its image only: this one also lists {counted - len(model.inputs)} of its "
            "weights (initializers) as graph inputs (an IR < 4 / opset 7-8 export, or torch.onnx.export's "
            "keep_initializers_as_inputs=True), and the plugins refuse a graph with more than one input. Re-export it "
            "with keep_initializers_as_inputs=False, or remove them: m = onnx.load(path); names = {i.name for i in "
            "m.graph.initializer}; kept = [i for i in m.graph.input if i.name not in names]; del m.graph.input[:]; "
            "m.graph.input.extend(kept); m.ir_version = max(m.ir_version, 4); onnx.save(m, 'fixed.onnx')",
            where=where,
        )
    tensor = model.inputs[0]
    require_nchw(tensor, "input", model, where)
    if tensor.elem_type not in (FLOAT, FLOAT16):
        raise ModelError(
            f"input {tensor.name!r} type",
            type_name(tensor.elem_type),
            "float32 or float16: the clips are fed as floats",
            where=f"{where} {model.path}",
        )
    if tensor.shape[0] not in (None, 1):
        raise ModelError(
            f"input {tensor.name!r} batch",
            tensor.shape[0],
            "1 or dynamic: each tile is one picture",
            where=f"{where} {model.path}",
        )
    ops = model.foreign_ops
    if ops:
        raise ModelError(
            parameter,
            model.path,
            f"a model of ONNX standard ops (domains ai.onnx, ai.onnx.ml) or of a runtime's own domains "
            f"({', '.join(sorted(KNOWN_DOMAINS))}); it uses {', '.join(ops)}, which no vs-mlrt runtime implements",
            where=where,
        )
    return tensor


def require_nchw(tensor: TensorInfo, role: str, model: ModelInfo, where: str) -> None:
    """``tensor`` (the model's image ``role``: "input" or "output") has the 4 dims of an NCHW image."""
    from .errors import Shown  # here, not at the top: the import block stays as main has it
    if len(tensor.shape) != 4:
        raise ModelError(
            f"{role} {tensor.name!r} shape",
            Shown(shape_text(tensor)),
            f"4 dims (batch, channels, height, width): an image {role}; this one has {len(tensor.shape)}",
            where=f"{where} {model.path}",
        )
    by_graph = tensor.shape[1] is None and tensor.shape[3] is None and tensor.name in channels_last(model)
    if is_nhwc(tensor) or by_graph:
        channels = f"its {tensor.shape[3]} channels" if tensor.shape[3] is not None else "its channels"
        how = " (its every dim is dynamic, and the graph shows the layout: its dims' names or a Transpose" + (
            " to channels-first at once)" if role == "input" else " from channels-first last)") if by_graph else ""
        raise ModelError(
            f"{role} {tensor.name!r} layout",
            Shown(f"NHWC {shape_text(tensor)}"),
            f"NCHW (batch, channels, height, width), the layout every vs-mlrt plugin feeds and reads: this {role} has "
            f"{channels} last{how} (a TensorFlow / Keras export). Re-export it channels-first (tf2onnx: "
            "--inputs-as-nchw and --outputs-as-nchw), or add Transpose nodes (perm 0,2,3,1 before, 0,3,1,2 after)",
            where=f"{where} {model.path}",
        )


_HEIGHT_NAMES = frozenset({"h", "height", "y", "rows"})
_WIDTH_NAMES = frozenset({"w", "width", "x", "cols", "columns"})
_CHANNEL_NAMES = frozenset({"c", "ch", "channel", "channels", "chan"})
_NHWC_TO_NCHW = [0, 3, 1, 2]
_NCHW_TO_NHWC = [0, 2, 3, 1]
_layouts: dict[tuple[str, int], frozenset[str]] = {}


def channels_last(model: ModelInfo) -> frozenset[str]:
    """The graph inputs and outputs whose layout the graph itself shows as NHWC, whatever their declared dims.

    An input that feeds a Transpose with perm (0, 3, 1, 2), an output a Transpose with perm (0, 2, 3, 1) makes (the
    way TensorFlow exports wrap an NCHW body), or a tensor whose dynamic dims are named height, width, channels.
    Read once per model and content in a process; asked only of tensors whose dims are all dynamic (their shape
    cannot tell).
    """
    return _read_once(_layouts, model, "its layout", lambda proto: _nhwc_names(model, proto.graph), frozenset())


def _nhwc_names(model: ModelInfo, graph: Any) -> frozenset[str]:
    """``channels_last`` read from the graph."""
    names: set[str] = set()
    inputs = {t.name for t in model.inputs}
    outputs = {t.name for t in model.outputs}
    for value in (*graph.input, *graph.output):  # dims named for their meaning: ["n", "h", "w", "c"]
        dims = [d.dim_param.lower() for d in value.type.tensor_type.shape.dim]
        if len(dims) == 4 and dims[1] in _HEIGHT_NAMES and dims[2] in _WIDTH_NAMES and dims[3] in _CHANNEL_NAMES:
            names.add(value.name)
    for node in graph.node:
        if node.op_type != "Transpose":
            continue
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        if perm == _NHWC_TO_NCHW and node.input and node.input[0] in inputs:
            names.add(node.input[0])
        if perm == _NCHW_TO_NHWC and node.output and node.output[0] in outputs:
            names.add(node.output[0])
    return frozenset(names)


def is_nhwc(tensor: TensorInfo) -> bool:
    """Whether a 4-D image tensor has its channels last: dim 3 is 1 .. 4 and dim 1 is dynamic or larger than 4."""
    if len(tensor.shape) != 4:
        return False
    second, last = tensor.shape[1], tensor.shape[3]
    return last is not None and 1 <= last <= 4 and (second is None or second > 4)



StatKey = tuple[str, int, int, int, int, int]
"""(absolute path, size, mtime_ns, ctime_ns, inode, device)."""


def stat_key(path: Path) -> StatKey:
    """(absolute path, size, mtime_ns, ctime_ns, inode, device): changes whenever the file is rewritten."""
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _external_keys(model: str, external: tuple[str, ...]) -> tuple[StatKey, ...] | None:
    """The stat keys of the model's external data files (a missing one: size -1), or None when one cannot be read."""
    folder = Path(model).parent
    keys: list[StatKey] = []
    for location in external:
        try:
            keys.append(stat_key(folder / location))
        except FileNotFoundError:
            keys.append((str(folder / location), -1, 0, 0, 0, 0))
        except OSError:
            return None
    return tuple(keys)


def external_files(proto: Any) -> tuple[str, ...]:
    """The external data locations an ONNX ``ModelProto`` names (initializers, constants, subgraphs), sorted."""
    from onnx import AttributeProto, TensorProto

    found: set[str] = set()

    def tensor(t: Any) -> None:
        if t.data_location == TensorProto.EXTERNAL:
            found.update(e.value for e in t.external_data if e.key == "location")

    def graph(g: Any) -> None:
        for t in g.initializer:
            tensor(t)
        for node in g.node:
            nodes(node)

    def nodes(node: Any) -> None:
        for attr in node.attribute:
            if attr.type == AttributeProto.TENSOR:
                tensor(attr.t)
            elif attr.type == AttributeProto.TENSORS:
                for t in attr.tensors:
                    tensor(t)
            elif attr.type == AttributeProto.GRAPH:
                graph(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    graph(sub)

    graph(proto.graph)
    for function in proto.functions:
        for node in function.node:
            nodes(node)
    return tuple(sorted(found))


def content_digest(data: bytes, folder: Path, external: tuple[str, ...]) -> int:
    """BLAKE2b (128 bits, as an int) of the model's bytes and of each external data file (name and bytes)."""
    h = hashlib.blake2b(digest_size=16, person=b"vsinfer-model")
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)
    for location in external:
        name = location.encode()
        h.update(b"\0external\0" + len(name).to_bytes(8, "little") + name)
        try:
            with open(folder / location, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                h.update(size.to_bytes(8, "little"))
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except FileNotFoundError:
            h.update(b"\0missing")
    return int.from_bytes(h.digest(), "big")


def _tensor(value_info: Any) -> TensorInfo:
    tensor_type = value_info.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim)
    return TensorInfo(value_info.name, int(tensor_type.elem_type), dims)


def read_model(path: Path) -> ModelInfo:
    """Read ``path`` once: its content digest and its graph inputs / outputs. Raises ModelError for a bad file."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError("network_path", str(path), "a readable ONNX file", where="model") from exc
    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError("network_path", str(path), "an ONNX model file (it could not be parsed)") from exc
    graph = proto.graph
    if not graph.input and not graph.output:
        raise ModelError("network_path", str(path), "an ONNX model file with a graph (none found)")
    initializers = {init.name for init in graph.initializer}
    inputs = tuple(_tensor(v) for v in graph.input if v.name not in initializers)
    outputs = tuple(_tensor(v) for v in graph.output)
    external = external_files(proto)
    try:
        checksum = content_digest(data, path.resolve().parent, external)
    except OSError as exc:
        raise ModelError("network_path", str(path), "a model whose external data files can be read",
                         where="model") from exc
    return ModelInfo(str(path.resolve()), checksum, inputs, outputs, foreign_ops(proto), external,
                     _read_graph_ops(proto), len(graph.input))


class ModelMemo:
    """On-disk memo of ModelInfo keyed by the model's ``stat_key`` and its external files': a hit never re-reads it.

    Each memo file holds ``{"key": [...], "external": [[...], ...], "info": {...}, "crc32": <crc32 of the
    canonical info JSON>}`` (``vsinfer.store.records.ModelMemoRecord``); a file that is not such a record (corrupt,
    or an older vsinfer's) is logged once and re-read from the model. The model's path always comes from the
    caller's key, never from the memo. The store it lives in is trusted (``Store.folder`` refuses a folder others
    can write), so the memo is a shortcut the user's own vsinfer wrote.
    """

    def __init__(self, store: Store) -> None:
        """Keep the memo files in ``<root>/models``."""
        self.store = store
        """The store whose ``models`` folder holds the memo."""

    def _file(self, key: StatKey) -> Path | None:
        try:
            folder = self.store.folder("models")
        except OSError:
            return None
        return folder / f"{hashlib.blake2b(key[0].encode(), digest_size=8).hexdigest()}.json"

    def get(self, key: StatKey) -> ModelInfo | None:
        """The remembered ModelInfo when every stat key (model and external files) matches and the record is intact."""
        file = self._file(key)
        if file is None:
            return None
        record = load(file, ModelMemoRecord)
        if record is None or record.key != tuple(key):
            return None  # none, not usable (logged), another model at this name, or this one changed
        if record.info.path != key[0]:
            log_once(logging.WARNING, ("memo", str(file), key), "model memo %s is not usable: it describes %s, "
                     "not %s; reading the model again", file, record.info.path, key[0])
            return None
        if _external_keys(key[0], record.info.external) != record.external:
            return None  # an external data file changed (or appeared, or went)
        if record.info.graph_inputs is None:
            return None  # an older vsinfer's memo: read the facts it lacks
        return ModelInfo.from_facts(record.info)

    def put(self, key: StatKey, info: ModelInfo) -> None:
        """Remember ``info``; a folder that cannot be written only costs a re-read later."""
        file = self._file(key)
        external = _external_keys(key[0], info.external)
        if file is None or external is None:
            return
        try:
            dump(file, ModelMemoRecord.seal(key, info.to_facts(), external))
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


_memo: dict[StatKey, tuple[ModelInfo, tuple[StatKey, ...] | None]] = {}
_memo_lock = threading.Lock()


def model_info(network_path: str | os.PathLike[str]) -> ModelInfo:
    """ModelInfo of ``network_path``, read once per process for each version of its files (``stat_key``)."""
    path = Path(network_path)
    if not path.is_file():
        raise ModelError("network_path", str(network_path), "an existing ONNX file")
    path = onnx_model_path(path, "model")  # a .pth / .safetensors: its ONNX export, made once (vsinfer.export)
    key = stat_key(path)
    with _memo_lock:
        cached = _memo.get(key)
    if cached is not None and cached[1] is not None and _external_keys(key[0], cached[0].external) == cached[1]:
        check_external_data(cached[0])
        return cached[0]
    info = model_memo().get(key)
    if info is None:
        logger.debug("reading %s", path)
        info = read_model(path)
        model_memo().put(key, info)
    external = _external_keys(key[0], info.external)
    with _memo_lock:
        _memo[key] = (info, external)
    check_external_data(info)
    return info


_needs: dict[tuple[str, int], dict[str, int]] = {}


def _external_needs(model: ModelInfo) -> dict[str, int]:
    """The bytes each external data file must hold (the end of its last tensor), read once per model and content.

    The .onnx of a model with external data is its graph alone: reading it is cheap.
    """
    key = (model.path, model.checksum)
    with _graph_ops_lock:
        found = _needs.get(key)
    if found is not None:
        return found
    import onnx
    from onnx import TensorProto

    needs: dict[str, int] = {}
    try:
        proto = onnx.load_model(model.path, load_external_data=False)
    except Exception as exc:  # unreadable here: read_model said why already
        logger.debug("could not read %s for its external data: %s", model.path, exc)
        return needs
    tensors = [*proto.graph.initializer]
    tensors += [a.t for n in proto.graph.node for a in n.attribute if a.HasField("t")]
    for tensor in tensors:
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        try:
            end = int(info.get("offset", 0)) + int(info.get("length", 0))
        except ValueError:
            continue
        needs[location] = max(needs.get(location, 0), end)
    with _graph_ops_lock:
        _needs[key] = needs
    return needs


def check_external_data(model: ModelInfo) -> None:
    """Every external data file ``model`` names is a regular file inside its folder, long enough; else a ModelError.

    A model whose weights are missing cannot run anywhere: this is said before any copy, conversion or plugin reads
    it (onnx would otherwise fail with its own ValidationError).
    """
    folder = Path(model.path).parent
    needs = _external_needs(model) if model.external else {}
    for location in model.external:
        target = folder / location
        inside = not Path(location).is_absolute() and ".." not in Path(location).parts
        if inside and target.is_file():
            size, need = target.stat().st_size, needs.get(location, 0)
            if size >= need:
                continue
            why = f"a file of {size} bytes where the model reads {need} (cut short: copied or downloaded in part?)"
        else:
            why = ("a location outside the model's folder" if not inside
                   else "a directory, not a file" if target.is_dir() else "a file that does not exist")
        raise ModelError(
            "network_path", model.path,
            f"a model whose external data files are beside it, whole: it keeps its weights in {location!r}, {why} "
            f"({target}); copy the .onnx together with its data file(s) ({', '.join(model.external)}), or, where they "
            "are, save it as one file: onnx.save(onnx.load(path), 'single.onnx', save_as_external_data=False)",
            where="model")
