"""``vsinfer build``: prebuild an engine or program exactly as ``inference`` would (``Backend.prebuild``).

``--script x.vpy`` evaluates a VapourSynth script instead (no frame is rendered): building the graph already
builds or finds every engine and converted model the script uses, through the same path as rendering it (fp16
guard and IO precision included). What it built or found is reported, and ``--publish DEST`` copies it into a
shared layer (``vsinfer cache publish``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Annotated, Any

from cyclopts import Parameter

from .cache import report_published, shown
from .common import Json, UsageError, backend_class, emit_json, err, model_file, out, parse_size_pair

__all__ = ["cmd_build"]


def cmd_build(
    model: Path | None = None,
    *,
    backend: str | None = None,
    script: Path | None = None,
    publish: Path | None = None,
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
        model: The ONNX model (not with --script).
        backend: A backend that builds ahead: trt, trt-rtx, migx (or a registered one); required with MODEL.
        script: A VapourSynth script (.vpy): evaluate it without rendering and prebuild everything it uses.
        publish: Then copy what was built or found into this shared cache folder (see vsinfer cache publish).
        tilesize: Tile (or frame) size WxH the engine is built for; with --dynamic, defaults to OPT.
        fp16: Build in half precision (--no-fp16: float32); default: the backend's own default.
        bf16: Build in bfloat16.
        dynamic: MIN:OPT:MAX shape profile (each WxH) for one engine that takes any size in between (trt, trt-rtx).
        channels: Input channels; default: the model's.
        input_name: Model input the shape profile applies to; default: its only image input.
        force: Build even when the cache has a matching engine.
        json: Print the result as JSON.

    """
    from ..backends.spec import backend_spec
    from ..errors import ModelError
    from ..model import model_info
    from ..store import read_record, sidecar_of

    if script is not None:
        if model is not None or backend is not None:
            raise UsageError("--script builds what the script uses: give either MODEL --backend ... or --script")
        return _build_script(script, publish, json)
    if model is None or backend is None:
        from ..backends import registry

        builders = ", ".join(registry.cli_name(c) for c in registry.classes() if c.builds)
        missing = " and ".join(n for n, v in (("MODEL", model), ("--backend", backend)) if v is None)
        raise UsageError(f"{missing} {'is' if ' and ' not in missing else 'are'} required: vsinfer build MODEL "
                         f"--backend NAME --tilesize WxH, with NAME one of the backends that build ahead ({builders}); "
                         "or vsinfer build --script x.vpy to build what a script uses")
    cls = backend_class(backend, "--backend", builds=True)
    path = model_file(model)
    kw: dict[str, Any] = {}
    if fp16 is not None:
        kw["fp16"] = fp16
    if bf16:
        kw["bf16"] = True
    if force:
        kw["force_rebuild"] = True
    tile = parse_size_pair(tilesize, "--tilesize") if tilesize else None
    if dynamic:
        if "static_shape" not in {f.name for f in dataclasses.fields(cls)}:
            raise UsageError(f"--dynamic is for backends with dynamic shapes; {cls.__name__} builds for one size "
                             "(--tilesize)")
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
    engine_log = logging.getLogger("vsinfer.backends")
    level = engine_log.level
    engine_log.setLevel(min(logging.INFO, engine_log.getEffectiveLevel()))  # the build phases, live
    start = time.perf_counter()
    try:
        built = instance.prebuild(path, channels, tile, input_name)
    finally:
        engine_log.setLevel(level)
    seconds = time.perf_counter() - start
    record = read_record(sidecar_of(built)) or {}
    published = _publish([built], publish)
    if json:
        emit_json({"path": str(built), "backend": backend_spec(instance), "seconds": seconds,
                    "size": record.get("size"), "meta": record.get("meta"), "identity": record.get("identity"),
                    "published": [p.to_json() for p in published]})
    else:
        size = record.get("size")
        out().print(f"{shown(built)}  ({size if size is not None else '?'} bytes, {seconds:.1f} s)")
    return _published_status(published, json)


def _publish(paths: list[Path], dest: Path | None) -> list[Any]:
    """Publish ``paths`` into ``dest`` (nothing when None); the ``Published`` results."""
    if dest is None:
        return []
    from ..store import Store
    from ..store.publish import publish

    return publish(Store(), dest, paths=paths)


def _published_status(published: list[Any], json: bool) -> int:
    if not published:
        return 0
    return report_published(published, json=json) if not json else int(
        any(p.action.startswith("skipped") for p in published))


def _build_script(script: Path, dest: Path | None, json: bool) -> int:
    """Evaluate ``script`` (no frames rendered) while recording what the store returns; report and publish it."""
    import runpy

    import vapoursynth as vs

    from ..store.artifacts import recording

    if not script.is_file():
        raise UsageError(f"--script={str(script)!r} is not valid; expected an existing VapourSynth script")
    start = time.perf_counter()
    with recording() as uses:
        try:
            runpy.run_path(str(script), run_name="__vapoursynth__")
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            err().print(shown(f"vsinfer: error: {script} failed: {type(exc).__name__}: {exc}"), markup=False)
            return 1
        finally:
            vs.clear_outputs()
    seconds = time.perf_counter() - start
    published = _publish([u.path for u in uses], dest)
    if json:
        emit_json({"script": str(script), "seconds": seconds,
                   "artifacts": [{"kind": u.kind, "path": str(u.path), "how": u.how} for u in uses],
                   "published": [p.to_json() for p in published]})
    else:
        console = out()
        for use in uses:
            console.print(shown(f"{use.how:6s} {use.kind}/{use.path.name}  ({use.path})"))
        built = sum(u.how == "built" for u in uses)
        console.print(f"{script.name}: {len(uses)} artifacts, {built} built, {len(uses) - built} found "
                      f"({seconds:.1f} s)")
    return _published_status(published, json)
