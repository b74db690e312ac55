"""``vsinfer bench``: one configuration rendered once in a child process on a synthetic clip.

The child's frame cache and memory are its own, so the peak memory it reports belongs to that configuration
alone; ``synthetic_clip`` is the float sample with real structure that ``tune`` and ``bench`` share.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backends.spec import backend_from_spec, backend_spec, label
from .errors import ConfigError, VsinferError
from .timing import render

if TYPE_CHECKING:
    import vapoursynth as vs

    from .backends.base import Backend

__all__ = [
    "Measurement", "PrecisionCheck", "child_main", "measure", "precision_checks", "synthetic_clip", "synthetic_formats",
]

Pair = tuple[int, int]


@dataclass(frozen=True)
class Measurement:
    """One configuration rendered once in a child process on a synthetic clip."""

    backend: Backend
    """The configuration."""
    fps: float
    """Steady frames per second (frame 0 excluded); 0 when it failed."""
    first_frame_s: float
    """Seconds from ``inference()`` to frame 0."""
    peak_rss_mib: float
    """Peak resident memory of the child process (MiB), Python and VapourSynth included."""
    frames: int
    """Frames rendered after frame 0."""
    error: str | None = None
    """Why it failed."""

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json`` output."""
        return {"backend": backend_spec(self.backend), "label": label(self.backend), "fps": self.fps,
                "first_frame_s": self.first_frame_s, "peak_rss_mib": self.peak_rss_mib, "frames": self.frames,
                "error": self.error}


def synthetic_formats(channels: int, half: bool = False) -> list[str]:
    """Clip formats whose planes add up to ``channels``: RGB clips for each three, GRAY for the rest."""
    rgb, gray = ("RGBH", "GRAYH") if half else ("RGBS", "GRAYS")
    return [rgb] * (channels // 3) + [gray] * (channels % 3)


def measure(
    backend: Backend, network_path: str | os.PathLike[str], *, width: int, height: int, frames: int,
    formats: Sequence[str] = ("RGBS",), tilesize: Pair | None = None, overlap: Pair = (0, 0),
    timeout: float | None = None, progress: Callable[[int], None] | None = None,
) -> Measurement:
    """Render ``backend`` on a ``width`` x ``height`` synthetic clip in a fresh Python process.

    ``progress(frames_done)`` is called about every 0.2 s while the child renders (frame 0 included).
    """
    spec = {"backend": backend_spec(backend), "module": type(backend).__module__,
            "model": str(Path(network_path).resolve()), "width": width,
            "height": height, "frames": frames, "formats": list(formats), "tilesize": tilesize,
            "overlap": list(overlap)}
    with tempfile.TemporaryDirectory(prefix="vsinfer-bench-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        ticks = Path(tmp) / "frames"
        spec["progress"] = str(ticks)
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        code = "import sys; from vsinfer.bench import child_main; child_main(sys.argv[1], sys.argv[2])"
        with subprocess.Popen([sys.executable, "-c", code, str(spec_path), str(result_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
            stderr = _wait(proc, timeout, ticks, progress)
        if stderr is None:
            return Measurement(backend, 0.0, 0.0, 0.0, 0, f"timed out after {timeout} s")
        if not result_path.exists():
            tail = stderr.strip().splitlines()[-3:]
            return Measurement(backend, 0.0, 0.0, 0.0, 0,
                               f"the child process failed (exit {proc.returncode}): {' | '.join(tail)}")
        data = json.loads(result_path.read_text(encoding="utf-8"))
    return Measurement(backend, data["fps"], data["first_frame_s"], data["peak_rss_mib"], data["frames"],
                       data.get("error"))


def _wait(proc: subprocess.Popen[str], timeout: float | None, ticks: Path,
          progress: Callable[[int], None] | None) -> str | None:
    """The child's stderr once it exits (its progress reported on the way); None when it ran past ``timeout``."""
    import threading

    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stderr.read() if proc.stderr else ""), daemon=True)
    reader.start()
    start = time.monotonic()
    try:
        while proc.poll() is None:
            if timeout is not None and time.monotonic() - start > timeout:
                proc.kill()
                proc.wait()
                return None
            if progress is not None:
                progress(_ticks(ticks))
            time.sleep(0.2)
    except BaseException:  # Ctrl-C: the child goes too
        proc.kill()
        proc.wait()
        raise
    reader.join(timeout=5)
    if progress is not None:
        progress(_ticks(ticks))
    return "".join(chunks)


def _ticks(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def child_main(spec_path: str, result_path: str) -> None:
    """Entry point of ``measure``'s child: read the spec, render once, write the figures (never stdout).

    The spec is the parent's own file in a private temp folder; its ``module`` is the backend class's module,
    imported first so that a family registered from outside vsinfer is known here too.
    """
    import resource

    import vapoursynth as vs

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    result: dict[str, Any] = {"fps": 0.0, "first_frame_s": 0.0, "frames": 0, "error": None}
    try:
        importlib.import_module(spec["module"])  # a family registered from outside vsinfer registers on import
        backend = backend_from_spec(spec["backend"])
        clips = [vs.core.std.BlankClip(width=spec["width"], height=spec["height"], format=getattr(vs, name),
                                       length=spec["frames"], color=_mid_grey(getattr(vs, name)), keep=False)
                 for name in spec["formats"]]
        tile = tuple(spec["tilesize"]) if spec.get("tilesize") else None

        def make() -> vs.VideoNode:
            if tile is None:
                return backend.inference(clips, spec["model"])
            return backend.inference(clips, spec["model"], tuple(spec["overlap"]), tile)

        done = render(lambda: _counted(make(), spec.get("progress")), spec["frames"])
        result.update(fps=done.frames / done.steady_s if done.steady_s > 0 else 0.0,
                      first_frame_s=done.first_frame_s, frames=done.frames)
    except (VsinferError, vs.Error) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")


def _counted(node: vs.VideoNode, ticks: str | None) -> vs.VideoNode:
    """``node`` with one byte appended to ``ticks`` per frame delivered (the parent's progress bar reads its size)."""
    if ticks is None:
        return node
    import vapoursynth as vs

    file = open(ticks, "ab", buffering=0)  # noqa: SIM115 - open for the node's life: one write per frame, no reopen

    def tick(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        file.write(b".")  # unbuffered: the parent sees each byte at once
        return f

    return vs.core.std.ModifyFrame(node, node, tick)


def synthetic_clip(width: int, height: int, format: str, *, length: int = 8) -> vs.VideoNode:
    """A float clip with smooth gradients and a little noise, all frames alike: a sample with real structure."""
    import numpy as np
    import vapoursynth as vs

    fmt = getattr(vs, format, None)
    if not isinstance(fmt, int):
        raise ConfigError("format", format, "a VapourSynth format name such as RGBS, RGBH, GRAYS",
                          where="synthetic clip")
    blank = vs.core.std.BlankClip(width=width, height=height, format=fmt, length=length)
    if blank.format.sample_type != vs.FLOAT:
        raise ConfigError("format", format, "a float format (RGBS, RGBH, GRAYS, YUV444PS...)", where="synthetic clip")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = []
    for p in range(blank.format.num_planes):
        wave = 0.5 + 0.25 * np.sin(x / (17.0 + 5 * p)) * np.cos(y / (23.0 + 3 * p))
        plane = wave + rng.normal(0.0, 0.03, size=wave.shape).astype(np.float32)
        planes.append(np.clip(plane, 0.0, 1.0) if blank.format.color_family != vs.YUV or p == 0 else plane - 0.5)
    frame = blank.get_frame(0).copy()
    for p, plane in enumerate(planes):
        np.copyto(np.asarray(frame[p]), plane.astype(np.asarray(frame[p]).dtype))

    def serve(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        return frame

    return vs.core.std.ModifyFrame(blank, blank, serve)


def _mid_grey(fmt: int) -> list[float]:
    import vapoursynth as vs

    info = vs.core.get_video_format(fmt)
    return [0.5 if info.color_family != vs.YUV or p == 0 else 0.0 for p in range(info.num_planes)]


@dataclass(frozen=True)
class PrecisionCheck:
    """What one CPU backend really computes in here, and its error against its own float32 run."""

    backend: Backend
    """The configuration."""
    effective: str
    """What it computes in on this machine ("fp32", "fp16", "bf16")."""
    why: str
    """Why that differs from what it asks for ("" when it does not)."""
    max_error: float | None
    """Max |output - float32 output| on the sample; None when it could not run."""
    error: str | None = None
    """Why it could not run."""

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json`` output (non-finite numbers as strings)."""
        number = None if self.max_error is None else self.max_error if math.isfinite(self.max_error) \
            else str(self.max_error)
        return {"backend": backend_spec(self.backend), "label": label(self.backend), "asks": self.backend.precision(),
                "computes": self.effective, "why": self.why, "max_error": number, "error": self.error}


def precision_checks(
    network_path: str | os.PathLike[str], *, width: int = 128, height: int = 96
) -> list[PrecisionCheck]:
    """Each CPU backend usable here, its default and its other precision, measured against its float32 output.

    The sample is ``synthetic_clip`` at the model's static size, else ``width`` x ``height``.
    """
    import numpy as np
    import vapoursynth as vs

    from .backends.registry import CPU, offers
    from .model import model_info
    from .select import usable_classes
    from .timing import planes

    tensor = model_info(network_path).input()
    static_w, static_h = tensor.spatial
    formats = synthetic_formats(tensor.channels or 3)
    clips = [synthetic_clip(static_w or width, static_h or height, f, length=1) for f in formats]
    cpu_classes = {o.cls for o in offers(CPU)}
    checks: list[PrecisionCheck] = []
    for cls in usable_classes():
        if cls not in cpu_classes:
            continue
        default = cls()
        reference = default.float32()
        variants = [default, *([other] if (other := default.other_precision()) is not None else [])]
        try:
            exact = planes(reference.inference(clips, network_path).get_frame(0))
        except (VsinferError, vs.Error) as exc:
            checks += [PrecisionCheck(b, *b.effective_precision(), None, f"{type(exc).__name__}: {exc}")
                       for b in variants]
            continue
        for backend in variants:
            effective, why = backend.effective_precision()
            try:
                out = planes(backend.inference(clips, network_path).get_frame(0))
            except (VsinferError, vs.Error) as exc:
                checks.append(PrecisionCheck(backend, effective, why, None, f"{type(exc).__name__}: {exc}"))
                continue
            worst = float(np.max(np.abs(out - exact))) if np.all(np.isfinite(out)) else math.nan
            checks.append(PrecisionCheck(backend, effective, why, worst))
    return checks
