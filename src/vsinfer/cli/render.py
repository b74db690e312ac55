"""``vsinfer render``: one script's frames in chunks on a Ray cluster, joined into one lossless file.

The progress line (frames of all chunks, fps, ETA, workers busy) is logged to stderr; the summary (where each
chunk ran, how long it took) to stdout, or as JSON with ``--json``. Ctrl-C stops the cluster's work, keeps the
finished chunks for a rerun and exits with status 130.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

from .common import Json, UsageError, emit_json, err, out

if TYPE_CHECKING:
    from ..render import RenderResult

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
    straggler_factor: float = 3.0,
    mux_from: str = "auto",
    audio: str | None = None,
    scenes: bool = True,
    keep_chunks: Annotated[bool, Parameter(negative="")] = False,
    json: Json = False,
) -> int:
    """Render SCRIPT in chunks on a Ray cluster (local by default) and join them into one file, frame-exact.

    Args:
        script: The VapourSynth script (.vpy); on a cluster, at the same path on every node.
        output: The output file: .mkv (FFV1, lossless), .y4m, or what --encode writes. Chunks and a manifest
            wait beside it until the join; a rerun renders only the chunks that are missing.
        chunks: Number of chunks (default: four per worker).
        workers: Chunks at once over the cluster, spread over the nodes by size (default: on each node one per GPU,
            else one per 4 CPU cores of that node).
        address: Join this Ray cluster (e.g. auto, or ray://head:10001) instead of starting a local one.
        encode: Encoder command per chunk, reading y4m on stdin and writing {out}, e.g. 'x265 --y4m - -o {out}';
            the chunks are joined without re-encoding.
        retries: Ray retries of a failed or killed chunk.
        prebuild: Build every engine the script needs once, first (vsinfer build --script); --no-prebuild skips.
        publish: Also publish what was built to this shared cache folder.
        gpus_per_chunk: GPUs each chunk requests from Ray (default: 1 when a node has GPUs, else 0).
        straggler_factor: Start a chunk again elsewhere when it runs this many times longer than its length should
            take (measured on the finished chunks); 0 turns it off.
        mux_from: Copy the audio, subtitles and chapters of this file into the output, without re-encoding,
            aligned. auto (the default): the one media file the script names with as many frames as the output, when
            there is one; none: nothing.
        audio: ffmpeg options that re-encode the copied audio instead, with =: --audio='-c:a libopus -b:a 128k'.
        scenes: With --encode, move the chunk boundaries to the source's nearest scene cuts (within half a chunk);
            --no-scenes keeps equal chunks.
        keep_chunks: Keep the chunk files and the manifest after the join.
        json: Print the summary as JSON.

    """
    from ..render import render
    from ..render.farm import progress

    if chunks is not None and chunks < 1:
        raise UsageError(f"--chunks={chunks} is not valid; expected an integer >= 1")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers={workers} is not valid; expected an integer >= 1")
    if retries < 0:
        raise UsageError(f"--retries={retries} is not valid; expected an integer >= 0")
    level = progress.level
    if progress.getEffectiveLevel() > logging.INFO:
        progress.setLevel(logging.INFO)  # the progress line shows without -v
    try:
        result = render(script, output, chunks=chunks, workers=workers, address=address, encode=encode,
                        max_retries=retries, prebuild=prebuild, publish=publish, gpus_per_chunk=gpus_per_chunk,
                        keep_chunks=keep_chunks, straggler_factor=straggler_factor,
                        mux_from=None if mux_from.lower() == "none" else mux_from, audio_params=audio,
                        scenes=scenes)
    except KeyboardInterrupt:
        err().print("vsinfer render: interrupted; the finished chunks are kept, rerun to go on", markup=False)
        return 130
    finally:
        progress.setLevel(level)
    _summary(result, json)
    return 0


def _summary(result: RenderResult, json: bool) -> None:
    """Where each chunk ran and how long it took."""
    from rich.table import Table

    if json:
        emit_json({"output": str(result.output), "frames": result.frames, "workers": result.workers,
                   "nodes": result.nodes, "stragglers": result.stragglers,
                   "muxed": None if result.muxed is None else str(result.muxed),
                   "seconds": result.seconds, "fps": result.fps, "prebuild_seconds": result.prebuild_seconds,
                   "chunks_seconds": result.chunks_seconds, "join_seconds": result.join_seconds,
                   "chunks": [{"index": c.index, "start": c.start, "end": c.end, "node": c.node, "ray_node": c.ray_node,
                               "seconds": c.seconds, "attempts": c.attempts, "reused": c.reused}
                              for c in result.chunks]})
        return
    table = Table("chunk", "frames", "ran on", "seconds", "fps", "attempts", "note", box=None,
                  title=f"{result.output.name}: {result.frames} frames in {result.seconds:.1f} s "
                        f"({result.fps:.2f} fps) on {result.workers} worker(s), {result.nodes} node(s); prebuild "
                        f"{result.prebuild_seconds:.1f} s, join {result.join_seconds:.1f} s"
                        + (f"; audio, subtitles, chapters from {result.muxed}" if result.muxed else ""),
                  title_justify="left")
    for c in result.chunks:
        frames = c.end - c.start + 1
        table.add_row(str(c.index), f"{c.start}-{c.end}", f"{c.ray_node} {c.node}".strip(), f"{c.seconds:.1f}",
                      f"{frames / c.seconds:.2f}" if c.seconds > 0 else "-", str(c.attempts),
                      "from a previous run" if c.reused else "")
    out().print(table)
