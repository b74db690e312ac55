"""Autotune's decisions in the store (kind ``tune``): keyed by the model, the clips, the search and the machine.

A decision is a ``vsinfer.store.records.DecisionRecord``, read and written through ``vsinfer.store.records``: a
record that cannot be used is a miss (logged once) and the clips are timed again. Its backend specs are data: the
stored pick is used only when ``backend_from_record`` finds it among the configurations this call could pick
(registered class, fields validated like a user's, equal to a candidate built here), and its tile size only when
it is one the call compares; timings of anything else are left out. So nothing that executes or redirects (an
environment, arguments, a cache or plugin path in a config mapping) is ever taken from a record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.spec import backend_from_record, backend_spec, label
from ..errors import ConfigError, VsinferError
from ..store.records import BackendSpec, ChoiceFacts, DecisionRecord, TimingFacts, load, plain, real, to_float
from ..timing import Timing, Trial, machine
from .search import Ranked, Tuning, rank

if TYPE_CHECKING:
    import vapoursynth as vs

    from ..backends.base import Backend
    from ..model import ModelInfo

__all__ = ["DECISION_VERSION"]

logger = logging.getLogger("vsinfer.tune")

Pair = tuple[int, int]

DECISION_VERSION = 2
"""Bumped when the meaning of a stored decision changes; older decisions then stop matching."""


def _decision_key(
    model: ModelInfo, clips: Sequence[vs.VideoNode], *, frames: int, overlap: Pair,
    tilesizes: Sequence[Pair | None], tolerance: float, candidates: Sequence[Backend] | None, device_id: int,
    confirm: int, budget_s: float,
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
        "confirm": confirm,
        "budget_s": budget_s,
        "machine": machine(),
    }


def _load_decision(path: Path, key: Mapping[str, Any]) -> DecisionRecord | None:
    """The decision stored at ``path`` for ``key``, or None.

    None when there is none, when it is not usable (logged once), or when it was made for another key (a CRC32
    collision of the file name, or an older decision: a quiet miss).
    """
    record = load(path, DecisionRecord)
    if record is None or record.key != plain(key):
        return None
    return record


def _spec(backend: Backend) -> BackendSpec:
    spec = backend_spec(backend)
    return BackendSpec(backend_class=spec["class"], fields=spec["fields"])


def _timing_facts(timing: Timing) -> TimingFacts:
    return TimingFacts(backend=_spec(timing.trial.backend), tilesize=timing.trial.tilesize, fps=real(timing.fps),
                       first_frame_s=real(timing.first_frame_s), frames=timing.frames, error=timing.error,
                       max_abs_diff=None if timing.max_abs_diff is None else real(timing.max_abs_diff),
                       stopped_early=timing.stopped_early, label=str(timing.trial))


def _decision_record(key: dict[str, Any], pick: Ranked, timings: Sequence[Timing], seconds: float,
                     meta: dict[str, Any]) -> DecisionRecord:
    """The record ``tune`` stores for ``pick`` out of ``timings``."""
    choice = ChoiceFacts(backend=_spec(pick.trial.backend), tilesize=pick.trial.tilesize, fps=real(pick.median_fps))
    return DecisionRecord(key=plain(key), choice=choice, timings=tuple(_timing_facts(t) for t in timings),
                          seconds=seconds, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), meta=meta)


def _decision_meta(key: Mapping[str, Any], pick: Ranked, model_name: str, reason: str) -> dict[str, Any]:
    """What ``vsinfer cache list`` shows of a decision."""
    return {"model": model_name, "precision": pick.trial.backend.precision(),
            "shapes": "+".join(f"{c['width']}x{c['height']} {c['format']}" for c in key["clips"]),
            "runtime": label(pick.trial.backend, pick.trial.tilesize), "device": key["machine"]["cpu"],
            "noise_fps": real(pick.noise_fps), "reason": reason}


def _tile(stored: tuple[int, int] | None, tiles: Sequence[Pair | None]) -> Pair | None:
    """The stored tile size when it is one the call compares; ConfigError otherwise."""
    tile = None if stored is None else (int(stored[0]), int(stored[1]))
    if tile not in tiles:
        raise ConfigError("tilesize", stored, f"one of the tile sizes compared ({list(tiles)})",
                          where="stored autotune decision")
    return tile


def _from_record(record: DecisionRecord, overlap: Pair, path: Path, allowed: Sequence[Backend],
                 tiles: Sequence[Pair | None]) -> Tuning:
    """The Tuning a stored decision describes; VsinferError when its pick is not one this call could make.

    ``allowed`` is every configuration the search could pick here (``candidate_space``); timings of anything
    else are left out.
    """
    backend = backend_from_record(record.choice.backend.as_mapping(), allowed)
    tilesize = _tile(record.choice.tilesize, tiles)
    timings = []
    for t in record.timings:
        try:
            trial = Trial(backend_from_record(t.backend.as_mapping(), allowed), _tile(t.tilesize, tiles))
        except VsinferError:
            continue
        skipped = t.frames == 0 and (t.error or "").startswith("skipped:")
        timings.append(Timing(trial, to_float(t.fps), to_float(t.first_frame_s), t.frames, t.error,
                              None if t.max_abs_diff is None else to_float(t.max_abs_diff), t.stopped_early,
                              skipped=skipped))
    reason = record.meta.get("reason")
    return Tuning(backend, tilesize, overlap, to_float(record.choice.fps), tuple(timings), True, record.seconds, path,
                  tuple(rank(timings)), reason if isinstance(reason, str) else "")
