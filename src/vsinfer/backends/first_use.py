"""A plugin call that can kill the process, tried first in a child process: the generic first-use probe.

Some plugin calls crash the whole process (vspipe with it) on some models and configurations: core.ncnn's own
ONNX converter on graphs it cannot follow (SIGSEGV, SIGABRT), OpenVINO's real fp16 kernels on a CPU with
AVX512-FP16 on SwinIR (SIGFPE). Where a family's ``probe_spec`` hook says a configuration is risky, ``checked``
renders one frame of a small crop in a child process with the plugin, exactly as the real call will (same
arguments, the tile's size or a crop with the same remainders modulo 64), compares it with onnxruntime float32
on the same input, and keeps the verdict in the store (``ProbeRecord``, keyed by the model's checksum, the
plugin arguments, the tile shape, the plugin version, the device and the CPU), so it costs once.

A crash, a hang, a refusal or a wrong picture becomes a ``BuildError`` naming the cause (the signal) and what to
use instead (a ``BackendUnavailable``: ``fallback=`` moves on to the next backend); where the reduced precision
was the backend's default (not the user's explicit request), the backend runs in float32 instead, with one
warning.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import msgspec

from .. import plugins
from ..device import cpu
from ..errors import BuildError, ModelError
from ..store import Store, identity_name
from ..store.files import log_once
from ..store.inventory import Kind
from ..store.records import JSONObject, Real, Record, dump, load, plain, real

if TYPE_CHECKING:
    from ..model import ModelInfo

__all__ = ["PROBE_KIND", "ProbeFacts", "ProbeRecord", "ProbeSpec", "checked", "crop_size", "probe", "tolerance"]

logger = logging.getLogger(__name__)

PROBE_KIND = Kind("probe", "records", facts=True)
"""The store folder of the probe's verdicts."""

PROBE_VERSION = 3
"""Bumped when the probe or its record changes meaning; older verdicts then stop matching."""

PROBE_TIMEOUT = 300.0
"""Seconds a probe may take before it counts as a hang (a crop of at most 191x191 pixels, one frame)."""

CROP_LIMIT = 128
"""A tile side above this is probed on a crop of 64 + (side mod 64): the same remainders modulo 2..64."""

HALF_FLAGS = frozenset({"avx512_fp16", "amx_fp16", "avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni"})
"""The CPU flags that change which kernels a CPU runtime picks (the probe's key names those present)."""


@dataclass(frozen=True)
class ProbeSpec:
    """A family's answer to "must this call be probed first?": what the child runs, and what a failure means."""

    args: Mapping[str, Any]
    """The backend's own plugin arguments (device, precision, streams; a mapping value is handed to the plugin as a
    callable returning it, the way ``core.ov`` takes its ``config``), without clips, model path and tiling."""
    device: str
    """The device the call runs on, by name (part of the verdict's key)."""
    reduced: bool
    """The call computes in a reduced precision (fp16 / bf16): the tolerance of a right picture is wider."""
    why: str
    """Why the call is risky, for the log line (e.g. "core.ncnn converts the model itself")."""
    alternatives: str
    """What to use instead, for the error."""
    default_precision: bool = False
    """The reduced precision is the backend's default, not the user's explicit request: a failure runs the backend
    in float32 (``Backend.float32()``) with one warning instead of raising."""
    judge_values: bool = True
    """Judge the picture's values against float32 (False: crashes, refusals and the shape only, e.g. an fp16 run
    whose guard the user turned off: the user accepted fp16's own error)."""
    stderr_reasons: tuple[str, ...] = ()
    """Words of the lines the plugin prints on stderr that say why it failed (core.ncnn's converter: "not supported
    yet"): those lines are quoted in the verdict."""


class Probed(Protocol):
    """What ``checked`` asks of a backend (``vsinfer.backends.base.Backend`` has it all)."""

    namespace: ClassVar[str]
    path_argument: ClassVar[str]

    def probe_spec(self, model: ModelInfo) -> ProbeSpec | None: ...

    def float32(self) -> Any: ...

    def on_each_device(self) -> Any: ...


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

    KIND: ClassVar[str] = "probe record"
    ON_MISS: ClassVar[str] = "probing again"
    key: JSONObject
    """What was probed (``probe_key``): model checksum, arguments, tile shape, plugin version, device, CPU."""
    verdict: ProbeFacts
    """The result."""


def tolerance(reduced: bool, scale: float) -> float:
    """The largest difference from float32 that still counts as the right picture.

    A wrong picture is off by the order of the picture itself (core.ncnn's wrong outputs measured ~1 on pictures
    in [0, 1]); a float32 run of a model with large intermediate values differs by up to ~0.006 on lavapipe, and
    the precision of fp16 runs is the fp16 guard's business. So: 2 % (float32) or 5 % (fp16, bf16) of the output
    range.
    """
    return (5e-2 if reduced else 2e-2) * max(1.0, scale)


def crop_size(side: int) -> int:
    """The side a probe renders for a tile side: the side itself, or a crop with its remainders modulo 64."""
    return side if side <= CROP_LIMIT else 64 + side % 64


def checked[B: Probed](backend: B, model: ModelInfo, channels: int, tilesize: tuple[int, int], where: str,
                       store: Store | None = None) -> B:
    """``backend`` once every risky first use of it (its ``probe_spec``, per device) has been seen to run right.

    Raises ``BuildError`` (or ``ModelError`` for a size the model itself cannot take); where the reduced precision
    was the backend's default, a failure returns ``backend.float32()`` (checked too) with one warning instead.
    """
    for single in backend.on_each_device():
        spec = single.probe_spec(model)
        if spec is None:
            continue
        try:
            probe(model, backend.namespace, backend.path_argument, spec, channels, tilesize, where, store)
        except BuildError as exc:
            exact = backend.float32()
            if not spec.default_precision or exact == backend:
                raise
            log_once(logging.WARNING, ("probe", where, model.checksum, str(exc)), "%s; %s runs it in float32 "
                     "instead (its reduced precision was the default)", exc, where, to=logger)
            return checked(exact, model, channels, tilesize, where, store)  # type: ignore[no-any-return]
    return backend


def probe_key(model: ModelInfo, namespace: str, spec: ProbeSpec, tilesize: tuple[int, int]) -> dict[str, Any]:
    """What a verdict is about: the model, the plugin and its arguments, the tile shape, the device and the CPU."""
    machine = cpu()
    return {
        "v": PROBE_VERSION, "model": f"{model.checksum:032x}", "reduced": spec.reduced, "tile": list(tilesize),
        "namespace": namespace, "plugin": plugins.plugin_version(namespace), "device": spec.device,
        "args": _plain_args(spec.args), "judge_values": spec.judge_values,
        "cpu": [machine.model, sorted(machine.flags & HALF_FLAGS)],
    }


def _plain_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as JSON: numbers, strings, and mappings of them (``core.ov``'s config), sorted."""
    out: dict[str, Any] = {}
    for key, value in sorted(args.items()):
        if isinstance(value, Mapping):
            out[key] = _plain_args(value)
        elif isinstance(value, (int, float, str, bool)):
            out[key] = value
    return out


def probe(model: ModelInfo, namespace: str, path_argument: str, spec: ProbeSpec, channels: int,
          tilesize: tuple[int, int], where: str, store: Store | None = None) -> None:
    """Run the probe once for this model, configuration, tile shape, plugin version, device and CPU; raise if it failed.

    Raises ``BuildError`` naming the cause and the alternatives, or ``ModelError`` when onnxruntime float32 cannot
    run the model at this size either (naming the ``multiple=`` it takes).
    """
    store = store or Store()
    key = probe_key(model, namespace, spec, tilesize)
    record_path = store.folder(PROBE_KIND.name) / f"{identity_name(key)}.json"
    stored = load(record_path, ProbeRecord)
    if stored is not None and stored.key == plain(key):
        verdict = stored.verdict
    else:
        logger.info("%s: probing %s on core.%s once (%s, tile %dx%d) in a child process: %s", where, model.path,
                    namespace, "reduced precision" if spec.reduced else "fp32", *tilesize, spec.why)
        verdict = _run_child(model, namespace, path_argument, _plain_args(spec.args), channels, tilesize,
                             spec.reduced, spec.judge_values, spec.stderr_reasons)
        try:
            dump(record_path, ProbeRecord(key=key, verdict=verdict))
        except Exception as exc:  # a verdict that cannot be written only costs probing again
            logger.debug("could not keep the probe verdict %s: %s", record_path, exc)
    if not verdict.ok:
        raise BuildError(f"{where}: core.{namespace} cannot run {model.path} ({'reduced precision' if spec.reduced
                         else 'fp32'}, tile {tilesize[0]}x{tilesize[1]}): {verdict.cause}; use instead: "
                         f"{spec.alternatives}")


def _run_child(model: ModelInfo, namespace: str, path_argument: str, args: Mapping[str, Any], channels: int,
               tilesize: tuple[int, int], fp16: bool, judge_values: bool,
               stderr_reasons: tuple[str, ...] = ()) -> ProbeFacts:
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
        reasons = _stderr_reasons(done.stderr, stderr_reasons)
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


def _stderr_reasons(stderr: str, words: tuple[str, ...]) -> str:
    """The plugin's own reasons on stderr (lines with one of ``words``), deduplicated, as a message suffix."""
    lines = [line.strip() for line in stderr.splitlines()]
    found = list(dict.fromkeys(line for line in lines if any(w in line for w in words)))
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
    namespace = str(spec["namespace"])
    args = {key: (lambda value=value: dict(value)) if isinstance(value, dict) else value  # core.ov's config
            for key, value in spec["args"].items()}
    args[str(spec["path_argument"])] = str(spec["model"])
    if "output_format" in plugins.accepted_args(namespace):
        args["output_format"] = 0
    flexible = reference.ndim == 4 and reference.shape[1] not in (1, 3)  # the way the plugin can give it back
    if flexible:
        args["flexible_output_prop"] = "probePlane"
    try:
        out = getattr(vs.core, namespace).Model(clips, **args)
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
