"""What core.ncnn can take, checked before it is called: its converter's ops, and a first-use probe in a child.

core.ncnn converts the ONNX model itself (vs-mlrt's copy of ncnn's ``onnx2ncnn``) when ``Model`` is called. On
an op it has no rule for it prints "<op> not supported yet!" to stderr and the plugin then refuses with "load
param failed"; on some graphs (a ``Cast``, ``Shape`` or ``Mod`` it cannot read, shape arithmetic it cannot
follow) it crashes the whole process (SIGSEGV, SIGABRT), and on others it returns a wrong picture. So:

- ``unsupported_ops`` compares the model's op types with the converter's own table (facts read from its
  source, ``CONVERTER_OPS``): a model with an op the converter has no rule for is refused before the plugin.
- ``probe`` renders one frame of a small crop in a child process with the plugin, exactly as the real call
  will (same arguments, the tile's size or a crop with the same remainders modulo 64), compares it with
  onnxruntime float32 on the same input, and keeps the verdict in the store (``ProbeRecord``, keyed by the
  model's checksum, the precision, the tile shape, the plugin version and the device), so it costs once.
  A crash, a hang, a refusal or a wrong picture becomes a ``BuildError`` naming the cause and what to use
  instead (a ``BackendUnavailable``: ``fallback=`` moves on to the next backend).

The module is generic in form (the family passes its namespace); only the converter table is about one plugin.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from .. import plugins
from ..errors import BuildError, ModelError
from ..model import graph_ops
from ..store import Store, identity_name
from ..store.inventory import Kind
from ..store.records import JSONObject, Real, Record, dump, load, plain, real

if TYPE_CHECKING:
    from ..model import ModelInfo

__all__ = [
    "CONVERTER_OPS",
    "FUSED_OPS",
    "PROBE_KIND",
    "REWRITTEN_OPS",
    "ProbeFacts",
    "ProbeRecord",
    "check_model",
    "crop_size",
    "model_ops",
    "probe",
    "tolerance",
    "unsupported_ops",
]

logger = logging.getLogger(__name__)

CONVERTER_OPS = frozenset({
    "Abs", "Acos", "Add", "Asin", "Atan", "AveragePool", "MaxPool", "BatchNormalization", "BiasGelu", "Ceil", "Clip",
    "Concat", "Constant", "Conv", "ConvTranspose", "Cos", "Crop", "DepthToSpace", "Div", "Dropout", "Elu",
    "EmbedLayerNormalization", "Exp", "Flatten", "Floor", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "GroupNorm", "GRU", "HardSigmoid", "HardSwish", "ImageScaler",
    "InstanceNormalization", "LayerNorm", "LeakyRelu", "Log", "LRN", "LSTM", "MatMul", "Max", "Min", "Mul",
    "MultiHeadAttention", "Neg", "Normalize", "Pad", "PixelShuffle", "Pow", "PRelu", "Reciprocal", "ReduceMax",
    "ReduceMin", "ReduceMean", "ReduceProd", "ReduceSum", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "Relu", "Reorg", "Reshape", "RNN", "RDiv", "RSub", "ShuffleChannel", "Sigmoid", "Sin",
    "SkipLayerNormalization", "Slice", "Softmax", "Softplus", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Swish",
    "Tan", "Tanh", "Transpose", "Upsample", "Resize", "Unsqueeze",
})
"""The op types core.ncnn's converter writes a layer for (vs-mlrt ``vsncnn/onnx2ncnn.cpp``, the table that ends
in "not supported yet!"). Anything else must be removed by one of its fusions first."""

FUSED_OPS = frozenset({"Shape", "Gather", "Expand"})
"""Op types the converter has no layer for but its fusions may remove (flatten, normalize, a Gather of one
constant index, Expand before a broadcasting op): left to the probe to judge."""

REWRITTEN_OPS = frozenset({"Identity"})
"""Op types vsinfer removes before the plugin sees the model (``vsinfer.conversion.without_identity``)."""

PROBE_KIND = Kind("ncnn_probe", "records", facts=True)
"""The store folder of the probe's verdicts."""

PROBE_VERSION = 2
"""Bumped when the probe or its record changes meaning; older verdicts then stop matching."""

PROBE_TIMEOUT = 300.0
"""Seconds a probe may take before it counts as a hang (a crop of at most 191x191 pixels, one frame)."""

CROP_LIMIT = 128
"""A tile side above this is probed on a crop of 64 + (side mod 64): the same remainders modulo 2..64."""

ALTERNATIVES = "ORT_CPU or OV_CPU (CPU), TRT / TRT_RTX (NVIDIA), ORT_DML (Windows), MIGX (AMD)"
"""What to use instead, in messages."""


class ProbeFacts(msgspec.Struct, frozen=True, kw_only=True):
    """The verdict of one probe."""

    ok: bool
    """The plugin gave the right picture."""
    cause: str = ""
    """Why not: the signal, the plugin's message, the converter's reasons, or the error against float32."""
    max_error: Real | None = None
    """Largest difference from onnxruntime float32, when a picture came back."""
    scale: Real | None = None
    """Largest magnitude of the float32 reference."""


class ProbeRecord(Record, frozen=True, kw_only=True):
    """A stored probe verdict: ``{"key", "verdict"}``."""

    KIND: ClassVar[str] = "ncnn probe record"
    ON_MISS: ClassVar[str] = "probing again"
    key: JSONObject
    """What was probed: model checksum, precision, tile shape, plugin version, device, arguments."""
    verdict: ProbeFacts
    """The result."""


def unsupported_ops(op_types: Sequence[str]) -> list[str]:
    """The op types among ``op_types`` that the converter can neither convert nor fuse away (sorted)."""
    return sorted(set(op_types) - CONVERTER_OPS - FUSED_OPS - REWRITTEN_OPS)


def model_ops(model: ModelInfo) -> tuple[str, ...]:
    """The op types of the model's graph (and subgraphs), read once per file and content."""
    return graph_ops(model).op_types


def check_model(model: ModelInfo, namespace: str, where: str) -> None:
    """What the plugin cannot take, known from the model alone (facts, no process): raise before it is called.

    External data (the plugin reads the .onnx file alone), more than one output, and op types its converter has
    no rule for (it would fail with "load param failed" or kill the process).
    """
    if model.external:
        raise ModelError("network_path", model.path, "a model with its weights inside the .onnx file: it keeps them "
                         f"in {', '.join(model.external)}, and the vs-mlrt plugins read the .onnx file alone "
                         "(core.ncnn crashes on it); save a copy with onnx.save_model(onnx.load(path), new_path)",
                         where=where)
    if len(model.outputs) > 1:
        names = ", ".join(o.name for o in model.outputs)
        raise ModelError("network_path", model.path, f"a model with one output; it has {len(model.outputs)} "
                         f"({names}) and core.{namespace} takes one: keep the image output only, e.g. "
                         "onnx.utils.extract_model(path, new_path, [input name], [output name])", where=where)
    missing = unsupported_ops(model_ops(model))
    if missing:
        raise BuildError(f"{where}: core.{namespace} cannot run {model.path}: its ONNX converter has no rule for "
                         f"{', '.join(missing)} (it fails with \"load param failed\" or kills the process); use "
                         f"another backend: {ALTERNATIVES}")


def tolerance(fp16: bool, scale: float) -> float:
    """The largest difference from float32 that still counts as the right picture.

    A wrong picture is off by the order of the picture itself (core.ncnn's wrong outputs measured ~1 on pictures
    in [0, 1]); a float32 run of a model with large intermediate values differs by up to ~0.006 on lavapipe, and
    the precision of fp16 runs is the fp16 guard's business. So: 2 % (float32) or 5 % (fp16) of the output range.
    """
    return (5e-2 if fp16 else 2e-2) * max(1.0, scale)


def crop_size(side: int) -> int:
    """The side a probe renders for a tile side: the side itself, or a crop with its remainders modulo 64."""
    return side if side <= CROP_LIMIT else 64 + side % 64


def probe(model: ModelInfo, namespace: str, path_argument: str, args: Mapping[str, Any], channels: int,
          tilesize: tuple[int, int], fp16: bool, device_id: int, where: str, store: Store | None = None, *,
          judge_values: bool = True) -> None:
    """Run the probe once for this model, precision, tile shape, plugin version and device; raise if it failed.

    ``args`` are the plugin arguments of the real call (the backend's own: device, precision, streams), without
    clips, model path and tiling. Raises ``BuildError`` naming the cause and the alternatives, or ``ModelError``
    when onnxruntime float32 cannot run the model at this size either (naming the ``multiple=`` it takes).
    ``judge_values=False`` (an fp16 run whose guard the user turned off) judges crashes, refusals and the
    picture's shape only: the user accepted fp16's own error.
    """
    out_channels = model.outputs[0].channels if model.outputs else None
    if not fp16 and out_channels is not None and out_channels not in (1, 3) and out_channels % 4 == 0:
        # core.ncnn 17.1 crashes on float32 flexible output of 4k channels (NCNN.check_call refuses that call)
        logger.debug("%s: no probe of %s: float32 output of %d channels", where, model.path, out_channels)
        return
    store = store or Store()
    names = plugins.device_names(namespace) or ()
    key: dict[str, Any] = {
        "v": PROBE_VERSION, "model": f"{model.checksum:032x}", "fp16": fp16, "tile": list(tilesize),
        "plugin": plugins.plugin_version(namespace), "device": names[device_id] if device_id < len(names) else "",
        "args": {k: v for k, v in sorted(args.items()) if isinstance(v, (int, float, str, bool))},
        "judge_values": judge_values,
    }
    record_path = store.folder(PROBE_KIND.name) / f"{identity_name(key)}.json"
    stored = load(record_path, ProbeRecord)
    if stored is not None and stored.key == plain(key):
        verdict = stored.verdict
    else:
        logger.info("%s: probing %s on core.%s once (%s, tile %dx%d) in a child process", where, model.path,
                    namespace, "fp16" if fp16 else "fp32", *tilesize)
        verdict = _run_child(model, namespace, path_argument, args, channels, tilesize, fp16, judge_values)
        try:
            dump(record_path, ProbeRecord(key=key, verdict=verdict))
        except Exception as exc:  # a verdict that cannot be written only costs probing again
            logger.debug("could not keep the probe verdict %s: %s", record_path, exc)
    if not verdict.ok:
        raise BuildError(f"{where}: core.{namespace} cannot run {model.path} ({'fp16' if fp16 else 'fp32'}, tile "
                         f"{tilesize[0]}x{tilesize[1]}): {verdict.cause}; use another backend: {ALTERNATIVES}")


def _run_child(model: ModelInfo, namespace: str, path_argument: str, args: Mapping[str, Any], channels: int,
               tilesize: tuple[int, int], fp16: bool, judge_values: bool) -> ProbeFacts:
    """Probe in a child process: the crop first, the whole tile when float32 itself cannot take the crop."""
    sizes = [(crop_size(tilesize[0]), crop_size(tilesize[1]))]
    if sizes[0] != tuple(tilesize):
        sizes.append((tilesize[0], tilesize[1]))
    refused: dict[str, Any] = {}
    for width, height in sizes:
        spec = {"namespace": namespace, "path_argument": path_argument, "model": model.path, "args": dict(args),
                "channels": channels, "width": width, "height": height, "input": model.input().name}
        try:
            done = subprocess.run([sys.executable, "-c", f"import sys, {__name__} as p; sys.exit(p.main())"],
                                  input=json.dumps(spec), capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                                  env=os.environ.copy(), check=False)
        except subprocess.TimeoutExpired:
            return ProbeFacts(ok=False, cause=f"the plugin did not finish one {width}x{height} frame in "
                                              f"{PROBE_TIMEOUT:.0f} s (a hang)")
        reasons = _converter_reasons(done.stderr)
        if done.returncode < 0:
            name = signal.Signals(-done.returncode).name if -done.returncode in signal.valid_signals() else ""
            return ProbeFacts(ok=False, cause=f"the plugin kills the process ({name or -done.returncode}) on this "
                                              f"model{reasons}")
        result = _last_json(done.stdout)
        if result is None:
            tail = done.stderr.strip().splitlines()[-3:]
            return ProbeFacts(ok=False, cause=f"the probe ended with exit status {done.returncode}{reasons}: "
                                              f"{' | '.join(tail)}")
        if "reference_error" in result:
            refused = result
            continue
        if "plugin_error" in result:
            return ProbeFacts(ok=False, cause=f"the plugin refuses it: {result['plugin_error']}{reasons}")
        error, scale = float(result["max_error"]), float(result["scale"])
        if not result.get("shape_ok", False):
            return ProbeFacts(ok=False, cause=f"it returns a picture of shape {result['shape']} where float32 "
                                              f"gives {result['reference_shape']} (a wrong picture)")
        limit = tolerance(fp16, scale)
        if judge_values and not error <= limit:
            return ProbeFacts(ok=False, cause=f"it returns a wrong picture: largest difference from onnxruntime "
                                              f"float32 {error:.3g} (allowed {limit:.3g})",
                              max_error=real(error), scale=real(scale))
        return ProbeFacts(ok=True, max_error=real(error), scale=real(scale))
    multiple = refused.get("multiple")
    hint = (f"; it takes {refused['takes'][0]}x{refused['takes'][1]}: pass multiple={multiple} (the frame and tiles "
            f"are padded to it) or a tilesize that is a multiple of {multiple}") if multiple else ""
    raise ModelError("tilesize", tuple(tilesize), f"a size the model takes: onnxruntime float32 refuses "
                     f"{tilesize[0]}x{tilesize[1]} ({refused.get('reference_error', '?')}){hint}; core.{namespace} "
                     "would crash or refuse it", where=model.path)


def _converter_reasons(stderr: str) -> str:
    """The converter's own reasons on stderr ("Erf not supported yet!"), deduplicated, as a message suffix."""
    lines = [line.strip() for line in stderr.splitlines()]
    found = list(dict.fromkeys(line for line in lines if "not supported yet" in line or "Unknown data type" in line
                               or "load param failed" in line))
    return f" (its converter: {'; '.join(found[:8])})" if found else ""


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


# -- the child -------------------------------------------------------------------------------------------------
def _child(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Render one frame with the plugin and with onnxruntime float32; their largest difference."""
    import numpy as np
    import onnxruntime as ort
    import vapoursynth as vs

    channels, width, height = int(spec["channels"]), int(spec["width"]), int(spec["height"])
    x = np.random.default_rng(0).random((1, channels, height, width), dtype=np.float32)
    session = ort.InferenceSession(str(spec["model"]), providers=["CPUExecutionProvider"])
    try:
        reference = np.asarray(session.run(None, {str(spec["input"]): x})[0])
    except Exception as exc:
        message = " ".join(str(exc).split()).split("Status Message:")[-1].strip()
        refused: dict[str, Any] = {"reference_error": message[:240]}
        for multiple in (2, 4, 8, 16, 32, 64):  # the smallest multiple whose padding it takes
            w, h = -(-width // multiple) * multiple, -(-height // multiple) * multiple
            try:
                session.run(None, {str(spec["input"]): np.zeros((1, channels, h, w), dtype=np.float32)})
            except Exception:
                continue
            refused.update(multiple=multiple, takes=[w, h])
            break
        return refused
    clips = _clips(x[0], vs)
    args = {**spec["args"], str(spec["path_argument"]): str(spec["model"]), "output_format": 0}
    flexible = reference.ndim == 4 and reference.shape[1] not in (1, 3)  # the way the plugin can give it back
    if flexible:
        args["flexible_output_prop"] = "probePlane"
    try:
        out = getattr(vs.core, str(spec["namespace"])).Model(clips, **args)
        if flexible:
            planes = [vs.core.std.PropToClip(out["clip"], prop=f"probePlane{i}") for i in range(int(out["num_planes"]))]
            frames = [p.get_frame(0) for p in planes]
            got = np.stack([np.asarray(f[0], dtype=np.float32) for f in frames])[None]
        else:
            frame = out.get_frame(0)
            got = np.stack([np.asarray(frame[p], dtype=np.float32) for p in range(frame.format.num_planes)])[None]
    except vs.Error as exc:
        return {"plugin_error": str(exc)}
    shape_ok = got.shape == reference.shape
    error = float(np.abs(got.astype(np.float64) - reference).max()) if shape_ok else float("inf")
    if shape_ok and not np.isfinite(got).all():
        error = float("inf")
    return {"max_error": error, "scale": float(np.abs(reference).max()), "shape_ok": shape_ok,
            "shape": list(got.shape), "reference_shape": list(reference.shape)}


def _clips(planes: Any, vs: Any) -> list[Any]:
    """Clips holding ``planes`` (C, H, W): an RGB clip for each three planes, GRAY clips for the rest."""
    import numpy as np

    count, height, width = planes.shape
    whole = count - count % 3
    groups = [planes[i:i + 3] for i in range(0, whole, 3)] + [planes[i:i + 1] for i in range(whole, count)]
    clips = []
    for group in groups:
        blank = vs.core.std.BlankClip(width=width, height=height, format=vs.RGBS if len(group) == 3 else vs.GRAYS,
                                      length=1)

        def fill(n: int, f: Any, group: Any = group) -> Any:
            out = f.copy()
            for p in range(len(group)):
                np.asarray(out[p])[:] = group[p]
            return out

        clips.append(vs.core.std.ModifyFrame(blank, blank, fill))
    return clips


def main() -> int:
    """The child: read the spec on stdin, write the result as one JSON line to its stdout.

    This runs only in the probe's own child process, whose stdout is a pipe the parent reads (never vspipe's).
    """
    spec = json.loads(sys.stdin.read())
    sys.stdout.write(json.dumps(_child(spec)) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
