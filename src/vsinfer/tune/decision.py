"""Autotune's decisions in the store (kind ``tune``): keyed by the model, the clips, the search and the machine."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.spec import backend_from_spec, backend_spec
from ..errors import VsinferError
from ..timing import Timing, Trial, machine
from .search import Tuning

if TYPE_CHECKING:
    import vapoursynth as vs

    from ..backends.base import Backend
    from ..model import ModelInfo

__all__ = ["DECISION_VERSION"]

logger = logging.getLogger("vsinfer.tune")

Pair = tuple[int, int]

DECISION_VERSION = 1
"""Bumped when the meaning of a stored decision changes; older decisions then stop matching."""


def _decision_key(
    model: ModelInfo, clips: Sequence[vs.VideoNode], *, frames: int, overlap: Pair,
    tilesizes: Sequence[Pair | None], tolerance: float, candidates: Sequence[Backend] | None, device_id: int,
) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "version": DECISION_VERSION,
        "vsinfer": version("vsinfer"),
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
