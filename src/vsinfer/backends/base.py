"""The Backend base: a frozen description, a pure translation to plugin arguments, and the hooks a family sets.

Running it (``inference``, ``prebuild``) is ``vsinfer.backends.inference``, mixed in; the steps are
``vsinfer.backends.call`` and the fallback chain ``vsinfer.backends.chain``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .. import plugins
from ..errors import ConfigError, ModelError
from ..model import FLOAT16, ModelInfo, TensorInfo
from ..validation import GraphLimit
from .devices import device_tuple, weight_tuple
from .fields import check_types, require
from .first_use import ProbeSpec
from .guard import Kept
from .inference import Runs

if TYPE_CHECKING:
    import vapoursynth as vs

    class _Families(type):
        """For type checkers: what the package attaches to ``Backend`` (``Backend.TRT``, ``Backend.autoselect``)."""

        def __getattr__(cls, name: str) -> Any: ...
else:
    _Families = type

__all__ = ["Backend", "field_names", "variants"]

logger = logging.getLogger("vsinfer")


@dataclass(frozen=True, kw_only=True)
class Backend(Runs, metaclass=_Families):
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
    graph_limits: ClassVar[tuple[GraphLimit, ...]] = ()
    """What this family's runtime refuses in a graph, as data (``vsinfer.validation.check_graph_limits``)."""

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

    def call_model(self, model: ModelInfo, clips: Sequence[vs.VideoNode], where: str) -> ModelInfo:
        """The model this call runs instead of ``model``: by default ``model``.

        A family that makes a copy for the call's clips (``int8``'s quantized copy) returns it; ``clips`` is empty
        for ``prebuild``.
        """
        return model

    def quality_bound(self) -> float | None:
        """A PSNR bound (dB) this configuration's output was already judged by (``int8``), else None.

        Autotune then takes that judgement instead of its float32 tolerance.
        """
        return None

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

    def check_before_plugin(self, plugin: Any, where: str) -> None:
        """Refuse, once the artifact is built and just before ``plugin.Model``, what only then can be checked."""

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

    def check_model_io(self, model: ModelInfo, tensor: TensorInfo, where: str) -> None:
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
