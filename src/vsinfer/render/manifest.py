"""The manifest beside the output: which chunks are finished, so a rerun renders only the missing ones.

It is data (a msgspec schema): an unreadable or foreign manifest is ignored, never trusted. A chunk counts as done
only when its file is there with the recorded size, CRC32 and frame count; anything else is rendered again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import msgspec

from ..store.files import crc32_of
from .plan import Chunk

__all__ = ["ChunkRecord", "Manifest", "crc32_file", "load", "save", "valid_chunks"]

log = logging.getLogger(__name__)

VERSION = 1


class ChunkRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A finished chunk: where its file is and what it must hold."""

    index: int
    start: int
    end: int
    file: str
    """The file name inside the chunk folder (never a path: the manifest cannot redirect a read)."""
    frames: int
    size: int
    crc32: int
    node: str
    """``host:pid`` of the worker process that rendered it."""
    seconds: float
    attempts: int
    """How many times the chunk was started (1 when the first try finished it)."""


class Manifest(msgspec.Struct, kw_only=True):
    """What the render is (the plan) and which chunks are done."""

    version: int = VERSION
    script: str
    script_crc32: int
    frames: int
    ranges: list[tuple[int, int]]
    recipe: str
    """How a chunk is written: ``ffv1``, ``y4m`` or the ``--encode`` template."""
    done: dict[str, ChunkRecord] = msgspec.field(default_factory=dict)

    def same_plan(self, other: Manifest) -> bool:
        """Whether the two describe the same render (script content, frames, ranges and recipe)."""
        return (self.version, self.script_crc32, self.frames, self.ranges, self.recipe) == (
            other.version, other.script_crc32, other.frames, other.ranges, other.recipe)


def crc32_file(path: Path) -> int:
    """CRC32 of a file's bytes (``store.files.crc32_of``)."""
    with open(path, "rb") as f:
        return crc32_of(f)


def load(path: Path) -> Manifest | None:
    """The manifest at ``path``; None when there is none or it cannot be read as one (logged)."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("render manifest %s is not usable (%s): rendering every chunk again", path, exc)
        return None


def save(manifest: Manifest, path: Path) -> None:
    """Write the manifest atomically (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(msgspec.json.format(msgspec.json.encode(manifest)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def valid_chunks(manifest: Manifest, folder: Path, chunks: tuple[Chunk, ...]) -> dict[int, ChunkRecord]:
    """The recorded chunks whose files are intact (size and CRC32 as recorded, the range as planned)."""
    good: dict[int, ChunkRecord] = {}
    for chunk in chunks:
        record = manifest.done.get(str(chunk.index))
        if record is None:
            continue
        path = folder / record.file
        if (record.start, record.end, record.frames) != (chunk.start, chunk.end, chunk.frames) \
                or Path(record.file).name != record.file:
            log.warning("render manifest: %s does not match the plan; rendering it again", chunk.name)
            continue
        try:
            intact = path.stat().st_size == record.size and crc32_file(path) == record.crc32
        except OSError:
            intact = False
        if intact:
            good[chunk.index] = record
        else:
            log.warning("render: %s is missing or damaged (size or CRC32 differ); rendering it again", path)
    return good
