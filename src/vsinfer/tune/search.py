"""Autotune's search: which candidates to time, in what order, and which one wins.

The search is staged so that it stays short and bounded (``budget_s``; the first stage uses at most
``FIRST_STAGE_SHARE`` of it, the screening stages ``SCREEN_SHARE``, the confirmation the rest):

1. **Screen**: each candidate once, on a fresh node (the user's ``candidates``, else each usable class's
   ``tune_variants``: its default first, then other stream counts). A candidate rejected because its output is
   too far from float32 gets its float32 variant (``Backend.float32()``, then ``other_precision()``) timed right
   after it, before another family is considered. A candidate whose output holds a NaN or an infinity is rejected.
2. **Tiles, other precision**: the tile sizes on the fastest so far (with the model's context as overlap they
   give the whole frame's picture; on a 2-core CPU 2x2 tiles of a 1280x720 frame ran 0.95 to 1.0x the whole
   frame on a quiet machine and up to 1.4x with other jobs competing for the caches), then (default search) the
   other precision of the two fastest families.
3. **Confirm**: the contenders (within ``CLOSE`` of the fastest, the baseline always among them) are timed again in
   interleaved rounds, the order reversed each round, while the time budget allows.
4. **Rank**: each configuration's median fps and a noise estimate (the scaled median absolute deviation of its
   runs, at least ``NOISE_FLOOR`` of its median: 10 % for one run, 5 % for two, 2 % from three on), over the
   confirmation rounds when they timed the baseline (the screening times it first, which is not fair), else over
   every run. The fastest replaces the baseline (the default, or the default's float32 variant when the default
   was rejected) only when it beats it by more than the combined noise.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.base import field_names
from ..backends.spec import label
from ..device import cpu
from ..errors import BackendUnavailable
from ..select import usable_classes
from ..timing import Timing, Trial, non_finite, planes, time_trial

if TYPE_CHECKING:
    import numpy as np
    import vapoursynth as vs

    from ..backends.base import Backend

__all__ = ["Ranked", "Tuning", "candidate_space", "default_candidates", "rank"]

logger = logging.getLogger("vsinfer.tune")

Pair = tuple[int, int]

CLOSE = 0.75
"""Configurations within this share of the fastest one's fps are confirmed in the interleaved rounds."""
FAMILY_WORTH = 0.4
"""A family whose default ran below this share of the fastest one's fps gets no other ``num_streams`` tried."""
HALF_WORTH = 0.5
"""The other precision is tried on a family whose best run reached this share of the fastest one's fps."""
NOISE_FLOOR = {1: 0.10, 2: 0.05}
"""The noise of a configuration's rate is taken as at least this share of its median, by number of runs (one run
cannot measure its noise, two barely can; a shared machine swings by several percent)."""
NOISE_FLOOR_MANY = 0.02
"""The floor from three runs on."""
SCREEN_SHARE = 2 / 3
"""Share of the time budget the screening stages may use; the rest is kept for the confirmation rounds (the
baseline and its float32 fallback are timed whatever the budget)."""
FIRST_STAGE_SHARE = 0.45
"""Share of the time budget the first stage may use, so that tiles and the other precision keep a chance on a slow
machine (a 2-core CPU times three candidates at 1280x720 in ~20 s)."""
CONFIRMATION = "confirmation round"
"""The note of the confirmation rounds' runs (``Timing.note``)."""
MAD_TO_SIGMA = 1.4826
"""Scales a median absolute deviation to the standard deviation of normally distributed runs."""


def default_candidates(device_id: int = 0) -> list[Backend]:
    """The first stage of the search: each usable class's ``tune_variants`` (its default first, then streams)."""
    out: list[Backend] = []
    for cls in usable_classes(device_id):
        out += [b for b in cls.tune_variants(device_id) if b not in out]
    return out


def int8_variants(backends: Sequence[Backend], min_psnr: float) -> list[Backend]:
    """The INT8 variant (``int8=True`` at ``min_psnr``) of the first backend of each class that has the field.

    None where the CPU has no INT8 arithmetic (VNNI, AMX): quantized models are no faster there.
    """
    if not cpu().native_int8:
        logger.info("autotune: INT8 not considered: this CPU has no INT8 arithmetic (VNNI, AMX)")
        return []
    out: list[Backend] = []
    for backend in backends:
        if "int8" in field_names(type(backend)) and all(type(b) is not type(backend) for b in out):
            out.append(dataclasses.replace(backend, int8=True, int8_min_psnr=min_psnr))  # type: ignore[call-arg]
    return out


def precision_variants(backend: Backend) -> list[Backend]:
    """What autotune tries after ``backend`` was rejected for its error: float32, then the other precision."""
    out: list[Backend] = []
    for variant in (backend.float32(), backend.other_precision()):
        if variant is not None and variant != backend and variant not in out:
            out.append(variant)
    return out


def candidate_space(candidates: Sequence[Backend] | None, device_id: int) -> list[Backend]:
    """Every backend a search over ``candidates`` (None: the default search) may time and pick.

    A stored decision is accepted only when its pick is one of these, built here: nothing but the choice among
    them is taken from the record.
    """
    first = list(candidates) if candidates is not None else default_candidates(device_id)
    out = list(dict.fromkeys(first))
    for backend in first:
        out += [v for v in precision_variants(backend) if v not in out]
    return out


# -- statistics -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ranked:
    """One configuration's runs summed up: the final ranking ``tune`` prints."""

    trial: Trial
    """The configuration."""
    median_fps: float
    """Median steady fps over its usable runs."""
    noise_fps: float
    """Noise estimate of its rate: the scaled median absolute deviation, at least ``NOISE_FLOOR`` of the median."""
    runs: int
    """Usable runs behind the median."""
    first_frame_s: float
    """Median first-frame time (graph construction and session creation included)."""
    max_abs_diff: float | None
    """Largest difference from the float32 whole-frame output over its runs (None: not compared)."""


def noise(samples: Sequence[float]) -> float:
    """The noise estimate of a rate measured as ``samples`` (see ``Ranked.noise_fps``)."""
    mid = statistics.median(samples)
    spread = MAD_TO_SIGMA * statistics.median(abs(s - mid) for s in samples) if len(samples) > 1 else 0.0
    return max(spread, NOISE_FLOOR.get(len(samples), NOISE_FLOOR_MANY) * mid)


def rank(timings: Sequence[Timing]) -> list[Ranked]:
    """The usable configurations among ``timings``, fastest median first."""
    runs: dict[Trial, list[Timing]] = {}
    for t in timings:
        if t.usable:
            runs.setdefault(t.trial, []).append(t)
    out = []
    for trial, ts in runs.items():
        fps = [t.fps for t in ts]
        diffs = [t.max_abs_diff for t in ts if t.max_abs_diff is not None]
        out.append(Ranked(trial, statistics.median(fps), noise(fps), len(ts),
                          statistics.median(t.first_frame_s for t in ts), max(diffs) if diffs else None))
    return sorted(out, key=lambda r: -r.median_fps)


def beats(a: Ranked, b: Ranked) -> bool:
    """True when ``a`` is faster than ``b`` by more than their combined noise."""
    return a.median_fps - b.median_fps > math.hypot(a.noise_fps, b.noise_fps)


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
    """Its median steady frames per second when it was timed."""
    timings: tuple[Timing, ...]
    """Every trial, in the order timed (skipped ones included, with the reason)."""
    reused: bool
    """True when the decision came from the store and nothing was timed."""
    seconds: float
    """Time the tuning took (the original tuning when reused)."""
    path: Path | None
    """Where the decision is stored."""
    ranking: tuple[Ranked, ...] = ()
    """Every usable configuration, fastest median first (``rank(timings)``)."""
    reason: str = ""
    """Why the pick won: it beat the baseline by more than the noise, or the baseline was kept."""

    def inference(self, clips: vs.VideoNode | Sequence[vs.VideoNode], network_path: str | os.PathLike[str],
                  **kwargs: Any) -> vs.VideoNode:
        """Run the chosen backend with the chosen tiling."""
        if self.tilesize is None:
            return self.backend.inference(clips, network_path, **kwargs)
        return self.backend.inference(clips, network_path, self.overlap, self.tilesize, **kwargs)

    def best_measured(self) -> Timing | None:
        """The fastest usable single run."""
        usable = [t for t in self.timings if t.usable]
        return max(usable, key=lambda t: t.fps) if usable else None


@dataclass(frozen=True)
class Pick:
    """What ``_search`` decided."""

    ranked: Ranked
    """The pick's statistics."""
    reason: str
    """Why it won."""
    ranking: tuple[Ranked, ...] = ()
    """Every configuration: those of the confirmation rounds first (when they decided), then the others."""


class _Search:
    """State of one tuning run: the sample, the reference output, the timings, the clock."""

    def __init__(self, clips: list[vs.VideoNode], network_path: str | os.PathLike[str], frames: int,
                 overlap: Pair, tolerance: float, progress: Callable[[str], None] | None,
                 budget_s: float = math.inf, start: float | None = None) -> None:
        self.clips = clips
        self.network_path = network_path
        self.frames = frames
        self.overlap = overlap
        self.tolerance = tolerance
        self.keep = sorted({0, frames - 1})
        self.reference: dict[int, np.ndarray] | None = None
        self.timings: list[Timing] = []
        self.progress = progress
        self.budget_s = budget_s
        self.start = time.perf_counter() if start is None else start
        """The budget's clock: ``tune`` passes its own start, so the model's reading and probes count too."""

    def best(self) -> Timing | None:
        usable = [t for t in self.timings if t.usable]
        return max(usable, key=lambda t: t.fps) if usable else None

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def cost(self, trial: Trial) -> float:
        """Seconds one more run of ``trial`` may take: its slowest earlier run (else the slowest run so far).

        The slowest, not the median: a budget is a limit, and a run that starts just inside it must end inside it.
        """
        runs = [t for t in self.timings if t.trial == trial and t.usable] or [t for t in self.timings if t.usable]
        if not runs:
            return 0.0
        return max(t.first_frame_s + (self.frames - 1) / t.fps for t in runs)

    def affordable(self, trials: Sequence[Trial], share: float = 1.0) -> bool:
        """Whether running ``trials`` once more stays within ``share`` of the time budget."""
        return self.elapsed() + sum(self.cost(t) for t in trials) <= share * self.budget_s

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
            reference = {n: planes(node.get_frame(n)) for n in self.keep}
        except (BackendUnavailable, vs.Error) as exc:
            logger.warning("autotune: no float32 output to compare with (%s could not run: %s); reduced precision "
                           "and tiles are not checked against it", label(exact), exc)
            return
        bad = non_finite(reference)
        if bad:
            logger.warning("autotune: the float32 output of %s holds NaN or infinity (frames %s); it is no reference",
                           label(exact), bad)
            return
        self.reference = reference

    def skip(self, trial: Trial, why: str, note: str = "") -> Timing:
        """Record ``trial`` as not run, with the reason."""
        timing = Timing(trial, 0.0, 0.0, 0, error=f"skipped: {why}", note=note, skipped=True)
        logger.info("autotune: %s skipped: %s", trial, why)
        self.timings.append(timing)
        return timing

    def run(self, trial: Trial, note: str = "") -> Timing:
        if self.progress is not None:
            self.progress(str(trial))
        exact = trial.backend.precision() == "fp32" and trial.tilesize is None
        if not exact:
            self.ensure_reference(trial.backend)
        timing, outputs = time_trial(trial, self.clips, self.network_path, frames=self.frames, overlap=self.overlap,
                                     keep=self.keep, deadline_s=self._deadline())
        timing = dataclasses.replace(timing, note=note)
        if timing.error is None:
            timing = self._check(timing, outputs, exact)
        logger.info("autotune: %s -> %s", trial,
                    timing.error or f"{timing.fps:.2f} fps, first frame {timing.first_frame_s:.3f} s"
                    + (" (stopped early)" if timing.stopped_early else ""))
        self.timings.append(timing)
        return timing

    def _check(self, timing: Timing, outputs: dict[int, np.ndarray], exact: bool) -> Timing:
        """Reject non-finite output and output past the tolerance; the first exact run becomes the reference."""
        bad = non_finite(outputs)
        if bad:
            return dataclasses.replace(timing, max_abs_diff=math.inf,
                                       error=f"output holds NaN or infinity (frames {bad})")
        if exact and self.reference is None and all(k in outputs for k in self.keep):
            self.reference = outputs
            return dataclasses.replace(timing, max_abs_diff=0.0)
        if self.reference is None:
            return timing
        diff = _max_abs_diff(outputs, self.reference)
        timing = dataclasses.replace(timing, max_abs_diff=diff)
        judged = timing.trial.backend.quality_bound() is not None  # passed its own PSNR bound on held-out frames
        if diff is not None and ((diff > self.tolerance and not judged) or not math.isfinite(diff)):
            timing = dataclasses.replace(timing, error=f"output differs from float32 whole-frame output by "
                                                       f"{diff:.3g} (> tolerance {self.tolerance:g})")
        return timing


def _max_abs_diff(a: Mapping[int, np.ndarray], b: Mapping[int, np.ndarray]) -> float | None:
    """The largest difference between the frames both hold; inf for a shape mismatch or a non-finite value."""
    import numpy as np

    common = [n for n in a if n in b]
    if not common:
        return None
    worst = 0.0
    for n in common:
        if a[n].shape != b[n].shape:
            return math.inf
        d = float(np.max(np.abs(a[n] - b[n])))
        if not math.isfinite(d):  # max(worst, nan) would keep worst: NaN must never score as exact
            return math.inf
        worst = max(worst, d)
    return worst


def _precision_rejected(timing: Timing, tolerance: float) -> bool:
    """Rejected only because its reduced precision is past the tolerance (a float32 variant may pass)."""
    return (timing.error is not None and timing.max_abs_diff is not None and math.isfinite(timing.max_abs_diff)
            and timing.max_abs_diff > tolerance and timing.trial.backend.precision() != "fp32")


def _screen(search: _Search, stage1: Sequence[Backend], tiles: Sequence[Pair | None], pruned: bool) -> None:
    """Stage 1: each candidate once; float32 variants right after a precision rejection."""
    queue: list[tuple[Backend, str]] = [(b, "first variant of its class" if i == 0 or type(b) is not
                                         type(stage1[i - 1]) else "another stream count")
                                        for i, b in enumerate(stage1)]
    queued = set(stage1)
    family_first: dict[type[Backend], Timing] = {}
    too_coarse: set[tuple[type[Backend], str]] = set()  # (class, precision) rejected for its error
    i = 0
    while i < len(queue):
        backend, note = queue[i]
        i += 1
        if (type(backend), backend.precision()) in too_coarse:
            exact = backend.float32()
            if exact == backend or exact in queued:
                continue
            backend, note = exact, f"float32: {type(backend).__name__}'s {backend.precision()} was rejected"
            queued.add(backend)
        first = family_first.get(type(backend))
        best = search.best()
        for tile in tiles:
            trial = Trial(backend, tile)
            slow = first is not None and best is not None and first.usable and first.fps < FAMILY_WORTH * best.fps
            if pruned and first is not None and best is not None and slow:
                search.skip(trial, f"its family's first variant ran at {first.fps:.2f} fps, below "
                                   f"{FAMILY_WORTH:.0%} of the fastest ({best.fps:.2f} fps)", note)
                continue
            if best is not None and not search.affordable([trial], FIRST_STAGE_SHARE):
                search.skip(trial, f"first-stage budget ({FIRST_STAGE_SHARE * search.budget_s:.0f} s) spent", note)
                continue
            timing = search.run(trial, note)
            family_first.setdefault(type(backend), timing)
            if _precision_rejected(timing, search.tolerance):
                too_coarse.add((type(backend), backend.precision()))
                fallbacks = [v for v in precision_variants(backend) if v not in queued]
                queued.update(fallbacks)
                queue[i:i] = [(v, f"precision variant after {label(backend)} was rejected for its error")
                              for v in fallbacks]


def _search(search: _Search, candidates: Sequence[Backend] | None, tilesizes: Sequence[Pair | None],
            device_id: int, confirm: int) -> Pick | None:
    """Run the staged search; the pick (None when nothing could run)."""
    stage1 = list(candidates) if candidates is not None else default_candidates(device_id)
    if not stage1:
        return None
    first_tiles = [None] if None in tilesizes else [tilesizes[0]]
    # the reference output first; it is also the warm-up: the first node of a process pays for plugin start-up
    search.ensure_reference(stage1[0])
    _screen(search, stage1, first_tiles, pruned=candidates is None)
    best = search.best()
    if best is None:
        return None
    for tile in tilesizes:  # stage 2: tiles on the fastest
        if tile not in first_tiles:
            trial = Trial(best.trial.backend, tile)
            if search.affordable([trial], SCREEN_SHARE):
                search.run(trial, "tiles on the fastest")
            else:
                search.skip(trial, f"screening budget ({SCREEN_SHARE * search.budget_s:.0f} s) spent",
                            "tiles on the fastest")
    best = search.best()
    assert best is not None
    if candidates is None:  # stage 3: the other precision on the two fastest families
        leaders: dict[type[Backend], Timing] = {}
        for t in search.timings:
            cls = type(t.trial.backend)
            if t.usable and (cls not in leaders or t.fps > leaders[cls].fps):
                leaders[cls] = t
        for leader in sorted(leaders.values(), key=lambda t: -t.fps)[:2]:
            other = leader.trial.backend.other_precision()
            if other is None or any(t.trial.backend == other for t in search.timings):
                continue
            trial = Trial(other, leader.trial.tilesize)
            if leader.fps < HALF_WORTH * best.fps:
                search.skip(trial, f"its family ran at {leader.fps:.2f} fps, below {HALF_WORTH:.0%} of the fastest",
                            "other precision of a leading family")
            elif not search.affordable([trial], SCREEN_SHARE):
                search.skip(trial, f"screening budget ({SCREEN_SHARE * search.budget_s:.0f} s) spent",
                            "other precision of a leading family")
            else:
                search.run(trial, "other precision of a leading family")
    baseline = next((t.trial for t in search.timings if t.usable and t.trial.tilesize in first_tiles), best.trial)
    _confirm(search, baseline, confirm)
    return _decide(search, baseline)


def _confirm(search: _Search, baseline: Trial, rounds: int) -> None:
    """Stage 4: the contenders again, in interleaved rounds (order reversed each round), within the budget."""
    ranked = rank(search.timings)
    if not ranked:
        return
    top = ranked[0].median_fps
    contenders = [r.trial for r in ranked if r.median_fps >= CLOSE * top]
    if baseline not in contenders and any(r.trial == baseline for r in ranked):
        contenders.append(baseline)
    if len(contenders) < 2:
        return
    for n in range(rounds):
        order = list(reversed(contenders)) if n % 2 == 0 else contenders
        if not search.affordable(order):
            logger.info("autotune: confirmation stopped after %d round(s): time budget (%g s) spent", n,
                        search.budget_s)
            return
        for trial in order:
            search.run(trial, f"{CONFIRMATION} {n + 1}")


def _decide(search: _Search, baseline: Trial) -> Pick | None:
    """The fastest median, unless it does not beat the baseline by more than the noise.

    When the confirmation rounds timed the baseline, only they count: they are interleaved and fair, while the
    screening timed the baseline first in the process, which measured it up to 20 % low (OpenVINO, 2-core CPU).
    """
    confirmed = [t for t in search.timings if t.note.startswith(CONFIRMATION)]
    fair = any(t.trial == baseline and t.usable for t in confirmed) and len({t.trial for t in confirmed}) > 1
    ranked = rank(confirmed if fair else search.timings)
    if not ranked:
        return None
    decided = {r.trial for r in ranked}
    ranking = (*ranked, *(r for r in rank(search.timings) if r.trial not in decided))
    top = ranked[0]
    base = next((r for r in ranked if r.trial == baseline), None)
    if base is None or base is top:
        return Pick(top, "the fastest median" + (" (it is the baseline)" if base is top else ""), ranking)
    margin = math.hypot(top.noise_fps, base.noise_fps)
    if beats(top, base):
        return Pick(top, f"beats the baseline {base.trial} ({base.median_fps:.2f} fps) by "
                         f"{top.median_fps - base.median_fps:.2f} fps, more than the noise ({margin:.2f} fps)",
                    ranking)
    logger.info("autotune: keeping the baseline %s (%.2f fps): %s (%.2f fps) is not faster by more than the noise "
                "(%.2f fps)", base.trial, base.median_fps, top.trial, top.median_fps, margin)
    return Pick(base, f"kept the baseline: {top.trial} ({top.median_fps:.2f} fps) is not faster by more than the "
                      f"noise ({margin:.2f} fps)", ranking)
