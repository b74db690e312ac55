"""What a render is split into: the chunks (frame ranges) and how many run at once on this machine."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import InvalidValueError

__all__ = ["CORE_GROUP", "Chunk", "local_workers", "plan_chunks"]

CORE_GROUP = 4
"""CPU cores per worker on a machine without a GPU. vspipe and the runtimes already use every core of one process;
a worker per 4 cores keeps each chunk's threads busy while the serial parts (source, encoder) of other chunks
overlap. A 2-core machine gets one worker (pass ``workers=`` to choose)."""


@dataclass(frozen=True, kw_only=True)
class Chunk:
    """One frame range of the script's output, rendered by one ``vspipe -s START -e END``."""

    index: int
    """Position in the output (0 first)."""
    start: int
    """First frame (inclusive)."""
    end: int
    """Last frame (inclusive), as vspipe's ``-e`` takes it."""

    @property
    def frames(self) -> int:
        """How many frames the chunk holds."""
        return self.end - self.start + 1

    @property
    def name(self) -> str:
        """The chunk's file stem: ``chunk-0003``."""
        return f"chunk-{self.index:04d}"


def plan_chunks(frames: int, chunks: int) -> tuple[Chunk, ...]:
    """Split ``frames`` frames into ``chunks`` contiguous ranges of near-equal length (fewer when frames are few)."""
    if frames < 1:
        raise InvalidValueError("frames", frames, "a script whose output has at least one frame", where="render")
    if chunks < 1:
        raise InvalidValueError("chunks", chunks, "an integer >= 1", where="render")
    count = min(chunks, frames)
    base, extra = divmod(frames, count)
    out: list[Chunk] = []
    start = 0
    for i in range(count):
        length = base + (1 if i < extra else 0)
        out.append(Chunk(index=i, start=start, end=start + length - 1))
        start += length
    return tuple(out)


def local_workers(gpus: int, cores: int | None = None) -> int:
    """Workers of a local cluster: one per GPU, else one per ``CORE_GROUP`` cores (at least one)."""
    if gpus > 0:
        return gpus
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, cores // CORE_GROUP)
