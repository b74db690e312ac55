"""What a render is split into: the chunks (frame ranges), and how many run at once on each node."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import InvalidValueError, RenderError

__all__ = ["CORE_GROUP", "Chunk", "NodeSize", "Placement", "Slots", "local_workers", "longest_first", "place",
           "plan_chunks", "snap_to_scenes"]

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


def snap_to_scenes(plan: tuple[Chunk, ...], cuts: list[int] | tuple[int, ...]) -> tuple[Chunk, ...]:
    """The same number of chunks, each boundary moved to the nearest scene cut within half a chunk of it.

    An encoder starts each chunk with a keyframe; at a scene cut it would have placed one anyway, so the joined file
    costs no more than one encode. A boundary with no cut near keeps its place (ties go to the earlier cut).
    """
    if len(plan) < 2 or not cuts:
        return plan
    frames = plan[-1].end + 1
    window = frames // len(plan) // 2
    starts = [0]
    for chunk in plan[1:]:
        near = [c for c in cuts if abs(c - chunk.start) <= window and starts[-1] < c < frames]
        starts.append(min(near, key=lambda c: (abs(c - chunk.start), c)) if near else chunk.start)
    ends = [s - 1 for s in starts[1:]] + [frames - 1]
    return tuple(Chunk(index=i, start=s, end=e) for i, (s, e) in enumerate(zip(starts, ends, strict=True)))


def local_workers(gpus: int, cores: int | None = None) -> int:
    """Workers of a local cluster: one per GPU, else one per ``CORE_GROUP`` cores (at least one)."""
    if gpus > 0:
        return gpus
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, cores // CORE_GROUP)


@dataclass(frozen=True, kw_only=True)
class NodeSize:
    """One alive node of the cluster, as Ray reports it (``ray.nodes()``)."""

    id: str
    """Ray's node id (hex)."""
    address: str
    """The node's IP address (``NodeManagerAddress``)."""
    cpus: float
    gpus: float

    @property
    def name(self) -> str:
        """``address/id-prefix``: nodes of one machine (a test cluster) share an address."""
        return f"{self.address}/{self.id[:8]}"

    def describe(self) -> str:
        """``10.0.0.7/5f3a9c01 (16 CPU, 2 GPU)``."""
        return f"{self.name} ({self.cpus:g} CPU, {self.gpus:g} GPU)"


@dataclass(frozen=True, kw_only=True)
class Slots:
    """How many chunks one node runs at once, and what each asks Ray for there."""

    node: NodeSize
    workers: int
    cpus: float
    """``num_cpus`` of a chunk on this node: the node's CPUs shared by its workers (1 at most with GPUs)."""
    gpus: float
    """``num_gpus`` of a chunk (the same on every node)."""


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where chunks run: the nodes that take some, with their slots."""

    slots: tuple[Slots, ...]
    gpus_per_chunk: float

    @property
    def workers(self) -> int:
        """Chunks at once over the whole cluster."""
        return sum(s.workers for s in self.slots)


def _sizes(nodes: tuple[NodeSize, ...]) -> str:
    return ", ".join(n.describe() for n in nodes) if nodes else "none"


def _spread(capacity: dict[str, int], weight: dict[str, float], workers: int) -> dict[str, int]:
    """``workers`` slots over the nodes, each next one to the node with the fewest slots per weight."""
    given = dict.fromkeys(capacity, 0)
    for _ in range(workers):
        open_ = [n for n in given if given[n] < capacity[n]]
        if not open_:
            break
        best = min(open_, key=lambda n: ((given[n] + 1) / weight[n], n))
        given[best] += 1
    return given


def place(nodes: tuple[NodeSize, ...], *, workers: int | None = None,
          gpus_per_chunk: float | None = None) -> Placement:
    """Chunk slots per node from each node's own CPUs and GPUs (never from the cluster's total).

    Without GPUs: one worker per ``CORE_GROUP`` CPU cores of each node (at least one per node with a CPU), each
    asking for the node's CPUs divided by its workers. With ``gpus_per_chunk`` (default 1 when a node has a GPU): as
    many workers on a node as its GPUs hold. ``workers`` spreads that many slots over the nodes in proportion to
    their size (CPU slots may then share cores: a fraction of a CPU each). A request that no node can place raises
    RenderError naming the node sizes and the options that fit; it never waits.
    """
    if workers is not None and workers < 1:
        raise InvalidValueError("workers", workers, "an integer >= 1", where="render")
    if gpus_per_chunk is not None and gpus_per_chunk < 0:
        raise InvalidValueError("gpus_per_chunk", gpus_per_chunk, "a number >= 0", where="render")
    most_gpus = max((n.gpus for n in nodes), default=0.0)
    gpus = gpus_per_chunk if gpus_per_chunk is not None else (1.0 if most_gpus > 0 else 0.0)
    if gpus > 0:
        fits = {n.id: int(n.gpus / gpus + 1e-9) for n in nodes}
        if not any(fits.values()):
            raise RenderError(f"render: a chunk asks for {gpus:g} GPU(s) (--gpus-per-chunk) and no node has as many: "
                              f"nodes {_sizes(nodes)}. Options that fit: "
                              + (f"--gpus-per-chunk {most_gpus:g} or less, " if most_gpus > 0 else "")
                              + "--gpus-per-chunk 0 (CPU only)")
        if workers is not None and workers > sum(fits.values()):
            held = sum(fits.values())
            total = sum(n.gpus for n in nodes if fits[n.id])
            raise RenderError(f"render: --workers {workers} chunks at {gpus:g} GPU each do not fit at once: nodes "
                              f"{_sizes(nodes)} hold {held}. Options that fit: --workers {held} or fewer, or "
                              f"--gpus-per-chunk {total / workers:.3g} (chunks share GPUs)")
        capacity = fits
        weight = {n.id: n.gpus for n in nodes}
    else:
        capacity = {n.id: (1 << 20 if workers is not None else max(1, int(n.cpus) // CORE_GROUP))
                    for n in nodes if n.cpus > 0}
        if not capacity:
            raise RenderError(f"render: no node has a CPU to run a chunk on: nodes {_sizes(nodes)}")
        weight = {n.id: n.cpus for n in nodes if n.cpus > 0}
    given = _spread(capacity, weight, workers if workers is not None else sum(capacity.values()))
    slots = tuple(Slots(node=n, workers=given[n.id], gpus=gpus,
                        cpus=min(1.0, n.cpus / given[n.id]) if gpus > 0 else n.cpus / given[n.id])
                  for n in nodes if given.get(n.id, 0) > 0)
    return Placement(slots=slots, gpus_per_chunk=gpus)


def longest_first(chunks: list[Chunk] | tuple[Chunk, ...]) -> list[Chunk]:
    """The chunks in the order they start: longest first (the last to start is short), then by position."""
    return sorted(chunks, key=lambda c: (-c.frames, c.index))
