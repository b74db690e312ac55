"""``vsinfer quantize``: an INT8 copy of a model calibrated on the user's clip, its quality, and its speed here."""

from __future__ import annotations

import shutil
import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from .common import Json, emit_json, err, model_file
from .measure import load_vpy_output

if TYPE_CHECKING:
    import vapoursynth as vs

    from ..backends.base import Backend

__all__ = ["cmd_quantize"]

WHERE = "vsinfer quantize"
FASTER = 1.05
"""INT8 has to run this much faster than the float default to be worth it (beyond a shared machine's noise)."""


def cmd_quantize(
    model: Path,
    *,
    clip: Path | None = None,
    frames: int = 16,
    min_psnr: float = 40.0,
    output: Annotated[Path | None, Parameter(alias="-o")] = None,
    speed_frames: int = 8,
    json: Json = False,
) -> int:
    """Quantize MODEL to INT8 (static Q/DQ) on frames of a clip, judge it against float32, and time it here.

    The quantized model is kept in the cache (``vsinfer cache list``); ``Backend.OV_CPU(int8=True)`` finds it there
    for the same clip. Refused (exit 1) below the quality bound, with the PSNR it reached.

    Args:
        model: The float32 ONNX model.
        clip: A .vpy script whose output 0 is the clip the model will run on (RGB or GRAY): its frames calibrate.
        frames: Calibration frames (1 to 256); half as many others (at least 4) judge the result.
        min_psnr: The quality bound: dB of PSNR against float32 on the held-out frames (20 to 100).
        output: Also copy the quantized model to this file.
        speed_frames: Frames timed per run when comparing the speed with the float model (0: no timing).
        json: Machine-readable output.

    """
    from rich.status import Status

    from ..errors import ClipError
    from ..quantize import check_float_model, quantize

    path = model_file(model)
    check_float_model(path, WHERE)  # a quantized or half model is refused before the clip's script runs
    if clip is None:
        raise ClipError("--clip", None, "a .vpy script whose output 0 is the clip the model will run on (its frames "
                        "calibrate the quantization)", where=WHERE)
    if speed_frames < 0 or speed_frames > 240:
        raise ClipError("--speed-frames", speed_frames, "an int from 0 to 240 (0: no timing)", where=WHERE)
    source = load_vpy_output(clip, "--clip", WHERE)
    with Status("quantize", console=err()) as status:
        done = quantize(path, source, frames=frames, min_psnr=min_psnr,
                        progress=lambda line: status.update(f"quantize: {line}"))
        speed = _speed(path, done.path, source, speed_frames, status.update) if speed_frames else None
    if output is not None:
        shutil.copyfile(done.path, output)
    report = {"model": str(path), "quantized": str(done.path), "copied_to": str(output) if output else None,
              "psnr_db": done.psnr_db, "max_error": done.max_error, "kept_in_float": list(done.excluded),
              "calibration_frames": list(done.calibration_frames), "held_out_frames": list(done.held_out_frames),
              "cached": done.cached, "seconds": done.seconds, "speed": speed}
    if json:
        emit_json(report)
        return 0
    write = sys.stdout.write
    how = "read back from the cache" if done.cached else f"made in {done.seconds:.1f} s"
    write(f"quantized: {done.path} ({how})\n")
    if output is not None:
        write(f"copied to: {output}\n")
    write(f"quality against float32 on held-out frames {list(done.held_out_frames)}: {done.psnr_db:.1f} dB PSNR, "
          f"max error {done.max_error:.3g} (bound {min_psnr:g} dB)\n")
    if done.excluded:
        count = len(done.excluded)
        write(f"kept in float ({count} node{'s' if count > 1 else ''}): {', '.join(done.excluded)}\n")
    if speed is not None:
        write(f"speed here ({speed['cpu']}): {speed['float']} {speed['float_fps']:.2f} fps, "
              f"{speed['int8']} {speed['int8_fps']:.2f} fps: {speed['ratio']:.2f}x; {speed['verdict']}\n")
    return 0


def _speed(path: Path, quantized: Path, clip: vs.VideoNode, frames: int, say: Any) -> dict[str, Any]:
    """The float model and the quantized one timed side by side here, two interleaved rounds each.

    On the first usable backend that has ``int8``, at its default precision.
    """
    import dataclasses

    from ..backends.base import field_names
    from ..backends.spec import label
    from ..device import cpu
    from ..select import usable_classes
    from ..timing import Trial, sample_clips, time_trial

    classes = [c for c in usable_classes() if "int8" in field_names(c)]
    if not classes:
        return {"cpu": cpu().model, "verdict": "not timed: no backend that runs INT8 models is usable here"}
    backend: Backend = classes[0]()
    sample = sample_clips([clip], max(frames, 2))
    rates: dict[Path, list[float]] = {path: [], quantized: []}
    for _ in range(2):
        for model in rates:
            say(f"quantize: timing {label(backend)} on {'the INT8' if model == quantized else 'the float'} model")
            timing, _ = time_trial(Trial(backend), sample, model, frames=max(frames, 2))
            if timing.usable:
                rates[model].append(timing.fps)
    if not rates[path] or not rates[quantized]:
        return {"cpu": cpu().model, "verdict": "not timed: a run failed (see the log with -v)"}
    f, q = statistics.median(rates[path]), statistics.median(rates[quantized])
    precision = backend.effective_precision()[0]
    int8 = label(dataclasses.replace(backend, int8=True))  # type: ignore[call-arg]
    verdict = (f"INT8 is faster here: use {int8} (or run the quantized model)" if q / f >= FASTER else
               f"INT8 is no faster here: keep {label(backend)} ({precision})")
    return {"cpu": cpu().model, "float": f"{label(backend)} ({precision})", "float_fps": f, "int8": int8,
            "int8_fps": q, "ratio": q / f, "verdict": verdict}
