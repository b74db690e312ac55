"""The fp16 report (``vsinfer fp16-check``): overflowing nodes, the block list, and the fp16 error before / after.

The errors compare the float32 output with an fp16 run emulated on the CPU (``emulate_fp16``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ClipError, ModelError, Shown
from ..model import ModelInfo, image_input, model_info
from ..store import Store
from .analysis import (
    FP16_MAX,
    HEADROOM,
    LIMIT,
    Analysis,
    _cached,
    _json_number,
    _run,
    _session,
    _typed,
)
from .samples import _samples

if TYPE_CHECKING:
    import onnx
    import vapoursynth as vs

    from .samples import Picture

__all__ = ["Fp16Report", "check_sample_clip", "emulate_fp16", "report"]


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
        lines = [f"fp16 check of {self.model} (content {a.model_crc32:08x})",
                 f"samples: {a.samples}; largest |value| {a.max_abs:.4g}; limit {LIMIT:.0f} (float16 max "
                 f"{FP16_MAX:.0f} / {HEADROOM:g})"]
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


WHERE = "fp16 check"
"""How the report's errors name their place."""


def _model_path(model_path: object) -> Path:
    """``model_path`` as a Path to an existing file, or a ModelError naming it."""
    if not isinstance(model_path, str | os.PathLike) or not isinstance(os.fspath(model_path), str):
        raise ModelError("model_path", Shown(repr(model_path)[:120]), "a str or pathlib.Path to an ONNX file",
                         where=WHERE)
    path = Path(model_path)
    if not os.fspath(model_path).strip() or not path.is_file():
        what = "a directory" if path.is_dir() else "no file"
        raise ModelError("model_path", str(model_path), f"an existing ONNX file (this is {what})", where=WHERE)
    return path


def check_sample_clip(clip: object, model: ModelInfo, parameter: str = "clip") -> None:
    """The sample clip is one video clip whose planes are the model's input channels, in one format and size.

    A clip the analysis cannot feed is refused rather than left out (the report would then say nothing of it).
    """
    import vapoursynth as vs

    if not isinstance(clip, vs.VideoNode):
        audio = isinstance(clip, vs.AudioNode)
        kind = "an AudioNode: the models take video" if audio else f"a {type(clip).__name__}"
        raise ClipError(parameter, Shown("<AudioNode>" if audio else repr(clip)[:120]), f"a vs.VideoNode (got {kind})",
                        where=WHERE)
    fmt = clip.format
    if fmt is None or fmt.color_family == vs.UNDEFINED or clip.width == 0 or clip.height == 0:
        raise ClipError(parameter, Shown("<VideoNode of variable format or size>"),
                        "a clip of one format and size: convert it first, e.g. clip.resize.Bicubic(format=vs.RGBS)",
                        where=WHERE)
    shown = Shown(f"<VideoNode {fmt.name} {clip.width}x{clip.height}>")
    if fmt.subsampling_w or fmt.subsampling_h:
        raise ClipError(parameter, shown, "a clip without chroma subsampling (the model reads whole planes): "
                        "clip = clip.resize.Bicubic(format=vs.RGBS, matrix_in_s='709')", where=WHERE)
    channels = model.input().channels
    if channels is not None and fmt.num_planes != channels:
        hint = " (a GRAY clip for an RGB model: convert it, e.g. clip.resize.Bicubic(format=vs.RGBS))" if (
            fmt.num_planes == 1 and channels == 3) else ""
        raise ClipError(parameter, shown, f"a clip of {channels} planes, the channels of input {model.input().name!r} "
                        f"of {model.path}; this one has {fmt.num_planes}{hint}", where=WHERE)
    width, height = model.input().spatial
    if (width is not None and clip.width < width) or (height is not None and clip.height < height):
        raise ClipError(parameter, shown, f"a clip of at least {width or clip.width}x{height or clip.height}, the "
                        "static size of the model's input (its frames are cropped to it)", where=WHERE)
    if clip.num_frames < 1:
        raise ClipError(parameter, shown, "a clip with frames", where=WHERE)


def report(model_path: str | Path, *, clip: vs.VideoNode | None = None) -> Fp16Report:
    """The fp16 guard's findings for ``model_path``: overflowing nodes, block list, fp16 error before / after.

    The model runs on the synthetic samples and, with ``clip``, on three frames of it (centre crops). The
    errors compare the float32 output with an fp16 run emulated on the CPU (``emulate_fp16``): before is the
    plain conversion, after keeps the guard's nodes in float32.
    """
    import numpy as np
    import onnx

    model = model_info(_model_path(model_path))
    image_input(model, WHERE, "model_path")  # one NCHW float input of batch 1, the analysis feeds no other
    if model.fp16_io:
        raise ModelError("model_path", str(model_path), "a float32 model (its input is float16 already)",
                         where=WHERE)
    if clip is not None:
        check_sample_clip(clip, model)
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
