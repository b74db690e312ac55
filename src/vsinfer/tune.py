"""Autotune: time the backends usable here on a few frames of the user's clip, keep the fastest, remember it.

``tune`` renders every candidate on a fresh node (VapourSynth caches frames per node, so a node is never
rendered twice), measures the first frame (graph construction, session or compiled-model creation) apart from
the steady frame rate, and rejects any candidate whose output differs from the float32 whole-frame output by
more than ``tolerance``. The search is staged so that it stays short: backend family and ``num_streams``
first (each class's default precision, whole frame), then the other precision and tiles on the leaders, then
the close leaders again in reverse order, each scored by its best run (other work only ever slows one down).

The decision is stored in the cache (kind ``tune``), keyed by the model's checksum, the clips' size and format,
the search settings and the machine (CPU model, cores, GPU, plugin and runtime versions): the next script run
reads it back instead of timing again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BackendUnavailable, ConfigError, InvalidValueError, VsinferError

if TYPE_CHECKING:
    import numpy as np
    import vapoursynth as vs

    from .backends.base import Backend
    from .model import ModelInfo

__all__ = [
    "DECISION_VERSION",
    "Timing",
    "Trial",
    "Tuning",
    "autotune",
    "backend_from_spec",
    "backend_spec",
    "default_candidates",
    "machine",
    "time_trial",
    "tune",
    "usable_families",
]

logger = logging.getLogger(__name__)

DECISION_VERSION = 1
"""Bumped when the meaning of a stored decision changes; older decisions then stop matching."""

Pair = tuple[int, int]

CLOSE = 0.75
"""Candidates within this share of the fastest one's fps are timed a second time before the pick."""
FAMILY_WORTH = 0.4
"""A family whose default ran below this share of the fastest one's fps gets no other ``num_streams`` tried."""
MARGIN = 0.05
"""A candidate replaces the default (the first candidate) only when its best run is this much faster."""
HALF_WORTH = 0.5
"""The other precision is tried on a family whose best run reached this share of the fastest one's fps."""


# -- backends as plain data -------------------------------------------------------------------------------
def backend_spec(backend: Backend) -> dict[str, Any]:
    """``{"class": name, "fields": {...}}``: the fields that differ from the class defaults, as plain JSON data."""
    from .engine.identity import canonical

    cls = type(backend)
    default = cls()
    changed = {
        f.name: canonical(getattr(backend, f.name))
        for f in dataclasses.fields(backend)
        if f.init and getattr(backend, f.name) != getattr(default, f.name)
    }
    return {"class": cls.__name__, "fields": changed}


def backend_from_spec(spec: Mapping[str, Any]) -> Backend:
    """The backend ``backend_spec`` describes; ConfigError when the class or a field is unknown here."""
    from .backends import Backend

    name = spec.get("class")
    cls = getattr(Backend, str(name), None)
    if not isinstance(cls, type) or not issubclass(cls, Backend):
        raise ConfigError("class", name, "a backend class name such as 'OV_CPU' or 'ORT_CPU'", where="backend spec")
    values = dict(spec.get("fields") or {})
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError("fields", unknown, f"fields of {cls.__name__} ({sorted(known)})", where="backend spec")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError("fields", values, f"valid values for {cls.__name__}: {exc}", where="backend spec") from exc


def describe(backend: Backend, tilesize: Pair | None = None) -> str:
    """``OV_CPU(num_streams=2, fp16=False)`` with only the changed fields, plus the tile size."""
    spec = backend_spec(backend)
    fields = ", ".join(f"{k}={v!r}" for k, v in spec["fields"].items())
    tiles = f" tilesize={tilesize[0]}x{tilesize[1]}" if tilesize else ""
    return f"{spec['class']}({fields}){tiles}"


# -- the machine --------------------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


RUNTIME_KEYS = ("version", "openvino_version", "onnxruntime_version", "ncnn_version", "tensorrt_version",
                "migraphx_version", "cuda_runtime_version")
"""``Version()`` keys that name what a plugin runs on."""


def machine() -> dict[str, Any]:
    """What makes timings on this machine differ from another's: CPU, cores, GPU, plugins and runtimes."""
    import vapoursynth as vs

    from .device import probe_gpu
    from .plugins import EXTRAS, plugin_info

    try:
        gpu = probe_gpu(0)
        gpu_name = gpu.model or gpu.vendor
    except VsinferError:
        gpu_name = None
    plugins = {}
    for namespace in EXTRAS:
        info = plugin_info(namespace)
        if info is not None:
            plugins[namespace] = {k: info[k] for k in RUNTIME_KEYS if k in info}
    return {"cpu": cpu_model(), "cores": cpu_count(), "vs_threads": vs.core.num_threads, "gpu": gpu_name,
            "plugins": plugins}


# -- candidates -----------------------------------------------------------------------------------------------
NCNN_CPU_DEVICE = 3
"""``core.ncnn.DeviceProperties()["type"]`` of a CPU Vulkan device (lavapipe / llvmpipe): far slower than
OV_CPU or ORT_CPU on the same cores, so autotune leaves it out (ncnn: 0 discrete, 1 integrated, 2 virtual)."""

def usable_families(device_id: int = 0) -> list[type[Backend]]:
    """The backend classes that can run here: plugin loaded and, for GPU families, a device the plugin sees.

    Ordered as autoselect prefers them (GPU families first, then OV_CPU, ORT_CPU).
    """
    import vapoursynth as vs

    from .backends import MIGX, NCNN, ORT_CPU, ORT_CUDA, OV_CPU, OV_GPU, TRT, TRT_RTX
    from .device import probe_gpu
    from .plugins import as_text, get_plugin, is_loaded, plugin_status

    def sees_device(namespace: str) -> bool:
        try:
            props = get_plugin(namespace).DeviceProperties(device_id=device_id)
        except (vs.Error, BackendUnavailable, AttributeError):
            return False
        if namespace == "ncnn" and props.get("type") == NCNN_CPU_DEVICE:
            logger.info("autotune: leaving NCNN out: its Vulkan device %s is a software renderer on the CPU",
                        as_text(props.get("device_name", "?")))
            return False
        return True

    try:
        vendor = probe_gpu(device_id).vendor
    except VsinferError:
        vendor = None
    found: list[type[Backend]] = []
    if vendor == "nvidia":
        import importlib.util

        for cls in (TRT, TRT_RTX):
            if is_loaded(cls.namespace) and importlib.util.find_spec(cls.module) and sees_device(cls.namespace):
                found.append(cls)
        ort = plugin_status("ort")
        if ort.loaded and "CUDA" in ort.info.get("providers", "").upper():
            found.append(ORT_CUDA)
    if vendor == "amd" and is_loaded("migx") and sees_device("migx"):
        found.append(MIGX)
    ov = plugin_status("ov")
    if any(d.upper().startswith("GPU") for d in ov.devices):
        found.append(OV_GPU)
    if is_loaded("ncnn") and sees_device("ncnn"):
        found.append(NCNN)
    if ov.loaded and (not ov.devices or "CPU" in ov.devices):
        found.append(OV_CPU)
    if is_loaded("ort"):
        found.append(ORT_CPU)
    return found


def _variants(cls: type[Backend], values: Iterable[Mapping[str, Any]]) -> list[Backend]:
    out: list[Backend] = []
    for kw in values:
        try:
            backend = cls(**kw)
        except (ConfigError, TypeError) as exc:  # a field this class (or this version) does not have
            logger.debug("autotune: skipping %s(%s): %s", cls.__name__, kw, exc)
            continue
        if backend not in out:
            out.append(backend)
    return out


def default_candidates(device_id: int = 0) -> list[Backend]:
    """The first stage of the search: each usable family, its default first, with several ``num_streams``.

    Precision stays each class's default (the other precision is tried on the leaders later); None (let the
    plugin and runtime decide) is tried where the class takes it (OpenVINO, whose default it is).
    """
    out: list[Backend] = []
    for cls in usable_families(device_id):
        base: dict[str, Any] = {}
        if "device_id" in {f.name for f in dataclasses.fields(cls)}:
            base["device_id"] = device_id
        streams: list[int | None] = [None, 2, 1] if cls.namespace == "ov" else [1, 2]
        out += _variants(cls, ({**base, "num_streams": s} for s in streams))
    return out


def half_variant(backend: Backend) -> Backend | None:
    """``backend`` in half precision, or None when it has no ``fp16`` field or already is."""
    names = {f.name for f in dataclasses.fields(backend)}
    if "fp16" not in names or getattr(backend, "fp16", False):
        return None
    try:
        return dataclasses.replace(backend, fp16=True)  # type: ignore[call-arg]
    except (ConfigError, TypeError):
        return None


def other_precision(backend: Backend) -> Backend | None:
    """``backend`` in float32 when it runs in fp16 / bf16, else in fp16 (None when it has no such field)."""
    if is_reduced(backend):
        exact = float_variant(backend)
        return exact if exact != backend else None
    return half_variant(backend)


def float_variant(backend: Backend) -> Backend:
    """``backend`` in float32: fp16 / bf16 off and no block list."""
    names = {f.name for f in dataclasses.fields(backend)}
    changes = {k: v for k, v in (("fp16", False), ("bf16", False), ("fp16_blacklist_ops", None)) if k in names}
    return dataclasses.replace(backend, **changes)


def is_reduced(backend: Backend) -> bool:
    """Whether ``backend`` computes in fp16 or bf16."""
    return bool(getattr(backend, "fp16", False) or getattr(backend, "bf16", False))


def split_tilesize(width: int, height: int, overlap: Pair, parts: Pair = (2, 2)) -> Pair:
    """The tile size that covers a ``width`` x ``height`` frame in ``parts`` tiles with ``overlap``."""
    tw = min(width, math.ceil((width + 2 * overlap[0] * (parts[0] - 1)) / parts[0]))
    th = min(height, math.ceil((height + 2 * overlap[1] * (parts[1] - 1)) / parts[1]))
    return tw, th


# -- timing one candidate ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trial:
    """One configuration: a backend and a tile size (None: the whole frame)."""

    backend: Backend
    """The backend to time."""
    tilesize: Pair | None = None
    """Tile size passed to ``inference``; None runs the whole frame."""

    def __str__(self) -> str:
        return describe(self.backend, self.tilesize)


@dataclass(frozen=True)
class Timing:
    """What timing one Trial gave."""

    trial: Trial
    """The configuration."""
    fps: float
    """Steady frames per second (frame 0 excluded); 0 when it could not run."""
    first_frame_s: float
    """Seconds from ``inference()`` to frame 0 (graph construction, session / engine creation)."""
    frames: int
    """Steady frames rendered."""
    error: str | None = None
    """Why it could not run or was rejected (output out of tolerance); None when usable."""
    max_abs_diff: float | None = None
    """Largest difference from the float32 whole-frame output, when compared."""
    stopped_early: bool = False
    """True when it was clearly slower than the best so far and timing stopped before the last frame."""

    @property
    def usable(self) -> bool:
        """True when it ran and its output is within tolerance."""
        return self.error is None and self.fps > 0

    def to_json(self) -> dict[str, Any]:
        """Plain data for the stored decision and ``--json`` output."""
        return {"backend": backend_spec(self.trial.backend), "tilesize": self.trial.tilesize, "fps": self.fps,
                "first_frame_s": self.first_frame_s, "frames": self.frames, "error": self.error,
                "max_abs_diff": self.max_abs_diff, "stopped_early": self.stopped_early, "label": str(self.trial)}


@dataclass
class _Rendered:
    """Timing figures plus the output frames kept for comparison."""

    first_frame_s: float
    steady_s: float
    frames: int
    stopped_early: bool
    outputs: dict[int, np.ndarray] = field(default_factory=dict)


def _planes(frame: vs.VideoFrame) -> np.ndarray:
    import numpy as np

    return np.stack([np.asarray(frame[p], dtype=np.float32) for p in range(frame.format.num_planes)])


def render(
    make: Callable[[], vs.VideoNode], frames: int, *, keep: Sequence[int] = (), deadline_s: float | None = None,
    requests: int | None = None,
) -> _Rendered:
    """Build a node with ``make()`` and render frames 0..frames-1 once each.

    Frame 0 is awaited alone (its time includes ``make()``); the rest are requested ``requests`` at a time
    (default: the core's threads, like vspipe). Past ``deadline_s`` of steady rendering no new frame is
    requested; those in flight are awaited, so nothing keeps running into the next measurement.
    """
    import vapoursynth as vs

    start = time.perf_counter()
    node = make()
    first = node.get_frame(0)
    first_s = time.perf_counter() - start
    outputs = {0: _planes(first)} if 0 in keep else {}
    del first
    in_flight = max(1, requests or vs.core.num_threads)
    pending: deque[tuple[int, Any]] = deque()
    done, next_n, stopped = 0, 1, False
    t0 = time.perf_counter()
    while pending or (next_n < frames and not stopped):
        while not stopped and next_n < frames and len(pending) < in_flight:
            pending.append((next_n, node.get_frame_async(next_n)))
            next_n += 1
        n, future = pending.popleft()
        frame = future.result()
        done += 1
        if n in keep:
            outputs[n] = _planes(frame)
        del frame
        if deadline_s is not None and not stopped and time.perf_counter() - t0 > deadline_s and next_n < frames:
            stopped = True
    return _Rendered(first_s, time.perf_counter() - t0, done, stopped, outputs)


def time_trial(
    trial: Trial,
    clips: Sequence[vs.VideoNode],
    network_path: str | os.PathLike[str],
    *,
    frames: int,
    overlap: Pair = (0, 0),
    keep: Sequence[int] = (),
    deadline_s: float | None = None,
) -> tuple[Timing, dict[int, np.ndarray]]:
    """Time ``trial`` on a fresh node over ``clips``; the frames in ``keep`` come back as arrays.

    A backend that cannot run here (BackendUnavailable, a plugin error while rendering) gives a Timing with
    ``error`` set; mistakes in the call itself (clips, model, tiling of the whole frame) are raised.
    """
    import vapoursynth as vs

    def make() -> vs.VideoNode:
        if trial.tilesize is None:
            return trial.backend.inference(list(clips), network_path)
        return trial.backend.inference(list(clips), network_path, overlap, trial.tilesize)

    try:
        done = render(make, frames, keep=keep, deadline_s=deadline_s)
    except (BackendUnavailable, vs.Error) as exc:
        logger.info("autotune: %s cannot run here: %s", trial, exc)
        return Timing(trial, 0.0, 0.0, 0, error=f"{type(exc).__name__}: {exc}"), {}
    except InvalidValueError as exc:
        if trial.tilesize is None:
            raise
        return Timing(trial, 0.0, 0.0, 0, error=f"{type(exc).__name__}: {exc}"), {}
    fps = done.frames / done.steady_s if done.steady_s > 0 else math.inf
    return Timing(trial, fps, done.first_frame_s, done.frames, stopped_early=done.stopped_early), done.outputs


# -- the sample clip -------------------------------------------------------------------------------------------
def sample_clips(clips: Sequence[vs.VideoNode], frames: int) -> list[vs.VideoNode]:
    """``frames`` frames spread over each clip, rendered once and served from memory by new clips.

    Every candidate then reads the same input at no cost, whatever the user's source filter costs.
    """
    import vapoursynth as vs

    length = min(c.num_frames for c in clips)
    count = max(1, min(frames, length))
    picks = sorted({round(i * (length - 1) / max(1, count - 1)) for i in range(count)})
    out = []
    for clip in clips:
        stored = [clip.get_frame(i) for i in picks]
        blank = vs.core.std.BlankClip(clip, length=frames)

        def serve(n: int, f: vs.VideoFrame, stored: list[vs.VideoFrame] = stored) -> vs.VideoFrame:
            return stored[n % len(stored)]

        out.append(vs.core.std.ModifyFrame(blank, blank, serve))
    return out


# -- the search -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tuning:
    """The outcome of ``tune``: the fastest configuration and every timing behind it."""

    backend: Backend
    """The fastest usable backend."""
    tilesize: Pair | None
    """The tile size it was fastest with (None: whole frame)."""
    overlap: Pair
    """The overlap the tiles were timed with."""
    fps: float
    """Its steady frames per second when it was timed."""
    timings: tuple[Timing, ...]
    """Every trial, in the order timed."""
    reused: bool
    """True when the decision came from the store and nothing was timed."""
    seconds: float
    """Time the tuning took (the original tuning when reused)."""
    path: Path | None
    """Where the decision is stored."""

    def inference(self, clips: vs.VideoNode | Sequence[vs.VideoNode], network_path: str | os.PathLike[str],
                  **kwargs: Any) -> vs.VideoNode:
        """Run the chosen backend with the chosen tiling."""
        if self.tilesize is None:
            return self.backend.inference(clips, network_path, **kwargs)
        return self.backend.inference(clips, network_path, self.overlap, self.tilesize, **kwargs)

    def best_measured(self) -> Timing | None:
        """The fastest usable timing (the pick, unless it came from the store)."""
        usable = [t for t in self.timings if t.usable]
        return max(usable, key=lambda t: t.fps) if usable else None


class _Search:
    """State of one tuning run: the sample, the reference output, the timings."""

    def __init__(self, clips: list[vs.VideoNode], network_path: str | os.PathLike[str], frames: int,
                 overlap: Pair, tolerance: float, progress: Callable[[str], None] | None) -> None:
        self.clips = clips
        self.network_path = network_path
        self.frames = frames
        self.overlap = overlap
        self.tolerance = tolerance
        self.keep = sorted({0, frames - 1})
        self.reference: dict[int, np.ndarray] | None = None
        self.timings: list[Timing] = []
        self.progress = progress

    def best(self) -> Timing | None:
        usable = [t for t in self.timings if t.usable]
        return max(usable, key=lambda t: t.fps) if usable else None

    def _deadline(self) -> float | None:
        best = self.best()
        if best is None or not math.isfinite(best.fps):
            return None
        return 1.25 * (self.frames - 1) / best.fps + 0.25  # clearly slower than the best: its rate so far will do

    def ensure_reference(self, backend: Backend) -> None:
        """The float32 whole-frame output of ``backend``'s family on the compared frames (rendered untimed)."""
        import vapoursynth as vs

        if self.reference is not None:
            return
        exact = float_variant(backend)
        try:
            node = exact.inference(list(self.clips), self.network_path)
            self.reference = {n: _planes(node.get_frame(n)) for n in self.keep}
        except (BackendUnavailable, vs.Error) as exc:
            logger.warning("autotune: no float32 output to compare with (%s could not run: %s); reduced precision "
                           "and tiles are not checked against it", describe(exact), exc)

    def run(self, trial: Trial) -> Timing:
        if self.progress is not None:
            self.progress(str(trial))
        exact = not is_reduced(trial.backend) and trial.tilesize is None
        if not exact:
            self.ensure_reference(trial.backend)
        timing, outputs = time_trial(trial, self.clips, self.network_path, frames=self.frames, overlap=self.overlap,
                                     keep=self.keep, deadline_s=self._deadline())
        if timing.usable:
            if exact and self.reference is None and all(k in outputs for k in self.keep):
                self.reference = outputs
            elif self.reference is not None:
                diff = _max_abs_diff(outputs, self.reference)
                timing = dataclasses.replace(timing, max_abs_diff=diff)
                if diff is not None and diff > self.tolerance:
                    timing = dataclasses.replace(
                        timing, error=f"output differs from float32 whole-frame output by {diff:.3g} "
                                      f"(> tolerance {self.tolerance:g})")
        logger.info("autotune: %s -> %s", trial,
                    timing.error or f"{timing.fps:.2f} fps, first frame {timing.first_frame_s:.3f} s"
                    + (" (stopped early)" if timing.stopped_early else ""))
        self.timings.append(timing)
        return timing


def _max_abs_diff(a: Mapping[int, np.ndarray], b: Mapping[int, np.ndarray]) -> float | None:
    import numpy as np

    common = [n for n in a if n in b]
    if not common:
        return None
    worst = 0.0
    for n in common:
        if a[n].shape != b[n].shape:
            return math.inf
        worst = max(worst, float(np.max(np.abs(a[n] - b[n]))))
    return worst


def _search(search: _Search, candidates: Sequence[Backend] | None, tilesizes: Sequence[Pair | None],
            device_id: int, confirm: int) -> Timing | None:
    """Run the staged search; the Timing of the pick (None when nothing could run)."""
    stage1 = list(candidates) if candidates is not None else default_candidates(device_id)
    if not stage1:
        return None
    whole_frame = None in tilesizes
    first_tiles = [None] if whole_frame else [tilesizes[0]]
    # the reference output first; it is also the warm-up: the first node of a process pays for plugin start-up
    search.ensure_reference(stage1[0])
    family_first: dict[type[Backend], Timing] = {}
    for backend in stage1:
        first = family_first.get(type(backend))
        best = search.best()
        if candidates is None and first is not None and best is not None and first.fps < FAMILY_WORTH * best.fps:
            continue  # other num_streams do not make a family this much slower the fastest
        for tile in first_tiles:
            timing = search.run(Trial(backend, tile))
            family_first.setdefault(type(backend), timing)
    best = search.best()
    if best is None:
        return None
    if candidates is None:  # stage 2: the other precision on the best of the two fastest families
        leaders: dict[str, Timing] = {}
        for t in search.timings:
            if t.usable and (type(t.trial.backend).__name__ not in leaders
                             or t.fps > leaders[type(t.trial.backend).__name__].fps):
                leaders[type(t.trial.backend).__name__] = t
        for leader in sorted(leaders.values(), key=lambda t: -t.fps)[:2]:
            if leader.fps < HALF_WORTH * best.fps:
                continue  # precision does not make a family that much slower the fastest
            other = other_precision(leader.trial.backend)
            if other is not None:
                search.run(Trial(other, leader.trial.tilesize))
    best = search.best()
    assert best is not None
    for tile in tilesizes:  # stage 3: tiles on the best
        if tile not in first_tiles:
            search.run(Trial(best.trial.backend, tile))
    # stage 4: the close leaders again on fresh nodes, in reverse order. Other work on the machine only ever slows
    # a run down, so each one's best run is its score.
    ranked = sorted((t for t in search.timings if t.usable), key=lambda t: -t.fps)
    leaders_trials: list[Trial] = []
    for t in ranked:
        if t.trial not in leaders_trials and t.fps >= CLOSE * ranked[0].fps:
            leaders_trials.append(t.trial)
    leaders_trials = leaders_trials[:confirm]
    if len(leaders_trials) < 2:
        return _prefer_default(search, stage1[0], ranked[0])
    again = {trial: [t for t in search.timings if t.trial == trial and t.usable] for trial in leaders_trials}
    for trial in reversed(leaders_trials):  # the reverse order of the first round
        timing = search.run(trial)
        if timing.usable:
            again[trial].append(timing)
    scored = [(max(x.fps for x in runs), trial) for trial, runs in again.items() if runs]
    score, trial = max(scored, key=lambda s: s[0])
    pick = next(t for t in search.timings if t.trial == trial and t.usable and t.fps == score)
    return _prefer_default(search, stage1[0], pick)


def _prefer_default(search: _Search, default: Backend, pick: Timing) -> Timing:
    """``pick``, unless the first candidate (the default a user gets without tuning) is within ``MARGIN`` of it.

    Timings on a shared machine swing by several percent: a candidate must be clearly faster than the default to
    replace it, so tuning never trades the default for a configuration that only won by noise.
    """
    runs = [t for t in search.timings if t.usable and t.trial.backend == default and t.trial.tilesize is None]
    best_default = max(runs, key=lambda t: t.fps, default=None)
    if best_default is None or best_default.trial == pick.trial or best_default.fps * (1 + MARGIN) < pick.fps:
        return pick
    logger.info("autotune: keeping the default %s (%.2f fps): %s (%.2f fps) is not %d%% faster",
                describe(default), best_default.fps, pick.trial, pick.fps, round(MARGIN * 100))
    return best_default


def _decision_key(
    model: ModelInfo, clips: Sequence[vs.VideoNode], *, frames: int, overlap: Pair,
    tilesizes: Sequence[Pair | None], tolerance: float, candidates: Sequence[Backend] | None, device_id: int,
) -> dict[str, Any]:
    from . import __version__

    return {
        "version": DECISION_VERSION,
        "vsinfer": __version__,
        "model_crc32": model.checksum,
        "clips": [{"width": c.width, "height": c.height, "format": str(c.format.name)} for c in clips],
        "frames": frames,
        "overlap": list(overlap),
        "tilesizes": [list(t) if t else None for t in tilesizes],
        "tolerance": tolerance,
        "candidates": None if candidates is None else [backend_spec(b) for b in candidates],
        "device_id": device_id,
        "machine": machine(),
    }


def _load_decision(path: Path, key: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != json.loads(json.dumps(key)):
        return None
    return record


def tune(
    network_path: str | os.PathLike[str],
    clips: vs.VideoNode | Sequence[vs.VideoNode],
    *,
    candidates: Sequence[Backend] | None = None,
    frames: int = 6,
    overlap: int | Pair = (0, 0),
    tilesizes: Sequence[int | Pair | None] | None = None,
    tolerance: float = 0.01,
    device_id: int = 0,
    retune: bool = False,
    confirm: int = 2,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Tuning:
    """Find the fastest way to run ``network_path`` on ``clips`` here, or read back the one found before.

    Args:
        network_path: The ONNX model.
        clips: The clips ``inference`` will get (frames spread over them are the sample).
        candidates: Backends to time as given; None searches the usable families (each class's default
            precision with ``num_streams`` 1 / 2 / None where the class takes it, then the other precision on
            the two fastest families when they reach half the fastest one's fps).
        frames: Frames rendered per candidate (frame 0 is timed apart as the first-frame time).
        overlap: Overlap used for tiled candidates.
        tilesizes: Tile sizes to try (None: whole frame); default: the whole frame and 2 x 2 tiles.
        tolerance: Largest absolute difference from the float32 whole-frame output a candidate may have
            (the clips' float range is 0..1): fp16 runs and tiles without enough overlap past it are rejected.
        device_id: GPU for the GPU families.
        retune: Time again even when a decision is stored.
        confirm: How many of the fastest (those within 25 % of the fastest) are timed a second time, in reverse
            order, before picking; each one's best run counts.
        cache_dir: Store root (default: ``VSINFER_CACHE_DIR`` or the user cache dir).
        progress: Called with each candidate's label before it is timed.

    Returns:
        The Tuning: the pick, its tile size and every timing.

    """
    from .backends.base import as_nodes
    from .engine.store import Store, atomic_write, identity_name
    from .model import model_info
    from .tiling import as_pair

    start = time.perf_counter()
    nodes = as_nodes(clips)
    if not nodes:
        raise ConfigError("clips", clips, "one or more clips", where="autotune")
    if not isinstance(frames, int) or frames < 2:
        raise ConfigError("frames", frames, "an int >= 2 (frame 0 is timed apart)", where="autotune")
    ov = as_pair("overlap", overlap, where="autotune")
    width, height = nodes[0].width, nodes[0].height
    tiles: list[Pair | None] = ([None, split_tilesize(width, height, ov)] if tilesizes is None
                                else [None if t is None else as_pair("tilesizes", t, where="autotune")
                                      for t in tilesizes])
    tiles = list(dict.fromkeys(tiles))
    if not tiles:
        raise ConfigError("tilesizes", tilesizes, "at least one tile size or None (whole frame)", where="autotune")
    model = model_info(network_path)
    store = Store(cache_dir)
    key = _decision_key(model, nodes, frames=frames, overlap=ov, tilesizes=tiles, tolerance=tolerance,
                        candidates=candidates, device_id=device_id)
    path = store.folder("tune") / f"{identity_name(key)}.json"
    if not retune:
        record = _load_decision(path, key)
        if record is not None:
            try:
                tuned = _from_record(record, ov, path)
            except VsinferError as exc:
                logger.info("stored autotune decision %s no longer applies (%s); timing again", path, exc)
            else:
                os.utime(path)  # last use, for `vsinfer cache prune`
                logger.info("reusing autotune decision %s for %s: %s (%.2f fps when tuned); retune=True times "
                            "again", path.name, Path(model.path).name, describe(tuned.backend, tuned.tilesize),
                            tuned.fps)
                return tuned
    sample = sample_clips(nodes, frames)
    search = _Search(sample, network_path, frames, ov, tolerance, progress)
    pick = _search(search, candidates, tiles, device_id, confirm)
    if pick is None:
        causes = "; ".join(f"{t.trial}: {t.error}" for t in search.timings) or "no candidate backend is usable here"
        from .errors import NoBackendError

        raise NoBackendError(f"autotune found nothing that runs {model.path} here: {causes}")
    seconds = time.perf_counter() - start
    record = {
        "key": key,
        "choice": {"backend": backend_spec(pick.trial.backend), "tilesize": pick.trial.tilesize, "fps": pick.fps},
        "timings": [t.to_json() for t in search.timings],
        "seconds": seconds,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "meta": {"model": Path(model.path).name, "precision": "fp16" if is_reduced(pick.trial.backend) else "fp32",
                 "shapes": "+".join(f"{c['width']}x{c['height']} {c['format']}" for c in key["clips"]),
                 "runtime": describe(pick.trial.backend, pick.trial.tilesize), "device": key["machine"]["cpu"]},
    }
    try:
        atomic_write(path, json.dumps(record, indent=1).encode())
    except OSError as exc:
        logger.warning("could not store the autotune decision in %s: %s", path, exc)
    logger.info("autotune picked %s (%.2f fps) out of %d trials in %.1f s", pick.trial, pick.fps,
                len(search.timings), seconds)
    return Tuning(pick.trial.backend, pick.trial.tilesize, ov, pick.fps, tuple(search.timings), False, seconds, path)


def _pair(value: Any) -> Pair | None:
    return (int(value[0]), int(value[1])) if value else None


def _from_record(record: Mapping[str, Any], overlap: Pair, path: Path) -> Tuning:
    choice = record["choice"]
    backend = backend_from_spec(choice["backend"])
    tile = _pair(choice.get("tilesize"))
    timings = []
    for t in record.get("timings", []):
        try:
            trial = Trial(backend_from_spec(t["backend"]), _pair(t.get("tilesize")))
        except VsinferError:
            continue
        timings.append(Timing(trial, t["fps"], t["first_frame_s"], t["frames"], t.get("error"),
                              t.get("max_abs_diff"), bool(t.get("stopped_early"))))
    return Tuning(backend, tile, overlap, float(choice.get("fps", 0.0)),
                  tuple(timings), True, float(record.get("seconds", 0.0)), path)


def autotune(
    network_path: str | os.PathLike[str],
    clips: vs.VideoNode | Sequence[vs.VideoNode],
    *,
    candidates: Sequence[Backend] | None = None,
    frames: int = 6,
    tilesizes: Sequence[int | Pair | None] | None = (None,),
    **kwargs: Any,
) -> Backend:
    """The fastest backend for ``network_path`` on ``clips`` here; see ``tune`` for the arguments.

    Only the whole frame is timed by default (a Backend does not carry a tile size); use ``tune`` to let
    tiles compete and get the tile size with the pick.
    """
    return tune(network_path, clips, candidates=candidates, frames=frames, tilesizes=tilesizes, **kwargs).backend
