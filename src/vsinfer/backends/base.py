"""The Backend base: a frozen description, a pure translation to plugin arguments, and the plugin call."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

from .. import plugins, sizes, tiling, validation
from ..conversion import inline_external_data, single_output
from ..errors import BackendUnavailable, ClipError, ConfigError, ModelError, NoBackendError, PluginError
from ..model import FLOAT16, ModelInfo, TensorInfo, model_info
from ..plugins import get_plugin, select_args
from ..store import Store
from ..store.files import _log_once
from .devices import device_tuple, join_frames, split_frames, weight_tuple
from .fields import check_types, require
from .first_use import ProbeSpec, checked
from .guard import Kept, apply_guard
from .plugin_io import output_bits, split_planes, to_float

if TYPE_CHECKING:
    import vapoursynth as vs

    class _Families(type):
        """For type checkers: what the package attaches to ``Backend`` (``Backend.TRT``, ``Backend.autoselect``)."""

        def __getattr__(cls, name: str) -> Any: ...
else:
    _Families = type

__all__ = ["Backend", "field_names", "variants"]

logger = logging.getLogger("vsinfer")

MAX_CHANNELS = 64
"""Most input planes an engine is built for (models take 1 .. 4; flexible inputs a few more)."""

@dataclass(frozen=True, kw_only=True)
class Backend(metaclass=_Families):
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

    builds: ClassVar[bool] = False
    """Whether ``prepare_network`` builds an artifact (an engine, a program) that ``prebuild`` can make ahead."""
    on_gpu: ClassVar[bool] = False
    """Whether this class always runs on a GPU (the "fast" preset then adds a second stream)."""

    def __post_init__(self) -> None:
        """Reject invalid values of the fields every backend shares; subclasses add their own checks."""
        where = type(self).__name__
        require(bool(self.namespace), where, "class", where, "a concrete backend (e.g. ORT_CPU, OV_CPU, TRT)")
        check_types(self)
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if "num_streams" in values:
            n = values["num_streams"]
            require(n is None or (isinstance(n, int) and n >= 1), where, "num_streams", n, "None or an int >= 1")
        if "device_id" in values:
            self._set("device_id", device_tuple(values["device_id"], where))
        if "device_weights" in values:
            self._set("device_weights", weight_tuple(values["device_weights"], len(self.device_ids()), where))
        if values.get("fp16") and values.get("bf16"):
            require(False, where, "fp16", values["fp16"], "fp16 and bf16 not both True; pick one precision")

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
        self, model: ModelInfo, channels: int, tilesize: tuple[int, int], *, bits: int, input_name: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Path:
        """The file handed to the plugin; families that build (``builds``) build or find their artifact here.

        ``bits`` is the float precision of the clips the plugin gets (the engine's IO type).
        """
        return Path(model.path)

    # -- hooks a family overrides -----------------------------------------------------------------------------
    def precision(self) -> str:
        """What the model computes in: "fp32", "fp16" or "bf16"."""
        return "fp32"

    def effective_precision(self) -> tuple[str, str]:
        """What this backend really computes in on this machine, and why when that differs from ``precision()``.

        ("fp32", ""), or e.g. ("bf16", "OpenVINO runs the f16 hint as bf16 on this CPU (AVX512-BF16, no FP16)").
        """
        return self.precision(), ""

    def float32(self) -> Backend:
        """The same backend computing in float32 (the fp16 guard's safe path and autotune's reference)."""
        return self

    def half(self) -> Backend | None:
        """The same backend in half precision, or None when it has no such setting."""
        return None

    def other_precision(self) -> Backend | None:
        """The same backend in float32 when it computes in fp16 / bf16, else in fp16 (None when it cannot)."""
        if self.precision() != "fp32":
            exact = self.float32()
            return exact if exact != self else None
        return self.half()

    def guard_on(self) -> bool:
        """Whether the fp16 guard checks this backend: it computes (part of) the model in float16 and it is on."""
        return False

    def keep_in_float32(self, nodes: tuple[str, ...], model: ModelInfo, clips: Sequence[vs.VideoNode]) -> Kept:
        """Run ``model`` so that ``nodes`` (they overflow float16) compute in float32; by default all of it."""
        return Kept(self.float32(), model, f"{type(self).__name__} has no node block list: it runs in float32",
                    logging.WARNING)

    def for_call(self, model: ModelInfo, output: TensorInfo, flexible: bool, kwargs: Mapping[str, Any]) -> Backend:
        """The backend for this call, before any check: by default this one.

        A family that leaves a field open (NCNN's precision "by device") settles it here for this model and call;
        the backend returned must return itself from ``for_call``.
        """
        return self

    def plugin_model(self, model: ModelInfo, bits: int) -> tuple[Backend, ModelInfo]:
        """The backend and model the plugin gets, after the fp16 guard: by default these.

        A family whose plugin cannot convert some model itself converts it here and returns the backend that runs
        the converted copy as it is (``bits``: the float bits of the clips it gets).
        """
        return self, model

    def probe_spec(self, model: ModelInfo) -> ProbeSpec | None:
        """A first use of this configuration that could kill the process: run it in a child process first.

        None (the default) when nothing is known to crash the plugin; a family where a crash has been seen returns
        what the child runs (``vsinfer.backends.first_use``), on this backend's one device (``on_each_device``).
        """
        return None

    def check_device(self, where: str) -> None:
        """Refuse a device this machine lacks (read from the plugin's query functions, never ``Model``)."""

    def check_call(self, model: ModelInfo, output: TensorInfo, flexible: bool, kwargs: Mapping[str, Any],
                   where: str) -> None:
        """Refuse what this family's plugin cannot take for this model and call (e.g. what would crash it)."""

    def check_plugin_kwargs(self, kwargs: Mapping[str, Any], where: str) -> None:
        """Check the values of forwarded plugin arguments only this family knows (providers, devices)."""

    @classmethod
    def tune_variants(cls, device_id: int = 0) -> list[Backend]:
        """Autotune's first candidates of this class: its default first, then other stream counts."""
        base: dict[str, Any] = {"device_id": device_id} if "device_id" in field_names(cls) else {}
        if "num_streams" not in field_names(cls):
            return [cls(**base)]
        return variants(cls, ({**base, "num_streams": s} for s in (1, 2)))

    @classmethod
    def tuning_skip(cls, device_id: int = 0) -> str | None:
        """Why autotune leaves this class out here although autoselect could offer it (None: it is timed)."""
        return None

    @classmethod
    def preset_fields(cls, name: str) -> dict[str, Any]:
        """The fields preset ``name`` sets on this class ("fast", "exact"; "default" sets none)."""
        if name == "fast":
            return {"fp16": True, "bf16": False} | ({"num_streams": 2} if cls.on_gpu else {})
        if name == "exact":
            return {"fp16": False, "bf16": False, "tf32": False}
        return {}

    # -- run -------------------------------------------------------------------------------------------
    @overload
    def inference(
        self,
        clips: vs.VideoNode | Sequence[vs.VideoNode],
        network_path: str | os.PathLike[str],
        /,
        overlap: int | tuple[int, int] | Literal["auto"] = (0, 0),
        tilesize: int | tuple[int, int] | None = None,
        *,
        flexible: Literal[False] = False,
        tiles: int | tuple[int, int] | None = None,
        multiple: int | Literal["auto"] | None = None,
        fallback: Backend | Sequence[Backend] | None = None,
        output: str | int | None = None,
        **kwargs: Any,
    ) -> vs.VideoNode: ...

    @overload
    def inference(
        self,
        clips: vs.VideoNode | Sequence[vs.VideoNode],
        network_path: str | os.PathLike[str],
        /,
        overlap: int | tuple[int, int] | Literal["auto"] = (0, 0),
        tilesize: int | tuple[int, int] | None = None,
        *,
        flexible: Literal[True],
        tiles: int | tuple[int, int] | None = None,
        multiple: int | Literal["auto"] | None = None,
        fallback: Backend | Sequence[Backend] | None = None,
        output: str | int | None = None,
        **kwargs: Any,
    ) -> list[vs.VideoNode]: ...

    def inference(
        self,
        clips: vs.VideoNode | Sequence[vs.VideoNode],
        network_path: str | os.PathLike[str],
        /,
        overlap: int | tuple[int, int] | Literal["auto"] = (0, 0),
        tilesize: int | tuple[int, int] | None = None,
        *,
        flexible: bool = False,
        tiles: int | tuple[int, int] | None = None,
        multiple: int | Literal["auto"] | None = None,
        fallback: Backend | Sequence[Backend] | None = None,
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
        nodes = validation.clip_list(clips, where)
        path = validation.model_path(network_path, where)
        model = _readable(model_info(path), output, where)
        tensor = validation.image_input(model, where)
        _check_channels(model, tensor, sum(n.format.num_planes for n in nodes), where)
        validation.explain_inputs(nodes, tensor.channels, where)
        if overlap == "auto":
            overlap = _auto_overlap(model, tilesize is None and tiles is None, where)
        plan = tiling.plan(nodes[0].width, nodes[0].height, tilesize, overlap, tiles=tiles,
                           multiple=_multiple_for(model, tensor, multiple, where), model=model, where=where)
        _check_static_size(model, tensor, plan.tiling, where)
        if multiple is None:
            _check_size_multiple(model, tensor, plan.tiling, where)
        chain = [self, *_as_chain(fallback)]
        failures: list[BackendUnavailable] = []
        for i, backend in enumerate(chain):
            try:
                given = kwargs if len(chain) == 1 else _kwargs_for(backend, kwargs, chain)
                return backend._run(nodes, model, plan, flexible, given)
            except BackendUnavailable as exc:
                if isinstance(exc, PluginError) and not _cannot_run_here(exc):
                    raise  # the plugin refused this configuration: the next backend would only hide the mistake
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
        where = type(self).__name__
        self._check_model(model, model.input(), where)
        output = validation.check_output(model, flexible, where, half=self.takes_fp16_io)
        adapted = self.for_call(model, output, flexible, kwargs)
        if adapted != self:  # a field left for the family to choose, chosen for this call
            return adapted._run(clips, model, plan, flexible, kwargs)
        self.check_call(model, output, flexible, kwargs, where)
        validation.check_graph_limits(getattr(self, "graph_limits", ()), model, plan.tiling.tilesize, where)
        validation.check_kwargs(self.namespace, self.path_argument, kwargs, where)
        self.check_plugin_kwargs(kwargs, where)
        plugin = get_plugin(self.namespace)  # a missing plugin is reported before any engine build
        self.check_device(where)
        backend, model = apply_guard(self, model, clips)
        backend, model = backend.plugin_model(model, backend.input_bits(clips, model))
        backend = checked(backend, model, sum(n.format.num_planes for n in clips), plan.tiling.tilesize, where)
        computes, why = backend.effective_precision()
        if why:  # what runs on this machine, and why, once per process
            _log_once(logging.INFO, ("precision", where, computes, why), "%s computes %s here: %s", where, computes,
                      why, to=logger)
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
            per_device = [s._plugin_outputs(plugin, part, model, plan, flexible, kwargs, bits)
                          for s, part in zip(singles, parts, strict=True)]
            outputs = join_frames(per_device, weights, length)
        else:  # one device (or fewer frames than one dealing cycle: the first device renders them all)
            outputs = singles[0]._plugin_outputs(plugin, nodes, model, plan, flexible, kwargs, bits)
        outputs = [tiling.crop(o, plan) for o in outputs]
        if "output_format" not in kwargs:  # a forwarded one is the user's own business
            bits_out = backend.fixed_output_bits() or target_bits  # an explicit output_format wins
            outputs = [to_float([o], bits_out)[0] for o in outputs]  # a no-op when the plugin gave those bits
        outputs = validation.label_outputs(outputs, clips)  # the plugin copied clips[0]'s colour properties
        return outputs if flexible else outputs[0]

    def _plugin_outputs(
        self, plugin: Any, nodes: list[vs.VideoNode], model: ModelInfo, plan: tiling.TilePlan, flexible: bool,
        kwargs: dict[str, Any], bits: int,
    ) -> list[vs.VideoNode]:
        """One plugin node on this backend's (one) device: its output clip, or its plane clips when ``flexible``."""
        import vapoursynth as vs

        where = type(self).__name__
        channels = sum(n.format.num_planes for n in nodes)
        network = self.prepare_network(model, channels, plan.tiling.tilesize, bits=bits)
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

    # -- several devices ----------------------------------------------------------------------------------------
    def device_ids(self) -> tuple[int, ...]:
        """The devices this backend runs on, in order; () for a family without device ids (``device_id``)."""
        value = getattr(self, "device_id", None)
        if value is None:
            return ()
        return value if isinstance(value, tuple) else (value,)

    def on_each_device(self) -> list[Backend]:
        """The same backend once per device it runs on (itself on one device, or without device ids)."""
        ids = self.device_ids()
        if len(ids) <= 1:
            return [self]
        return [dataclasses.replace(self, device_id=i, device_weights=None) for i in ids]  # type: ignore[call-arg]

    def frame_weights(self) -> tuple[int, ...]:
        """Frames per dealing cycle for each device (``device_weights``, else one each)."""
        weights: tuple[int, ...] | None = getattr(self, "device_weights", None)
        return weights or (1,) * max(1, len(self.device_ids()))

    @classmethod
    def devices_present(cls) -> tuple[str, ...]:
        """The names of the devices this class can use here, by id (what ``DeviceProperties`` lists)."""
        return plugins.device_names(cls.namespace) if plugins.is_loaded(cls.namespace) else ()

    def _check_model(self, model: ModelInfo, tensor: TensorInfo, where: str) -> None:
        """Model facts this backend cannot take (float16 IO on ov / ncnn)."""
        if tensor.elem_type == FLOAT16 and not self.takes_fp16_io:
            raise ModelError(
                f"input {tensor.name!r} type",
                tensor.type_name,
                f"float32: {where} cannot take float16 model inputs (ORT_* and TRT can)",
                where=model.path,
            )

    def fixed_output_bits(self) -> int | None:
        """The float bits the user fixed for the output clip (``output_format``); None: the input's precision."""
        return None

    # -- build ahead -------------------------------------------------------------------------------------------
    def prebuild(
        self,
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
        where = type(self).__name__
        path = validation.model_path(network_path, where)
        channels = validation.channel_count(channels, MAX_CHANNELS, where)  # a numpy integer too
        shape = tiling.check_shape("tilesize", tilesize, channels, where=where)  # before anything is read or built
        model = model_info(path)
        validation.image_input(model, where)
        validation.check_graph_limits(getattr(self, "graph_limits", ()), model, shape, where)
        backend, model = apply_guard(self, model, (), channels=channels)
        backend, model = backend.plugin_model(model, bits or backend.input_bits((), model))
        backend = checked(backend, model, channels, shape, where, Store(cache_dir) if cache_dir is not None else None)
        if bits is None:
            bits = backend.input_bits((), model)
        built = [single.prepare_network(model, channels, shape, bits=bits,
                                        input_name=input_name, cache_dir=cache_dir)
                 for single in backend.on_each_device()]  # identical devices share one artifact
        return built[0]


def field_names(cls: type) -> set[str]:
    """The init fields of the dataclass ``cls``."""
    return {f.name for f in fields(cls) if f.init}


def variants(cls: type[Backend], values: Iterable[Mapping[str, Any]]) -> list[Backend]:
    """Instances of ``cls`` for each set of field values, without duplicates; values it refuses are skipped."""
    out: list[Backend] = []
    for kw in values:
        try:
            backend = cls(**kw)
        except (ConfigError, TypeError) as exc:  # a field this class (or this version) does not have
            logger.debug("skipping %s(%s): %s", cls.__name__, kw, exc)
            continue
        if backend not in out:
            out.append(backend)
    return out


def _readable(model: ModelInfo, output: str | int | None, where: str) -> ModelInfo:
    """The model as the plugins can read it: its external data inline, one output (cached copies in the store)."""
    store = Store()
    if model.external:
        model = model_info(inline_external_data(model, store))
    chosen = validation.choose_output(model, output, where)
    if chosen is not None:
        model = model_info(single_output(model, chosen, store))
    return model


def _check_channels(model: ModelInfo, tensor: TensorInfo, channels: int, where: str) -> None:
    if tensor.channels is not None and tensor.channels != channels:
        raise ClipError(
            "clips",
            f"{channels} planes in total",
            f"{tensor.channels} planes, the channels of input {tensor.name!r} of {model.path}",
            where=where,
        )


_MACHINE_WORDS = ("cuda", "driver", "device", "gpu", "vulkan", "opencl", "rocm", "cannot open", "no such file",
                  "out of memory", "insufficient", "not available", "unavailable", "failed to load", "library")
"""Words of a plugin error that says this machine cannot run the backend (no GPU, no driver, no library), as opposed
to a configuration the plugin refuses: only the former moves ``inference(fallback=...)`` on."""


def _cannot_run_here(exc: PluginError) -> bool:
    """Whether the plugin's refusal is about this machine (then the fallback chain moves on)."""
    text = str(exc).lower()
    return any(word in text for word in _MACHINE_WORDS)


def _kwargs_for(backend: Backend, kwargs: dict[str, Any], chain: Sequence[Backend]) -> dict[str, Any]:
    """The forwarded ``kwargs`` that ``backend``'s plugin takes.

    A name no loaded plugin of the chain takes stays (its check then refuses it as a typo), and so do all of them
    when the plugin is not loaded (the backend is then unavailable).
    """
    if not kwargs:
        return kwargs
    taken: dict[str, set[str]] = {}
    for other in chain:
        if other.namespace not in taken and plugins.is_loaded(other.namespace):
            taken[other.namespace] = set(plugins.accepted_args(other.namespace))
    own = taken.get(backend.namespace)
    if own is None:
        return kwargs
    known = set().union(*taken.values())
    kept = {k: v for k, v in kwargs.items() if k in own or k not in known}
    if len(kept) < len(kwargs):
        logger.debug("%s: core.%s takes no %s; not passed to it", type(backend).__name__, backend.namespace,
                     ", ".join(sorted(kwargs.keys() - kept.keys())))
    return kept


def _as_chain(fallback: Backend | Sequence[Backend] | None) -> list[Backend]:
    if fallback is None:
        return []
    chain = [fallback] if isinstance(fallback, Backend) else list(fallback) if isinstance(fallback, Sequence) else None
    if chain is None or not all(isinstance(b, Backend) for b in chain):
        raise ConfigError("fallback", fallback, "a Backend instance or a sequence of them, e.g. Backend.ORT_CPU()",
                          where="inference")
    return chain


def _multiple_for(model: ModelInfo, tensor: TensorInfo, multiple: object, where: str) -> Any:
    """``multiple`` as ``tiling.plan`` takes it: "auto" becomes the model's multiple (None when none is found)."""
    if multiple != "auto":
        return multiple  # None, an int, or a wrong value that tiling.plan names
    if tensor.spatial != (None, None):
        return None  # a static size: checked against the tiles below
    found = sizes.model_multiple(model)
    if found.multiple is None:
        logger.warning("%s: multiple='auto' found no size multiple for %s (%s); padding nothing", where,
                       model.path, found.reason)
    else:
        logger.debug("%s: multiple='auto' is %d for %s", where, found.multiple, model.path)
    return found.multiple


def _auto_overlap(model: ModelInfo, whole_frame: bool, where: str) -> tuple[int, int]:
    """``overlap="auto"``: the overlap that makes tiles give the whole frame's picture (none for the whole frame)."""
    if whole_frame:
        return (0, 0)
    context = sizes.model_context(model)
    if context.overlap is None:
        raise ModelError("overlap", "auto", f"a model whose context can be measured; for {model.path}: "
                         f"{context.reason}; run the whole frame (tilesize=None) or give overlap= in pixels "
                         "(tiles then differ from the whole frame near their edges)", where=where)
    logger.debug("%s: overlap='auto' is %d for %s (context %d pixels at %dx)", where, context.overlap, model.path,
                 context.radius, context.scale)
    return (context.overlap, context.overlap)


def _check_size_multiple(model: ModelInfo, tensor: TensorInfo, tiles: tiling.Tiling, where: str) -> None:
    """Refuse a tile size the model cannot take (found once per model by ``vsinfer.sizes``), naming the multiple."""
    tw, th = tiles.tilesize
    if tensor.spatial != (None, None) or (tw % sizes.MULTIPLES[-1] == 0 and th % sizes.MULTIPLES[-1] == 0):
        return  # a static size is checked on its own; every multiple tried divides 64
    found = sizes.model_multiple(model)
    m = found.multiple
    if m is None or (tw % m == 0 and th % m == 0):
        return
    name = "frame size (tilesize=None)" if tiles.whole_frame else "tilesize"
    also = "" if tiles.whole_frame else f", or a tilesize that is a multiple of {m}"
    raise ModelError(
        name, (tw, th),
        f"sizes that are multiples of {m}: {model.path} takes no other (onnxruntime float32 refuses "
        f"{found.reason}); pass multiple={m} or multiple='auto' to pad the frame and crop the output back{also}",
        where=where,
    )


def _check_static_size(model: ModelInfo, tensor: TensorInfo, tiling: tiling.Tiling, where: str) -> None:
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
