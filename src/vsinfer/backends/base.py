"""The Backend base: a frozen description, a pure translation to plugin arguments, and the plugin call."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

from .. import inputs, tiling
from ..errors import BackendUnavailable, ClipError, ConfigError, ModelError, NoBackendError, PluginError
from ..fp16 import apply_guard
from ..model import FLOAT16, ModelInfo, TensorInfo, model_info
from ..plugins import get_plugin, select_args
from ..tiling import Tiling
from .fields import check, check_types

if TYPE_CHECKING:
    import vapoursynth as vs

    from ..select import Decision
    from . import migx as _migx
    from . import ncnn as _ncnn
    from . import ort as _ort
    from . import ov as _ov
    from . import trt as _trt

__all__ = [
    "Backend", "as_nodes", "auto_float_bits", "clip_float_bits", "compact", "log_level_index",
    "output_bits",
]

logger = logging.getLogger("vsinfer")


def compact(args: dict[str, Any]) -> dict[str, Any]:
    """``args`` without the None values: an unset option is left to the plugin's own default."""
    return {k: v for k, v in args.items() if v is not None}


def log_level_index() -> int:
    """The ``vsinfer`` logger's effective level as 0 (DEBUG or lower) .. 4 (CRITICAL or higher)."""
    level = logger.getEffectiveLevel()
    thresholds = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
    return next((i for i, t in enumerate(thresholds) if level <= t), 4)


def as_nodes(clips: vs.VideoNode | Sequence[vs.VideoNode]) -> list[vs.VideoNode]:
    """``clips`` as a list (a lone clip becomes a one-element list)."""
    import vapoursynth as vs

    return [clips] if isinstance(clips, vs.VideoNode) else list(clips)


def auto_float_bits(nodes: Sequence[vs.VideoNode], model: ModelInfo | None, fp16: bool) -> int:
    """Float bits for plugins that convert the model themselves (ort, ncnn).

    An fp16-IO model needs half floats; float32 clips stay as they are; integer clips become half floats
    when the plugin runs the model in fp16 (it then takes fp16 input), else single floats.
    """
    if model is not None and model.fp16_io:
        return 16
    float_bits = clip_float_bits(nodes)
    if float_bits is not None:
        return float_bits if fp16 or float_bits == 32 else 32  # fp32 runs take single floats
    return 16 if fp16 else 32


def clip_float_bits(nodes: Sequence[vs.VideoNode]) -> int | None:
    """16 when every clip is half float, 32 when every clip is float and one is single; None with integer clips."""
    import vapoursynth as vs

    if not all(n.format.sample_type == vs.FLOAT for n in nodes):
        return None
    return 16 if all(n.format.bits_per_sample == 16 for n in nodes) else 32


def output_bits(clips: Sequence[vs.VideoNode], converted_bits: int) -> int:
    """The float bits of the output: those of the clips given, or, for integer clips, those they were converted to.

    DESIGN principle 11: float32 in, float32 out; half in, half out; on every backend.
    """
    return clip_float_bits(clips) or converted_bits


@dataclass(frozen=True, kw_only=True)
class Backend:
    """Base of every backend: describes how to run a model; ``inference`` runs it.

    Subclasses are frozen, keyword-only dataclasses. Equal descriptions compare and hash equal, whatever
    order the user gave collections in.
    """

    namespace: ClassVar[str] = ""
    """The vs-mlrt plugin namespace (``core.<namespace>``)."""
    path_argument: ClassVar[str] = "network_path"
    """Name of the plugin's model path argument."""
    flexible_output_prop: ClassVar[str] = "vsinferPlane"
    """Frame property prefix for ``flexible=True`` output planes."""
    takes_fp16_io: ClassVar[bool] = True
    """Whether a model with float16 inputs can be given to this backend."""

    if TYPE_CHECKING:
        TRT: ClassVar[type[_trt.TRT]]
        TRT_RTX: ClassVar[type[_trt.TRT_RTX]]
        ORT: ClassVar[type[_ort.ORT]]
        ORT_CPU: ClassVar[type[_ort.ORT_CPU]]
        ORT_CUDA: ClassVar[type[_ort.ORT_CUDA]]
        ORT_DML: ClassVar[type[_ort.ORT_DML]]
        ORT_COREML: ClassVar[type[_ort.ORT_COREML]]
        OV: ClassVar[type[_ov.OV]]
        OV_CPU: ClassVar[type[_ov.OV_CPU]]
        OV_GPU: ClassVar[type[_ov.OV_GPU]]
        OV_NPU: ClassVar[type[_ov.OV_NPU]]
        NCNN: ClassVar[type[_ncnn.NCNN]]
        NCNN_VK: ClassVar[type[_ncnn.NCNN]]
        MIGX: ClassVar[type[_migx.MIGX]]

    def __post_init__(self) -> None:
        """Reject invalid values of the fields every backend shares; subclasses add their own checks."""
        where = type(self).__name__
        check(bool(self.namespace), where, "class", where, "a concrete backend (e.g. ORT_CPU, OV_CPU, TRT)")
        check_types(self)
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if "num_streams" in values:
            n = values["num_streams"]
            check(n is None or (isinstance(n, int) and n >= 1), where, "num_streams", n, "None or an int >= 1")
        if "device_id" in values:
            d = values["device_id"]
            check(isinstance(d, int) and d >= 0, where, "device_id", d, "an int >= 0")
        if values.get("fp16") and values.get("bf16"):
            check(False, where, "fp16", values["fp16"], "fp16 and bf16 not both True; pick one precision")

    def _set(self, name: str, value: Any) -> None:
        """Normalize a field in ``__post_init__`` (the dataclass is frozen)."""
        object.__setattr__(self, name, value)

    # -- translate -------------------------------------------------------------------------------------
    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """The keyword arguments this backend's fields give ``core.<namespace>.Model`` for ``clips``.

        Pure: it renders nothing and does not touch the plugin. ``inference`` adds the clips, the model
        path, tiling and ``**kwargs``, and drops defaults the loaded plugin does not know.
        """
        return {}

    def user_set_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode], own: dict[str, Any]) -> set[str]:
        """Names in ``own`` (this backend's ``get_args(clips)``) whose value a default instance would not pass."""
        default = type(self)().get_args(clips)
        return {k for k, v in own.items() if k not in default or default[k] != v}

    def input_bits(self, clips: Sequence[vs.VideoNode], model: ModelInfo) -> int:
        """Bits of the float format the clips are converted to (16 or 32) before the plugin sees them."""
        return 16 if model.fp16_io else 32

    def prepare_network(
        self, network_path: Path, model: ModelInfo, channels: int, tiling: Tiling, *, bits: int
    ) -> Path:
        """The file handed to the plugin; engine-based backends build or find their engine here.

        ``bits`` is the float precision of the clips the plugin gets (the engine's IO type).
        """
        return network_path

    # -- run -------------------------------------------------------------------------------------------
    @overload
    def inference(
        self,
        clips: vs.VideoNode | Sequence[vs.VideoNode],
        network_path: str | os.PathLike[str],
        /,
        overlap: int | tuple[int, int] = (0, 0),
        tilesize: int | tuple[int, int] | None = None,
        *,
        flexible: Literal[False] = False,
        tiles: int | tuple[int, int] | None = None,
        multiple: int | None = None,
        fallback: Backend | Sequence[Backend] | None = None,
        **kwargs: Any,
    ) -> vs.VideoNode: ...

    @overload
    def inference(
        self,
        clips: vs.VideoNode | Sequence[vs.VideoNode],
        network_path: str | os.PathLike[str],
        /,
        overlap: int | tuple[int, int] = (0, 0),
        tilesize: int | tuple[int, int] | None = None,
        *,
        flexible: Literal[True],
        tiles: int | tuple[int, int] | None = None,
        multiple: int | None = None,
        fallback: Backend | Sequence[Backend] | None = None,
        **kwargs: Any,
    ) -> list[vs.VideoNode]: ...

    def inference(
        self,
        clips: vs.VideoNode | Sequence[vs.VideoNode],
        network_path: str | os.PathLike[str],
        /,
        overlap: int | tuple[int, int] = (0, 0),
        tilesize: int | tuple[int, int] | None = None,
        *,
        flexible: bool = False,
        tiles: int | tuple[int, int] | None = None,
        multiple: int | None = None,
        fallback: Backend | Sequence[Backend] | None = None,
        **kwargs: Any,
    ) -> vs.VideoNode | list[vs.VideoNode]:
        """Run the ONNX model at ``network_path`` on ``clips``.

        Args:
            clips: One clip or several; their planes, in order, are the model's input channels.
            network_path: The ONNX model.
            overlap: Pixels of context each tile shares with its neighbours (int or (x, y)). The plugins crop it
                from the model's output at inner tile edges, so a 2x model needs twice its receptive radius.
            tilesize: Tile size (int or (w, h)); None runs the whole frame as one tile.
            flexible: Return one GRAY clip per output plane instead of one clip.
            tiles: Split the frame into this many tiles (int or (nx, ny)) instead of giving ``tilesize``.
            multiple: Pad the frame (and tiles) to a multiple of this by edge replication; the output is cropped
                back using the model's scale factor.
            fallback: Backends tried in order when this one cannot be used here (plugin missing, engine build
                failed, device missing, the plugin refused the call); each fallback is logged as a warning.
                Errors in the clips, the model or the tiling are never masked.
            **kwargs: Passed to the plugin unchanged; they win over the backend's own arguments.

        Returns:
            The output clip, or the list of plane clips when ``flexible`` is True. With ``output_format`` unset,
            the output has the float precision of the input clips (integer clips: the float type they were
            converted to).

        """
        where = type(self).__name__
        nodes = inputs.clip_list(clips, where)
        path = inputs.model_path(network_path, where)
        model = model_info(path)
        tensor = inputs.image_input(model, where)
        _check_channels(model, tensor, sum(n.format.num_planes for n in nodes), where)
        plan = tiling.plan(nodes[0].width, nodes[0].height, tilesize, overlap, tiles=tiles, multiple=multiple,
                           model=model, where=where)
        _check_static_size(model, tensor, plan.tiling, where)
        chain = [self, *_as_chain(fallback)]
        failures: list[BackendUnavailable] = []
        for i, backend in enumerate(chain):
            try:
                return backend._run(nodes, model, plan, flexible, kwargs)
            except BackendUnavailable as exc:
                failures.append(exc)
                if i + 1 == len(chain):
                    break
                logger.warning("%s cannot be used here (%s); falling back to %s",
                               type(backend).__name__, exc, type(chain[i + 1]).__name__)
        if len(failures) == 1:
            raise failures[0]
        causes = "; ".join(f"{type(b).__name__}: {e}" for b, e in zip(chain, failures, strict=True))
        raise NoBackendError(f"no backend of the fallback chain could run {model.path}: {causes}") from failures[-1]

    def _run(
        self, clips: list[vs.VideoNode], model: ModelInfo, plan: tiling.TilePlan, flexible: bool,
        kwargs: dict[str, Any],
    ) -> vs.VideoNode | list[vs.VideoNode]:
        """Check this backend against the call, build what it needs, call the plugin, and finish the output."""
        import vapoursynth as vs

        where = type(self).__name__
        self._check_model(model, model.input(), where)
        inputs.check_output(self, model, flexible, where, kwargs)
        inputs.check_kwargs(self, kwargs, where)
        plugin = get_plugin(self.namespace)  # a missing plugin is reported before any engine build
        inputs.check_device(self, where)
        inputs.check_block_list(self, model, where)
        backend, model = apply_guard(self, model, clips)
        if backend is not self:  # the guard may turn fp16 off (NCNN), which changes what the plugin can take
            inputs.check_output(backend, model, flexible, where, kwargs)
        bits = backend.input_bits(clips, model)
        target_bits = output_bits(clips, bits)
        nodes = tiling.pad(_to_float(clips, bits), plan)
        channels = sum(n.format.num_planes for n in nodes)
        network = backend.prepare_network(Path(model.path), model, channels, plan.tiling, bits=bits)

        own = backend.get_args(nodes)
        args: dict[str, Any] = {"clips": nodes, self.path_argument: str(network), **plan.tiling.plugin_args(), **own}
        if flexible:
            args["flexible_output_prop"] = self.flexible_output_prop
        user_set = backend.user_set_args(nodes, own) | kwargs.keys()
        args.update(kwargs)
        args = select_args(self.namespace, args, user_set)
        logger.debug("core.%s.Model(%s)", self.namespace, {k: v for k, v in args.items() if k != "clips"})
        try:
            result = plugin.Model(**args)
        except vs.Error as exc:
            raise PluginError(where, self.namespace, str(exc)) from exc
        outputs = _split_planes(result, self.flexible_output_prop) if flexible else [result]
        outputs = [tiling.crop(o, plan) for o in outputs]
        if "output_format" not in kwargs and getattr(backend, "output_format", None) is None:  # explicit one wins
            outputs = [_to_float([o], target_bits)[0] for o in outputs]  # a no-op when the plugin gave those bits
        return outputs if flexible else outputs[0]

    def _check_model(self, model: ModelInfo, tensor: TensorInfo, where: str) -> None:
        """Model facts this backend cannot take (float16 IO on ov / ncnn)."""
        if tensor.elem_type == FLOAT16 and not self.takes_fp16_io:
            raise ModelError(
                f"input {tensor.name!r} type",
                tensor.type_name,
                f"float32: {where} cannot take float16 model inputs (ORT_* and TRT can)",
                where=model.path,
            )

    @staticmethod
    def autoselect(device_id: int = 0, **kwargs: Any) -> Backend:
        """The fastest backend usable on this machine for GPU ``device_id``; see ``vsinfer.select``.

        ``kwargs`` go to the chosen class when it has such fields and are dropped otherwise (logged at
        debug); pass ``strict=True`` to make a field the chosen class lacks an error instead.
        """
        from ..select import autoselect

        return autoselect(device_id, **kwargs)

    @staticmethod
    def explain_autoselect(device_id: int = 0) -> Decision:
        """The decision ``autoselect`` makes: the vendor found and why each candidate was taken or passed."""
        from ..select import explain_autoselect

        return explain_autoselect(device_id)

    @staticmethod
    def autotune(
        network_path: str | os.PathLike[str],
        clips: vs.VideoNode | Sequence[vs.VideoNode],
        *,
        candidates: Sequence[Backend] | None = None,
        **kwargs: Any,
    ) -> Backend:
        """The fastest backend for this model and clip on this machine, timed once and remembered in the store.

        See ``vsinfer.tune.autotune`` for the candidates tried and the keyword arguments.
        """
        from ..tune import autotune

        return autotune(network_path, clips, candidates=candidates, **kwargs)

    @staticmethod
    def preset(name: str, device_id: int = 0) -> Backend:
        """A named intent resolved on this machine: "fast", "exact" (see ``vsinfer.presets``)."""
        from ..presets import preset

        return preset(name, device_id)


def _check_channels(model: ModelInfo, tensor: TensorInfo, channels: int, where: str) -> None:
    if tensor.channels is not None and tensor.channels != channels:
        raise ClipError(
            "clips",
            f"{channels} planes in total",
            f"{tensor.channels} planes, the channels of input {tensor.name!r} of {model.path}",
            where=where,
        )


def _as_chain(fallback: Backend | Sequence[Backend] | None) -> list[Backend]:
    if fallback is None:
        return []
    chain = [fallback] if isinstance(fallback, Backend) else list(fallback) if isinstance(fallback, Sequence) else None
    if chain is None or not all(isinstance(b, Backend) for b in chain):
        raise ConfigError("fallback", fallback, "a Backend instance or a sequence of them, e.g. Backend.ORT_CPU()",
                          where="inference")
    return chain


def _check_static_size(model: ModelInfo, tensor: TensorInfo, tiling: Tiling, where: str) -> None:
    width, height = tensor.spatial
    tw, th = tiling.tilesize
    if (width is not None and width != tw) or (height is not None and height != th):
        name = "frame size (tilesize=None)" if tiling.whole_frame else "tilesize"
        raise ModelError(
            name,
            (tw, th),
            f"({width}, {height}), the static size of input {tensor.name!r} of {model.path}; "
            f"pass tilesize=({width}, {height})",
            where=where,
        )


def _to_float(nodes: list[vs.VideoNode], bits: int) -> list[vs.VideoNode]:
    import vapoursynth as vs

    if all(n.format.sample_type == vs.FLOAT and n.format.bits_per_sample == bits for n in nodes):
        return nodes
    from vstools import depth

    return [depth(n, bits, sample_type=vs.FLOAT) for n in nodes]


def _split_planes(result: Any, prop: str) -> list[vs.VideoNode]:
    import vapoursynth as vs

    clip, count = result["clip"], int(result["num_planes"])
    return [vs.core.std.PropToClip(clip, prop=f"{prop}{i}") for i in range(count)]
