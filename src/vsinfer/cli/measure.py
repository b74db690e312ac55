"""``vsinfer bench``, ``vsinfer tune`` and ``vsinfer fp16-check``: measuring models on this machine."""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from .common import Json, UsageError, backend_class, emit_json, err, model_file, out, parse_size_pair, split

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..bench import Measurement

__all__ = ["cmd_bench", "cmd_fp16_check", "cmd_tune", "load_vpy_output"]

logger = logging.getLogger("vsinfer.cli")


def _bench_configs(backends: str | None, streams: str | None, fp16: bool | None) -> list[Backend]:
    from ..errors import ConfigError
    from ..select import usable_classes

    classes = [backend_class(n, "--backends") for n in split(backends)] if backends else usable_classes()
    if not classes:
        raise UsageError("no backend is usable here; name some with --backends")
    stream_values: list[int | None] | None = None
    if streams:
        stream_values = []
        for item in split(streams):
            if item.lower() in ("auto", "none", "default"):
                stream_values.append(None)  # the class's own default
            elif item.isdigit() and int(item) >= 1:
                stream_values.append(int(item))
            else:
                raise UsageError(f"--streams={streams!r} is not valid; expected ints >= 1 or 'auto', e.g. 1,2,auto")
    configs: list[Backend] = []
    for cls in classes:
        names = {f.name for f in dataclasses.fields(cls)}
        base: dict[str, Any] = {"fp16": fp16} if fp16 is not None and "fp16" in names else {}
        variants = [base] if stream_values is None else [
            {**base, "num_streams": v} if v is not None else dict(base) for v in stream_values]
        for kw in variants:
            try:
                candidate = cls(**kw)
            except ConfigError as exc:
                logger.warning("skipping %s(%s): %s", cls.__name__, kw, exc)
                continue
            if candidate not in configs:
                configs.append(candidate)
    return configs


def cmd_bench(
    model: Path,
    *,
    backends: str | None = None,
    size: str = "1280x720",
    frames: int = 24,
    streams: str | None = None,
    fp16: bool | None = None,
    half: Annotated[bool, Parameter(negative="")] = False,
    timeout: float = 900.0,
    json: Json = False,
) -> int:
    """Render a synthetic clip with each backend and setting, once each in a fresh process; fastest first.

    Shows steady fps (frame 0 excluded), first-frame time (graph, session or engine creation) and the
    child process's peak memory.

    Args:
        model: The ONNX model.
        backends: Comma-separated backends (e.g. ort-cpu,ov-cpu,ncnn); default: those usable here.
        size: Frame size WxH.
        frames: Frames per configuration (frame 0 is timed apart).
        streams: Comma-separated num_streams values to try for each backend (ints; 'auto': the backend's default).
        fp16: Run in half precision (--no-fp16: float32); default: each backend's default.
        half: Feed a half-float clip (RGBH) instead of RGBS.
        timeout: Seconds before one configuration is given up.
        json: Machine-readable output.

    """
    import math

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Table

    from ..backends.spec import label
    from ..bench import measure, synthetic_formats
    from ..model import model_info

    path = model_file(model)
    width, height = parse_size_pair(size, "--size")
    if frames < 2 or frames > 100_000:
        raise UsageError(f"--frames={frames} is not valid; expected 2 .. 100000 (frame 0 is timed apart)")
    if not math.isfinite(timeout) or timeout <= 0:
        raise UsageError(f"--timeout={timeout} is not valid; expected seconds > 0, e.g. 900")
    channels = model_info(path).input().channels or 3
    formats = synthetic_formats(channels, half)
    configs = _bench_configs(backends, streams, fp16)
    results: list[Measurement] = []
    interrupted = False
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} frames"),
               TextColumn("{task.fields[fps]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err(), transient=True) as progress:
        try:
            for n, backend in enumerate(configs, 1):
                task = progress.add_task(f"{n}/{len(configs)} {label(backend)}", total=frames, fps="")
                begun = time.monotonic()

                def show(done: int, task: Any = task, begun: float = begun) -> None:
                    rate = f"{done / (time.monotonic() - begun):.2f} fps" if done > 1 else "first frame"
                    progress.update(task, completed=min(done, frames), fps=rate)

                results.append(measure(backend, path, width=width, height=height, frames=frames, formats=formats,
                                       timeout=timeout, progress=show))
                progress.remove_task(task)
        except KeyboardInterrupt:
            interrupted = True
    results.sort(key=lambda m: (m.error is not None, -m.fps))
    status = 130 if interrupted else 0 if any(m.error is None for m in results) else 1
    if json:
        emit_json({"model": str(path), "size": [width, height], "formats": formats, "frames": frames,
                    "results": [m.to_json() for m in results], "interrupted": interrupted})
        return status
    table = Table("#", "backend", "fps", "first frame", "peak memory", "note",
                  title=f"{path.name} on {width}x{height} {'+'.join(formats)}, {frames} frames, one process each",
                  title_justify="left", box=None)
    for i, m in enumerate(results, 1):
        if m.error:
            table.add_row(str(i), label(m.backend), "-", "-", "-", m.error)
        else:
            table.add_row(str(i), label(m.backend), f"{m.fps:.2f}", f"{m.first_frame_s:.3f} s",
                          f"{m.peak_rss_mib:.0f} MiB", "")
    out().print(table)
    if interrupted:
        err().print(f"interrupted: {len(results)} of {len(configs)} configurations measured")
    elif status:
        err().print("no configuration ran: see the notes above")
    return status


# -- tune ----------------------------------------------------------------------------------------------------------
def cmd_tune(
    model: Path,
    *,
    size: str = "1280x720",
    format: str = "",
    frames: int = 10,
    tiles: Annotated[bool, Parameter(negative="")] = False,
    retune: Annotated[bool, Parameter(negative="")] = False,
    tolerance: float = 0.02,
    budget: float = 30.0,
    int8: float | None = None,
    json: Json = False,
) -> int:
    """Autotune on a synthetic clip of this size and format; a script with such clips then reuses the decision.

    Prints every row (timed, rejected, stopped early or skipped, and why), then the ranking (median fps and its
    noise over the interleaved runs) and why the pick won.

    Args:
        model: The ONNX model.
        size: Frame size WxH.
        format: VapourSynth format name(s), comma-separated (default: RGBS / GRAYS clips for the model's channels).
        frames: Frames per run (2 to 240).
        tiles: Let 2x2 tiles compete with the whole frame, with the overlap that gives its picture (the
            model's measured context).
        retune: Time again even when a decision is stored.
        tolerance: Largest difference from the float32 output a candidate may have (0 to 1; the default is
            vsinfer.tune.TOLERANCE, which admits the reduced precision the defaults run).
        budget: Time budget of the search in seconds.
        int8: Also time INT8 variants at this quality bound (dB of PSNR against float32, e.g. 40) where the CPU
            has INT8 arithmetic; a synthetic clip calibrates them (quantize on your own clip for real use).
        json: Machine-readable output.

    """
    from rich.status import Status

    from ..backends.spec import label
    from ..bench import synthetic_clip, synthetic_formats
    from ..model import model_info
    from ..tune import tune

    path = model_file(model)
    width, height = parse_size_pair(size, "--size")
    channels = model_info(path).input().channels or 3
    formats = split(format) if format else synthetic_formats(channels)
    clips = [synthetic_clip(width, height, f, length=max(frames, 2)) for f in formats]
    with Status("autotune", console=err()) as status:
        result = tune(path, clips, frames=frames, retune=retune, tilesizes=None if tiles else (None,),
                      tolerance=tolerance, budget_s=budget, int8_min_psnr=int8,
                      progress=lambda label: status.update(f"autotune: timing {label}"))
    ranking = [{"label": str(r.trial), "backend": label(r.trial.backend), "tilesize": r.trial.tilesize,
                "median_fps": r.median_fps, "noise_fps": r.noise_fps, "runs": r.runs,
                "first_frame_s": r.first_frame_s, "max_abs_diff": r.max_abs_diff} for r in result.ranking]
    if json:
        best = result.best_measured()
        emit_json({"backend": label(result.backend, result.tilesize), "tilesize": result.tilesize,
                   "fps": result.fps, "reused": result.reused, "seconds": result.seconds, "reason": result.reason,
                   "best_measured_fps": best.fps if best else None, "path": str(result.path),
                   "timings": [t.to_json() for t in result.timings], "ranking": ranking})
        return 0
    console = out()
    console.print("runs, in the order timed:", markup=False)
    for t in result.timings:
        diff = "" if t.max_abs_diff is None else f"err {t.max_abs_diff:.2g}"
        why = t.error or ("stopped early: clearly slower than the best so far" if t.stopped_early else "")
        rate = "" if t.skipped else f"{t.fps:7.2f} fps  first frame {t.first_frame_s:6.3f} s"
        console.print(f"  {t.status:8s} {t.trial!s:52s} {rate:36s} {diff:11s} {t.note}"
                      + (f"\n           {why}" if why else ""), markup=False, highlight=False)
    console.print("ranking (median of the confirmation rounds when they ran, else of every run; noise = scaled median "
                  "absolute deviation):", markup=False)
    for i, r in enumerate(result.ranking, 1):
        diff = "not compared" if r.max_abs_diff is None else f"err {r.max_abs_diff:.2g}"
        mark = "  <- pick" if r.trial.backend == result.backend and r.trial.tilesize == result.tilesize else ""
        console.print(f"  {i}. {r.trial!s:52s} {r.median_fps:7.2f} +- {r.noise_fps:5.2f} fps  {r.runs} run(s)  "
                      f"{diff}{mark}", markup=False, highlight=False)
    how = "reused the stored decision" if result.reused else f"tuned in {result.seconds:.1f} s"
    console.print(f"pick: {label(result.backend, result.tilesize)}  {result.fps:.2f} fps ({how})", markup=False)
    if result.tilesize is not None:
        console.print(f"use: .inference(clips, model, overlap={result.overlap}, tilesize={result.tilesize}), or "
                      "vsinfer.tune.tune(...).inference(clips, model)", markup=False, highlight=False)
    if result.reason:
        console.print(f"why: {result.reason}", markup=False, highlight=False)
    return 0


# -- fp16-check -----------------------------------------------------------------------------------------------------
def load_vpy_output(script: Path, option: str = "--clip", where: str = "vsinfer fp16-check") -> Any:
    """Run a .vpy script in a fresh namespace and return its output 0 clip.

    Whatever stops the script (a syntax error, an exception, ``sys.exit``) or leaves no video at output 0 is a
    ClipError naming ``option`` and saying what happened, never a traceback or a silent exit.
    """
    import runpy

    import vapoursynth as vs

    from ..errors import ClipError

    if not script.is_file():
        raise ClipError(option, str(script), "an existing .vpy script", where=where)
    vs.clear_outputs()
    try:
        runpy.run_path(str(script), run_name="__vapoursynth__")
    except KeyboardInterrupt:
        raise
    except SyntaxError as exc:
        raise ClipError(option, str(script), f"a script Python can read: line {exc.lineno}: {exc.msg}",
                        where=where) from exc
    except SystemExit as exc:
        raise ClipError(option, str(script), "a script that sets output 0 and returns; it called "
                        f"sys.exit({exc.code!r})", where=where) from exc
    except Exception as exc:  # the script's own error, said in one line
        raise ClipError(option, str(script), f"a script that runs: it raised {type(exc).__name__}: {exc}",
                        where=where) from exc
    try:
        output = vs.get_output(0)
    except (KeyError, IndexError) as exc:
        raise ClipError(option, str(script), "a script that sets output 0 (clip.set_output())",
                        where=where) from exc
    clip = getattr(output, "clip", output)
    if not isinstance(clip, vs.VideoNode):
        kind = "audio" if isinstance(clip, vs.AudioNode) else type(clip).__name__
        raise ClipError(option, str(script), f"a script whose output 0 is a video clip; it is {kind}", where=where)
    return clip


def cmd_fp16_check(model: Path, *, clip: Path | None = None, json: Json = False) -> int:
    """Check whether MODEL can run in fp16: the float32 values that would overflow and the nodes kept in float32.

    Args:
        model: The ONNX model.
        clip: A .vpy script whose output 0 is the sample (default: synthetic samples).
        json: Machine-readable output.

    """
    from ..backends.spec import label
    from ..bench import precision_checks
    from ..device import cpu
    from ..fp16 import report as fp16_report
    from ..fp16.reporting import check_sample_clip
    from ..model import model_info
    from ..validation import image_input

    path = model_file(model)
    info = model_info(path)
    image_input(info, "vsinfer fp16-check")  # a layout it cannot feed (NHWC) is refused, not analysed
    sample = load_vpy_output(clip) if clip is not None else None
    if sample is not None:
        check_sample_clip(sample, info, "--clip")  # a clip the analysis cannot feed is refused, not left out
    report = fp16_report(path, clip=sample)
    checks = precision_checks(path)
    if json:
        emit_json(report.to_json() | {"cpu": cpu().model, "backends": [c.to_json() for c in checks]})
        return 0
    sys.stdout.write(f"{report}\n")
    if checks:
        sys.stdout.write(f"measured here ({cpu().model}, {cpu().cores} cores), max |output - float32 output| on a "
                         "synthetic sample:\n")
        width = max(len(label(c.backend)) for c in checks)
        for c in checks:
            result = c.error or f"{c.max_error:.3g}"
            note = f"  ({c.why})" if c.why else ""
            sys.stdout.write(f"  {label(c.backend):<{width}}  computes {c.effective:<5} {result}{note}\n")
    return 0
