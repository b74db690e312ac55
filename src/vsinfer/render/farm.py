"""``render``: a script's frames in chunks on a Ray cluster, joined into one file, resumable.

Order of work: count the frames (``vspipe --info``), plan the chunks, keep the intact chunks a manifest beside the
output records, build every engine the script needs once (``vsinfer build --script``), run the missing chunks as
Ray tasks (retried by Ray), join the chunks in order without re-encoding, check the frame count, and only then put
the output in place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..errors import InvalidValueError, MissingDependencyError, RenderError
from . import manifest as mf
from .media import count_frames, find_program, join, recipe_for, script_frames, tail
from .plan import Chunk, local_workers, plan_chunks
from .worker import run_chunk

__all__ = ["ChunkRun", "RenderResult", "render"]

log = logging.getLogger(__name__)

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
           gpus_per_chunk: float | None = None, keep_chunks: bool = False,
           on_chunk: Callable[[ChunkRun, int], None] | None = None,
           on_start: Callable[[int, int], None] | None = None) -> RenderResult:
    """Render the script's output 0 in chunks on a Ray cluster and join them into ``out``, frame-exact.

    Args:
        script: The VapourSynth script (.vpy). On a cluster every node must read it at this path.
        out: The output: ``.mkv`` (FFV1, lossless), ``.y4m``, or what ``encode`` writes. Its folder holds the
            chunks and the manifest while the render runs; on a cluster it must be shared by every node.
        chunks: Number of chunks; default four per worker (a retry redoes less, the last chunk waits less).
        workers: Chunks at once. Default: one per GPU of the cluster, else one per ``CORE_GROUP`` CPU cores.
        address: A Ray cluster to join (``ray://host:10001`` or ``auto``); None starts a local one.
        encode: A command template reading y4m on stdin and writing ``{out}`` (e.g. ``x265 --y4m - -o {out}``),
            run once per chunk; the chunks are joined without re-encoding.
        max_retries: Ray retries of a failed or killed chunk.
        prebuild: Build every engine the script needs before any chunk runs (``vsinfer build --script``).
        publish: Also publish what was built to this shared cache folder (``--publish``).
        gpus_per_chunk: GPUs a chunk requests from Ray; default 1 when the cluster has GPUs, else 0.
        keep_chunks: Keep the chunk files and the manifest after the join.
        on_chunk: Called with each finished chunk and the frames done so far (progress).
        on_start: Called with the total frames and the frames already done when the chunks start.

    Returns:
        What ran where, and the times.

    """
    begun = time.perf_counter()
    script_path, out_path = Path(script).resolve(), Path(out).resolve()
    if not script_path.is_file():
        raise InvalidValueError("script", str(script), "an existing VapourSynth script (.vpy)", where="render")
    if max_retries < 0:
        raise InvalidValueError("max_retries", max_retries, "an integer >= 0", where="render")
    if workers is not None and workers < 1:
        raise InvalidValueError("workers", workers, "an integer >= 1", where="render")
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
        try:
            with _cluster(ray, address) as owned:
                resources = ray.cluster_resources()
                cluster_gpus = int(resources.get("GPU", 0))
                cluster_cpus = int(resources.get("CPU", 1))
                count = workers or local_workers(cluster_gpus, cluster_cpus)
                plan = plan_chunks(frames, chunks or 4 * count)
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
                    i: ChunkRun(index=i, start=r.start, end=r.end, node=r.node, seconds=r.seconds, attempts=r.attempts,
                                reused=True) for i, r in done.items()}
                missing = [c for c in plan if c.index not in done]
                prebuild_seconds = _prebuild(script_path, Path(publish) if publish else None) \
                    if prebuild and missing else 0.0
                gpus = gpus_per_chunk if gpus_per_chunk is not None else (1.0 if cluster_gpus else 0.0)
                cpus = 1.0 if gpus else max(1.0, cluster_cpus / count)
                task = ray.remote(run_chunk).options(num_cpus=cpus, num_gpus=gpus, max_retries=max_retries,
                                                     retry_exceptions=True,
                                                     runtime_env={"env_vars": _forwarded(local=address is None)})
                if on_start is not None:
                    on_start(frames, sum(r.frames for r in done.values()))
                phase = time.perf_counter()
                failures = _run(ray, task, missing, script_path, folder, recipe, out_path.suffix, wanted,
                                manifest_path, runs, on_chunk, owned=owned)
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
                            join_seconds=join_seconds,
                            chunks=tuple(runs[c.index] for c in plan))
    finally:
        lock.release()
        Path(lock.lock_file).unlink(missing_ok=True)


def _run(ray: Any, task: Any, missing: list[Chunk], script: Path, folder: Path, recipe: str, suffix: str,
         manifest: mf.Manifest, manifest_path: Path, runs: dict[int, ChunkRun],
         on_chunk: Callable[[ChunkRun, int], None] | None, *, owned: bool) -> list[str]:
    """Submit the missing chunks, record each as it finishes; the failures (after Ray's retries) as messages.

    Ctrl-C (KeyboardInterrupt) stops every unfinished task (their vspipe and writer die with the worker) and
    re-raises: the finished chunks stay in the manifest for a rerun.
    """
    pending = {task.remote(str(script), str(folder), c, recipe, suffix): c for c in missing}
    failures: list[str] = []
    frames_done = sum(r.frames for r in manifest.done.values())
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                chunk = pending.pop(ref)
                try:
                    result: mf.ChunkRecord = ray.get(ref)
                except Exception as exc:  # a RayTaskError wrapping the last attempt's error, or a dead worker
                    cause = getattr(exc, "cause", None) or exc  # our own message, without Ray's traceback
                    failures.append(f"{chunk.name} (frames {chunk.start}-{chunk.end}): {cause}")
                    log.error("render: %s failed after its retries: %s", chunk.name, cause)
                    continue
                manifest.done[str(chunk.index)] = result
                mf.save(manifest, manifest_path)
                run = ChunkRun(index=chunk.index, start=chunk.start, end=chunk.end, node=result.node,
                               seconds=result.seconds, attempts=result.attempts, reused=False)
                runs[chunk.index] = run
                frames_done += chunk.frames
                if on_chunk is not None:
                    on_chunk(run, frames_done)
    except KeyboardInterrupt:
        if not owned:  # someone else's session stays up: kill our tasks (their vspipe and writer die with them)
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
        # a cluster render() started or joined is left by ray.shutdown: Ray kills the workers of a job whose
        # driver is gone (cancelling each task first races with tasks that finish meanwhile: a Ray check fails)
        raise
    return failures
