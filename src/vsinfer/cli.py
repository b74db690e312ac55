"""The ``vsinfer`` command (also ``python -m vsinfer``): info, build, cache, bench, tune, fp16-check.

Results go to stdout (tables for people, ``--json`` for programs); logs, progress bars and errors go to
stderr. A vsinfer error prints its message and exits with status 1, without a traceback; a command-line
value that cannot be used exits with status 2.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from cyclopts import App, Parameter

if TYPE_CHECKING:
    from rich.console import Console

    from .backends.base import Backend
    from .bench import Measurement
    from .engine.inventory import Entry, Removal

__all__ = ["BACKEND_NAMES", "UsageError", "build_app", "info", "main", "parse_size_pair"]

logger = logging.getLogger(__name__)

BACKEND_NAMES: dict[str, str] = {
    "trt": "TRT",
    "trt-rtx": "TRT_RTX",
    "ort-cpu": "ORT_CPU",
    "ort-cuda": "ORT_CUDA",
    "ort-dml": "ORT_DML",
    "ort-coreml": "ORT_COREML",
    "ov": "OV",
    "ov-cpu": "OV_CPU",
    "ov-gpu": "OV_GPU",
    "ov-npu": "OV_NPU",
    "ncnn": "NCNN",
    "migx": "MIGX",
}
"""Command-line backend names -> ``Backend`` class names."""

Json = Annotated[bool, Parameter(name="--json", negative="")]
"""The ``--json`` flag every command that a program may read has."""


class UsageError(Exception):
    """A command-line value that cannot be used (printed; exit status 2)."""


# -- info (output unchanged) ------------------------------------------------------------------------------------
def info() -> dict[str, Any]:
    """OS, Python, VapourSynth, GPUs, plugins, the autoselect decision and the cache folder, as plain data."""
    import vapoursynth as vs

    from .device import probe_gpu
    from .engine.store import Store
    from .errors import VsinferError
    from .plugins import EXTRAS, plugin_status
    from .select import explain_autoselect

    gpu = probe_gpu(0)
    report: dict[str, Any] = {
        "os": platform.platform(),
        "python": platform.python_version(),
        "vapoursynth": {"version": str(vs.__version__), "core": vs.core.core_version.release_major},
        "gpu": {"device_id": 0, "vendor": gpu.vendor, "model": gpu.model, "count": gpu.count, "detail": gpu.detail},
        "plugins": {},
    }
    for namespace in EXTRAS:
        status = plugin_status(namespace)
        report["plugins"][namespace] = {"loaded": status.loaded, "version": status.version, "error": status.error}
    try:
        decision = explain_autoselect(0)
        report["autoselect"] = {
            "chosen": decision.cls.__name__,
            "steps": [{"backend": s.name, "taken": s.taken, "reason": s.reason} for s in decision.steps],
        }
    except VsinferError as exc:
        report["autoselect"] = {"chosen": None, "error": str(exc)}
    store = Store()
    report["cache"] = {"requested": str(store.requested), "engines": str(store.folder("trt"))}
    return report


def _text(report: dict[str, Any]) -> str:
    gpu = report["gpu"]
    lines = [
        f"OS           {report['os']}",
        f"Python       {report['python']}",
        f"VapourSynth  R{report['vapoursynth']['core']} (python module {report['vapoursynth']['version']})",
        f"GPU 0        {gpu['vendor'] or 'none'}" + (f" ({gpu['model']})" if gpu["model"] else "")
        + f"  [{gpu['detail']}]",
        "Plugins",
    ]
    for name, p in report["plugins"].items():
        state = f"loaded {p['version']}" if p["loaded"] else f"not loaded: {p['error']}"
        lines.append(f"  {name:8s} {state}")
    auto = report["autoselect"]
    lines.append(f"Autoselect   {auto['chosen'] or 'nothing usable'}")
    for step in auto.get("steps", []):
        lines.append(f"  {'->' if step['taken'] else '  '} {step['backend']}: {step['reason']}")
    if "error" in auto:
        lines.append(f"  {auto['error']}")
    lines.append(f"Cache        {report['cache']['requested']} (engines in {report['cache']['engines']})")
    return "\n".join(lines)


# -- helpers -------------------------------------------------------------------------------------------------------
def parse_size_pair(text: str, option: str) -> tuple[int, int]:
    """``"1280x720"`` (or a single ``"256"``) -> (1280, 720); UsageError naming ``option`` otherwise."""
    parts = text.strip().lower().replace("*", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise UsageError(f"{option}={text!r} is not valid; expected WIDTHxHEIGHT, e.g. 1280x720")
    return values[0], values[-1]


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _backend_class(name: str, option: str) -> type[Backend]:
    from .backends import Backend

    key = name.strip().lower().replace("_", "-")
    if key not in BACKEND_NAMES:
        raise UsageError(f"{option}={name!r} is not valid; expected one of {', '.join(BACKEND_NAMES)}")
    cls: type[Backend] = getattr(Backend, BACKEND_NAMES[key])
    return cls


def _cli_name(cls: type[Backend]) -> str:
    return next((k for k, v in BACKEND_NAMES.items() if v == cls.__name__), cls.__name__.lower())


def _out() -> Console:
    from rich.console import Console

    wide = None if sys.stdout.isatty() else 200  # a pipe or file gets whole lines, not 80 columns
    return Console(highlight=False, width=wide)


def _err() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _ago(timestamp: float, now: float) -> str:
    seconds = max(0.0, now - timestamp)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


def _model(path: Path) -> Path:
    from .errors import ModelError

    if not path.is_file():
        raise ModelError("MODEL", str(path), "an existing ONNX file")
    return path


# -- info ----------------------------------------------------------------------------------------------------------
def cmd_info(*, json: Json = False) -> int:
    """Describe this machine as vsinfer sees it: GPU, plugins, the autoselect decision, the cache folder.

    Args:
        json: Machine-readable output.

    """
    report = info()
    if json:
        _emit_json(report)
    else:
        sys.stdout.write(_text(report) + "\n")
    return 0


# -- build ---------------------------------------------------------------------------------------------------------
def cmd_build(
    model: Path,
    *,
    backend: Literal["trt", "trt-rtx", "migx"],
    tilesize: str | None = None,
    fp16: bool | None = None,
    bf16: Annotated[bool, Parameter(negative="")] = False,
    dynamic: str | None = None,
    channels: int | None = None,
    input_name: str | None = None,
    force: Annotated[bool, Parameter(negative="")] = False,
    json: Json = False,
) -> int:
    """Prebuild a TensorRT / TensorRT-RTX engine or a MIGraphX program into the cache.

    A script that later runs the same model, backend fields and tile size finds it there.

    Args:
        model: The ONNX model.
        backend: trt, trt-rtx or migx.
        tilesize: Tile (or frame) size WxH the engine is built for; with --dynamic, defaults to OPT.
        fp16: Build in half precision (--no-fp16: float32); default: the backend's own default.
        bf16: Build in bfloat16.
        dynamic: MIN:OPT:MAX shape profile (each WxH) for one engine that takes any size in between (trt only).
        channels: Input channels; default: the model's.
        input_name: Model input the shape profile applies to; default: its only image input.
        force: Build even when the cache has a matching engine.
        json: Print the result as JSON.

    """
    from .engine.store import read_record, sidecar_of
    from .errors import ModelError
    from .model import model_info
    from .tune import backend_spec

    cls = _backend_class(backend, "--backend")
    path = _model(model)
    kw: dict[str, Any] = {}
    if fp16 is not None:
        kw["fp16"] = fp16
    if bf16:
        kw["bf16"] = True
    if force:
        kw["force_rebuild"] = True
    tile = parse_size_pair(tilesize, "--tilesize") if tilesize else None
    if dynamic:
        if cls.namespace == "migx":
            raise UsageError("--dynamic is for trt and trt-rtx; MIGraphX programs are built for one size (--tilesize)")
        parts = dynamic.split(":")
        if len(parts) != 3:
            raise UsageError(f"--dynamic={dynamic!r} is not valid; expected MIN:OPT:MAX, e.g. 64x64:1280x720:1920x1080")
        lo, opt, hi = (parse_size_pair(p, "--dynamic") for p in parts)
        kw.update(static_shape=False, min_shapes=lo, opt_shapes=opt, max_shapes=hi)
        tile = tile or opt
    if tile is None:
        raise UsageError("--tilesize WxH is required (the size the engine is built for), or give --dynamic")
    info_ = model_info(path)
    if channels is None:
        channels = info_.input(input_name).channels
        if channels is None:
            raise ModelError("--channels", None, "the number of input channels: the model does not fix it",
                             where=str(path))
    instance = cls(**kw)
    engine_log = logging.getLogger("vsinfer.engine")
    level = engine_log.level
    engine_log.setLevel(min(logging.INFO, engine_log.getEffectiveLevel()))  # the build phases, live
    start = time.perf_counter()
    try:
        if cls.namespace == "migx":
            built = instance.build_program(path, channels, tile, input_name)  # type: ignore[attr-defined]
        else:
            built = instance.build_engine(path, channels, tile, input_name)  # type: ignore[attr-defined]
    finally:
        engine_log.setLevel(level)
    seconds = time.perf_counter() - start
    record = read_record(sidecar_of(built)) or {}
    if json:
        _emit_json({"path": str(built), "backend": backend_spec(instance), "seconds": seconds,
                    "size": record.get("size"), "meta": record.get("meta"), "identity": record.get("identity")})
    else:
        size = record.get("size")
        _out().print(f"{built}  ({size if size is not None else '?'} bytes, {seconds:.1f} s)")
    return 0


# -- cache ----------------------------------------------------------------------------------------------------------
def _kinds(kind: Sequence[str] | None) -> tuple[str, ...] | None:
    from .engine.inventory import check_kinds

    if not kind:
        return None
    return check_kinds([k for item in kind for k in _split(item)])


def _entry_row(entry: Entry, now: float) -> list[str]:
    from .engine.inventory import human_size

    name = entry.name + (f"  [{entry.problem}]" if entry.problem else "")
    return [entry.kind, name, entry.model, entry.precision, entry.shapes, entry.runtime, entry.device,
            human_size(entry.size), _ago(entry.last_use, now)]


def cache_list(*, kind: list[str] | None = None, json: Json = False) -> int:
    """List what the cache holds: model, precision, shapes, runtime, device, size and last use of each entry.

    Args:
        kind: Only these kinds (trt, onnx, migx, ov, models, tune, fp16); repeat or comma-separate.
        json: Machine-readable output.

    """
    from rich.table import Table

    from .engine.inventory import human_size, scan, totals
    from .engine.store import Store

    store = Store()
    entries = scan(store, _kinds(kind))
    entries.sort(key=lambda e: e.last_use, reverse=True)
    if json:
        _emit_json({"root": str(store.requested), "entries": [e.to_json() for e in entries],
                    "total": sum(e.size for e in entries), "by_kind": totals(entries)})
        return 0
    out = _out()
    if not entries:
        out.print(f"the cache at {store.requested} is empty")
        return 0
    now = time.time()
    table = Table("kind", "file", "model", "precision", "shapes", "runtime", "device", "size", "last use",
                  title=f"vsinfer cache: {store.requested}", title_justify="left", box=None)
    for entry in entries:
        table.add_row(*_entry_row(entry, now))
    out.print(table)
    by_kind = ", ".join(f"{k} {human_size(v)}" for k, v in sorted(totals(entries).items()))
    out.print(f"{len(entries)} entries, {human_size(sum(e.size for e in entries))} ({by_kind})")
    return 0


def cache_verify(*, fix: Annotated[bool, Parameter(negative="")] = False, kind: list[str] | None = None,
                 json: Json = False) -> int:
    """Check every entry against its sidecar (size, CRC32) and find leftovers; exit status 1 while problems remain.

    Broken: artifacts without sidecar, orphan sidecars, size or checksum mismatches, unreadable records,
    temp files of interrupted writes. Entries being built (lock held) are skipped.

    Args:
        fix: Remove what is broken.
        kind: Only these kinds; repeat or comma-separate.
        json: Machine-readable output.

    """
    from .engine.inventory import verify
    from .engine.store import Store

    store = Store()
    findings = verify(store, fix=fix, kinds=_kinds(kind))
    remaining = [f for f in findings if f.action != "removed"]
    if json:
        _emit_json({"root": str(store.requested), "findings": [f.to_json() for f in findings],
                    "ok": not remaining})
    else:
        out = _out()
        for f in findings:
            out.print(f"{f.kind:6s} {f.path.name}: {f.problem} -> {f.action}")
        if not findings:
            out.print(f"the cache at {store.requested} is healthy")
        elif remaining and not fix:
            out.print(f"{len(remaining)} problem(s); vsinfer cache verify --fix removes them")
    return 1 if remaining else 0


def _report_removal(removal: Removal, json: bool, what: str) -> int:
    from .engine.inventory import human_size

    if json:
        _emit_json(removal.to_json())
        return 0
    out = _out()
    for entry in removal.removed:
        out.print(f"removed {entry.kind}/{entry.name} ({human_size(entry.size)})")
    for entry, reason in removal.skipped:
        out.print(f"kept    {entry.kind}/{entry.name}: {reason}")
    out.print(f"{what}: {len(removal.removed)} removed, {human_size(removal.freed)} freed"
              + (f", {len(removal.skipped)} kept" if removal.skipped else ""))
    return 0


def cache_clear(*, kind: list[str] | None = None, older_than: float | None = None, json: Json = False) -> int:
    """Remove cache entries: all of them, or those of some kinds, or those unused for some days.

    Args:
        kind: Only these kinds (trt, onnx, migx, ov, models, tune, fp16); repeat or comma-separate.
        older_than: Only entries last used more than this many days ago.
        json: Machine-readable output.

    """
    from .engine.inventory import clear
    from .engine.store import Store

    return _report_removal(clear(Store(), kinds=_kinds(kind), older_than_days=older_than), json, "clear")


def cache_prune(*, max_size: str, json: Json = False) -> int:
    """Evict the least recently used entries until the cache holds at most --max-size (e.g. 5G, 500M).

    Args:
        max_size: The size to shrink to: a number of bytes or with a unit (K, M, G, T; binary).
        json: Machine-readable output.

    """
    from .engine.inventory import parse_size, prune
    from .engine.store import Store

    return _report_removal(prune(Store(), max_size=parse_size(max_size)), json, "prune")


# -- bench ---------------------------------------------------------------------------------------------------------
def _bench_configs(backends: str | None, streams: str | None, fp16: bool | None) -> list[Backend]:
    import dataclasses

    from .errors import ConfigError
    from .tune import usable_families

    classes = [_backend_class(n, "--backends") for n in _split(backends)] if backends else usable_families()
    if not classes:
        raise UsageError("no backend is usable here; name some with --backends")
    stream_values: list[int | None] | None = None
    if streams:
        stream_values = []
        for item in _split(streams):
            if item.lower() in ("auto", "none"):
                stream_values.append(None)
            elif item.isdigit() and int(item) >= 1:
                stream_values.append(int(item))
            else:
                raise UsageError(f"--streams={streams!r} is not valid; expected ints >= 1 or 'auto', e.g. 1,2,auto")
    configs: list[Backend] = []
    for cls in classes:
        names = {f.name for f in dataclasses.fields(cls)}
        base: dict[str, Any] = {"fp16": fp16} if fp16 is not None and "fp16" in names else {}
        variants = [base] if stream_values is None else [{**base, "num_streams": v} for v in stream_values]
        for kw in variants:
            try:
                configs.append(cls(**kw))
            except ConfigError as exc:
                logger.warning("skipping %s(%s): %s", cls.__name__, kw, exc)
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
        streams: Comma-separated num_streams values to try for each backend (ints, or 'auto' for None).
        fp16: Run in half precision (--no-fp16: float32); default: each backend's default.
        half: Feed a half-float clip (RGBH) instead of RGBS.
        timeout: Seconds before one configuration is given up.
        json: Machine-readable output.

    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from .bench import measure, synthetic_formats
    from .model import model_info
    from .tune import describe

    path = _model(model)
    width, height = parse_size_pair(size, "--size")
    if frames < 2:
        raise UsageError(f"--frames={frames} is not valid; expected 2 or more (frame 0 is timed apart)")
    channels = model_info(path).input().channels or 3
    formats = synthetic_formats(channels, half)
    configs = _bench_configs(backends, streams, fp16)
    results: list[Measurement] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=_err(), transient=True) as progress:
        task = progress.add_task("bench", total=len(configs))
        for backend in configs:
            progress.update(task, description=f"bench {describe(backend)}")
            results.append(measure(backend, path, width=width, height=height, frames=frames, formats=formats,
                                   timeout=timeout))
            progress.advance(task)
    results.sort(key=lambda m: (m.error is not None, -m.fps))
    if json:
        _emit_json({"model": str(path), "size": [width, height], "formats": formats, "frames": frames,
                    "results": [m.to_json() for m in results]})
        return 0
    table = Table("#", "backend", "fps", "first frame", "peak memory", "note",
                  title=f"{path.name} on {width}x{height} {'+'.join(formats)}, {frames} frames, one process each",
                  title_justify="left", box=None)
    for i, m in enumerate(results, 1):
        if m.error:
            table.add_row(str(i), describe(m.backend), "-", "-", "-", m.error)
        else:
            table.add_row(str(i), describe(m.backend), f"{m.fps:.2f}", f"{m.first_frame_s:.3f} s",
                          f"{m.peak_rss_mib:.0f} MiB", "")
    _out().print(table)
    return 0


# -- tune ----------------------------------------------------------------------------------------------------------
def cmd_tune(
    model: Path,
    *,
    size: str = "1280x720",
    format: str = "",
    frames: int = 6,
    tiles: Annotated[bool, Parameter(negative="")] = False,
    retune: Annotated[bool, Parameter(negative="")] = False,
    json: Json = False,
) -> int:
    """Autotune on a synthetic clip of this size and format; a script with such clips then reuses the decision.

    Args:
        model: The ONNX model.
        size: Frame size WxH.
        format: VapourSynth format name(s), comma-separated (default: RGBS / GRAYS clips for the model's channels).
        frames: Frames per candidate.
        tiles: Let 2x2 tiles compete with the whole frame.
        retune: Time again even when a decision is stored.
        json: Machine-readable output.

    """
    from rich.status import Status

    from .bench import synthetic_clip, synthetic_formats
    from .model import model_info
    from .tune import describe, tune

    path = _model(model)
    width, height = parse_size_pair(size, "--size")
    channels = model_info(path).input().channels or 3
    formats = _split(format) if format else synthetic_formats(channels)
    clips = [synthetic_clip(width, height, f, length=max(frames, 2)) for f in formats]
    with Status("autotune", console=_err()) as status:
        result = tune(path, clips, frames=frames, retune=retune, tilesizes=None if tiles else (None,),
                      progress=lambda label: status.update(f"autotune: timing {label}"))
    if json:
        best = result.best_measured()
        _emit_json({"backend": describe(result.backend, result.tilesize), "tilesize": result.tilesize,
                    "fps": result.fps, "reused": result.reused, "seconds": result.seconds,
                    "best_measured_fps": best.fps if best else None, "path": str(result.path),
                    "timings": [t.to_json() for t in result.timings]})
        return 0
    out = _out()
    for t in result.timings:
        note = t.error or ("stopped early" if t.stopped_early else "")
        out.print(f"  {t.trial!s:60s} {t.fps:7.2f} fps  first frame {t.first_frame_s:6.3f} s  {note}")
    how = "reused the stored decision" if result.reused else f"tuned in {result.seconds:.1f} s"
    out.print(f"pick: {describe(result.backend, result.tilesize)}  {result.fps:.2f} fps ({how})")
    return 0


# -- fp16-check -----------------------------------------------------------------------------------------------------
def load_vpy_output(script: Path) -> Any:
    """Run a .vpy script in a fresh namespace and return its output 0 clip."""
    import runpy

    import vapoursynth as vs

    from .errors import ClipError

    if not script.is_file():
        raise ClipError("--clip", str(script), "an existing .vpy script", where="vsinfer fp16-check")
    vs.clear_outputs()
    runpy.run_path(str(script), run_name="__vapoursynth__")
    try:
        output = vs.get_output(0)
    except (KeyError, IndexError) as exc:
        raise ClipError("--clip", str(script), "a script that sets output 0 (clip.set_output())",
                        where="vsinfer fp16-check") from exc
    return getattr(output, "clip", output)


def cmd_fp16_check(model: Path, *, clip: Path | None = None, json: Json = False) -> int:
    """Check whether MODEL can run in fp16: the float32 values that would overflow and the nodes kept in float32.

    Args:
        model: The ONNX model.
        clip: A .vpy script whose output 0 is the sample (default: synthetic samples).
        json: Machine-readable output.

    """
    try:
        from .fp16 import check
    except ImportError as exc:
        from .errors import MissingDependencyError

        raise MissingDependencyError("vsinfer.fp16.check", "dev", "vsinfer fp16-check (this build lacks it)") from exc
    path = _model(model)
    sample = load_vpy_output(clip) if clip is not None else None
    report = check(path, clip=sample)
    if json:
        _emit_json(report.to_json())
    else:
        sys.stdout.write(f"{report}\n")
    return 0


# -- the app ------------------------------------------------------------------------------------------------------
class _Logging:
    """The CLI's stderr log handler on the ``vsinfer`` logger, removed again when ``main`` returns."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("vsinfer")
        self.handler: logging.Handler | None = None
        self.level = self.logger.level

    def setup(self, verbose: int) -> None:
        from rich.logging import RichHandler

        if self.handler is None:
            if sys.stderr.isatty():
                self.handler = RichHandler(console=_err(), show_time=False, show_path=False, markup=False)
            else:  # a log file or a pipe: whole lines
                self.handler = logging.StreamHandler(sys.stderr)
                self.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG)

    def restore(self) -> None:
        if self.handler is not None:
            self.logger.removeHandler(self.handler)
            self.handler = None
        self.logger.setLevel(self.level)


def build_app(log: _Logging | None = None) -> App:
    """The cyclopts application (its meta app takes the global options)."""
    from . import __version__

    app = App(name="vsinfer", help="ONNX inference for VapourSynth via vs-mlrt: inspect, prebuild, cache, measure.",
              version=__version__, result_action="return_value")
    app.command(cmd_info, name="info")
    app.command(cmd_build, name="build")
    app.command(cmd_bench, name="bench")
    app.command(cmd_tune, name="tune")
    app.command(cmd_fp16_check, name="fp16-check")
    cache = App(name="cache", help="List, verify, clear and prune the cache (engines, converted models, decisions).",
                result_action="return_value")
    cache.command(cache_list, name="list")
    cache.command(cache_verify, name="verify")
    cache.command(cache_clear, name="clear")
    cache.command(cache_prune, name="prune")
    app.command(cache)

    @app.meta.default
    def _meta(
        *tokens: Annotated[str, Parameter(show=False, allow_leading_hyphen=True)],
        verbose: Annotated[int, Parameter(alias="-v", count=True)] = 0,
        cache_dir: Path | None = None,
    ) -> int:
        """Global options.

        Args:
            *tokens: The command and its arguments.
            verbose: More log lines on stderr (-v: info, -vv: debug).
            cache_dir: Cache root for this run (default: VSINFER_CACHE_DIR or the user cache dir).

        """
        from .engine.store import ENV_VAR

        if log is not None:
            log.setup(verbose)
        if cache_dir is not None:
            os.environ[ENV_VAR] = str(cache_dir)
        result = app(tokens, exit_on_error=False, result_action="return_value")
        return result if isinstance(result, int) else 0

    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vsinfer`` console script and ``python -m vsinfer``; returns the exit status."""
    from cyclopts import CycloptsError

    from .errors import VsinferError

    log = _Logging()
    app = build_app(log)
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app.meta(tokens, exit_on_error=False, result_action="return_value")
    except CycloptsError:
        return 2  # cyclopts printed the problem
    except UsageError as exc:
        _err().print(f"vsinfer: error: {exc}", markup=False)
        return 2
    except (VsinferError, OSError) as exc:
        _err().print(f"vsinfer: error: {exc}", markup=False)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        log.restore()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
