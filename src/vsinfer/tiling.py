"""Tile size and overlap: normalization and the plugins' own rules, checked before the plugin runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import TilingError

if TYPE_CHECKING:
    import vapoursynth as vs

    from .model import ModelInfo

__all__ = ["TilePlan", "Tiling", "as_pair", "crop", "pad", "parse_pair", "plan", "resolve_tiling"]

Pair = tuple[int, int]


def parse_pair(value: object) -> Pair | None:
    """``(width, height)`` from an int or a 1- or 2-sequence of ints, else None.

    One value applies to both axes, like the plugins do.
    """
    values = [value] if not isinstance(value, Sequence) or isinstance(value, str) else list(value)
    if not 1 <= len(values) <= 2:
        return None
    ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return (ints[0], ints[-1]) if len(ints) == len(values) else None


def as_pair(name: str, value: int | Sequence[int], *, where: str | None = None) -> Pair:
    """Normalize a tilesize / overlap to ``(width, height)``, or raise TilingError."""
    pair = parse_pair(value)
    if pair is None:
        raise TilingError(name, value, "an int or a sequence of one or two ints", where=where)
    return pair


@dataclass(frozen=True)
class Tiling:
    """The tiling a plugin call will use, after validation."""

    tilesize: Pair
    """Tile width and height in pixels (the frame size when the whole frame is one tile)."""
    overlap: Pair
    """Horizontal and vertical overlap in pixels."""
    whole_frame: bool
    """True when the user gave no tilesize: the plugin gets no tilesize argument."""

    def plugin_args(self) -> dict[str, list[int]]:
        """The ``tilesize`` / ``overlap`` keyword arguments, omitted when the plugin's defaults apply."""
        args: dict[str, list[int]] = {}
        if not self.whole_frame:
            args["tilesize"] = list(self.tilesize)
        if self.overlap != (0, 0):
            args["overlap"] = list(self.overlap)
        return args


def resolve_tiling(
    width: int,
    height: int,
    tilesize: int | Sequence[int] | None,
    overlap: int | Sequence[int],
    *,
    where: str | None = None,
) -> Tiling:
    """Validate ``tilesize`` and ``overlap`` against a ``width`` x ``height`` frame and each other."""
    ov = as_pair("overlap", overlap, where=where)
    if min(ov) < 0:
        raise TilingError("overlap", overlap, "non-negative values", where=where)
    if tilesize is None:
        if ov != (0, 0):
            raise TilingError(
                "overlap", overlap, "(0, 0) when tilesize is None (the whole frame is one tile); set a tilesize",
                where=where,
            )
        return Tiling((width, height), ov, whole_frame=True)
    ts = as_pair("tilesize", tilesize, where=where)
    if min(ts) < 1:
        raise TilingError("tilesize", tilesize, "positive values", where=where)
    if ts[0] > width or ts[1] > height:
        raise TilingError("tilesize", tilesize, f"at most the frame size ({width}, {height})", where=where)
    for axis, (t, o) in enumerate(zip(ts, ov, strict=True)):
        if t - 2 * o <= 0:
            side = "width" if axis == 0 else "height"
            raise TilingError(
                "overlap", overlap, f"2 * overlap < tile {side} ({t}), so each tile keeps some pixels", where=where
            )
    return Tiling(ts, ov, whole_frame=False)


@dataclass(frozen=True)
class TilePlan:
    """The tiling chosen for a frame, with the padding added before the plugin and cropped after it."""

    tiling: Tiling
    """What the plugin gets (for the padded frame)."""
    original: Pair
    """(width, height) of the input frame."""
    padded: Pair
    """(width, height) after edge padding; equal to ``original`` without padding."""
    scale: Pair = (1, 1)
    """Output size / input size of the model, per axis (used to crop the output back)."""


def plan(
    width: int,
    height: int,
    tilesize: int | Sequence[int] | None = None,
    overlap: int | Sequence[int] = (0, 0),
    *,
    tiles: int | Sequence[int] | None = None,
    multiple: int | None = None,
    model: ModelInfo | None = None,
    where: str | None = None,
) -> TilePlan:
    """The tiling for a ``width`` x ``height`` frame. (Stub: ``tiles`` / ``multiple`` come with helper H5.)"""
    tiling = resolve_tiling(width, height, tilesize, overlap, where=where)
    return TilePlan(tiling, (width, height), (width, height))


def pad(nodes: list[vs.VideoNode], tile_plan: TilePlan) -> list[vs.VideoNode]:
    """``nodes`` padded by edge replication to ``tile_plan.padded``."""
    return nodes


def crop(clip: vs.VideoNode, tile_plan: TilePlan) -> vs.VideoNode:
    """The model's output cropped back to ``original`` times ``scale``."""
    return clip
