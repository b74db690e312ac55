"""The fp16 guard: find the nodes whose float32 values overflow half precision, keep them in float32.

A model runs in fp16 by default on most backends. When one of its intermediate tensors goes past float16's
largest value (65504) the picture turns black, NaN or garbage, silently. The guard runs the float32 model once
with onnxruntime on sample pictures, with the largest magnitude of every intermediate tensor exposed, and
lists the nodes that must stay in float32:

- the nodes whose float outputs exceed ``LIMIT`` (float16's range with ``HEADROOM`` to spare);
- every node that reads such a value (in fp16 it would read the value through a cast to float16, i.e. inf);
- every node that reads a float constant the fp16 converter would clamp (``CONSTANT_LIMIT``).

Keeping producers and readers together also lets the converter drop the float32 -> float16 -> float32 cast
pairs between them, so no overflowing value is ever held in a float16 tensor.

What each backend family then does with that list is its own ``keep_in_float32`` hook (``vsinfer.backends.guard``
applies it); ``vsinfer.fp16.report`` reports it for a user.
The analysis is cached in the store (kind ``fp16``) by model checksum and sampling, so it runs once per model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import msgspec

from ..store.files import log_once
from ..store.records import (
    AnalysisFacts,
    AnalysisRecord,
    OverflowFacts,
    OverflowReason,
    dump,
    load,
    plain,
    real,
    to_data,
    to_float,
)
from .samples import CLIP_CROP, _samples, _sampling_key

if TYPE_CHECKING:
    import onnx
    import vapoursynth as vs

    from ..model import ModelInfo
    from ..store import Store
    from .samples import Picture

__all__ = [
    "CONSTANT_LIMIT",
    "FP16_MAX",
    "HEADROOM",
    "LIMIT",
    "Analysis",
    "OverflowNode",
    "analyse",
    "tensor_ranges",
]

logger = logging.getLogger("vsinfer.fp16")

FP16_MAX = 65504.0
"""The largest finite float16 value."""
HEADROOM = 4.0
"""Head room between what the samples reached and float16's range: content the samples did not cover (a worst
case pattern for a convolution's signs, a brighter or sharper picture) can drive activations further; 4 (two
bits of exponent) keeps a value found at 16376 from overflowing even if real content quadruples it."""
LIMIT = FP16_MAX / HEADROOM
"""A float tensor whose largest magnitude on the samples exceeds this overflows float16 (16376)."""
CONSTANT_LIMIT = 1e4
"""Float constants beyond this are clamped by the fp16 converter (onnxconverter-common's ``max_finite_val``
default, used by ``vsinfer.conversion``): their readers stay in float32 so they keep the exact value."""
CLIP_FRAMES = 1
"""Frames of the user's clip ``analyse`` adds to the synthetic sample by default (the middle one; ``report`` takes
three; the guard takes none, so that a prebuild and ``inference`` agree)."""
ANALYSIS_VERSION = 1
"""Bumped whenever the analysis or its record changes meaning; older records then stop matching."""

_FLOAT_TYPES = (1, 11)  # float32, float64: the tensors a float32 model can overflow in when run in fp16


# -- the analysis -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverflowNode:
    """A node the guard keeps in float32, and why."""

    name: str
    """The node's name in the graph ("" when the model left it unnamed)."""
    op_type: str
    """Its ONNX op type."""
    reason: str
    """"output": its output exceeds the limit; "reads": it reads such an output; "constant": it reads a float
    constant the converter would clamp."""
    max_abs: float
    """The largest magnitude involved: of its output ("output") or of the value it reads."""
    tensors: tuple[str, ...]
    """The tensors concerned (its overflowing outputs, or the overflowing inputs / constants it reads)."""

    def to_facts(self) -> OverflowFacts:
        """The record schema's form (``vsinfer.store.records.OverflowFacts``)."""
        return OverflowFacts(name=self.name, op_type=self.op_type, reason=cast(OverflowReason, self.reason),
                             max_abs=real(self.max_abs), tensors=self.tensors)

    @classmethod
    def from_facts(cls, facts: OverflowFacts) -> OverflowNode:
        """Rebuild from ``to_facts`` output."""
        return cls(facts.name, facts.op_type, facts.reason, to_float(facts.max_abs), facts.tensors)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as strings)."""
        return to_data(self.to_facts())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OverflowNode:
        """Rebuild from ``to_json`` output; ``msgspec.ValidationError`` when it is not such a dict."""
        return cls.from_facts(msgspec.convert(data, OverflowFacts))


@dataclass(frozen=True)
class Analysis:
    """The range analysis of one float32 model on one set of samples."""

    model_crc32: int
    """Checksum of the model analysed."""
    samples: str
    """What the model was run on, e.g. "a synthetic 256x256 mosaic + 1 frame (128x128) of the clip"."""
    max_abs: float
    """The largest magnitude of any float tensor on the samples."""
    nodes: tuple[OverflowNode, ...]
    """Nodes to keep in float32, in graph order."""
    seconds: float
    """Time the analysis took when it ran (not when it was read from the cache)."""
    cached: bool = False
    """True when this record was read from the store."""

    @property
    def block_list(self) -> tuple[str, ...]:
        """Sorted names of the nodes to keep in float32 (empty when nothing overflows)."""
        return tuple(sorted({n.name for n in self.nodes}))

    @property
    def unnamed(self) -> bool:
        """True when a node to keep in float32 has no name (a node block list cannot reach it)."""
        return any(not n.name for n in self.nodes)

    @property
    def overflowing(self) -> tuple[OverflowNode, ...]:
        """The nodes whose own outputs exceed the limit."""
        return tuple(n for n in self.nodes if n.reason == "output")

    def to_facts(self) -> AnalysisFacts:
        """The record schema's form (``vsinfer.store.records.AnalysisFacts``)."""
        return AnalysisFacts(model_crc32=self.model_crc32, samples=self.samples, max_abs=real(self.max_abs),
                             nodes=tuple(n.to_facts() for n in self.nodes), seconds=self.seconds)

    @classmethod
    def from_facts(cls, facts: AnalysisFacts, *, cached: bool = False) -> Analysis:
        """Rebuild from ``to_facts`` output."""
        return cls(facts.model_crc32, facts.samples, to_float(facts.max_abs),
                   tuple(OverflowNode.from_facts(n) for n in facts.nodes), facts.seconds, cached)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as strings); ``from_json`` reads it back."""
        return to_data(self.to_facts())

    @classmethod
    def from_json(cls, data: dict[str, Any], *, cached: bool = False) -> Analysis:
        """Rebuild from ``to_json`` output; ``msgspec.ValidationError`` when it is not such a dict."""
        return cls.from_facts(msgspec.convert(data, AnalysisFacts), cached=cached)

    def summary(self) -> str:
        """One line: the overflowing nodes with their ranges."""
        parts = [f"{n.name or '<unnamed ' + n.op_type + '>'} ({n.op_type}, max |x| {n.max_abs:.4g})"
                 for n in self.overflowing]
        if not parts:
            parts = [f"{n.name} reads a constant of magnitude {n.max_abs:.4g}" for n in self.nodes]
        return ", ".join(parts)


def _json_number(value: float) -> float | str:
    """``value`` for JSON, non-finite numbers as text ("inf", "nan"): ``vsinfer.fp16.reporting`` uses it."""
    return real(value)


def _typed(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, int]]:
    """``proto`` with inferred value types, and the element type of every tensor whose type is known."""
    import onnx

    try:
        proto = onnx.shape_inference.infer_shapes(proto)
    except Exception as exc:  # a model shape inference cannot read: the types it declares itself
        logger.debug("shape inference failed (%s); using the declared types only", exc)
    graph = proto.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.output, *graph.input)}
    types |= {init.name: init.data_type for init in graph.initializer}
    return proto, types


_BOUNDED_OPS = frozenset({
    "Relu", "Clip", "Identity", "Dropout", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Slice",
    "Split", "Concat", "Gather", "Expand", "Tile", "DepthToSpace", "SpaceToDepth", "MaxPool", "GlobalMaxPool",
    "AveragePool", "GlobalAveragePool",
})
"""Ops whose float outputs never exceed the largest magnitude of their inputs: not measured, bounded instead.
Leaving them out keeps half of a Conv + Relu network's measurements (and their memory traffic) away."""


def _relu_fed(proto: onnx.ModelProto) -> dict[str, str]:
    """Tensors read by one Relu only (not graph outputs) -> that Relu's output.

    Such a tensor needs no measurement of its own: a large negative value becomes -inf in float16 and Relu still
    makes it 0, the right answer; its positive side is the Relu's output. Measuring the Relu instead lets
    onnxruntime fuse Conv + Relu, which halves the analysis of a Conv + Relu network.
    """
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in proto.graph.node:
        for name in set(node.input):
            readers.setdefault(name, []).append(node)
    outputs = {o.name for o in proto.graph.output}
    return {name: nodes[0].output[0] for name, nodes in readers.items()
            if len(nodes) == 1 and nodes[0].op_type == "Relu" and name not in outputs}


def _instrumented(
    proto: onnx.ModelProto, elem_types: Sequence[int] = _FLOAT_TYPES, *, bound: bool = False
) -> tuple[bytes, list[str]]:
    """The model with the largest and smallest value of every node output of ``elem_types`` as scalar outputs.

    Only scalars leave the session, so a deep model at 256x256 does not keep every activation in memory.
    Constant outputs are left out (``_constants`` reads them without running anything). With ``bound``, so are
    the outputs of ``_BOUNDED_OPS`` (``_bounded`` derives them from their inputs) and the tensors only a Relu
    reads (``_relu_fed``: the Relu's output is measured instead).
    """
    from onnx import helper

    typed, types = _typed(proto)
    proxies = _relu_fed(typed) if bound else {}
    proxy_outputs = set(proxies.values())

    def measured(node: onnx.NodeProto, out: str) -> bool:
        if not out or types.get(out) not in elem_types or node.op_type == "Constant" or out in proxies:
            return False
        return not (bound and node.op_type in _BOUNDED_OPS and out not in proxy_outputs)

    graph = typed.graph
    tensors: list[str] = []
    seen: set[str] = set()
    nodes: list[onnx.NodeProto] = []
    del graph.output[:]
    for node in list(graph.node):
        nodes.append(node)
        for name in node.output:
            if name in seen or not measured(node, name):
                continue
            i = len(tensors)
            tensors.append(name)
            seen.add(name)
            source = name
            if types[name] not in _FLOAT_TYPES:  # e.g. float16 tensors of a converted model: measured as float32
                source = f"vsinfer_f32_{i}"
                nodes.append(helper.make_node("Cast", [name], [source], to=1, name=source))
            elem = types[name] if types[name] in _FLOAT_TYPES else 1
            for op in ("ReduceMax", "ReduceMin"):  # two reads and no write: cheaper than Abs then ReduceMax
                out = f"vsinfer_{op}_{i}"
                nodes.append(helper.make_node(op, [source], [out], keepdims=0, name=out))
                graph.output.append(helper.make_tensor_value_info(out, elem, []))
    # right after their producer: onnxruntime then frees each activation as soon as the next layer has read it
    del graph.node[:]
    graph.node.extend(nodes)
    return typed.SerializeToString(), tensors


def _bounded(proto: onnx.ModelProto, ranges: dict[str, float], known: dict[str, float]) -> dict[str, float]:
    """``ranges`` completed with the tensors that were not measured.

    A Relu-fed tensor takes its Relu's range; an output of ``_BOUNDED_OPS`` the largest magnitude among the
    op's inputs (an upper bound).
    """
    full = dict(ranges)
    for name, relu_out in _relu_fed(proto).items():
        if relu_out in full:
            full.setdefault(name, full[relu_out])
    for node in proto.graph.node:
        if node.op_type in _BOUNDED_OPS:
            bound = max((full.get(t, known.get(t, 0.0)) for t in node.input if t), default=0.0)
            for out in node.output:
                full.setdefault(out, bound)
    return full


def _session(data: bytes | str, *, optimize: bool = True) -> Any:
    """An onnxruntime CPU session; ``optimize=False`` keeps every Cast of the graph where it is."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _run(session: Any, picture: Picture) -> list[Any]:
    """Outputs of ``session`` for one picture (given as float16 to a half-IO model)."""
    import numpy as np

    spec = session.get_inputs()[0]
    batch = picture[None].astype(np.float16) if spec.type == "tensor(float16)" else picture[None]
    result: list[Any] = session.run(None, {spec.name: batch})
    return result


def tensor_ranges(
    model: str | Path | onnx.ModelProto, pictures: Sequence[Picture], elem_types: Sequence[int] = _FLOAT_TYPES,
    *, bound: bool = False,
) -> dict[str, float]:
    """Largest magnitude of every node output of ``elem_types`` (default: float32 / float64) over ``pictures``.

    ``elem_types=(10,)`` lists the float16 tensors of a converted model: none may exceed 65504. With ``bound``,
    outputs of ops that cannot grow a value (Relu, Reshape, MaxPool...) are left out (see ``_bounded``).
    """
    import onnx

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    data, tensors = _instrumented(proto, elem_types, bound=bound)
    if not tensors:
        return {}
    session = _session(data, optimize=all(t in _FLOAT_TYPES for t in elem_types))  # keep a converted model's casts
    ranges = dict.fromkeys(tensors, 0.0)
    for picture in pictures:
        values = _run(session, picture)
        for i, name in enumerate(tensors):
            high, low = float(values[2 * i]), float(values[2 * i + 1])
            ranges[name] = max(ranges[name], high, -low)  # NaN compares False: the old maximum stays
    return ranges


def _constants(proto: onnx.ModelProto) -> dict[str, float]:
    """Largest magnitude of every float initializer and Constant output."""
    import numpy as np
    from onnx import numpy_helper

    found: dict[str, float] = {}
    arrays = [(init.name, init) for init in proto.graph.initializer]
    arrays += [(node.output[0], attr.t) for node in proto.graph.node if node.op_type == "Constant"
               for attr in node.attribute if attr.name == "value"]
    for name, tensor in arrays:
        if tensor.data_type in _FLOAT_TYPES and not tensor.external_data:
            values = numpy_helper.to_array(tensor)
            found[name] = float(np.max(np.abs(values))) if values.size else 0.0
    return found


def _block_nodes(proto: onnx.ModelProto, ranges: dict[str, float], constants: dict[str, float]) -> list[OverflowNode]:
    """Producers of overflowing tensors, their readers, and readers of clamped constants, in graph order."""
    hot = {t for t, v in ranges.items() if v > LIMIT}
    big = {t for t, v in constants.items() if v > CONSTANT_LIMIT}
    nodes: list[OverflowNode] = []
    for node in proto.graph.node:
        outs = [t for t in node.output if t in hot]
        if outs:
            nodes.append(OverflowNode(node.name, node.op_type, "output", max(ranges[t] for t in outs), tuple(outs)))
            continue
        ins = [t for t in node.input if t in hot]
        if ins:
            nodes.append(OverflowNode(node.name, node.op_type, "reads", max(ranges[t] for t in ins), tuple(ins)))
            continue
        consts = [t for t in node.input if t in big]
        if consts and node.op_type != "Constant":
            nodes.append(OverflowNode(node.name, node.op_type, "constant", max(constants[t] for t in consts),
                                      tuple(consts)))
    return nodes


def _run_analysis(
    model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int, channels: int | None = None
) -> Analysis:
    import onnx

    start = time.perf_counter()
    pictures, description = _samples(model, clips, frames, channels)
    proto = onnx.load(model.path)
    constants = _constants(proto)
    inputs = {t.name: max(float(abs(p).max()) for p in pictures) for t in model.inputs}
    ranges = _bounded(proto, tensor_ranges(proto, pictures, bound=True), constants | inputs)
    nodes = _block_nodes(proto, ranges, constants)
    seconds = time.perf_counter() - start
    max_abs = max(ranges.values(), default=0.0)
    logger.debug("fp16 analysis of %s on %s: %.2f s, max |x| %.4g", model.path, description, seconds, max_abs)
    return Analysis(model.checksum, description, max_abs, tuple(nodes), seconds)


_memo: dict[tuple[str, int, str], Analysis] = {}
_memo_lock = threading.Lock()


def _identity(
    model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int, channels: int | None = None
) -> dict[str, Any]:
    return {"v": ANALYSIS_VERSION, "model_crc32": model.checksum, "limit": LIMIT, "constant_limit": CONSTANT_LIMIT,
            "crop": CLIP_CROP, **_sampling_key(model, clips, frames, channels)}


def _record_path(store: Store, identity: dict[str, Any]) -> Path:
    from ..store import identity_name

    return store.folder("fp16") / f"{identity['model_crc32']:08x}-{identity_name(identity)}.json"


def _read_record(path: Path, identity: dict[str, Any]) -> Analysis | None:
    """The stored analysis at ``path`` when its record matches ``identity``; None (logged once) otherwise."""
    record = load(path, AnalysisRecord)
    if record is None:
        return None
    if record.identity != plain(identity):
        log_once(logging.WARNING, ("fp16", str(path), "identity"), "%s belongs to another analysis (CRC32 "
                 "collision or stale record); analysing again", path)
        return None
    return Analysis.from_facts(record.analysis, cached=True)


def _analyse_and_store(
    model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int, channels: int | None, identity: dict[str, Any],
    path: Path,
) -> Analysis:
    """Under the record's lock: run the analysis and store it (a failed write only costs a new analysis later)."""
    analysis = _run_analysis(model, clips, frames, channels)
    meta = {"model": Path(model.path).name, "kind": "fp16 analysis", "nodes_kept_in_float32": len(analysis.block_list)}
    try:
        dump(path, AnalysisRecord(identity=identity, meta=meta, analysis=analysis.to_facts()))
    except OSError as exc:
        logger.debug("could not store the fp16 analysis %s: %s", path, exc)
    return analysis


def _cached(
    model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int, store: Store, channels: int | None = None
) -> Analysis:
    """The analysis for this model and sampling: from memory, the store, or run now (and stored).

    A miss runs under the record's lock, so processes starting on the same model analyse it once.
    """
    from ..store import canonical_json

    identity = _identity(model, clips, frames, channels)
    memo_key = (str(store.requested), model.checksum, canonical_json(identity))
    with _memo_lock:
        analysis = _memo.get(memo_key)
    if analysis is not None:
        return analysis
    try:
        path: Path | None = _record_path(store, identity)
    except OSError as exc:  # no usable cache folder at all: analyse privately, publish nothing
        logger.warning("no cache folder for the fp16 analysis (%s); analysing without storing it", exc)
        path = None
    analysis = _read_record(path, identity) if path is not None else None
    if analysis is None and path is not None:
        try:
            with store.lock(path):
                analysis = _read_record(path, identity)
                if analysis is None:
                    analysis = _analyse_and_store(model, clips, frames, channels, identity, path)
        except OSError as exc:
            # a lock it cannot take (another user's lock file, a read-only folder): the guard still runs, privately
            log_once(logging.WARNING, ("fp16-lock", str(path), str(exc)), "cannot lock %s (%s); analysing "
                     "privately without storing the result", path, exc)
    if analysis is None:
        analysis = _run_analysis(model, clips, frames, channels)
    with _memo_lock:
        _memo[memo_key] = analysis
    return analysis


def analyse(
    model: ModelInfo, clips: Sequence[vs.VideoNode] = (), *, frames: int = CLIP_FRAMES, channels: int | None = None,
    store: Store | None = None,
) -> Analysis:
    """The range analysis of the float32 ``model``: which nodes overflow float16 and which must stay float32.

    The model runs (onnxruntime, CPU) on synthetic pictures covering 0..1 and, when ``clips`` can be read now,
    on ``frames`` centre crops of them (``frames=0``: the synthetic pictures alone, whose channels are the model's,
    else ``channels``, else the clips' planes). Cached in the store by model checksum and sampling: the clip enters
    the key by format and size (not by content), so a cache hit renders no frame.
    """
    from ..store import Store

    return _cached(model, list(clips), frames, store or Store(), channels)
