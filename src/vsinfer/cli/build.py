"""``vsinfer build``: prebuild an engine or program exactly as ``inference`` would (``Backend.prebuild``)."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Annotated, Any

from cyclopts import Parameter

from .common import Json, UsageError, backend_class, emit_json, model_file, out, parse_size_pair

__all__ = ["cmd_build"]


def cmd_build(
    model: Path,
    *,
    backend: str,
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
        backend: A backend that builds ahead: trt, trt-rtx, migx (or a registered one).
        tilesize: Tile (or frame) size WxH the engine is built for; with --dynamic, defaults to OPT.
        fp16: Build in half precision (--no-fp16: float32); default: the backend's own default.
        bf16: Build in bfloat16.
        dynamic: MIN:OPT:MAX shape profile (each WxH) for one engine that takes any size in between (trt only).
        channels: Input channels; default: the model's.
        input_name: Model input the shape profile applies to; default: its only image input.
        force: Build even when the cache has a matching engine.
        json: Print the result as JSON.

    """
    from ..backends.spec import backend_spec
    from ..errors import ModelError
    from ..model import model_info
    from ..store import read_record, sidecar_of

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
    if json:
        emit_json({"path": str(built), "backend": backend_spec(instance), "seconds": seconds,
                    "size": record.get("size"), "meta": record.get("meta"), "identity": record.get("identity")})
    else:
        size = record.get("size")
        out().print(f"{built}  ({size if size is not None else '?'} bytes, {seconds:.1f} s)")
    return 0
