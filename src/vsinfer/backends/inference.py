"""``inference`` and ``prebuild``: what every backend runs, mixed into ``vsinfer.backends.base.Backend``.

The steps themselves are ``vsinfer.backends.call`` (one backend) and ``vsinfer.backends.chain`` (the fallback chain);
this module only gives them their public signatures and documentation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from ..errors import ConfigError
from . import call
from .call import Runnable
from .chain import run_chain

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["Runs"]


class Runs:
    """Mixin: ``inference`` runs a model on clips, ``prebuild`` builds its artifact ahead of time."""

    # -- run -------------------------------------------------------------------------------------------
    @overload
    def inference(
        self: Runnable,
        clips: vs.VideoNode | Sequence[vs.VideoNode],
        network_path: str | os.PathLike[str],
        /,
        overlap: int | tuple[int, int] | Literal["auto"] = (0, 0),
        tilesize: int | tuple[int, int] | None = None,
        *,
        flexible: Literal[False] = False,
        tiles: int | tuple[int, int] | None = None,
        multiple: int | Literal["auto"] | None = None,
        fallback: Runnable | Sequence[Runnable] | None = None,
        output: str | int | None = None,
        **kwargs: Any,
    ) -> vs.VideoNode: ...

    @overload
    def inference(
        self: Runnable,
        clips: vs.VideoNode | Sequence[vs.VideoNode],
        network_path: str | os.PathLike[str],
        /,
        overlap: int | tuple[int, int] | Literal["auto"] = (0, 0),
        tilesize: int | tuple[int, int] | None = None,
        *,
        flexible: Literal[True],
        tiles: int | tuple[int, int] | None = None,
        multiple: int | Literal["auto"] | None = None,
        fallback: Runnable | Sequence[Runnable] | None = None,
        output: str | int | None = None,
        **kwargs: Any,
    ) -> list[vs.VideoNode]: ...

    def inference(
        self: Runnable,
        clips: vs.VideoNode | Sequence[vs.VideoNode],
        network_path: str | os.PathLike[str],
        /,
        overlap: int | tuple[int, int] | Literal["auto"] = (0, 0),
        tilesize: int | tuple[int, int] | None = None,
        *,
        flexible: bool = False,
        tiles: int | tuple[int, int] | None = None,
        multiple: int | Literal["auto"] | None = None,
        fallback: Runnable | Sequence[Runnable] | None = None,
        output: str | int | None = None,
        **kwargs: Any,
    ) -> vs.VideoNode | list[vs.VideoNode]:
        """Run the ONNX model at ``network_path`` on ``clips``.

        Args:
            clips: One clip or several; their planes, in order, are the model's input channels.
            network_path: The ONNX model.
            overlap: Pixels of context each tile shares with its neighbours (int or (x, y)). The plugins crop it
                from the model's output at inner tile edges, so a 2x model needs twice its receptive radius.
                "auto" measures that radius once (``vsinfer.sizes.model_context``): tiles then give the whole
                frame's picture; a model whose context is the whole picture (global pooling) is refused.
            tilesize: Tile size (int or (w, h)); None runs the whole frame as one tile.
            flexible: Return one GRAY clip per output plane instead of one clip.
            tiles: Split the frame into this many tiles (int or (nx, ny)) instead of giving ``tilesize``.
            multiple: Pad the frame (and tiles) to a multiple of this by edge replication; the output is cropped
                back using the model's scale factor. "auto" finds the model's multiple by running it once on
                small inputs (``vsinfer.sizes``; kept in the cache). Unset, a frame or tile size the model cannot
                take is refused before the plugin, naming the multiple to pass.
            output: The model output to run (a name or an index) when the model has several; unset, a model with
                one image output beside smaller ones (FBCNN's quality factor) runs on that image.
            fallback: Backends tried in order when this one cannot be used on this machine (plugin missing, engine
                build failed, device or driver missing); each fallback is logged as a warning. A configuration or
                model error (a ConfigError, ModelError, ClipError, TilingError, a forwarded argument no plugin of
                the chain takes, or a plugin refusing the call for a reason other than the machine) stops the chain.
            **kwargs: Passed to the plugin unchanged; they win over the backend's own arguments. With ``fallback``,
                each backend of the chain gets those its plugin takes (a name no loaded plugin of the chain takes
                is refused as a typo).

        Returns:
            The output clip, or the list of plane clips when ``flexible`` is True. With ``output_format`` unset,
            the output has the float precision of the input clips (integer clips: the float type they were
            converted to).

        """
        where = type(self).__name__
        nodes, model, plan = call.prepare(clips, network_path, overlap, tilesize, tiles, multiple, output, where)
        return run_chain([self, *_as_chain(fallback)], nodes, model, plan, flexible, kwargs)

    # -- build ahead -------------------------------------------------------------------------------------------
    def prebuild(
        self: Runnable,
        network_path: str | os.PathLike[str],
        channels: int,
        tilesize: int | tuple[int, int],
        input_name: str | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        bits: int | None = None,
    ) -> Path:
        """The artifact ``inference`` would build for this model, channel count and tile size, built now.

        The same steps as ``inference``: the fp16 guard (its analysis does not depend on the clip), the IO
        precision (``bits``: 16 for half-float clips, 32 for single; None: what integer clips would get), the
        block lists. So a prebuild is exactly the artifact a script then finds in the cache.
        """
        return call.prebuild(self, network_path, channels, tilesize, input_name, cache_dir, bits)


def _as_chain(fallback: object) -> list[Runnable]:
    """``fallback`` as a list of backends (every backend mixes ``Runs`` in)."""
    if fallback is None:
        return []
    items: list[object] | None = [fallback] if isinstance(fallback, Runs) else (
        list(fallback) if isinstance(fallback, Sequence) and not isinstance(fallback, str) else None)
    if items is None or not all(isinstance(b, Runs) for b in items):
        raise ConfigError("fallback", fallback, "a Backend instance or a sequence of them, e.g. Backend.ORT_CPU()",
                          where="inference")
    return cast(list[Runnable], items)
