"""Autotune's search: which candidates to time, in what order, and which one wins.

The search is staged so that it stays short: backend family and ``num_streams`` first (each class's default
precision, whole frame: the classes' ``tune_variants``), then the other precision and tiles on the leaders, then the
close leaders again in reverse order, each scored by its best run (other work only ever slows one down).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.spec import label
from ..errors import BackendUnavailable
from ..select import usable_classes
from ..timing import Timing, Trial, planes, time_trial

if TYPE_CHECKING:
    import numpy as np
    import vapoursynth as vs

    from ..backends.base import Backend

__all__ = ["Tuning", "default_candidates", "split_tilesize"]

logger = logging.getLogger("vsinfer.tune")

Pair = tuple[int, int]

CLOSE = 0.75
"""Candidates within this share of the fastest one's fps are timed a second time before the pick."""
FAMILY_WORTH = 0.4
"""A family whose default ran below this share of the fastest one's fps gets no other ``num_streams`` tried."""
KEEP_DEFAULT_MARGIN = 0.05
"""A candidate replaces the default (the first candidate) only when its best run is this much faster."""
HALF_WORTH = 0.5
"""The other precision is tried on a family whose best run reached this share of the fastest one's fps."""


def default_candidates(device_id: int = 0) -> list[Backend]:
    """The first stage of the search: each usable class's ``tune_variants`` (its default first, then streams)."""
    out: list[Backend] = []
    for cls in usable_classes(device_id):
        out += [b for b in cls.tune_variants(device_id) if b not in out]
    return out


def split_tilesize(width: int, height: int, overlap: Pair, parts: Pair = (2, 2)) -> Pair:
    """The tile size that covers a ``width`` x ``height`` frame in ``parts`` tiles with ``overlap``."""
    tw = min(width, math.ceil((width + 2 * overlap[0] * (parts[0] - 1)) / parts[0]))
    th = min(height, math.ceil((height + 2 * overlap[1] * (parts[1] - 1)) / parts[1]))
    return tw, th


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
        exact = backend.float32()
        try:
            node = exact.inference(list(self.clips), self.network_path)
            self.reference = {n: planes(node.get_frame(n)) for n in self.keep}
        except (BackendUnavailable, vs.Error) as exc:
            logger.warning("autotune: no float32 output to compare with (%s could not run: %s); reduced precision "
                           "and tiles are not checked against it", label(exact), exc)

    def run(self, trial: Trial) -> Timing:
        if self.progress is not None:
            self.progress(str(trial))
        exact = trial.backend.precision() == "fp32" and trial.tilesize is None
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
            other = leader.trial.backend.other_precision()
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
    """``pick``, unless the first candidate (the default a user gets untuned) is within ``KEEP_DEFAULT_MARGIN`` of it.

    Timings on a shared machine swing by several percent: a candidate must be clearly faster than the default to
    replace it, so tuning never trades the default for a configuration that only won by noise.
    """
    runs = [t for t in search.timings if t.usable and t.trial.backend == default and t.trial.tilesize is None]
    best_default = max(runs, key=lambda t: t.fps, default=None)
    if best_default is None or best_default.trial == pick.trial:
        return pick
    if best_default.fps * (1 + KEEP_DEFAULT_MARGIN) < pick.fps:
        return pick
    logger.info("autotune: keeping the default %s (%.2f fps): %s (%.2f fps) is not %d%% faster",
                label(default), best_default.fps, pick.trial, pick.fps, round(KEEP_DEFAULT_MARGIN * 100))
    return best_default
