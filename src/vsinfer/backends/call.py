"""The steps of one call: the model and tile plan checked, the backend settled, built, run and its output finished.

``Backend.inference`` and ``Backend.prebuild`` are these steps; what they ask of a backend is ``Runnable`` (every
``vsinfer.backends.base.Backend`` is one), so this module never needs the class itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from .. import tiling, validation
from ..conversion import inline_external_data, single_output
from ..errors import PluginError
from ..model import ModelInfo, TensorInfo, model_info
from ..plugins import get_plugin, select_args
from ..store import Store
from ..store.files import log_once
from .devices import join_frames, split_frames
from .first_use import ProbeSpec, checked
from .guard import Kept, apply_guard
from .plugin_io import output_bits, split_planes, to_float

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["MAX_CHANNELS", "prebuild", "prepare", "run"]

logger = logging.getLogger("vsinfer")

MAX_CHANNELS = 64
"""Most input planes an engine is built for (models take 1 .. 4; flexible inputs a few more)."""


class Runnable(Protocol):
    """What a call asks of a backend: its plugin, its hooks, its devices (``Backend`` has it all)."""

    namespace: ClassVar[str]
    path_argument: ClassVar[str]
    flexible_output_prop: ClassVar[str]
    takes_fp16_io: ClassVar[bool]
    graph_limits: ClassVar[tuple[validation.GraphLimit, ...]]

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]: ...

    def user_set_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode], own: dict[str, Any]) -> set[str]: ...

    def input_bits(self, clips: Sequence[vs.VideoNode], model: ModelInfo) -> int: ...

    def prepare_network(self, model: ModelInfo, channels: int, tilesize: tuple[int, int], *, bits: int,
                        input_name: str | None = None, cache_dir: str | os.PathLike[str] | None = None) -> Path: ...

    def effective_precision(self) -> tuple[str, str]: ...

    def float32(self) -> Any: ...

    def guard_on(self) -> bool: ...

    def keep_in_float32(self, nodes: tuple[str, ...], model: ModelInfo, clips: Sequence[vs.VideoNode]) -> Kept: ...

    def for_call(self, model: ModelInfo, output: TensorInfo, flexible: bool, kwargs: Mapping[str, Any]) -> Any: ...

    def call_model(self, model: ModelInfo, clips: Sequence[vs.VideoNode], where: str) -> ModelInfo: ...

    def plugin_model(self, model: ModelInfo, bits: int) -> tuple[Any, ModelInfo]: ...

    def probe_spec(self, model: ModelInfo) -> ProbeSpec | None: ...

    def check_model_io(self, model: ModelInfo, tensor: TensorInfo, where: str) -> None: ...

    def check_device(self, where: str) -> None: ...

    def check_call(self, model: ModelInfo, output: TensorInfo, flexible: bool, kwargs: Mapping[str, Any],
                   where: str) -> None: ...

    def check_plugin_kwargs(self, kwargs: Mapping[str, Any], where: str) -> None: ...

    def check_before_plugin(self, plugin: Any, where: str) -> None: ...

    def on_each_device(self) -> Sequence[Any]: ...

    def frame_weights(self) -> tuple[int, ...]: ...

    def fixed_output_bits(self) -> int | None: ...


def prepare(
    clips: vs.VideoNode | Sequence[vs.VideoNode], network_path: str | os.PathLike[str],
    overlap: int | tuple[int, int] | Literal["auto"], tilesize: int | tuple[int, int] | None,
    tiles: int | tuple[int, int] | None, multiple: int | Literal["auto"] | None, output: str | int | None, where: str,
) -> tuple[list[vs.VideoNode], ModelInfo, tiling.TilePlan]:
    """The clips, the model as the plugins can read it and the tile plan, every argument checked (no backend yet)."""
    nodes = validation.clip_list(clips, where)
    path = validation.model_path(network_path, where)
    model = _readable(model_info(path), output, where)
    tensor = validation.image_input(model, where)
    validation.check_channels(model, tensor, sum(n.format.num_planes for n in nodes), where)
    validation.explain_inputs(nodes, tensor.channels, where)
    if overlap == "auto":
        overlap = validation.auto_overlap(model, tilesize is None and tiles is None, where)
    plan = tiling.plan(nodes[0].width, nodes[0].height, tilesize, overlap, tiles=tiles,
                       multiple=validation.multiple_for(model, tensor, multiple, where), model=model, where=where)
    validation.check_static_size(model, tensor, plan.tiling, where)
    if multiple is None:
        validation.check_size_multiple(model, tensor, plan.tiling, where)
    return nodes, model, plan


def run(
    self: Runnable, clips: list[vs.VideoNode], model: ModelInfo, plan: tiling.TilePlan, flexible: bool,
    kwargs: dict[str, Any],
) -> vs.VideoNode | list[vs.VideoNode]:
    """Check ``self`` against the call, build what it needs, call the plugin, and finish the output."""
    where = type(self).__name__
    self.check_model_io(model, model.input(), where)
    output = validation.check_output(model, flexible, where, half=self.takes_fp16_io)
    adapted = self.for_call(model, output, flexible, kwargs)
    if adapted != self:  # a field left for the family to choose, chosen for this call
        return run(adapted, clips, model, plan, flexible, kwargs)
    self.check_call(model, output, flexible, kwargs, where)
    validation.check_graph_limits(self.graph_limits, model, plan.tiling.tilesize, where)
    validation.check_kwargs(self.namespace, self.path_argument, kwargs, where)
    self.check_plugin_kwargs(kwargs, where)
    plugin = get_plugin(self.namespace)  # a missing plugin is reported before any engine build
    self.check_device(where)
    model = self.call_model(model, clips, where)
    backend, model = _settled(self, model, clips, sum(n.format.num_planes for n in clips), plan.tiling.tilesize,
                              where)
    computes, why = backend.effective_precision()
    if why:  # what runs on this machine, and why, once per process
        log_once(logging.INFO, ("precision", where, computes, why), "%s computes %s here: %s", where, computes, why,
                 to=logger)
    if backend is not self:  # the guard may turn fp16 off (NCNN), which changes what the plugin can take
        backend.check_call(model, output, flexible, kwargs, where)
    bits = backend.input_bits(clips, model)
    target_bits = output_bits(clips, bits)
    nodes = tiling.pad(to_float(clips, bits), plan)
    singles = backend.on_each_device()
    weights = backend.frame_weights()
    length = nodes[0].num_frames
    if len(singles) > 1 and length >= sum(weights):
        parts = split_frames(nodes, weights)
        per_device = [_plugin_outputs(s, plugin, part, model, plan, flexible, kwargs, bits)
                      for s, part in zip(singles, parts, strict=True)]
        outputs = join_frames(per_device, weights, length)
    else:  # one device (or fewer frames than one dealing cycle: the first device renders them all)
        outputs = _plugin_outputs(singles[0], plugin, nodes, model, plan, flexible, kwargs, bits)
    outputs = [tiling.crop(o, plan) for o in outputs]
    if "output_format" not in kwargs:  # a forwarded one is the user's own business
        bits_out = backend.fixed_output_bits() or target_bits  # an explicit output_format wins
        outputs = [to_float([o], bits_out)[0] for o in outputs]  # a no-op when the plugin gave those bits
    outputs = validation.label_outputs(outputs, clips)  # the plugin copied clips[0]'s colour properties
    return outputs if flexible else outputs[0]


def prebuild(self: Runnable, network_path: str | os.PathLike[str], channels: int, tilesize: int | tuple[int, int],
             input_name: str | None, cache_dir: str | os.PathLike[str] | None, bits: int | None) -> Path:
    """``Backend.prebuild``: the steps of ``run`` up to the artifact, without a clip."""
    where = type(self).__name__
    path = validation.model_path(network_path, where)
    channels = validation.channel_count(channels, MAX_CHANNELS, where)  # a numpy integer too
    shape = tiling.check_shape("tilesize", tilesize, channels, where=where)  # before anything is read or built
    model = model_info(path)
    validation.image_input(model, where)
    validation.check_graph_limits(self.graph_limits, model, shape, where)
    store = Store(cache_dir) if cache_dir is not None else None
    model = self.call_model(model, (), where)
    backend, model = _settled(self, model, (), channels, shape, where, bits, store)
    if bits is None:
        bits = backend.input_bits((), model)
    built: list[Path] = [single.prepare_network(model, channels, shape, bits=bits, input_name=input_name,
                                                cache_dir=cache_dir)
                         for single in backend.on_each_device()]  # identical devices share one artifact
    return built[0]


def _settled[R: Runnable](self: R, model: ModelInfo, clips: Sequence[vs.VideoNode], channels: int,
                          tilesize: tuple[int, int], where: str, bits: int | None = None,
                          store: Store | None = None) -> tuple[R, ModelInfo]:
    """The backend and model the plugin gets: the fp16 guard, the family's own copy, the first-use probe."""
    backend, model = apply_guard(self, model, clips, channels=channels if not clips else None)
    backend, model = backend.plugin_model(model, bits or backend.input_bits(clips, model))
    return checked(backend, model, channels, tilesize, where, store), model


def _plugin_outputs(
    self: Runnable, plugin: Any, nodes: list[vs.VideoNode], model: ModelInfo, plan: tiling.TilePlan, flexible: bool,
    kwargs: dict[str, Any], bits: int,
) -> list[vs.VideoNode]:
    """One plugin node on the backend's (one) device: its output clip, or its plane clips when ``flexible``."""
    import vapoursynth as vs

    where = type(self).__name__
    channels = sum(n.format.num_planes for n in nodes)
    network = self.prepare_network(model, channels, plan.tiling.tilesize, bits=bits)
    self.check_before_plugin(plugin, where)
    own = self.get_args(nodes)
    args: dict[str, Any] = {"clips": nodes, self.path_argument: str(network), **plan.tiling.plugin_args(), **own}
    if flexible:
        args["flexible_output_prop"] = self.flexible_output_prop
    user_set = self.user_set_args(nodes, own) | kwargs.keys()
    args.update(kwargs)
    args = select_args(self.namespace, args, user_set)
    logger.debug("core.%s.Model(%s)", self.namespace, {k: v for k, v in args.items() if k != "clips"})
    try:
        result = plugin.Model(**args)
    except vs.Error as exc:
        raise PluginError(where, self.namespace, str(exc)) from exc
    return split_planes(result, self.flexible_output_prop) if flexible else [result]


def _readable(model: ModelInfo, output: str | int | None, where: str) -> ModelInfo:
    """The model as the plugins can read it: its external data inline, one output (cached copies in the store)."""
    store = Store()
    if model.external:
        model = model_info(inline_external_data(model, store))
    chosen = validation.choose_output(model, output, where)
    if chosen is not None:
        model = model_info(single_output(model, chosen, store))
    return model
