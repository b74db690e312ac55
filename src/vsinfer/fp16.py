"""The fp16 guard: find the nodes whose float32 values overflow half precision, keep them in float32.

A model runs in fp16 by default on most backends. When one of its intermediate tensors goes past float16's
largest value (65504) the picture turns black, NaN or garbage, silently. The guard runs the float32 model once
with onnxruntime on sample pictures, with the largest magnitude of every intermediate tensor exposed, and
lists the nodes that must stay in float32:

- the nodes whose float outputs exceed ``LIMIT`` (float16's range with a safety margin of ``MARGIN``);
- every node that reads such a value (in fp16 it would read the value through a cast to float16, i.e. inf);
- every node that reads a float constant the fp16 converter would clamp (``CONSTANT_LIMIT``).

Keeping producers and readers together also lets the converter drop the float32 -> float16 -> float32 cast
pairs between them, so no overflowing value is ever held in a float16 tensor.

What each backend then does with that list is ``apply_guard``'s job; ``check`` reports it for a user.
The analysis is cached in the store (kind ``fp16``) by model checksum and sampling, so it runs once per model.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import onnx
    import vapoursynth as vs

    from .backends.base import Backend
    from .backends.ov import OV
    from .engine.store import Store
    from .model import ModelInfo

    Picture = npt.NDArray[np.float32]

__all__ = [
    "CONSTANT_LIMIT",
    "FP16_MAX",
    "LIMIT",
    "MARGIN",
    "Analysis",
    "Fp16Report",
    "OverflowNode",
    "analyse",
    "apply_guard",
    "check",
    "emulate_fp16",
    "synthetic_samples",
    "tensor_ranges",
]

logger = logging.getLogger(__name__)

FP16_MAX = 65504.0
"""The largest finite float16 value."""
MARGIN = 4.0
"""Head room between what the samples reached and float16's range: content the samples did not cover (a worst
case pattern for a convolution's signs, a brighter or sharper picture) can drive activations further; 4 (two
bits of exponent) keeps a value found at 16376 from overflowing even if real content quadruples it."""
LIMIT = FP16_MAX / MARGIN
"""A float tensor whose largest magnitude on the samples exceeds this overflows float16 (16376)."""
CONSTANT_LIMIT = 1e4
"""Float constants beyond this are clamped by the fp16 converter (onnxconverter-common's ``max_finite_val``
default, used by ``vsinfer.engine.convert``): their readers stay in float32 so they keep the exact value."""
SAMPLE_SIZE = 256
"""Side of the synthetic sample for models with dynamic spatial dims."""
CLIP_CROP = 128
"""Largest side of the crops of the user's clip: a frame costs a quarter of the synthetic sample's run."""
CLIP_FRAMES = 1
"""Frames of the user's clip added to the synthetic sample by the guard (the middle one; ``check`` takes three)."""
ANALYSIS_VERSION = 1
"""Bumped whenever the analysis or its record changes meaning; older records then stop matching."""
SAMPLING_VERSION = 2
"""Bumped whenever the synthetic pictures change."""

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

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as strings)."""
        return {"name": self.name, "op_type": self.op_type, "reason": self.reason,
                "max_abs": _json_number(self.max_abs), "tensors": list(self.tensors)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OverflowNode:
        """Rebuild from ``to_json`` output."""
        return cls(str(data["name"]), str(data["op_type"]), str(data["reason"]), float(data["max_abs"]),
                   tuple(str(t) for t in data["tensors"]))


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

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_json`` reads it back."""
        return {"model_crc32": self.model_crc32, "samples": self.samples, "max_abs": _json_number(self.max_abs),
                "nodes": [n.to_json() for n in self.nodes], "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, cached: bool = False) -> Analysis:
        """Rebuild from ``to_json`` output."""
        return cls(int(data["model_crc32"]), str(data["samples"]), float(data["max_abs"]),
                   tuple(OverflowNode.from_json(n) for n in data["nodes"]), float(data["seconds"]), cached)

    def summary(self) -> str:
        """One line: the overflowing nodes with their ranges."""
        parts = [f"{n.name or '<unnamed ' + n.op_type + '>'} ({n.op_type}, max |x| {n.max_abs:.4g})"
                 for n in self.overflowing]
        if not parts:
            parts = [f"{n.name} reads a constant of magnitude {n.max_abs:.4g}" for n in self.nodes]
        return ", ".join(parts)


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def synthetic_samples(channels: int, height: int, width: int) -> list[Picture]:
    """One mosaic covering 0..1: colour gradients, hard edges, flat white around a black square, binary noise.

    Returned as a list of (channels, height, width) float32 pictures. Four quadrants: gradients (every level),
    a 4-pixel checkerboard whose channels alternate (saturated colour edges), a flat white area (the largest
    response of positive weights) with a black square (large steps), and 0/1 noise (random sign patterns, close
    to the worst case of a convolution). One picture keeps the analysis of a deep model to one run.
    """
    import numpy as np

    rng = np.random.default_rng(20261122)
    c = np.arange(channels, dtype=np.float32)[:, None, None]
    y = np.arange(height, dtype=np.float32)[None, :, None] / max(height - 1, 1)
    x = np.arange(width, dtype=np.float32)[None, None, :] / max(width - 1, 1)
    mosaic = np.broadcast_to(np.mod(x * 2 + y + c / max(channels, 1), 1.0), (channels, height, width)).copy()
    h2, w2 = height // 2, width // 2
    blocks = (np.arange(height)[:, None] // 4 + np.arange(width)[None, :] // 4) % 2
    edges = np.where(c % 2 == 0, blocks[None], 1 - blocks[None]).astype(np.float32)
    mosaic[:, :h2, w2:] = edges[:, :h2, w2:]
    mosaic[:, h2:, :w2] = 1.0
    mosaic[:, h2 + (height - h2) // 3: height - (height - h2) // 3, w2 // 3: w2 - w2 // 3] = 0.0
    mosaic[:, h2:, w2:] = rng.random((channels, height - h2, width - w2)) > 0.5
    return [mosaic]


def _sample_shape(model: ModelInfo, clips: Sequence[vs.VideoNode]) -> tuple[int, int | None, int | None]:
    """(channels, static height, static width) of the samples: the model's channels, else the clip's planes, else 3."""
    tensor = model.input()
    channels = tensor.channels or sum(n.format.num_planes for n in clips) or 3
    static_w, static_h = tensor.spatial
    return channels, static_h, static_w


def _crop_side(size: int, static: int | None) -> int | None:
    """The crop side for a clip side ``size``: the model's static side, else <= CLIP_CROP and a multiple of 16."""
    if static is not None:
        return static if size >= static else None
    side = min(size, CLIP_CROP)
    return side - side % 16 if side >= 16 else side


def _sampling_key(model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int) -> dict[str, Any]:
    """What the cache key says about the samples; the clip enters by format and size (no frame is read)."""
    channels, height, width = _sample_shape(model, clips)
    synthetic = [channels, height or SAMPLE_SIZE, width or SAMPLE_SIZE]
    key: dict[str, Any] = {"sampling": SAMPLING_VERSION, "synthetic": synthetic}
    if frames and clips:
        key |= {"clip": [[n.format.name, n.width, n.height] for n in clips], "frames": frames}
    return key


def _frame_indices(length: int, frames: int) -> list[int]:
    """The middle frames of ``frames`` equal parts of the clip (the middle one for 1: first frames are often black)."""
    return sorted({min(length - 1, (2 * i + 1) * length // (2 * frames)) for i in range(frames)}) if length > 0 else []


def _clip_samples(clips: Sequence[vs.VideoNode], model: ModelInfo, frames: int) -> list[Picture]:
    """Up to ``frames`` frames of the clips, centre-cropped, in the float format the model reads.

    Empty when the clips do not fit the model's input or cannot be rendered now.
    """
    import numpy as np
    import vapoursynth as vs

    channels, static_h, static_w = _sample_shape(model, clips)
    if not clips or sum(n.format.num_planes for n in clips) != channels:
        return []
    width, height = clips[0].width, clips[0].height
    cw, ch = _crop_side(width, static_w), _crop_side(height, static_h)
    if cw is None or ch is None:
        return []
    try:
        from vstools import depth

        left, top = (width - cw) // 4 * 2, (height - ch) // 4 * 2  # even offsets suit subsampled formats
        floats = [depth(vs.core.std.CropAbs(n, cw, ch, left, top), 32, sample_type=vs.FLOAT) for n in clips]
        pictures: list[Picture] = []
        for i in _frame_indices(min(n.num_frames for n in clips), frames):
            planes: list[Any] = []
            for node in floats:
                frame = node.get_frame(i)
                planes.extend(np.array(frame[p], dtype=np.float32) for p in range(frame.format.num_planes))
            if any(p.shape != (ch, cw) for p in planes):  # subsampled chroma cannot be stacked
                return []
            pictures.append(np.stack(planes))
        return pictures
    except Exception as exc:  # a clip that cannot be rendered now: the synthetic samples still stand
        logger.debug("fp16 guard: frames of the clip could not be read (%s); using synthetic samples only", exc)
        return []


def _samples(model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int) -> tuple[list[Picture], str]:
    """The sample pictures and a description of them."""
    channels, height, width = _sample_shape(model, clips)
    pictures = synthetic_samples(channels, height or SAMPLE_SIZE, width or SAMPLE_SIZE)
    description = f"a synthetic {width or SAMPLE_SIZE}x{height or SAMPLE_SIZE} mosaic"
    real = _clip_samples(clips, model, frames) if frames else []
    if real:
        plural = "s" if len(real) > 1 else ""
        description += f" + {len(real)} frame{plural} ({real[0].shape[2]}x{real[0].shape[1]}) of the clip"
    return pictures + real, description


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


def _run_analysis(model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int) -> Analysis:
    import onnx

    start = time.perf_counter()
    pictures, description = _samples(model, clips, frames)
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


def _identity(model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int) -> dict[str, Any]:
    return {"v": ANALYSIS_VERSION, "model_crc32": model.checksum, "limit": LIMIT, "constant_limit": CONSTANT_LIMIT,
            "crop": CLIP_CROP, **_sampling_key(model, clips, frames)}


def _record_path(store: Store, identity: dict[str, Any]) -> Path:
    from .engine.store import identity_name

    return store.folder("fp16") / f"{identity['model_crc32']:08x}-{identity_name(identity)}.json"


def _read_record(path: Path, identity: dict[str, Any]) -> Analysis | None:
    """The stored analysis at ``path`` when its record matches ``identity``."""
    from .engine.store import canonical_json

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("identity") == json.loads(canonical_json(identity)):
            return Analysis.from_json(record["analysis"], cached=True)
        logger.warning("%s belongs to another analysis (CRC32 collision or stale record); analysing again", path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _cached(model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int, store: Store) -> Analysis:
    """The analysis for this model and sampling: from memory, the store, or run now (and stored).

    A miss runs under the record's lock, so processes starting on the same model analyse it once.
    """
    from .engine.store import atomic_write, canonical_json

    identity = _identity(model, clips, frames)
    memo_key = (str(store.requested), model.checksum, canonical_json(identity))
    with _memo_lock:
        analysis = _memo.get(memo_key)
    if analysis is not None:
        return analysis
    path = _record_path(store, identity)
    analysis = _read_record(path, identity)
    if analysis is None:
        with store.lock(path):
            analysis = _read_record(path, identity)
            if analysis is None:
                analysis = _run_analysis(model, clips, frames)
                meta = {"model": Path(model.path).name, "kind": "fp16 analysis",
                        "nodes_kept_in_float32": len(analysis.block_list)}
                record = {"identity": identity, "meta": meta, "analysis": analysis.to_json()}
                try:
                    atomic_write(path, json.dumps(record, indent=1, sort_keys=True).encode())
                except OSError as exc:  # only costs a new analysis next time
                    logger.debug("could not store the fp16 analysis %s: %s", path, exc)
    with _memo_lock:
        _memo[memo_key] = analysis
    return analysis


def analyse(
    model: ModelInfo, clips: Sequence[vs.VideoNode] = (), *, frames: int = CLIP_FRAMES, store: Store | None = None
) -> Analysis:
    """The range analysis of the float32 ``model``: which nodes overflow float16 and which must stay float32.

    The model runs (onnxruntime, CPU) on synthetic pictures covering 0..1 and, when ``clips`` can be read now,
    on ``frames`` centre crops of them. Cached in the store by model checksum and sampling: the clip enters the
    key by format and size (not by content), so a cache hit renders no frame.
    """
    from .engine.store import Store

    return _cached(model, list(clips), frames, store or Store())


# -- the guard ----------------------------------------------------------------------------------------------

_decisions: set[tuple[int, str, str]] = set()
_decisions_lock = threading.Lock()


def _log_once(level: int, model: ModelInfo, backend: Backend, message: str, *args: Any) -> None:
    """Log the guard's decision once per model, backend class and decision; later calls log at DEBUG."""
    key = (model.checksum, type(backend).__name__, message % args)
    with _decisions_lock:
        first = key not in _decisions
        _decisions.add(key)
    logger.log(level if first else logging.DEBUG, message, *args)


def _ov_devices(backend: OV) -> list[str]:
    from .backends.ov import device_list

    return [d.split(".")[0] for d in device_list(backend.device_name())]


def _runs_fp16(backend: Backend) -> bool:
    """True when ``backend`` would run the model (partly) in float16."""
    from .backends.ov import OV

    if isinstance(backend, OV):
        if hasattr(backend, "precision_hint"):  # OV_CPU, OV_GPU: fp16 / bf16 / block-list fields
            return backend.precision_hint() == "f16" or bool(getattr(backend, "fp16_blacklist_ops", None))
        hint = backend.custom_config.get("INFERENCE_PRECISION_HINT")
        if hint is not None:
            return str(hint).lower() == "f16"
        return any(d in ("GPU", "NPU", "AUTO") for d in _ov_devices(backend))  # their default precision is f16
    return bool(getattr(backend, "fp16", False)) and not bool(getattr(backend, "bf16", False))


def apply_guard(backend: Backend, model: ModelInfo, clips: Sequence[vs.VideoNode]) -> tuple[Backend, ModelInfo]:
    """The backend (and model) to run so that no overflowing node runs in fp16; unchanged when nothing overflows.

    Does nothing (and analyses nothing) when the backend runs in float32 or bfloat16, when its ``fp16_guard``
    is False, or when the model itself has float16 inputs. Otherwise, when nodes overflow, per backend:

    - TRT / TRT_RTX: the nodes are added to ``fp16_blacklist_ops``; the engine identity (sidecar) records them.
    - ORT_*: the model is converted here with the nodes kept in float32 (cached in the store, IO typed like the
      clip) and the plugin runs it as given (``fp16=False``).
    - OV_GPU and ``OV`` on a GPU / AUTO device: the same converted model, run with precision hint f32 so the kept
      nodes stay float32 (the plugin's own block-list route, by node instead of by op type).
    - OV_CPU: precision hint f32 on the original model (OpenVINO's CPU runs f16 models in float32 below
      AVX512-FP16 / AMX-FP16 anyway, so this costs nothing there and is exact where it would not).
    - NCNN, MIGX (no node block list), or nodes without names: the model runs in float32, with a warning.
    - OV_NPU (fp16 only): a warning; nothing can be changed.
    """
    if not getattr(backend, "fp16_guard", True) or model.fp16_io or not _runs_fp16(backend):
        return backend, model
    try:
        analysis = analyse(model, clips)
    except Exception as exc:  # the guard must never stop a model the plugin could run
        _log_once(logging.WARNING, model, backend, "fp16 guard: could not analyse %s (%s); it runs in fp16 "
                  "unchecked (fp16_guard=False skips the analysis)", model.path, exc)
        return backend, model
    if not analysis.nodes:
        _log_once(logging.INFO, model, backend, "fp16 guard: no float16 overflow in %s (max |x| %.4g on %s): "
                  "full fp16", model.path, analysis.max_abs, analysis.samples)
        return backend, model
    try:
        return _guarded(backend, model, clips, analysis)
    except Exception as exc:  # a conversion that fails: float32 is always right
        _log_once(logging.WARNING, model, backend, "fp16 guard: %s overflows float16 (%s) and could not be "
                  "converted with those nodes in float32 (%s); running it in float32", model.path,
                  analysis.summary(), exc)
        return _replace(backend, fp16=False, fp16_blacklist_ops=None), model


def _guarded(
    backend: Backend, model: ModelInfo, clips: Sequence[vs.VideoNode], analysis: Analysis
) -> tuple[Backend, ModelInfo]:
    from .backends.ort import ORT
    from .backends.ov import OV, OV_CPU
    from .backends.trt import TRT

    name = type(backend).__name__
    nodes = analysis.block_list
    found = f"fp16 guard: {model.path} overflows float16 ({analysis.summary()})"
    if isinstance(backend, OV) and set(_ov_devices(backend)) == {"NPU"}:
        _log_once(logging.WARNING, model, backend, "%s; %s computes in fp16 only and its output may be wrong: use "
                  "OV_CPU or OV_GPU", found, name)
        return backend, model
    if analysis.unnamed or not isinstance(backend, TRT | ORT | OV) or isinstance(backend, OV_CPU):
        why = ("nodes without names cannot be kept in float32 one by one" if analysis.unnamed
               else "OpenVINO's CPU computes f16 models in float32 with the f32 hint" if isinstance(backend, OV_CPU)
               else f"{name} has no node block list")
        level = logging.INFO if isinstance(backend, OV_CPU) and not analysis.unnamed else logging.WARNING
        _log_once(level, model, backend, "%s; %s: %s runs it in float32", found, why, name)
        return _replace(backend, fp16=False, fp16_blacklist_ops=None), model
    _log_once(logging.INFO, model, backend, "%s; %s keeps %d nodes in float32: %s", found, name, len(nodes),
              ", ".join(nodes))
    if isinstance(backend, TRT):
        return dataclasses.replace(backend, fp16_blacklist_ops=sorted({*(backend.fp16_blacklist_ops or ()), *nodes})
                                   ), model
    converted = _convert(backend, model, clips, nodes)
    logger.debug("fp16 guard: %s runs %s", name, converted.path)
    if isinstance(backend, OV) and not hasattr(backend, "fp16"):  # a device string: the hint goes in the config
        return dataclasses.replace(backend, custom_config={**backend.custom_config,
                                                           "INFERENCE_PRECISION_HINT": "f32"}), converted
    return _replace(backend, fp16=False, fp16_blacklist_ops=None), converted


def _replace(backend: Backend, **changes: Any) -> Backend:
    """``dataclasses.replace`` with the changes the backend has fields for."""
    names = {f.name for f in dataclasses.fields(backend)}
    return dataclasses.replace(backend, **{k: v for k, v in changes.items() if k in names})


def _convert(backend: Backend, model: ModelInfo, clips: Sequence[vs.VideoNode], nodes: Iterable[str]) -> ModelInfo:
    """The fp16 model with ``nodes`` (and the user's block list) kept in float32, its IO typed like the clip's."""
    from .engine.convert import convert_model
    from .engine.store import Store
    from .model import model_info

    user = getattr(backend, "fp16_blacklist_ops", None) or ()
    half_out = getattr(backend, "output_format", None) == 1  # ORT.OutputFormat.FP16 asked for explicitly
    io = "fp16" if half_out or backend.input_bits(clips, model) == 16 else "fp32"
    return model_info(convert_model(model, "fp16", sorted({*user, *nodes}), Store(), io=io))


# -- the report ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fp16Report:
    """What ``vsinfer fp16-check`` prints: the overflowing nodes, the block list and the fp16 error."""

    model: str
    """Path of the model checked."""
    analysis: Analysis
    """The range analysis (nodes, ranges, samples)."""
    error_before: float
    """Max |fp16 - fp32| of the output on the samples, converted without a block list."""
    error_after: float
    """The same with the guard's block list."""
    output_max: float
    """Max |output| of the float32 model on the samples (the scale of the errors)."""

    @property
    def block_list(self) -> tuple[str, ...]:
        """The node names the guard keeps in float32 (pass them as ``fp16_blacklist_ops`` to keep them)."""
        return self.analysis.block_list

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as the strings "inf" / "nan")."""
        return {
            "model": self.model,
            "model_crc32": f"{self.analysis.model_crc32:08x}",
            "samples": self.analysis.samples,
            "float16_max": FP16_MAX,
            "limit": LIMIT,
            "max_abs": _json_number(self.analysis.max_abs),
            "overflowing": [n.to_json() for n in self.analysis.overflowing],
            "nodes": [n.to_json() for n in self.analysis.nodes],
            "block_list": list(self.block_list),
            "max_error_before": _json_number(self.error_before),
            "max_error_after": _json_number(self.error_after),
            "output_max": _json_number(self.output_max),
            "analysis_seconds": self.analysis.seconds,
        }

    def __str__(self) -> str:
        a = self.analysis
        lines = [f"fp16 check of {self.model} (crc32 {a.model_crc32:08x})",
                 f"samples: {a.samples}; largest |value| {a.max_abs:.4g}; limit {LIMIT:.0f} (float16 max "
                 f"{FP16_MAX:.0f} / {MARGIN:g})"]
        if not a.nodes:
            lines.append("no node overflows float16: the whole model can run in fp16 (block list empty)")
        width = max((len(n.name) for n in a.nodes), default=0)
        for title, reason in (("overflowing nodes (max |output|):", "output"),
                              ("kept in float32 because they read those values:", "reads"),
                              ("kept in float32 because they read a constant the converter clamps:", "constant")):
            group = [n for n in a.nodes if n.reason == reason]
            if group:
                lines.append(title)
                lines += [f"  {n.name:<{width}}  {n.op_type:<12} {n.max_abs:>12.6g}  {', '.join(n.tensors)}"
                          for n in group]
        if a.nodes:
            lines.append(f"block list ({len(self.block_list)} nodes): {', '.join(self.block_list)}")
        lines.append(f"max |fp16 - fp32| of the output on the samples (output max {self.output_max:.4g}): "
                     f"before {self.error_before:.3g}, after {self.error_after:.3g}")
        return "\n".join(lines)


def emulate_fp16(model: str | Path | onnx.ModelProto, block_list: Iterable[str] = ()) -> bytes:
    """The float32 model with every value an fp16 run would store in float16 rounded through float16.

    Mirrors what the fp16 converter makes of ``model`` with ``block_list`` (node names or op types, added to the
    converter's default op block list): a node kept in float32 reads exact values only from another such node or
    from the graph input, and its weights stay exact; every other node's weights and outputs go through
    float16 (so an overflow becomes inf, as in the plugins). The math inside a node stays float32, so the runtime
    on this machine (which runs fp16 Convs in float32 and drops the casts between them) cannot hide an overflow.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper
    from onnxconverter_common.float16 import DEFAULT_OP_BLOCK_LIST

    source = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    proto, types = _typed(source)
    graph = proto.graph
    listed = set(block_list) | set(DEFAULT_OP_BLOCK_LIST)

    def kept(node: onnx.NodeProto) -> bool:
        return node.name in listed or node.op_type in listed

    def round_trip(name: str, out: str) -> list[onnx.NodeProto]:
        half = f"{out}__f16"
        return [helper.make_node("Cast", [name], [half], to=10, name=half),
                helper.make_node("Cast", [half], [out], to=1, name=f"{out}__f32")]

    is_float = {name for name, t in types.items() if t == 1}
    inits = {init.name: init for init in graph.initializer}
    rounded: dict[str, str] = {}  # exact tensor -> its float16 copy, for the nodes that read through float16
    nodes: list[onnx.NodeProto] = []
    for value in graph.input:
        if value.name in is_float and value.name not in inits:
            nodes += round_trip(value.name, f"{value.name}__half")
            rounded[value.name] = f"{value.name}__half"
    for name, init in inits.items():
        if init.data_type == 1:
            values = numpy_helper.to_array(init).astype(np.float16).astype(np.float32)
            graph.initializer.append(numpy_helper.from_array(values, f"{name}__half"))
            rounded[name] = f"{name}__half"
    for node in list(graph.node):
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        if not kept(node):  # reads through float16; writes float16
            copy.input[:] = [rounded.get(i, i) for i in node.input]
        nodes.append(copy)
        for i, out in enumerate(node.output):
            if out not in is_float:
                continue
            if kept(node):  # exact for kept readers, float16 for the others
                nodes += round_trip(out, f"{out}__half")
                rounded[out] = f"{out}__half"
            else:  # everyone reads the float16 value
                copy.output[i] = f"{out}__exact"
                nodes += round_trip(f"{out}__exact", out)
    del graph.node[:]
    graph.node.extend(nodes)
    data: bytes = proto.SerializeToString()
    return data


def _max_error(reference: Sequence[Any], emulated: bytes, pictures: Sequence[Picture]) -> float:
    """Max |output - reference| of the emulated fp16 model over the samples (inf / nan when it breaks)."""
    import numpy as np

    session = _session(emulated, optimize=False)
    worst = 0.0
    for ref, picture in zip(reference, pictures, strict=True):
        out = np.asarray(_run(session, picture)[0], dtype=np.float32)
        if not np.all(np.isfinite(out)):
            return math.nan if np.isnan(out).any() else math.inf
        worst = max(worst, float(np.max(np.abs(out - ref))) if out.size else 0.0)
    return worst


def check(model_path: str | Path, *, clip: vs.VideoNode | None = None) -> Fp16Report:
    """The fp16 guard's findings for ``model_path``: overflowing nodes, block list, fp16 error before / after.

    The model runs on the synthetic samples and, with ``clip``, on three frames of it (centre crops). The
    errors compare the float32 output with an fp16 run emulated on the CPU (``emulate_fp16``): before is the
    plain conversion, after keeps the guard's nodes in float32.
    """
    import numpy as np
    import onnx

    from .engine.store import Store
    from .model import model_info

    model = model_info(model_path)
    if model.fp16_io:
        from .errors import ModelError

        raise ModelError("model_path", str(model_path), "a float32 model (its input is float16 already)",
                         where="fp16 check")
    clips = [clip] if clip is not None else []
    frames = 3 if clips else 0
    analysis = _cached(model, clips, frames, Store())
    pictures, _ = _samples(model, clips, frames)
    proto = onnx.load(model.path)
    session = _session(model.path)
    reference = [np.asarray(_run(session, p)[0], dtype=np.float32) for p in pictures]
    output_max = max(float(np.max(np.abs(r))) for r in reference)
    before = _max_error(reference, emulate_fp16(proto), pictures)
    after = _max_error(reference, emulate_fp16(proto, analysis.block_list), pictures) if analysis.nodes else before
    return Fp16Report(model.path, analysis, before, after, output_max)
