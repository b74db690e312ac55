"""Autotune: time the backends usable here on a few frames of the user's clip, keep the fastest, remember it.

``tune`` renders every candidate on a fresh node (VapourSynth caches frames per node, so a node is never
rendered twice), measures the first frame (graph construction, session or compiled-model creation) apart from
the steady frame rate, and rejects any candidate whose output holds NaN or infinity or differs from the float32
whole-frame output by more than ``tolerance``; a candidate rejected for its precision gets its float32 variant
timed next. The close contenders are timed again in interleaved rounds; each configuration is scored by its
median rate with a noise estimate, and the default (the baseline) is replaced only by a configuration faster by
more than the noise. The search stays within a time budget (``budget_s``) and says why each row was skipped,
stopped early or rejected (``search.py``).

The decision is stored in the cache (kind ``tune``), keyed by the model's checksum, the clips' size and format,
the search settings and the machine (CPU model, cores, GPU, plugin and runtime versions): the next script run
reads it back instead of timing again. One process searches per decision (the store's lock on the decision
file); others wait and reuse its decision. A stored pick is used only when it is one of the configurations this
call could pick, built here from the caller's arguments (``decision.py``): nothing else is taken from the record.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..backends.spec import label
from ..errors import ClipError, ConfigError, NoBackendError, TilingError, VsinferError
from ..model import model_info
from ..quantize import check_min_psnr
from ..sizes import model_context, model_multiple
from ..store import Store, identity_name
from ..store.records import dump
from ..tiling import MAX_SIDE, as_pair, check_shape, plan
from ..timing import sample_clips
from .decision import _decision_key, _decision_meta, _decision_record, _from_record, _load_decision
from .search import Ranked, Tuning, _Search, _search, candidate_space, default_candidates, int8_variants

if TYPE_CHECKING:
    import vapoursynth as vs

    from ..backends.base import Backend
    from ..model import ModelInfo

__all__ = ["TOLERANCE", "Ranked", "Tuning", "autotune", "default_candidates", "tune"]

logger = logging.getLogger("vsinfer.tune")

Pair = tuple[int, int]


MAX_FRAMES = 240
"""Most frames rendered per candidate (frame 0 included): more only lengthens tuning."""
MAX_CONFIRM = 8
"""Most interleaved confirmation rounds."""
MAX_TILESIZES = 8
"""Most tile sizes compared."""
MAX_CANDIDATES = 64
"""Most candidates given by the caller."""
MAX_DEVICE_ID = 255
"""Largest GPU index accepted."""
TOLERANCE = 0.02
"""The default tolerance: the reduced-precision class the defaults themselves run (bf16's error on pictures in
0..1 reaches ~1e-2 on some content: 9.7e-3 on the demo model at 1280x720), so the defaults' own precision passes."""

BUDGET_S = 30.0
"""Default time budget of one search (seconds): screening always finishes the baseline, the rest stops here."""
MAX_BUDGET_S = 3600.0
"""Largest time budget accepted."""
WHERE = "autotune"


def _check_clips(clips: object) -> list[vs.VideoNode]:
    """``clips`` as a non-empty list of video clips; ClipError for anything else (None, a path, an AudioNode)."""
    import vapoursynth as vs

    if isinstance(clips, vs.VideoNode):
        return [clips]
    if isinstance(clips, (str, bytes, os.PathLike)) or not isinstance(clips, Sequence):
        raise ClipError("clips", clips, "a VapourSynth video clip or a sequence of them", where=WHERE)
    nodes = list(clips)
    if not nodes or len(nodes) > MAX_CANDIDATES:
        raise ClipError("clips", clips, f"1 to {MAX_CANDIDATES} video clips", where=WHERE)
    for node in nodes:
        if not isinstance(node, vs.VideoNode):
            raise ClipError("clips", node, "a VapourSynth video clip (vs.VideoNode)", where=WHERE)
    return nodes


def _int_in(name: str, value: object, low: int, high: int, what: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(name, value, f"an int from {low} to {high}{what}", where=WHERE)
    return value


def _real_in(name: str, value: object, low: float, high: float, what: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(name, value, f"a finite number from {low:g} to {high:g}{what}", where=WHERE)
    return float(value)


def _check_arguments(
    candidates: object, frames: object, tolerance: object, device_id: object, retune: object, confirm: object,
    budget_s: object, progress: object, cache_dir: object,
) -> tuple[list[Backend] | None, float, float]:
    """Every argument but the clips, the model and the tiling, checked before any work.

    Returns (candidates, tolerance, budget).
    """
    from ..backends.base import Backend

    _int_in("frames", frames, 2, MAX_FRAMES, " (frame 0 is timed apart)")
    tol = _real_in("tolerance", tolerance, 0.0, 1.0, " (largest difference from float32 in the 0..1 range)")
    _int_in("device_id", device_id, 0, MAX_DEVICE_ID)
    _int_in("confirm", confirm, 0, MAX_CONFIRM, " (interleaved confirmation rounds)")
    budget = _real_in("budget_s", budget_s, 1.0, MAX_BUDGET_S, " seconds")
    if not isinstance(retune, bool):
        raise ConfigError("retune", retune, "True or False", where=WHERE)
    if progress is not None and not callable(progress):
        raise ConfigError("progress", progress, "None or a callable taking the label of each trial", where=WHERE)
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise ConfigError("cache_dir", cache_dir, "None or a folder path", where=WHERE)
    if candidates is None:
        return None, tol, budget
    if isinstance(candidates, (str, bytes, Backend)) or not isinstance(candidates, Sequence):
        raise ConfigError("candidates", candidates, "None or a sequence of Backend instances", where=WHERE)
    given = list(candidates)
    if not given or len(given) > MAX_CANDIDATES:
        raise ConfigError("candidates", candidates, f"None or 1 to {MAX_CANDIDATES} backends", where=WHERE)
    for backend in given:
        if not isinstance(backend, Backend):
            raise ConfigError("candidates", backend, "a Backend instance such as Backend.OV_CPU()", where=WHERE)
    return list(dict.fromkeys(given)), tol, budget


def _check_tiling(
    overlap: object, tilesizes: object, width: int, height: int, model: ModelInfo,
) -> tuple[Pair, list[Pair | None]]:
    """The overlap and the tile sizes to compare (None: the whole frame), checked.

    ``overlap="auto"`` is the model's measured context (``vsinfer.sizes.model_context``): tiles then give the
    whole frame's picture. The default tile sizes are the whole frame and 2 x 2 tiles (rounded up to the model's
    size multiple); only the whole frame when the model's context is the whole picture or the frame is too small.
    """
    tiles: list[Pair | None] | None = None
    if tilesizes is not None:
        if isinstance(tilesizes, (str, bytes)) or not isinstance(tilesizes, Sequence):
            raise TilingError("tilesizes", tilesizes, "None or a sequence of tile sizes (None: the whole frame)",
                              where=WHERE)
        channels = model.input().channels or 3
        tiles = list(dict.fromkeys(None if t is None else check_shape("tilesizes", t, channels, where=WHERE)
                                   for t in tilesizes))
        if not tiles or len(tiles) > MAX_TILESIZES:
            raise TilingError("tilesizes", tilesizes, f"1 to {MAX_TILESIZES} tile sizes or None (whole frame)",
                              where=WHERE)
    if overlap == "auto":
        context = model_context(model)
        if context.overlap is None:
            if tiles is not None and tiles != [None]:
                raise TilingError("overlap", "auto", f"a model whose context can be measured: {context.reason}; "
                                  "give overlap= in pixels or tilesizes=[None]", where=WHERE)
            if tiles is None:
                logger.info("autotune: the whole frame only: tiles change the output of %s (%s)",
                            Path(model.path).name, context.reason)
            return (0, 0), [None]
        overlap = context.overlap
    ov = as_pair("overlap", overlap, where=WHERE)  # type: ignore[arg-type]
    if min(ov) < 0 or max(ov) > MAX_SIDE:
        raise TilingError("overlap", overlap, f"'auto' or ints from 0 to {MAX_SIDE}", where=WHERE)
    if tiles is not None:
        return ov, tiles
    try:
        tile = plan(width, height, None, ov, tiles=(2, 2), multiple=model_multiple(model).multiple or 1)
    except TilingError as exc:  # a frame too small for 2 x 2 tiles with this overlap
        logger.info("autotune: the whole frame only: %s", exc)
        return ov, [None]
    return ov, [None, tile.tiling.tilesize]


def tune(
    network_path: str | os.PathLike[str],
    clips: vs.VideoNode | Sequence[vs.VideoNode],
    *,
    candidates: Sequence[Backend] | None = None,
    frames: int = 10,
    overlap: int | Pair | Literal["auto"] = "auto",
    tilesizes: Sequence[int | Pair | None] | None = None,
    tolerance: float = TOLERANCE,
    device_id: int = 0,
    retune: bool = False,
    confirm: int = 2,
    budget_s: float = BUDGET_S,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
    int8_min_psnr: float | None = None,
) -> Tuning:
    """Find the fastest way to run ``network_path`` on ``clips`` here, or read back the one found before.

    Every argument is checked before anything is rendered (ConfigError, ClipError, TilingError, ModelError).

    Args:
        network_path: The ONNX model.
        clips: The clips ``inference`` will get (frames spread over them are the sample).
        candidates: Backends to time (1 to 64); a candidate rejected for its error gets its float32 variant
            timed next. None searches the usable families (each class's ``tune_variants``, then the other
            precision of the two fastest families).
        frames: Frames rendered per run, 2 to 240 (frame 0 is timed apart as the first-frame time).
        overlap: Overlap used for tiled candidates; "auto": the model's measured context, so that tiles give the
            whole frame's picture (a model whose context is the whole picture is timed on the whole frame only).
        tilesizes: Tile sizes to try (None: whole frame), at most 8; default: the whole frame and 2 x 2 tiles
            (rounded up to the model's size multiple).
        tolerance: Largest absolute difference from the float32 whole-frame output a candidate may have, a finite
            number in 0..1 (the clips' float range is 0..1; default ``TOLERANCE``, which admits the reduced precision
            the defaults run: bf16 on a CPU that has it). Output holding NaN or infinity is always rejected.
        device_id: GPU for the GPU families (0 to 255).
        retune: Time again even when a decision is stored.
        confirm: Interleaved confirmation rounds of the close contenders (0 to 8), while the budget allows.
        budget_s: Time budget of the search in seconds (1 to 3600): the baseline and its float32 variant are
            always timed, the rest is skipped (and said so) past it.
        cache_dir: Store root (default: ``VSINFER_CACHE_DIR`` or the user cache dir).
        progress: Called with each candidate's label before it is timed.
        int8_min_psnr: Also time the INT8 variant (``int8=True``) of the first candidate of each class that has one,
            at this quality bound (dB of PSNR against float32 on held-out frames, 20 to 100; ``vsinfer.quantize``),
            where the CPU has INT8 arithmetic (VNNI, AMX). Such a variant is judged by that bound instead of
            ``tolerance``, and picked only when it is the fastest. None (the default): INT8 is not considered.

    Returns:
        The Tuning: the pick, its tile size, every timing, the ranking and the reason.

    """
    start = time.perf_counter()
    nodes = _check_clips(clips)
    wanted, tol, budget = _check_arguments(candidates, frames, tolerance, device_id, retune, confirm, budget_s,
                                           progress, cache_dir)
    if int8_min_psnr is not None:
        bound = check_min_psnr(int8_min_psnr, WHERE, "int8_min_psnr")
        first = wanted if wanted is not None else default_candidates(device_id)
        wanted = list(dict.fromkeys([*first, *int8_variants(first, bound)]))
    model = model_info(network_path)
    ov, tiles = _check_tiling(overlap, tilesizes, nodes[0].width, nodes[0].height, model)
    store = Store(cache_dir)
    key = _decision_key(model, nodes, frames=frames, overlap=ov, tilesizes=tiles, tolerance=tol,
                        candidates=wanted, device_id=device_id, confirm=confirm, budget_s=budget)
    path = store.folder("tune") / f"{identity_name(key)}.json"
    reused = None if retune else _reuse(path, key, ov, tiles, wanted, device_id, model.path)
    if reused is not None:
        return reused
    with store.try_lock(path) as held:
        if held:
            return _tune_here(path, key, nodes, network_path, model.path, wanted, tiles, ov, tol, frames, device_id,
                              confirm, budget, retune, progress, start)
    logger.info("autotune: another process is tuning %s for the same decision (%s); waiting to reuse it",
                Path(model.path).name, path.name)
    with store.lock(path):  # the wait is not tuning: the budget's clock starts when the lock is ours
        return _tune_here(path, key, nodes, network_path, model.path, wanted, tiles, ov, tol, frames, device_id,
                          confirm, budget, retune, progress, time.perf_counter())


def _tune_here(
    path: Path, key: dict[str, Any], nodes: list[vs.VideoNode], network_path: str | os.PathLike[str],
    model_path: str, wanted: list[Backend] | None, tiles: list[Pair | None], ov: Pair, tol: float, frames: int,
    device_id: int, confirm: int, budget: float, retune: bool, progress: Callable[[str], None] | None, start: float,
) -> Tuning:
    """The search, with the decision's lock held; a decision another process stored meanwhile is reused."""
    if not retune:
        reused = _reuse(path, key, ov, tiles, wanted, device_id, model_path)
        if reused is not None:
            return reused
    sample = sample_clips(nodes, frames)
    search = _Search(sample, network_path, frames, ov, tol, progress, budget, start)
    pick = _search(search, wanted, tiles, device_id, confirm)
    if pick is None:
        causes = "; ".join(f"{t.trial}: {t.error}" for t in search.timings) or "no candidate backend is usable here"
        raise NoBackendError(f"autotune found nothing that runs {model_path} here: {causes}")
    seconds = time.perf_counter() - start
    chosen = pick.ranked
    record = _decision_record(key, chosen, search.timings, seconds,
                              _decision_meta(key, chosen, Path(model_path).name, pick.reason))
    try:
        dump(path, record)
    except OSError as exc:
        logger.warning("could not store the autotune decision in %s: %s", path, exc)
    logger.info("autotune picked %s (%.2f fps median, noise %.2f) out of %d trials in %.1f s: %s", chosen.trial,
                chosen.median_fps, chosen.noise_fps, len(search.timings), seconds, pick.reason)
    return Tuning(chosen.trial.backend, chosen.trial.tilesize, ov, chosen.median_fps, tuple(search.timings), False,
                  seconds, path, pick.ranking, pick.reason)


def _reuse(path: Path, key: dict[str, Any], overlap: Pair, tiles: Sequence[Pair | None],
           candidates: Sequence[Backend] | None, device_id: int, model_path: str) -> Tuning | None:
    """The stored decision for ``key`` when there is one this call may use, else None (logged)."""
    record = _load_decision(path, key)
    if record is None:
        return None
    try:
        tuned = _from_record(record, overlap, path, candidate_space(candidates, device_id), tiles)
    except VsinferError as exc:
        logger.warning("stored autotune decision %s is not used (%s); timing again", path, exc)
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # last use, for `vsinfer cache prune`
    logger.info("reusing autotune decision %s for %s: %s (%.2f fps when tuned); retune=True times again",
                path.name, Path(model_path).name, label(tuned.backend, tuned.tilesize), tuned.fps)
    return tuned


def autotune(
    network_path: str | os.PathLike[str],
    clips: vs.VideoNode | Sequence[vs.VideoNode],
    *,
    candidates: Sequence[Backend] | None = None,
    frames: int = 10,
    tilesizes: Sequence[int | Pair | None] | None = (None,),
    **kwargs: Any,
) -> Backend:
    """The fastest backend for ``network_path`` on ``clips`` here; see ``tune`` for the arguments.

    Only the whole frame is timed by default (a Backend does not carry a tile size); use ``tune`` to let
    tiles compete and get the tile size with the pick.
    """
    return tune(network_path, clips, candidates=candidates, frames=frames, tilesizes=tilesizes, **kwargs).backend
