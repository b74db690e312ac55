"""``vsinfer render``: one script's frames in chunks on a Ray cluster, joined into one lossless file.

The progress bar (all chunks, frames, fps, ETA) goes to stderr; the summary (where each chunk ran, how long it
took) to stdout, or as JSON with ``--json``. Ctrl-C stops the cluster's work, keeps the finished chunks for a rerun
and exits with status 130.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from .common import Json, UsageError, emit_json, err, out

if TYPE_CHECKING:
    from ..render import ChunkRun, RenderResult

__all__ = ["cmd_render"]


def cmd_render(
    script: Path,
    *,
    output: Annotated[Path, Parameter(name=["--output", "-o"])],
    chunks: int | None = None,
    workers: int | None = None,
    address: str | None = None,
    encode: str | None = None,
    retries: int = 3,
    prebuild: bool = True,
    publish: Path | None = None,
    gpus_per_chunk: float | None = None,
    keep_chunks: Annotated[bool, Parameter(negative="")] = False,
    json: Json = False,
) -> int:
    """Render SCRIPT in chunks on a Ray cluster (local by default) and join them into one file, frame-exact.

    Args:
        script: The VapourSynth script (.vpy); on a cluster, at the same path on every node.
        output: The output file: .mkv (FFV1, lossless), .y4m, or what --encode writes. Chunks and a manifest
            wait beside it until the join; a rerun renders only the chunks that are missing.
        chunks: Number of chunks (default: four per worker).
        workers: Chunks at once (default: one per GPU, else one per 4 CPU cores).
        address: Join this Ray cluster (e.g. auto, or ray://head:10001) instead of starting a local one.
        encode: Encoder command per chunk, reading y4m on stdin and writing {out}, e.g. 'x265 --y4m - -o {out}';
            the chunks are joined without re-encoding.
        retries: Ray retries of a failed or killed chunk.
        prebuild: Build every engine the script needs once, first (vsinfer build --script); --no-prebuild skips.
        publish: Also publish what was built to this shared cache folder.
        gpus_per_chunk: GPUs each chunk requests from Ray (default: 1 when the cluster has GPUs, else 0).
        keep_chunks: Keep the chunk files and the manifest after the join.
        json: Print the summary as JSON.

    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ..render import render

    if chunks is not None and chunks < 1:
        raise UsageError(f"--chunks={chunks} is not valid; expected an integer >= 1")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers={workers} is not valid; expected an integer >= 1")
    if retries < 0:
        raise UsageError(f"--retries={retries} is not valid; expected an integer >= 0")
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} frames"),
               TextColumn("{task.fields[fps]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err(), transient=True) as progress:
        task = progress.add_task(f"render {script.name}", total=None, fps="starting")
        state: dict[str, Any] = {}

        def started(total: int, done: int) -> None:
            state.update(begun=time.monotonic(), first=done)
            progress.update(task, total=total, completed=done, fps="")

        def finished(run: ChunkRun, done: int) -> None:
            rate = (done - state["first"]) / max(time.monotonic() - state["begun"], 1e-9)
            progress.update(task, completed=done, fps=f"{rate:.2f} fps")

        try:
            result = render(script, output, chunks=chunks, workers=workers, address=address, encode=encode,
                            max_retries=retries, prebuild=prebuild, publish=publish, gpus_per_chunk=gpus_per_chunk,
                            keep_chunks=keep_chunks, on_chunk=finished, on_start=started)
        except KeyboardInterrupt:
            progress.stop()
            err().print("vsinfer render: interrupted; the finished chunks are kept, rerun to go on", markup=False)
            return 130
    _summary(result, json)
    return 0


def _summary(result: RenderResult, json: bool) -> None:
    """Where each chunk ran and how long it took."""
    from rich.table import Table

    if json:
        emit_json({"output": str(result.output), "frames": result.frames, "workers": result.workers,
                   "seconds": result.seconds, "fps": result.fps, "prebuild_seconds": result.prebuild_seconds,
                   "chunks_seconds": result.chunks_seconds, "join_seconds": result.join_seconds,
                   "chunks": [{"index": c.index, "start": c.start, "end": c.end, "node": c.node,
                               "seconds": c.seconds, "attempts": c.attempts, "reused": c.reused}
                              for c in result.chunks]})
        return
    table = Table("chunk", "frames", "ran on", "seconds", "fps", "attempts", "note", box=None,
                  title=f"{result.output.name}: {result.frames} frames in {result.seconds:.1f} s "
                        f"({result.fps:.2f} fps) on {result.workers} worker(s); prebuild "
                        f"{result.prebuild_seconds:.1f} s, join {result.join_seconds:.1f} s",
                  title_justify="left")
    for c in result.chunks:
        frames = c.end - c.start + 1
        table.add_row(str(c.index), f"{c.start}-{c.end}", c.node, f"{c.seconds:.1f}",
                      f"{frames / c.seconds:.2f}" if c.seconds > 0 else "-", str(c.attempts),
                      "from a previous run" if c.reused else "")
    out().print(table)
