"""Tile size and overlap: normalization and the plugins' own rules, checked before the plugin runs.

``plan`` also turns ``tiles=(nx, ny)`` into a tile size and pads frames for models that need sizes that are a
multiple of some ``m``: ``pad`` replicates the right and bottom edges before the plugin, ``crop`` cuts the
padding (times the model's scale) off its output.
"""

from __future__ import annotations

import functools
import logging
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ClipError, ModelError, TilingError

if TYPE_CHECKING:
    import vapoursynth as vs

    from .model import ModelInfo

__all__ = [
    "MAX_SIDE", "RESIZING_OPS", "TilePlan", "Tiling", "as_pair", "check_shape", "check_whole_scale", "crop",
    "model_scale", "pad", "parse_pair", "plain_int", "plan", "resolve_tiling", "tensor_bytes",
]

logger = logging.getLogger(__name__)

Pair = tuple[int, int]


def plain_int(value: object) -> int | None:
    """``value`` as a plain int when it is an integer (a numpy integer scalar too), else None; a bool is not one.

    Scripts compute sizes with numpy (``np.int64(2)``, ``arr.shape[0] // 4``): those are ints here, and the plugin gets
    a plain int. numpy's bool (``np.bool_``) is no more an int than Python's.
    """
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, numbers.Integral):  # numpy's integer scalars
        return int(value)
    return None


def _items(value: object) -> list[object] | None:
    """The items of a pair-like value: a sequence (not a str), or a 1-D numpy array; a scalar is one item."""
    if type(value).__module__ == "numpy" and hasattr(value, "ndim") and hasattr(value, "tolist"):
        ndim = value.ndim
        if ndim == 0:
            return [value]
        if ndim != 1 or getattr(getattr(value, "dtype", None), "kind", "") not in "iu":
            return None  # a 2-D array, or floats / bools
        return [plain_int(v) for v in value.tolist()]
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def parse_pair(value: object) -> Pair | None:
    """``(width, height)`` from an int or a 1- or 2-sequence of ints, else None.

    One value applies to both axes, like the plugins do. numpy integer scalars and 1-D integer arrays count as
    ints and sequences of ints; a bool is not an int.
    """
    values = _items(value)
    if values is None or not 1 <= len(values) <= 2:
        return None
    ints = [i for i in (plain_int(v) for v in values) if i is not None]
    return (ints[0], ints[-1]) if len(ints) == len(values) else None


def as_pair(name: str, value: int | Sequence[int], *, where: str | None = None) -> Pair:
    """Normalize a tilesize / overlap to ``(width, height)``, or raise TilingError."""
    pair = parse_pair(value)
    if pair is None:
        flags = isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b" or (
            isinstance(value, Sequence) and not isinstance(value, str) and any(isinstance(v, bool) for v in value))
        hint = " (a bool is not an int)" if flags else ""
        raise TilingError(name, value, f"an int or a sequence of one or two ints{hint}", where=where)
    return pair


MAX_SIDE = 16384
"""Largest tile / engine side accepted (pixels): twice 8K. One float32 RGB tensor of 16384 x 16384 is already 3 GiB,
and a model holds many such activations; a larger side is a typo (or a job for ``tiles=``)."""


def tensor_bytes(channels: int, width: int, height: int, bits: int = 32) -> int:
    """Bytes of one (1, channels, height, width) float tensor."""
    return channels * width * height * bits // 8


def check_shape(name: str, value: object, channels: int, *, where: str | None = None, minimum: int = 1) -> Pair:
    """A (width, height) an engine or a tile is built for: ``minimum`` .. MAX_SIDE on each side.

    Refused before anything is allocated; the message gives the size of one input tensor at that shape, so that a
    typo like (100000, 100000) reads as the 100+ GiB it would ask for.
    """
    pair = as_pair(name, value, where=where)  # type: ignore[arg-type]
    if min(pair) < minimum or max(pair) > MAX_SIDE:
        estimate = tensor_bytes(max(channels, 1), max(pair[0], 0), max(pair[1], 0)) / 2**30
        raise TilingError(
            name,
            value,
            f"sides {minimum} .. {MAX_SIDE} pixels; at ({pair[0]}, {pair[1]}) one {channels}-channel float32 input "
            f"tensor alone is {estimate:.3g} GiB, before the model's own activations (split the frame with tiles= "
            "or a smaller tilesize)",
            where=where,
        )
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
    """The tiling chosen for a frame, with the padding added before the plugin and cropped after it.

    ``str(plan)`` reads like "100x75 frame padded to 104x80 (multiple of 8); 2x2 tiles of 56x48, overlap 4x4".
    """

    tiling: Tiling
    """What the plugin gets (for the padded frame)."""
    original: Pair
    """(width, height) of the input frame."""
    padded: Pair
    """(width, height) after edge padding; equal to ``original`` without padding."""
    scale: Pair | None = None
    """Output size / input size of the model per axis, read from the model when the output must be cropped;
    None when it was not needed or could not be read (``crop`` then takes it from the output clip)."""
    multiple: int = 1
    """Every tile (and the padded frame) is a multiple of this in both axes."""

    @property
    def needs_padding(self) -> bool:
        """True when the frame is padded before the plugin and the output cropped after it."""
        return self.padded != self.original

    @property
    def grid(self) -> Pair:
        """How many tiles the plugin runs per row and per column."""
        return (
            _tile_count(self.padded[0], self.tiling.tilesize[0], self.tiling.overlap[0]),
            _tile_count(self.padded[1], self.tiling.tilesize[1], self.tiling.overlap[1]),
        )

    @property
    def output(self) -> Pair | None:
        """(width, height) of the output clip when the scale is known."""
        if self.scale is None:
            return None
        return (self.original[0] * self.scale[0], self.original[1] * self.scale[1])

    def __str__(self) -> str:
        """One line for logs: frame, padding, tiles, overlap, scale."""
        w, h = self.original
        text = f"{w}x{h} frame"
        if self.needs_padding:
            text += f" padded to {self.padded[0]}x{self.padded[1]} (multiple of {self.multiple})"
        if self.tiling.whole_frame:
            text += " as one tile"
        else:
            (nx, ny), (tw, th), (ox, oy) = self.grid, self.tiling.tilesize, self.tiling.overlap
            text += f"; {nx}x{ny} tiles of {tw}x{th}, overlap {ox}x{oy}"
        if self.scale is not None and self.output is not None:
            sx, sy = self.scale
            factor = f"{sx}x" if sx == sy else f"{sx}x horizontally, {sy}x vertically"
            text += f"; model scale {factor} -> output {self.output[0]}x{self.output[1]}"
        return text


def _tile_count(size: int, tile: int, overlap: int) -> int:
    """Tiles the plugins run along one axis: steps of ``tile - 2 * overlap``, the last one clamped to the edge."""
    if tile >= size:
        return 1
    return 1 + -(-(size - tile) // (tile - 2 * overlap))


def _split(size: int, n: int, overlap: int, multiple: int) -> tuple[int, int] | None:
    """(tile, padded size) for exactly ``n`` plugin tiles along an axis of ``size`` pixels, or None.

    The tile is a multiple of ``multiple``; the axis may be padded further (to a multiple of ``multiple``, by less
    than one tile) where no tile size splits ``size`` itself into ``n``: 3 tiles of a multiple of 7 across 28 pixels
    take tiles of 14 on 35 padded pixels. The least padding wins, then the smallest tile.
    """
    if n == 1:
        return (size, size)
    best: tuple[int, int] | None = None
    for tile in range(multiple, size + 1, multiple):  # a tile larger than the frame would be mostly padding
        step = tile - 2 * overlap
        if step <= 0:
            continue
        # the plugin runs 1 + ceil((S - tile) / step) tiles on S pixels: n for (n-2) step < S - tile <= (n-1) step
        low = max(size, (n - 2) * step + tile + 1)
        padded = _round_up(low, multiple)
        if padded > (n - 1) * step + tile or padded - size >= tile or _tile_count(padded, tile, overlap) != n:
            continue
        if best is None or (padded, tile) < (best[1], best[0]):
            best = (tile, padded)
        if padded == size:
            break  # larger tiles only add work
    return best


def _fits(size: int, n: int, overlap: int, multiple: int) -> bool:
    """Whether ``n`` tiles with ``overlap`` and tiles a multiple of ``multiple`` can split ``size``."""
    return _split(size, n, overlap, multiple) is not None


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _check_multiple(multiple: int | None, where: str | None) -> int:
    if multiple is None:
        return 1
    m = plain_int(multiple)
    if m is None or m < 1:
        raise TilingError("multiple", multiple, "None, 'auto' or an int >= 1 (the model's size granularity)",
                          where=where)
    return m


def _tiles_to_tilesize(
    padded: Pair, tiles: int | Sequence[int], overlap: int | Sequence[int], multiple: int, where: str | None
) -> tuple[Pair, Pair, Pair]:
    """Tile size, overlap and padded size that split ``padded`` into ``tiles`` tiles, each a multiple of ``multiple``.

    The frame is padded further, by less than a tile, where that is what makes the count exact.

    An axis with one tile gets no overlap (there is no neighbour to share it with).
    """
    counts = as_pair("tiles", tiles, where=where)
    if min(counts) < 1:
        raise TilingError("tiles", tiles, "ints >= 1 (tiles per row, tiles per column)", where=where)
    ov = as_pair("overlap", overlap, where=where)
    if min(ov) < 0:
        raise TilingError("overlap", overlap, "non-negative values", where=where)
    sizes: list[int] = []
    overlaps: list[int] = []
    frame: list[int] = []
    for axis, (size, n, o) in enumerate(zip(padded, counts, ov, strict=True)):
        if n == 1:
            sizes.append(size)
            overlaps.append(0)
            frame.append(size)
            continue
        found = _split(size, n, o, multiple)
        if found is None:
            side = "width" if axis == 0 else "height"
            tile = _round_up(-(-(size + 2 * o * (n - 1)) // n), multiple)
            if tile - 2 * o <= 0:
                raise TilingError(
                    "tiles",
                    tiles,
                    f"fewer tiles or less overlap: {n} tiles across a {side} of {size} with overlap {o} "
                    f"(multiple {multiple}) would need tiles of {tile}, which keep no pixels of their own",
                    where=where,
                )
            most = max(k for k in range(1, min(n, size) + 1) if _fits(size, k, o, multiple))
            raise TilingError(
                "tiles",
                tiles,
                f"at most {most} tiles across a {side} of {size} pixels (overlap {o}, multiple {multiple}): "
                f"no tile size that is a multiple of {multiple} makes the plugin run {n} of them",
                where=where,
            )
        tile, grown = found
        if grown != size:
            logger.info("tiles=%r: the %s is padded to %d pixels (%d more) for %d tiles of %d", tiles,
                        "width" if axis == 0 else "height", grown, grown - size, n, tile)
        sizes.append(tile)
        overlaps.append(o)
        frame.append(grown)
    return (sizes[0], sizes[1]), (overlaps[0], overlaps[1]), (frame[0], frame[1])


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
    """The tiling ``inference`` uses for a ``width`` x ``height`` frame; public so a helper can log or show it.

    Args:
        width: Frame width.
        height: Frame height.
        tilesize: Tile size (int or (w, h)); None with ``tiles`` None runs the whole frame as one tile.
        overlap: Pixels of context each tile shares with its neighbours (int or (x, y)). The plugins step
            through the input by ``tile - 2 * overlap`` but crop ``overlap`` pixels of the model's *output* at
            inner tile edges, so a model with scale s shows no seams when overlap >= s x its receptive radius.
        tiles: Split the frame into this many tiles (int or (columns, rows)) instead of giving ``tilesize``;
            the tile size is computed with the overlap and rounded up to ``multiple``.
        multiple: The model needs input sizes that are a multiple of this: the frame is padded by edge
            replication (right and bottom) to a multiple of it, every tile is one, and the output is cropped
            back. None (or 1) pads nothing.
        model: The model; its scale factor is read from it when the output has to be cropped.
        where: The backend or function named in errors.

    Raises:
        TilingError: A value the plugins would reject, or ``tiles`` together with ``tilesize``.

    """
    m = _check_multiple(multiple, where)
    padded = (_round_up(width, m), _round_up(height, m))
    if tiles is not None:
        if tilesize is not None:
            raise TilingError("tiles", tiles, f"None when tilesize={tilesize!r} is given; pass one of them",
                              where=where)
        tilesize, overlap, padded = _tiles_to_tilesize(padded, tiles, overlap, m, where)
    elif tilesize is not None and m > 1:
        ts = as_pair("tilesize", tilesize, where=where)
        if ts[0] % m or ts[1] % m:
            raise TilingError("tilesize", tilesize, f"multiples of multiple={m} (the model's size granularity)",
                              where=where)
    tiling = resolve_tiling(padded[0], padded[1], tilesize, overlap, where=where)
    if model is not None:
        check_whole_scale(model, tiling.tilesize, where)
    scale = model_scale(model, tiling.tilesize) if model is not None and padded != (width, height) else None
    return TilePlan(tiling, (width, height), padded, scale, m)


@functools.lru_cache(maxsize=256)
def model_scale(model: ModelInfo, probe: Pair = (64, 64)) -> Pair | None:
    """The model's output size / input size per axis, e.g. (2, 2) for a 2x upscaler; None if it cannot be read.

    Read from the static shapes when the model has them, else by ONNX shape inference with the input set to
    ``probe`` (w, h), a size the model accepts. Cached per model for the process.
    """
    scale = _read_scale(model, probe)
    logger.debug("model scale of %s: %s", model.path, scale)
    return scale


def _ratio(out: Sequence[int | None], inp: Sequence[int | None]) -> Pair | None:
    """Integer (w, h) ratio of two NCHW shapes, None when a dim is unknown or the ratio is not an integer."""
    if len(out) != 4 or len(inp) != 4:
        return None
    ratios: list[int] = []
    for o, i in ((out[3], inp[3]), (out[2], inp[2])):
        if not o or not i or o % i:
            return None
        ratios.append(o // i)
    return (ratios[0], ratios[1])


def _read_scale(model: ModelInfo, probe: Pair) -> Pair | None:
    sizes = _read_sizes(model, probe)
    return None if sizes is None else _ratio(*sizes)


def _read_sizes(model: ModelInfo, probe: Pair) -> tuple[tuple[int | None, ...], tuple[int | None, ...]] | None:
    """(output shape, input shape) of the model with its input at ``probe`` (w, h); None if it cannot be read.

    From the static shapes when the model has them, else by ONNX shape inference. Cached per model and probe.
    """
    if not model.outputs or len(model.inputs) != 1:
        return None
    static = (model.outputs[0].shape, model.inputs[0].shape)
    if _ratio(*static) is not None or all(d is not None for d in (*static[0][2:], *static[1][2:])):
        return static
    return _infer_sizes(model, probe)


@functools.lru_cache(maxsize=256)
def _infer_sizes(model: ModelInfo, probe: Pair) -> tuple[tuple[int | None, ...], tuple[int | None, ...]] | None:
    import onnx

    try:
        proto = onnx.load(model.path, load_external_data=False)
        tensor = next(v for v in proto.graph.input if v.name == model.inputs[0].name)
        dims = tensor.type.tensor_type.shape.dim
        if len(dims) != 4:
            return None
        concrete = [1, dims[1].dim_value or 1, probe[1], probe[0]]  # a dynamic channel dim: any value infers
        for dim, value in zip(dims, concrete, strict=True):
            if not dim.HasField("dim_value"):
                dim.Clear()
                dim.dim_value = value
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
    except Exception as exc:  # an unreadable model or a shape inference failure only means "unknown here"
        logger.debug("shape inference failed for %s: %s", model.path, exc)
        return None
    out = inferred.graph.output[0].type.tensor_type.shape.dim
    out_shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in out)
    in_shape = tuple(d.dim_value for d in dims)
    return out_shape, in_shape


_WHOLE_PROBE = (256, 256)
"""A size with many factors: a model whose output is a whole multiple of its input there, but not at the tile, needs
a size multiple rather than having a fractional scale."""

RESIZING_OPS = frozenset({"Resize", "Upsample", "AveragePool", "MaxPool", "SpaceToDepth"})
"""Op types that can make a model's output a fraction of its input (or a non-integer multiple)."""


def check_whole_scale(model: ModelInfo, tilesize: Pair, where: str | None = None) -> None:
    """Refuse a model whose output at ``tilesize`` is not a whole multiple of it (1.5x, 0.5x): no plugin runs it.

    The plugins require output dims divisible by the input's; read by shape inference at the tile size, for models
    with ops that resize (``RESIZING_OPS``) or static shapes. Unknown sizes are left to the plugin.
    """
    graph = model.graph
    static = all(d is not None for t in (model.inputs[:1], model.outputs[:1]) for x in t for d in x.shape[2:])
    if not static and (graph is None or not RESIZING_OPS & set(graph.op_types)):
        return
    sizes = _read_sizes(model, tilesize)
    if sizes is None:
        return
    out, inp = sizes
    if len(out) != 4 or len(inp) != 4 or None in (out[2], out[3], inp[2], inp[3]):
        return
    ow, oh, iw, ih = out[3], out[2], inp[3], inp[2]
    assert ow is not None and oh is not None and iw is not None and ih is not None
    if iw and ih and ow % iw == 0 and oh % ih == 0:
        return
    if not static and tilesize != _WHOLE_PROBE:
        at_probe = _read_sizes(model, _WHOLE_PROBE)
        if at_probe is not None and _ratio(*at_probe) is not None:
            return  # whole at a size of many factors: a size multiple the model needs (vsinfer.sizes names it)
    factor = f"{ow / iw:g}x" if ow * ih == oh * iw else f"{ow / iw:g}x by {oh / ih:g}x"
    raise ModelError(
        "network_path",
        model.path,
        "a model whose output is a whole multiple of its input (1x, 2x, 4x ...): the plugins take no other, "
        f"whatever the tiling or padding; this one scales by {factor} ({iw}x{ih} -> {ow}x{oh}). Run it with "
        "onnxruntime directly, or use a model of whole scale and resize its output (e.g. core.resize.Bicubic)",
        where=where,
    )


def _edge_pad(clip: vs.VideoNode, width: int, height: int) -> vs.VideoNode:
    """``clip`` extended to ``width`` x ``height`` by repeating its last column and row."""
    import vapoursynth as vs

    core = vs.core
    if width > clip.width:
        column = core.std.Crop(clip, left=clip.width - 1)
        column = core.resize.Point(column, width=width - clip.width, height=clip.height)
        clip = core.std.StackHorizontal([clip, column])
    if height > clip.height:
        row = core.std.Crop(clip, top=clip.height - 1)
        row = core.resize.Point(row, width=clip.width, height=height - clip.height)
        clip = core.std.StackVertical([clip, row])
    return clip


def pad(nodes: list[vs.VideoNode], tile_plan: TilePlan) -> list[vs.VideoNode]:
    """``nodes`` padded by edge replication (right and bottom) to ``tile_plan.padded``; unchanged without padding."""
    if not tile_plan.needs_padding:
        return nodes
    for i, node in enumerate(nodes):
        if node.format.subsampling_w or node.format.subsampling_h:
            raise ClipError(
                f"clips[{i}] format", node.format.name,
                "a format without chroma subsampling (RGB, GRAY or 4:4:4; the plugins take no other)",
            )
    return [_edge_pad(node, *tile_plan.padded) for node in nodes]


def crop(clip: vs.VideoNode, tile_plan: TilePlan) -> vs.VideoNode:
    """The model's output cropped back to ``original`` times the model's scale; unchanged without padding.

    The scale is taken from the output clip itself (its size over the padded size), which is what the plugin
    produced; a disagreement with ``tile_plan.scale`` is logged.
    """
    if not tile_plan.needs_padding:
        return clip
    (pw, ph), (w, h) = tile_plan.padded, tile_plan.original
    if clip.width % pw or clip.height % ph:
        raise ModelError(
            "output size", (clip.width, clip.height),
            f"an integer multiple of the padded input size {(pw, ph)}, so that the padding can be cropped off",
        )
    scale = (clip.width // pw, clip.height // ph)
    if tile_plan.scale is not None and tile_plan.scale != scale:
        logger.warning("the model's output is %sx its input, not %s as read from the model", scale, tile_plan.scale)
    import vapoursynth as vs

    return vs.core.std.Crop(clip, right=(pw - w) * scale[0], bottom=(ph - h) * scale[1])
