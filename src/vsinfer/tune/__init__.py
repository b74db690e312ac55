"""Autotune: time the backends usable here on a few frames of the user's clip, keep the fastest, remember it.

``tune`` renders every candidate on a fresh node (VapourSynth caches frames per node, so a node is never
rendered twice), measures the first frame (graph construction, session or compiled-model creation) apart from
the steady frame rate, and rejects any candidate whose output differs from the float32 whole-frame output by
more than ``tolerance``. The search is staged so that it stays short: backend family and ``num_streams``
first (each class's default precision, whole frame), then the other precision and tiles on the leaders, then
the close leaders again in reverse order, each scored by its best run (other work only ever slows one down).

The decision is stored in the cache (kind ``tune``), keyed by the model's checksum, the clips' size and format,
the search settings and the machine (CPU model, cores, GPU, plugin and runtime versions): the next script run
reads it back instead of timing again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.plugin_io import as_nodes
from ..backends.spec import label
from ..errors import ConfigError, NoBackendError, VsinferError
from ..model import model_info
from ..store import Store, identity_name
from ..store.records import dump
from ..tiling import as_pair
from ..timing import sample_clips
from .decision import _decision_key, _decision_meta, _decision_record, _from_record, _load_decision
from .search import Tuning, _Search, _search, default_candidates, split_tilesize

if TYPE_CHECKING:
    import vapoursynth as vs

    from ..backends.base import Backend

__all__ = ["Tuning", "autotune", "default_candidates", "tune"]

logger = logging.getLogger("vsinfer.tune")

Pair = tuple[int, int]


def tune(
    network_path: str | os.PathLike[str],
    clips: vs.VideoNode | Sequence[vs.VideoNode],
    *,
    candidates: Sequence[Backend] | None = None,
    frames: int = 6,
    overlap: int | Pair = (0, 0),
    tilesizes: Sequence[int | Pair | None] | None = None,
    tolerance: float = 0.01,
    device_id: int = 0,
    retune: bool = False,
    confirm: int = 2,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Tuning:
    """Find the fastest way to run ``network_path`` on ``clips`` here, or read back the one found before.

    Args:
        network_path: The ONNX model.
        clips: The clips ``inference`` will get (frames spread over them are the sample).
        candidates: Backends to time as given; None searches the usable families (each class's default
            precision with ``num_streams`` 1 / 2 / None where the class takes it, then the other precision on
            the two fastest families when they reach half the fastest one's fps).
        frames: Frames rendered per candidate (frame 0 is timed apart as the first-frame time).
        overlap: Overlap used for tiled candidates.
        tilesizes: Tile sizes to try (None: whole frame); default: the whole frame and 2 x 2 tiles.
        tolerance: Largest absolute difference from the float32 whole-frame output a candidate may have
            (the clips' float range is 0..1): fp16 runs and tiles without enough overlap past it are rejected.
        device_id: GPU for the GPU families.
        retune: Time again even when a decision is stored.
        confirm: How many of the fastest (those within 25 % of the fastest) are timed a second time, in reverse
            order, before picking; each one's best run counts.
        cache_dir: Store root (default: ``VSINFER_CACHE_DIR`` or the user cache dir).
        progress: Called with each candidate's label before it is timed.

    Returns:
        The Tuning: the pick, its tile size and every timing.

    """
    start = time.perf_counter()
    nodes = as_nodes(clips)
    if not nodes:
        raise ConfigError("clips", clips, "one or more clips", where="autotune")
    if not isinstance(frames, int) or frames < 2:
        raise ConfigError("frames", frames, "an int >= 2 (frame 0 is timed apart)", where="autotune")
    ov = as_pair("overlap", overlap, where="autotune")
    width, height = nodes[0].width, nodes[0].height
    tiles: list[Pair | None] = ([None, split_tilesize(width, height, ov)] if tilesizes is None
                                else [None if t is None else as_pair("tilesizes", t, where="autotune")
                                      for t in tilesizes])
    tiles = list(dict.fromkeys(tiles))
    if not tiles:
        raise ConfigError("tilesizes", tilesizes, "at least one tile size or None (whole frame)", where="autotune")
    model = model_info(network_path)
    store = Store(cache_dir)
    key = _decision_key(model, nodes, frames=frames, overlap=ov, tilesizes=tiles, tolerance=tolerance,
                        candidates=candidates, device_id=device_id)
    path = store.folder("tune") / f"{identity_name(key)}.json"
    if not retune:
        record = _load_decision(path, key)
        if record is not None:
            try:
                tuned = _from_record(record, ov, path)
            except VsinferError as exc:
                logger.info("stored autotune decision %s no longer applies (%s); timing again", path, exc)
            else:
                os.utime(path)  # last use, for `vsinfer cache prune`
                logger.info("reusing autotune decision %s for %s: %s (%.2f fps when tuned); retune=True times "
                            "again", path.name, Path(model.path).name, label(tuned.backend, tuned.tilesize),
                            tuned.fps)
                return tuned
    sample = sample_clips(nodes, frames)
    search = _Search(sample, network_path, frames, ov, tolerance, progress)
    pick = _search(search, candidates, tiles, device_id, confirm)
    if pick is None:
        causes = "; ".join(f"{t.trial}: {t.error}" for t in search.timings) or "no candidate backend is usable here"
        raise NoBackendError(f"autotune found nothing that runs {model.path} here: {causes}")
    seconds = time.perf_counter() - start
    record = _decision_record(key, pick, search.timings, seconds, _decision_meta(key, pick, model))
    try:
        dump(path, record)
    except OSError as exc:
        logger.warning("could not store the autotune decision in %s: %s", path, exc)
    logger.info("autotune picked %s (%.2f fps) out of %d trials in %.1f s", pick.trial, pick.fps,
                len(search.timings), seconds)
    return Tuning(pick.trial.backend, pick.trial.tilesize, ov, pick.fps, tuple(search.timings), False, seconds, path)



def autotune(
    network_path: str | os.PathLike[str],
    clips: vs.VideoNode | Sequence[vs.VideoNode],
    *,
    candidates: Sequence[Backend] | None = None,
    frames: int = 6,
    tilesizes: Sequence[int | Pair | None] | None = (None,),
    **kwargs: Any,
) -> Backend:
    """The fastest backend for ``network_path`` on ``clips`` here; see ``tune`` for the arguments.

    Only the whole frame is timed by default (a Backend does not carry a tile size); use ``tune`` to let
    tiles compete and get the tile size with the pick.
    """
    return tune(network_path, clips, candidates=candidates, frames=frames, tilesizes=tilesizes, **kwargs).backend
