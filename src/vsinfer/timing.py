"""Timing a configuration as a user would see it: a fresh node, frame 0 apart from the steady rate, the outputs kept.

VapourSynth caches frames per node, so every measurement builds its node anew and renders each frame once.
``machine`` names what makes one machine's timings differ from another's.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .backends.spec import backend_spec, label
from .errors import BackendUnavailable, InvalidValueError, VsinferError

if TYPE_CHECKING:
    import numpy as np
    import vapoursynth as vs

    from .backends.base import Backend

__all__ = ["Timing", "Trial", "machine", "non_finite", "planes", "render", "sample_clips", "time_trial"]

logger = logging.getLogger("vsinfer.tune")

Pair = tuple[int, int]




def machine() -> dict[str, Any]:
    """What makes timings on this machine differ from another's: CPU, cores, GPU, plugins and runtimes."""
    import vapoursynth as vs

    from .device import cpu, probe_gpu
    from .plugins import EXTRAS, plugin_info, runtime_keys

    try:
        gpu = probe_gpu(0)
        gpu_name = gpu.model or gpu.vendor
    except VsinferError:
        gpu_name = None
    plugins = {}
    for namespace in EXTRAS:
        info = plugin_info(namespace)
        if info is not None:
            plugins[namespace] = {k: info[k] for k in runtime_keys() if k in info}
    machine_cpu = cpu()
    return {"cpu": machine_cpu.model, "cores": machine_cpu.cores, "vs_threads": vs.core.num_threads, "gpu": gpu_name,
            "plugins": plugins}



@dataclass(frozen=True)
class Trial:
    """One configuration: a backend and a tile size (None: the whole frame)."""

    backend: Backend
    """The backend to time."""
    tilesize: Pair | None = None
    """Tile size passed to ``inference``; None runs the whole frame."""

    def __str__(self) -> str:
        return label(self.backend, self.tilesize)


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
    note: str = ""
    """Why autotune timed (or skipped) it: "default of OV_CPU", "float32 variant after a precision rejection",
    "confirmation round 2"... Not stored with the decision."""
    skipped: bool = False
    """True when it was not run at all (``error`` says why: a slow family, the time budget)."""

    @property
    def usable(self) -> bool:
        """True when it ran, its rate is a finite positive number and its output is within tolerance."""
        return self.error is None and not self.skipped and math.isfinite(self.fps) and self.fps > 0

    @property
    def status(self) -> str:
        """One word for tables: "ok", "rejected" (ran, output out of tolerance or not finite), "failed", "skipped"."""
        if self.skipped:
            return "skipped"
        if self.error is None:
            return "ok" if self.usable else "failed"
        return "rejected" if self.frames > 0 else "failed"

    def to_json(self) -> dict[str, Any]:
        """Plain data for the stored decision and ``--json`` output."""
        return {"backend": backend_spec(self.trial.backend), "tilesize": self.trial.tilesize, "fps": self.fps,
                "first_frame_s": self.first_frame_s, "frames": self.frames, "error": self.error,
                "max_abs_diff": self.max_abs_diff, "stopped_early": self.stopped_early, "label": str(self.trial),
                "note": self.note, "status": self.status}


@dataclass
class _Rendered:
    """Timing figures plus the output frames kept for comparison."""

    first_frame_s: float
    steady_s: float
    frames: int
    stopped_early: bool
    outputs: dict[int, np.ndarray] = field(default_factory=dict)


def non_finite(outputs: dict[int, np.ndarray]) -> list[int]:
    """The frames among ``outputs`` holding a NaN or an infinity (such an output rejects a candidate)."""
    import numpy as np

    return sorted(n for n, a in outputs.items() if not bool(np.isfinite(a).all()))


def planes(frame: vs.VideoFrame) -> np.ndarray:
    """The frame's planes stacked as one float32 array (planes, height, width)."""
    import numpy as np

    return np.stack([np.asarray(frame[p], dtype=np.float32) for p in range(frame.format.num_planes)])


def render(
    make: Callable[[], vs.VideoNode], frames: int, *, keep: Sequence[int] = (), deadline_s: float | None = None,
    requests: int | None = None,
) -> _Rendered:
    """Build a node with ``make()`` and render frames 0..frames-1 once each.

    Frame 0 is awaited alone (its time includes ``make()``). The next frames, one per request in flight, are
    rendered together untimed: a runtime with several streams (OpenVINO's default, ``num_streams=2``) warms each
    stream up on its first request, which would otherwise count against its steady rate (measured on OpenVINO,
    demo model at 1280x720: 4.30 fps over the first 11 frames against 4.74 to 5.07 after them, while one stream
    ran 4.88 either way). The rest are requested ``requests`` at a time (default: the core's threads, like
    vspipe) and timed, in whole rounds of requests (a frame left alone at the end would run on one stream's
    share of the cores and count against a runtime with several; the frames past them are rendered untimed).
    Past ``deadline_s`` of steady rendering no new frame is requested; those in flight are awaited, so nothing
    keeps running into the next measurement.
    """
    import vapoursynth as vs

    start = time.perf_counter()
    node = make()
    first = node.get_frame(0)
    first_s = time.perf_counter() - start
    outputs = {0: planes(first)} if 0 in keep else {}
    del first
    in_flight = max(1, requests or vs.core.num_threads)
    warm = min(in_flight, frames - 2) if frames > 2 else 0  # leave at least one frame to time
    timed = frames - 1 - warm
    last = frames - (timed % in_flight if timed > in_flight else 0)  # whole rounds of requests are timed

    def wait(n: int, future: Any) -> None:
        frame = future.result()
        if n in keep:
            outputs[n] = planes(frame)
        del frame

    for n, future in [(n, node.get_frame_async(n)) for n in range(1, 1 + warm)]:
        wait(n, future)
    pending: deque[tuple[int, Any]] = deque()
    done, next_n, stopped = 0, 1 + warm, False
    t0 = time.perf_counter()
    while pending or (next_n < last and not stopped):
        while not stopped and next_n < last and len(pending) < in_flight:
            pending.append((next_n, node.get_frame_async(next_n)))
            next_n += 1
        n, future = pending.popleft()
        wait(n, future)
        done += 1
        if deadline_s is not None and not stopped and time.perf_counter() - t0 > deadline_s and next_n < last:
            stopped = True
    steady_s = time.perf_counter() - t0
    for n in range(last, frames) if not stopped else ():  # past the last whole round: rendered untimed, once
        wait(n, node.get_frame_async(n))
    return _Rendered(first_s, steady_s, done, stopped, outputs)


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
    if done.frames < 1 or done.steady_s <= 0:  # nothing after frame 0 was timed: no rate to report
        return Timing(trial, 0.0, done.first_frame_s, done.frames, error="no steady frame was timed"), done.outputs
    fps = done.frames / done.steady_s
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
