"""``render``: a script's frames in chunks on a Ray cluster, joined into one file, resumable.

Order of work: count the frames (``vspipe --info``), find the source (for its audio and scene cuts), size the
workers of each node from its own CPUs and GPUs, plan the chunks (at scene cuts with an encoder), keep the intact
chunks a manifest beside the output records, build every engine the script needs once (``vsinfer build
--script``), check each node, run the missing chunks longest first as Ray tasks pinned to their node (retried by
Ray; stragglers started again elsewhere), join the chunks in order without re-encoding, copy the source's audio,
subtitles and chapters in, check the frame count, and only then put the output in place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..errors import InvalidValueError, MissingDependencyError, RenderError
from . import manifest as mf
from .media import FFV1, Y4M, count_frames, find_program, join, named_files, programs, recipe_for, script_frames, tail
from .mux import AUTO, MUX_SUFFIXES, Source, mux, scene_cuts, source_for
from .plan import Chunk, NodeSize, Placement, Slots, longest_first, place, plan_chunks, snap_to_scenes
from .worker import check_node, run_chunk

__all__ = ["ChunkRun", "RenderResult", "render"]

log = logging.getLogger(__name__)
progress = logging.getLogger(f"{__name__}.progress")
"""The progress line (INFO): ``vsinfer render`` shows it; a library caller turns it on with the logger's level."""

REFRESH_SECONDS = 2.0
"""How often the nodes are read again (a node that left, a node that joined)."""
CHECK_SECONDS = 120.0
"""How long a node's check (can it read the script, the files, the folder) may take: a fresh node sets up its
Python environment first."""
STRAGGLER_MIN_SECONDS = 10.0
"""A chunk is never called a straggler before this: a vspipe start alone can take seconds."""
PROGRESS_SECONDS = 10.0
"""The progress line comes when a chunk finishes, and at least this often."""

OBJECT_STORE_BYTES = 128 * 1024 * 1024
"""A local cluster's object store: chunks travel as files, results are small; Ray's default takes 30% of RAM."""


@dataclass(frozen=True, kw_only=True)
class ChunkRun:
    """Where and how one chunk was rendered (or that it was found finished)."""

    index: int
    start: int
    end: int
    node: str
    """``host:pid`` of the worker that rendered it."""
    ray_node: str
    """The Ray node it ran on (``address/id-prefix``, as in the log); empty when a previous run made it."""
    seconds: float
    """Time the worker spent on it (vspipe, writer and checks)."""
    attempts: int
    """Starts, including retries."""
    reused: bool
    """True when a previous run had finished it (checked by size, CRC32 and frame count)."""


@dataclass(frozen=True, kw_only=True)
class RenderResult:
    """What ``render`` did."""

    output: Path
    frames: int
    workers: int
    """Chunks that could run at once."""
    seconds: float
    """Wall time of the whole render, prebuild and join included."""
    prebuild_seconds: float
    """Time of ``vsinfer build --script`` (0 when skipped)."""
    chunks_seconds: float
    """Wall time of the chunk phase (first task submitted to last chunk recorded)."""
    join_seconds: float
    """Joining the chunks, and copying the source's audio, subtitles and chapters in."""
    nodes: int
    """Nodes that had workers."""
    stragglers: int
    """Chunks started a second time because they ran past their deadline."""
    muxed: Path | None
    """The file whose audio, subtitles and chapters were copied into the output (None: none)."""
    chunks: tuple[ChunkRun, ...]

    @property
    def rendered(self) -> tuple[int, ...]:
        """Indices of the chunks this run rendered (not reused)."""
        return tuple(c.index for c in self.chunks if not c.reused)

    @property
    def fps(self) -> float:
        """Output frames per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "farm", "vsinfer render (chunks on a Ray cluster)") from exc
    return ray


def _prebuild(script: Path, publish: Path | None) -> float:
    """Build every engine and conversion the script uses, once, before any chunk: ``vsinfer build --script``."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "vsinfer", "build", "--script", str(script)]
    if publish is not None:
        command += ["--publish", str(publish)]
    proc = subprocess.run(command, capture_output=True, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RenderError(f"render: building what {script} needs failed ({' '.join(command[1:])}, exit "
                           f"{proc.returncode}): {tail(proc.stderr)}")
    log.info("render: prebuild %s", tail(proc.stdout, 500))
    return time.perf_counter() - started


@contextlib.contextmanager
def _cluster(ray: Any, address: str | None) -> Iterator[bool]:
    """Ray, connected: an existing session, the cluster at ``address``, or a local one (shut down afterwards).

    A local instance takes this machine's cores and the GPUs Ray detects (NVIDIA, AMD, Intel): Ray then gives
    each chunk's worker its own GPU (``CUDA_VISIBLE_DEVICES`` and its peers), so a script's ``device_id=0`` is
    the chunk's GPU.
    """
    if ray.is_initialized():
        yield False
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "logging_level": logging.WARNING, "configure_logging": False}
    if address is None:
        # "local": a new instance even when `ray start` left one running here (that one is --address auto)
        options |= {"address": "local", "object_store_memory": OBJECT_STORE_BYTES}
    else:
        options["address"] = address
    ray.init(**options)
    try:
        yield True
    finally:
        ray.shutdown()


def _forwarded(*, local: bool) -> dict[str, str]:
    """The driver's cache settings the workers get.

    The shared layer always (one path on every node); the local cache folder on a local cluster only (where the
    prebuild put the engines).
    """
    names = ("VSINFER_SHARED_CACHE", "VSINFER_CACHE_DIR") if local else ("VSINFER_SHARED_CACHE",)
    return {name: os.environ[name] for name in names if name in os.environ}


def _discard(folder: Path, keep: set[str]) -> None:
    """Remove part files of interrupted attempts and every chunk file not in ``keep``."""
    for path in folder.iterdir():
        if path.is_file() and path.name.startswith("chunk-") and path.name not in keep:
            path.unlink(missing_ok=True)


def render(script: str | os.PathLike[str], out: str | os.PathLike[str], *, chunks: int | None = None,
           workers: int | None = None, address: str | None = None, encode: str | None = None,
           max_retries: int = 3, prebuild: bool = True, publish: str | os.PathLike[str] | None = None,
           gpus_per_chunk: float | None = None, keep_chunks: bool = False, straggler_factor: float = 3.0,
           mux_from: str | os.PathLike[str] | None = AUTO, audio_params: str | None = None, scenes: bool = True,
           on_chunk: Callable[[ChunkRun, int], None] | None = None,
           on_start: Callable[[int, int], None] | None = None) -> RenderResult:
    """Render the script's output 0 in chunks on a Ray cluster and join them into ``out``, frame-exact.

    Args:
        script: The VapourSynth script (.vpy). On a cluster every node must read it at this path.
        out: The output: ``.mkv`` (FFV1, lossless), ``.y4m``, or what ``encode`` writes. Its folder holds the
            chunks and the manifest while the render runs; on a cluster it must be shared by every node.
        chunks: Number of chunks; default four per worker (a retry redoes less, the last chunk waits less).
        workers: Chunks at once over the cluster, spread over the nodes by their size. Default: on each node one
            per GPU, else one per ``CORE_GROUP`` CPU cores of that node.
        address: A Ray cluster to join (``ray://host:10001`` or ``auto``); None starts a local one.
        encode: A command template reading y4m on stdin and writing ``{out}`` (e.g. ``x265 --y4m - -o {out}``),
            run once per chunk; the chunks are joined without re-encoding.
        max_retries: Ray retries of a failed or killed chunk.
        prebuild: Build every engine the script needs before any chunk runs (``vsinfer build --script``).
        publish: Also publish what was built to this shared cache folder (``--publish``).
        gpus_per_chunk: GPUs a chunk requests from Ray; default 1 when a node has GPUs, else 0.
        keep_chunks: Keep the chunk files and the manifest after the join.
        straggler_factor: A chunk still running after this many times the time its length should take (from the
            chunks finished so far; ``STRAGGLER_MIN_SECONDS`` at least) is started again on a free worker, another
            node first; the first copy to finish counts. 0 turns it off.
        mux_from: Copy the audio, subtitles and chapters of this file into the output, without re-encoding and
            aligned to its first video frame. ``"auto"``: the one media file the script names whose video has as
            many frames as the output (its source), when there is one; None: nothing.
        audio_params: ffmpeg options that re-encode the copied audio (``-c:a libopus -b:a 128k``) instead of
            copying it.
        scenes: With ``encode``: move each chunk boundary to the nearest scene cut of the source (the file of
            ``mux_from``, or the one the script reads) within half a chunk, so each chunk starts with a keyframe the
            encoder would have placed there anyway.
        on_chunk: Called with each finished chunk and the frames done so far (progress).
        on_start: Called with the total frames and the frames already done when the chunks start.

    Returns:
        What ran where, and the times.

    Raises:
        RenderError: No node can take a chunk as asked (the message names the node sizes and the options that
            fit), no node can read the script or write the chunks, a chunk failed after its retries, or a tool
            refused.

    """
    begun = time.perf_counter()
    script_path, out_path = Path(script).resolve(), Path(out).resolve()
    if not script_path.is_file():
        raise InvalidValueError("script", str(script), "an existing VapourSynth script (.vpy)", where="render")
    if max_retries < 0:
        raise InvalidValueError("max_retries", max_retries, "an integer >= 0", where="render")
    if workers is not None and workers < 1:
        raise InvalidValueError("workers", workers, "an integer >= 1", where="render")
    if straggler_factor < 0 or 0 < straggler_factor <= 1:
        raise InvalidValueError("straggler_factor", straggler_factor, "0 (off) or a number > 1", where="render")
    recipe = recipe_for(out_path, encode)
    ray = _import_ray()
    find_program("vspipe")
    find_program("ffprobe")
    if recipe != "y4m":
        find_program("ffmpeg")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    folder = out_path.with_name(f"{out_path.name}.chunks")
    manifest_path = out_path.with_name(f"{out_path.name}.render.json")
    lock = FileLock(str(out_path.with_name(f".{out_path.name}.render.lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise RenderError(f"render: another render is writing {out_path} (lock {lock.lock_file})") from exc
    try:
        frames = script_frames(script_path)
        source = source_for(AUTO if mux_from is None else str(mux_from), out_path, script_path, frames)
        copy = source is not None and mux_from is not None and not source.empty \
            and out_path.suffix.lower() in MUX_SUFFIXES
        try:
            with _cluster(ray, address) as owned:
                placement = place(_nodes(ray), workers=workers, gpus_per_chunk=gpus_per_chunk)
                count = placement.workers
                log.info("render: %d worker(s) on %s", count, ", ".join(
                    f"{s.node.describe()}: {s.workers} x ({s.cpus:.3g} CPU, {s.gpus:g} GPU)" for s in placement.slots))
                plan = plan_chunks(frames, chunks or 4 * count)
                if scenes and recipe not in (FFV1, Y4M):
                    plan = _at_scenes(plan, source, frames)
                wanted = mf.Manifest(script=str(script_path), script_crc32=mf.crc32_file(script_path), frames=frames,
                                     ranges=[(c.start, c.end) for c in plan], recipe=recipe)
                found = mf.load(manifest_path)
                folder.mkdir(exist_ok=True)
                done: dict[int, mf.ChunkRecord] = {}
                if found is not None and found.same_plan(wanted):
                    done = mf.valid_chunks(found, folder, plan)
                elif found is not None:
                    log.warning("render: %s describes another render (script, frames, chunks or recipe changed); "
                                "starting over", manifest_path)
                wanted.done = {str(i): r for i, r in done.items()}
                mf.save(wanted, manifest_path)
                _discard(folder, {r.file for r in done.values()})
                runs: dict[int, ChunkRun] = {
                    i: ChunkRun(index=i, start=r.start, end=r.end, node=r.node, ray_node="", seconds=r.seconds,
                                attempts=r.attempts, reused=True) for i, r in done.items()}
                missing = [c for c in plan if c.index not in done]
                prebuild_seconds = _prebuild(script_path, Path(publish) if publish else None) \
                    if prebuild and missing else 0.0
                if on_start is not None:
                    on_start(frames, sum(r.frames for r in done.values()))
                phase = time.perf_counter()
                farm = _Farm(ray=ray, placement=placement, workers=workers, gpus_per_chunk=gpus_per_chunk,
                             script=script_path, folder=folder, recipe=recipe, suffix=out_path.suffix,
                             manifest=wanted, manifest_path=manifest_path, runs=runs, on_chunk=on_chunk,
                             max_retries=max_retries, straggler_factor=straggler_factor,
                             env={"env_vars": _forwarded(local=address is None)})
                failures = farm.run(missing, owned=owned)
                chunks_seconds = time.perf_counter() - phase
        except KeyboardInterrupt:
            if folder.is_dir():  # after the workers are gone: nothing writes a part file any more
                for part in folder.glob("chunk-*.part-*"):
                    part.unlink(missing_ok=True)
            raise
        if failures:
            raise RenderError(f"render: {len(failures)} chunk(s) failed after {max_retries} retries; the "
                               f"{len(runs)} finished ones are kept for a rerun. First failure: {failures[0]}")
        joined = time.perf_counter()
        parts = [folder / wanted.done[str(c.index)].file for c in plan]
        tmp = out_path.with_name(f".{out_path.stem}.joining{out_path.suffix}")
        try:
            join(recipe, parts, tmp, frames)
            if copy:
                assert source is not None
                joined_video = tmp.with_name(f".{out_path.stem}.video{out_path.suffix}")
                os.replace(tmp, joined_video)
                try:
                    mux(joined_video, source, tmp, audio_params)
                finally:
                    joined_video.unlink(missing_ok=True)
            total = count_frames(tmp)
            if total != frames:
                raise RenderError(f"render: the joined file holds {total} frames, expected {frames}; "
                                   f"{out_path} was not written")
            os.replace(tmp, out_path)
        finally:
            tmp.unlink(missing_ok=True)
        join_seconds = time.perf_counter() - joined
        if not keep_chunks:
            shutil.rmtree(folder, ignore_errors=True)
            manifest_path.unlink(missing_ok=True)
        return RenderResult(output=out_path, frames=frames, workers=count, seconds=time.perf_counter() - begun,
                            prebuild_seconds=prebuild_seconds, chunks_seconds=chunks_seconds,
                            join_seconds=join_seconds, nodes=len(placement.slots), stragglers=farm.stragglers,
                            muxed=source.path if copy and source is not None else None,
                            chunks=tuple(runs[c.index] for c in plan))
    finally:
        lock.release()
        Path(lock.lock_file).unlink(missing_ok=True)


def _at_scenes(plan: tuple[Chunk, ...], source: Source | None, frames: int) -> tuple[Chunk, ...]:
    """The plan with its boundaries at the source's scene cuts (frame for frame: the source has ``frames``)."""
    if source is None or len(plan) < 2:
        log.info("render: no source to find scene cuts in (mux_from); the chunks have equal lengths")
        return plan
    if (source.frames if source.frames is not None else count_frames(source.path)) != frames:
        log.warning("render: %s does not have the output's %d frames; the chunks have equal lengths", source.path,
                    frames)
        return plan
    cuts = scene_cuts(source.path)
    moved = snap_to_scenes(plan, cuts)
    at_cuts = sum(1 for c in moved[1:] if c.start in set(cuts))
    log.info("render: %d scene cut(s) in %s; %d of %d chunk boundaries are at one", len(cuts), source.path, at_cuts,
             len(plan) - 1)
    return moved


def _nodes(ray: Any) -> tuple[NodeSize, ...]:
    """The alive nodes of the cluster with their CPUs and GPUs, as Ray reports them."""
    return tuple(NodeSize(id=str(n["NodeID"]), address=str(n.get("NodeManagerAddress", "?")),
                          cpus=float(n.get("Resources", {}).get("CPU", 0.0)),
                          gpus=float(n.get("Resources", {}).get("GPU", 0.0)))
                 for n in ray.nodes() if n.get("Alive"))


@dataclass(kw_only=True)
class _Attempt:
    """A chunk task in flight on one node."""

    chunk: Chunk
    node: NodeSize
    started: float
    """``time.monotonic()`` at submission."""
    second: bool
    """Started beside a straggler."""


def _clock(seconds: float) -> str:
    """``1:02:03`` from seconds."""
    whole = max(0, int(seconds + 0.5))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass(kw_only=True)
class _Farm:
    """The chunk phase: a slot per worker on each node, filled longest chunk first, each task pinned to its node.

    Pinning (Ray's node affinity) lets each node have its own chunk size in CPUs, so no request waits for a node
    that does not exist; a node that leaves is dropped and its chunks go to the others; a node that appears is
    checked and used.
    """

    ray: Any
    placement: Placement
    workers: int | None
    gpus_per_chunk: float | None
    script: Path
    folder: Path
    recipe: str
    suffix: str
    manifest: mf.Manifest
    manifest_path: Path
    runs: dict[int, ChunkRun]
    on_chunk: Callable[[ChunkRun, int], None] | None
    max_retries: int
    straggler_factor: float
    env: dict[str, Any]
    stragglers: int = 0
    """Chunks started a second time because they ran too long."""
    queue: list[Chunk] = field(default_factory=list, init=False)
    """Chunks waiting for a slot, the next first."""
    running: dict[Any, _Attempt] = field(default_factory=dict, init=False)
    """Chunk tasks in flight."""
    failures: list[str] = field(default_factory=list, init=False)
    checks: dict[str, Any] = field(default_factory=dict, init=False)
    """Node id: its check's task while it runs, True once the node passed."""
    checking: dict[Any, NodeSize] = field(default_factory=dict, init=False)
    """A check's task: its node."""
    check_started: dict[str, float] = field(default_factory=dict, init=False)
    refused: dict[str, str] = field(default_factory=dict, init=False)
    """Node id: why it cannot render."""
    per_frame: list[float] = field(default_factory=list, init=False)
    """Seconds per frame of the chunks finished in this run."""
    first: int = field(default=0, init=False)
    """Frames done before this run."""
    done: int = field(default=0, init=False)
    begun: float = field(default=0.0, init=False)
    token: str = field(default_factory=lambda: f".probe-{uuid.uuid4().hex}", init=False)
    """The probe file's name and content in the chunk folder (see ``check_node``)."""
    task: Any = field(default=None, init=False)
    probe: Any = field(default=None, init=False)
    probe_args: tuple[Any, ...] = field(default=(), init=False)

    def run(self, missing: list[Chunk], *, owned: bool) -> list[str]:
        """Render the missing chunks; the failures (after Ray's retries) as messages.

        Ctrl-C (KeyboardInterrupt) stops every unfinished task (their vspipe and writer die with the worker) and
        re-raises: the finished chunks stay in the manifest for a rerun.
        """
        ray = self.ray
        self.queue = longest_first(missing)
        self.first = self.done = sum(r.frames for r in self.manifest.done.values())
        self.begun = time.monotonic()
        (self.folder / self.token).write_text(self.token, encoding="utf-8")
        self.task = ray.remote(run_chunk)
        self.probe = ray.remote(check_node)
        files = named_files(self.script)
        self.probe_args = (str(self.script), str(self.folder), self.token, files, programs(self.recipe))
        refreshed = reported = time.monotonic()
        try:
            while self.queue or self.running:
                now = time.monotonic()
                if now - refreshed > REFRESH_SECONDS:
                    self._refresh()
                    refreshed = now
                self._check_nodes(now)
                self._fill(now)
                self._stragglers(now)
                waiting = list(self.running) + [r for r in self.checks.values() if r is not True]
                if not waiting:
                    self._stuck()
                ready, _ = ray.wait(waiting, num_returns=1, timeout=0.5)
                recorded = False
                for ref in ready:
                    if ref in self.running:
                        recorded = self._finished(ref) or recorded
                    elif ref in self.checking:
                        self._checked(ref)
                if recorded:
                    self._fill(time.monotonic())  # the line counts the worker that took the next chunk as busy
                if recorded or time.monotonic() - reported > PROGRESS_SECONDS:
                    self._progress()
                    reported = time.monotonic()
        except KeyboardInterrupt:
            if not owned:  # someone else's session stays up: kill our tasks (their vspipe and writer die with them)
                for ref in self.running:
                    with contextlib.suppress(Exception):
                        ray.cancel(ref, force=True)
            # a cluster render() started is left by ray.shutdown: Ray kills the workers of a job whose driver is
            # gone (cancelling each task first races with tasks that finish meanwhile: a Ray check fails)
            raise
        finally:
            (self.folder / self.token).unlink(missing_ok=True)
        return self.failures

    def _pin(self, node: NodeSize) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        return NodeAffinitySchedulingStrategy(node_id=node.id, soft=False)

    def _refresh(self) -> None:
        """Read the nodes again: a node that left is dropped (its chunks go back to the queue), a new one is used.

        A cluster on which no node can take a chunk any more ends the render (RenderError), never a wait.
        """
        nodes = _nodes(self.ray)
        try:
            placement = place(nodes, workers=self.workers, gpus_per_chunk=self.gpus_per_chunk)
        except RenderError as exc:
            raise RenderError(f"{exc} (the cluster changed during the render; the finished chunks are kept)") \
                from exc
        if {s.node.id for s in placement.slots} != {s.node.id for s in self.placement.slots}:
            log.warning("render: the cluster changed: %d worker(s) on %s", placement.workers,
                        ", ".join(s.node.describe() for s in placement.slots))
        self.placement = placement
        alive = {n.id for n in nodes}
        for ref, attempt in list(self.running.items()):
            if attempt.node.id in alive:
                continue
            self.running.pop(ref)
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)
            if not any(a.chunk.index == attempt.chunk.index for a in self.running.values()):
                log.warning("render: node %s left while it rendered %s; the chunk goes to another node",
                            attempt.node.name, attempt.chunk.name)
                self.queue.insert(0, attempt.chunk)

    def _check_nodes(self, now: float) -> None:
        """Start the check of every node not checked yet; a check that does not answer in time refuses the node."""
        for slot in self.placement.slots:
            node = slot.node
            if node.id in self.refused:
                continue
            ref = self.checks.get(node.id)
            if ref is None:
                ref = self.probe.options(num_cpus=0, max_retries=0, scheduling_strategy=self._pin(node),
                                         runtime_env=self.env).remote(*self.probe_args)
                self.checks[node.id] = ref
                self.checking[ref] = node
                self.check_started[node.id] = now
            elif ref is not True and now - self.check_started[node.id] > CHECK_SECONDS:
                self._refuse(node, f"its check did not answer in {CHECK_SECONDS:g} s")
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref, force=True)

    def _refuse(self, node: NodeSize, why: str) -> None:
        self.refused[node.id] = why
        self.checks.pop(node.id, None)
        log.error("render: node %s is left out: %s", node.describe(), why)

    def _checked(self, ref: Any) -> None:
        node = self.checking.pop(ref)
        if self.checks.get(node.id) is not ref:  # refused meanwhile (it did not answer in time)
            return
        try:
            host = self.ray.get(ref)
        except Exception as exc:
            self._refuse(node, str(getattr(exc, "cause", None) or exc))
            return
        self.checks[node.id] = True
        log.info("render: node %s (%s) can render", node.describe(), host)

    def _busy(self, node_id: str) -> int:
        return sum(1 for a in self.running.values() if a.node.id == node_id)

    def _free(self) -> list[Slots]:
        """Checked nodes with a free slot, the emptiest first."""
        free = [s for s in self.placement.slots if self.checks.get(s.node.id) is True and
                self._busy(s.node.id) < s.workers]
        return sorted(free, key=lambda s: self._busy(s.node.id) / s.workers)

    def _submit(self, chunk: Chunk, slot: Slots, now: float, *, second: bool) -> None:
        ref = self.task.options(num_cpus=slot.cpus, num_gpus=slot.gpus, max_retries=self.max_retries,
                                retry_exceptions=True, scheduling_strategy=self._pin(slot.node),
                                runtime_env=self.env).remote(str(self.script), str(self.folder), chunk, self.recipe,
                                                             self.suffix, ".second" if second else "")
        self.running[ref] = _Attempt(chunk=chunk, node=slot.node, started=now, second=second)

    def _fill(self, now: float) -> None:
        while self.queue:
            free = self._free()
            if not free:
                return
            self._submit(self.queue.pop(0), free[0], now, second=False)

    def _stragglers(self, now: float) -> None:
        """A chunk running past its deadline starts again on a free slot, another node first (once per chunk)."""
        if not self.straggler_factor or not self.per_frame or self.queue:
            return
        per_frame = statistics.median(self.per_frame)
        copies = Counter(a.chunk.index for a in self.running.values())
        for attempt in sorted(self.running.values(), key=lambda a: a.started):
            deadline = max(STRAGGLER_MIN_SECONDS, self.straggler_factor * per_frame * attempt.chunk.frames)
            if copies[attempt.chunk.index] > 1 or now - attempt.started < deadline:
                continue
            free = self._free()
            if not free:
                return
            slot = next((s for s in free if s.node.id != attempt.node.id), free[0])
            log.warning("render: %s (frames %d-%d) has run %.0f s on %s, past its deadline of %.0f s (%.2f s per "
                        "frame measured); starting it again on %s, the first copy to finish counts",
                        attempt.chunk.name, attempt.chunk.start, attempt.chunk.end, now - attempt.started,
                        attempt.node.name, deadline, per_frame, slot.node.name)
            self._submit(attempt.chunk, slot, now, second=True)
            copies[attempt.chunk.index] += 1
            self.stragglers += 1

    def _stuck(self) -> None:
        """Nothing runs and chunks wait: no node can take them."""
        nodes = "; ".join(f"{s.node.describe()}: {self.refused.get(s.node.id, 'no free slot')}"
                          for s in self.placement.slots)
        raise RenderError(f"render: {len(self.queue)} chunk(s) wait and no node can run them ({nodes}); the "
                          f"finished chunks are kept for a rerun")

    def _finished(self, ref: Any) -> bool:
        """Record a chunk that finished (True), or put it back or count its failure (False)."""
        attempt = self.running.pop(ref)
        chunk = attempt.chunk
        others = [r for r, a in self.running.items() if a.chunk.index == chunk.index]
        try:
            result: mf.ChunkRecord = self.ray.get(ref)
        except Exception as exc:  # a RayTaskError wrapping the last attempt's error, or a dead worker or node
            cause = getattr(exc, "cause", None) or exc  # our own message, without Ray's traceback
            if others:
                log.warning("render: a copy of %s failed on %s (%s); the other copy goes on", chunk.name,
                            attempt.node.name, cause)
                return False
            self._refresh()
            if attempt.node.id not in {s.node.id for s in self.placement.slots}:
                log.warning("render: node %s left while it rendered %s; the chunk goes to another node",
                            attempt.node.name, chunk.name)
                self.queue.insert(0, chunk)
                return False
            self.failures.append(f"{chunk.name} (frames {chunk.start}-{chunk.end}) on {attempt.node.name}: {cause}")
            log.error("render: %s failed after its retries: %s", chunk.name, cause)
            return False
        for other in others:  # the slower copy of a straggler: its worker (and its vspipe) is killed
            self.running.pop(other)
            with contextlib.suppress(Exception):
                self.ray.cancel(other, force=True)
        self.manifest.done[str(chunk.index)] = result
        mf.save(self.manifest, self.manifest_path)
        run = ChunkRun(index=chunk.index, start=chunk.start, end=chunk.end, node=result.node,
                       ray_node=attempt.node.name, seconds=result.seconds, attempts=result.attempts, reused=False)
        self.runs[chunk.index] = run
        self.per_frame.append(result.seconds / max(1, result.frames))
        self.done += chunk.frames
        if self.on_chunk is not None:
            self.on_chunk(run, self.done)
        return True

    def _progress(self) -> None:
        """One line for the whole render: frames, fps, ETA and the workers busy."""
        elapsed = time.monotonic() - self.begun
        total = self.manifest.frames
        moving: dict[int, int] = {}  # frames the running chunks have made (a chunk's best copy)
        for attempt in self.running.values():
            path = self.folder / f"{attempt.chunk.name}{'.second' if attempt.second else ''}.progress"
            with contextlib.suppress(OSError, ValueError):
                made = min(int(path.read_bytes()), attempt.chunk.frames)
                moving[attempt.chunk.index] = max(moving.get(attempt.chunk.index, 0), made)
        done = self.done + sum(moving.values())
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        eta = _clock((total - done) / rate) if rate > 0 else "unknown"
        nodes = {a.node.id for a in self.running.values()}
        progress.info("render: %d/%d frames (%.0f%%), %.2f fps, ETA %s, workers busy %d/%d on %d node(s)",
                      done, total, 100 * done / max(1, total), rate, eta, len(self.running),
                      self.placement.workers, len(nodes))
