"""OpenVINO backends (``core.ov``): CPU, GPU, NPU."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ...conversion import check_block_list
from ...device import cpu
from ...model import ModelInfo, TensorInfo
from ...store.inventory import Kind
from ...validation import GraphLimit
from ..base import Backend, field_names, variants
from ..fields import FrozenMapping, check_types, frozen_mapping, name_set, require
from ..guard import Kept, converted
from ..plugin_io import compact
from ..registry import CPU, Environment, Offer, all_of, plugin_loaded
from .checks import OV_GRAPH_LIMITS, check_ov_config, check_ov_config_function, check_ov_device, device_list

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["OV", "OV_CPU", "OV_GPU", "OV_NPU", "OVConfig"]

DEFAULT_DEVICE = "CPU"
"""``OV``'s device when none is given. Not "AUTO": the PyPI vapoursynth-mlrt-ov wheel ships no AUTO plugin, so
``Backend.OV()`` would fail there; "CPU" runs with every OpenVINO build (pass ``device="AUTO"`` where it ships)."""

_HALF_BY_DEFAULT = ("GPU", "NPU", "AUTO")
"""Devices whose default precision is f16 (the CPU's is f32, or bf16 where the CPU has it)."""

ConfigValue = str | int | float


@dataclass(frozen=True)
class OVConfig:
    """The ``config`` callable handed to ``core.ov.Model``: returns the OpenVINO properties."""

    properties: FrozenMapping
    """OpenVINO property name -> value."""

    def __call__(self) -> dict[str, Any]:
        """The properties as a plain dict, as the plugin expects."""
        return dict(self.properties)


@dataclass(frozen=True, kw_only=True)
class OV(Backend):
    """OpenVINO on a device string: ``OV(device="AUTO")``, "AUTO:GPU,CPU", "HETERO:GPU,CPU", "MULTI:GPU,CPU".

    OV_CPU, OV_GPU and OV_NPU are the same backend for one device, with that device's precision fields. Every device
    named must be one ``core.ov.AvailableDevices()`` reports; OpenVINO chooses the precision.
    """

    namespace: ClassVar[str] = "ov"
    takes_fp16_io: ClassVar[bool] = False
    graph_limits: ClassVar[tuple[GraphLimit, ...]] = OV_GRAPH_LIMITS
    """What OpenVINO's ONNX reader refuses in a graph (``vsinfer.validation.check_graph_limits``)."""
    fixed_device: ClassVar[str | None] = None
    """The device of OV_CPU / OV_GPU / OV_NPU; None for ``OV`` itself (its ``device`` field)."""

    device: str | None = None
    """OpenVINO device string for ``OV`` (default ``DEFAULT_DEVICE``, "CPU"): "CPU", "GPU.1", "AUTO", "AUTO:GPU,CPU",
    "HETERO:GPU,CPU", "MULTI:GPU,CPU". Each device must be in ``core.ov.AvailableDevices()``, and AUTO / HETERO / MULTI
    need their OpenVINO plugins (the Linux vapoursynth-mlrt-ov 17.1 wheel ships none, which is why the default is
    "CPU", the one device every OpenVINO build has). OV_CPU / OV_GPU / OV_NPU fix their device and leave this None."""
    num_streams: int | None = None
    """Inference requests in flight (the plugin's ``num_streams``); None lets the plugin and OpenVINO decide, as
    vs-jetpack does (OpenVINO then picks its own NUM_STREAMS)."""
    custom_config: Mapping[str, ConfigValue] = field(default_factory=FrozenMapping)
    """Extra OpenVINO properties (str / int / float values); they win over the ones vsinfer sets."""
    fp16_guard: bool = True
    """Find the nodes whose values overflow float16 and keep them in float32 (see ``vsinfer.fp16``)."""
    model_cache: bool | None = None
    """OpenVINO's compiled-model cache (CACHE_DIR) in vsinfer's store (``<cache>/ov``): None turns it on for GPU and
    NPU devices, where compiling is slow, and off on the CPU, where it was measured not to help."""

    def __post_init__(self) -> None:
        """Validate the device string and freeze ``custom_config``."""
        super().__post_init__()
        where = type(self).__name__
        if self.fixed_device is not None:
            require(self.device is None, where, "device", self.device,
                  f"None: {where} runs on {self.fixed_device}; use Backend.OV(device=...) for a device string")
        else:
            require(self.device is None or (isinstance(self.device, str) and bool(device_list(self.device))), where,
                  "device", self.device, 'an OpenVINO device string such as "CPU", "AUTO" or "HETERO:GPU,CPU"')
        self._set("custom_config", frozen_mapping(where, "custom_config", self.custom_config, (str, int, float)))

    def properties(self) -> dict[str, ConfigValue]:
        """The OpenVINO properties vsinfer derives from the fields (before ``custom_config``)."""
        props: dict[str, ConfigValue] = {}
        if self.num_streams is not None:
            props["NUM_STREAMS"] = self.num_streams
        if self.uses_model_cache():
            from ...store import Store

            props["CACHE_DIR"] = str(Store().folder("ov"))
        return props

    def uses_model_cache(self) -> bool:
        """Whether OpenVINO's compiled-model cache is on for this backend."""
        if self.model_cache is not None:
            return self.model_cache
        return any(d.split(".")[0] in ("GPU", "NPU") for d in device_list(self.device_name()))

    def device_name(self) -> str:
        """The plugin's ``device`` argument."""
        return self.fixed_device or self.device or DEFAULT_DEVICE

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """Device, streams and the ``config`` callable (user keys win) of ``core.ov.Model``."""
        return compact({
            "device": self.device_name(),
            "num_streams": self.num_streams,
            "config": OVConfig(FrozenMapping(self.properties() | dict(self.custom_config))),
        })

    def input_bits(self, clips: Sequence[vs.VideoNode], model: ModelInfo) -> int:
        """The ov plugin takes float32 clips only."""
        return 32

    def devices(self) -> list[str]:
        """The device kinds this backend runs on: "OV(device='HETERO:GPU.1,CPU')" -> ["GPU", "CPU"]."""
        return [d.split(".")[0] for d in device_list(self.device_name())]

    # -- precision and the fp16 guard --
    def precision(self) -> str:
        """The precision hint in ``custom_config``, else the devices' default (f16 on GPU / NPU / AUTO)."""
        hint = self.custom_config.get("INFERENCE_PRECISION_HINT")
        if hint is not None:
            return {"f16": "fp16", "bf16": "bf16"}.get(str(hint).lower(), "fp32")
        return "fp16" if any(d in _HALF_BY_DEFAULT for d in self.devices()) else "fp32"

    def effective_precision(self) -> tuple[str, str]:
        """On a CPU, OpenVINO runs the f16 hint as bf16 where the CPU has bf16 and not fp16, else as float32."""
        asked = self.precision()
        if "CPU" not in self.devices() or asked == "fp32":
            return asked, ""
        machine = cpu()
        if asked == "fp16" and not machine.native_fp16:
            if machine.native_bf16:
                return "bf16", ("OpenVINO runs the f16 hint as bf16 on this CPU (it has bf16 but no fp16 "
                                "arithmetic; 8 mantissa bits): fp16=False gives float32")
            return "fp32", "OpenVINO runs the f16 hint in float32 on this CPU (no fp16 or bf16 arithmetic)"
        if asked == "bf16" and not machine.native_bf16:
            return "fp32", "OpenVINO runs the bf16 hint in float32 on this CPU (no bf16 arithmetic)"
        return asked, ""

    def float32(self) -> OV:
        """Precision hint f32."""
        return dataclasses.replace(self, custom_config={**self.custom_config, "INFERENCE_PRECISION_HINT": "f32"})

    def guard_on(self) -> bool:
        """fp16 runs are checked unless ``fp16_guard`` is off.

        Not on a CPU that computes the f16 hint in float32 (no fp16 or bf16 arithmetic): nothing can overflow there,
        and the guard's answer (the f32 hint) would change nothing. bf16 stays checked: its range is float32's, but
        values beyond float16's lose their absolute precision (8 mantissa bits) just as badly.
        """
        if self.precision() != "fp16" or not self.fp16_guard:
            return False
        return set(self.devices()) != {"CPU"} or self.effective_precision()[0] != "fp32"

    def keep_in_float32(self, nodes: tuple[str, ...], model: ModelInfo, clips: Sequence[vs.VideoNode]) -> Kept:
        """The converted model (the nodes in float32) with hint f32; an NPU computes in fp16 only: a warning."""
        name = type(self).__name__
        if set(self.devices()) == {"NPU"}:
            return Kept(self, model, f"{name} computes in fp16 only and its output may be wrong: use OV_CPU or "
                                     "OV_GPU", logging.WARNING)
        kept = self.float32()
        return Kept(kept, converted(model, nodes, "fp32"),
                    f"{name} keeps {len(nodes)} nodes in float32: {', '.join(nodes)}")

    # -- checks --
    def check_device(self, where: str) -> None:
        """Every device of the device string is present, and ``custom_config`` values are ones OpenVINO takes."""
        check_ov_device(self.device_name(), "device", where, self.device_index())
        check_ov_config(self.custom_config, where, self.device_name())

    def device_index(self) -> int | None:
        """The ``device_id`` field the device string is made of (OV_GPU), for error messages; else None."""
        return None

    def check_plugin_kwargs(self, kwargs: Mapping[str, Any], where: str) -> None:
        """A forwarded ``device`` names devices of this machine."""
        if "device" in kwargs:
            from ... import plugins

            check_ov_device(plugins.as_text(kwargs["device"]), "device", where)
        check_ov_config_function(kwargs.get("config"), where, kwargs.get("device", self.device_name()))

    @classmethod
    def tune_variants(cls, device_id: int = 0) -> list[Backend]:
        """OpenVINO's own stream count first (the default), then 2 and 1."""
        base: dict[str, Any] = {"device_id": device_id} if "device_id" in field_names(cls) else {}
        return variants(cls, ({**base, "num_streams": s} for s in (None, 2, 1)))


@dataclass(frozen=True, kw_only=True)
class _OVPrecision(OV):
    """Shared precision fields of OV_CPU and OV_GPU."""

    fp16: bool | None = None
    """Run in half precision (OpenVINO INFERENCE_PRECISION_HINT f16)."""
    fp16_blacklist_ops: Collection[str] | None = None
    """Op types kept in float32: the plugin then converts the model to fp16 itself, except these ops, and
    OpenVINO runs it with precision hint f32 so that the kept ops stay in float32. Only with ``fp16=True``."""

    def __post_init__(self) -> None:
        """Validate the block list against ``fp16``."""
        super().__post_init__()
        where = type(self).__name__
        self._set("fp16_blacklist_ops", name_set(where, "fp16_blacklist_ops", self.fp16_blacklist_ops))
        require(not self.fp16_blacklist_ops or bool(self.fp16), where, "fp16_blacklist_ops", self.fp16_blacklist_ops,
              "None when fp16 is off (the block list only applies to the fp16 conversion)")

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """With a block list, the plugin converts the model to fp16 itself, keeping the listed ops."""
        args = super().get_args(clips)
        if self.fp16_blacklist_ops:
            args |= {"fp16": 1, "fp16_blacklist_ops": list(self.fp16_blacklist_ops)}
        return args

    def precision_hint(self) -> str:
        """OpenVINO INFERENCE_PRECISION_HINT."""
        return "f16" if self.fp16 and not self.fp16_blacklist_ops else "f32"

    def precision(self) -> str:
        """fp16 with the f16 hint or a block list (the plugin then converts the model), bf16, else fp32."""
        if self.fp16_blacklist_ops:
            return "fp16"
        return {"f16": "fp16", "bf16": "bf16"}.get(self.precision_hint(), "fp32")

    def float32(self) -> OV:
        """fp16 and bf16 off."""
        changes: dict[str, Any] = {"fp16": False, "fp16_blacklist_ops": None}
        if any(f.name == "bf16" for f in dataclasses.fields(self)):
            changes["bf16"] = False
        return dataclasses.replace(self, **changes)

    def half(self) -> OV | None:
        """fp16 on."""
        return None if self.fp16 else dataclasses.replace(self, fp16=True)

    def keep_in_float32(self, nodes: tuple[str, ...], model: ModelInfo, clips: Sequence[vs.VideoNode]) -> Kept:
        """The converted model (the nodes and the user's block list in float32), run with hint f32."""
        model = converted(model, {*(self.fp16_blacklist_ops or ()), *nodes}, "fp32")
        return Kept(self.float32(), model, f"{type(self).__name__} keeps {len(nodes)} nodes in float32: "
                                           f"{', '.join(nodes)}")

    def check_call(self, model: ModelInfo, output: TensorInfo, flexible: bool, kwargs: Mapping[str, Any],
                   where: str) -> None:
        """Block-list entries that mean nothing for this model are named in a warning (the plugin ignores them)."""
        if self.fp16_blacklist_ops:
            check_block_list(model, self.fp16_blacklist_ops, where)

    def properties(self) -> dict[str, ConfigValue]:
        """Streams and precision hint."""
        return super().properties() | {"INFERENCE_PRECISION_HINT": self.precision_hint()}


@dataclass(frozen=True, kw_only=True)
class OV_CPU(_OVPrecision):
    """OpenVINO on the CPU."""

    fixed_device: ClassVar[str | None] = "CPU"

    num_threads: int = 0
    """INFERENCE_NUM_THREADS; 0 lets OpenVINO decide."""
    bind_thread: bool = True
    """ENABLE_CPU_PINNING: pin inference threads to cores."""
    bf16: bool | None = None
    """Run in bfloat16 (precision hint bf16; needs AVX512-BF16 or AMX)."""

    def __post_init__(self) -> None:
        """fp16 defaults to True unless bf16 is set."""
        check_types(self)  # before fp16 / bf16 are normalized: "no" must not become True
        if self.fp16 is None:
            self._set("fp16", not self.bf16)
        self._set("bf16", bool(self.bf16))
        super().__post_init__()
        require(self.num_threads >= 0, "OV_CPU", "num_threads", self.num_threads, "an int >= 0 (0: automatic)")

    def precision_hint(self) -> str:
        """bf16 when asked, else as for every device."""
        return "bf16" if self.bf16 else super().precision_hint()

    def keep_in_float32(self, nodes: tuple[str, ...], model: ModelInfo, clips: Sequence[vs.VideoNode]) -> Kept:
        """Hint f32 on the original model.

        OpenVINO's CPU computes f16 models in float32 below AVX512-FP16 / AMX-FP16 anyway, so this costs nothing there
        and is exact where it would not.
        """
        return Kept(self.float32(), model, "OpenVINO's CPU computes f16 models in float32 with the f32 hint: OV_CPU "
                                           "runs it in float32")

    def properties(self) -> dict[str, ConfigValue]:
        """Threads, pinning, streams and precision."""
        return super().properties() | {
            "INFERENCE_NUM_THREADS": self.num_threads,
            "ENABLE_CPU_PINNING": "YES" if self.bind_thread else "NO",
        }


@dataclass(frozen=True, kw_only=True)
class OV_GPU(_OVPrecision):
    """OpenVINO on an Intel GPU."""

    fixed_device: ClassVar[str | None] = "GPU"
    on_gpu: ClassVar[bool] = True

    device_id: int | tuple[int, ...] = 0
    """GPU index: the device is ``GPU.<device_id>``; several, e.g. (0, 1), deal the frames out over them."""
    device_weights: tuple[int, ...] | None = None
    """With several ``device_id``: frames each device renders per cycle, e.g. (2, 1) for a GPU twice as fast as the
    other; None deals the frames evenly."""
    fp16: bool | None = True
    """Run in half precision (precision hint f16)."""

    def device_name(self) -> str:
        """``GPU.<device_id>``."""
        return f"GPU.{self.device_id}"

    def device_index(self) -> int | None:
        """``device_id``."""
        return self.device_id if isinstance(self.device_id, int) else None

    @classmethod
    def devices_present(cls) -> tuple[str, ...]:
        """OpenVINO's GPU devices ("GPU.0", "GPU.1", or "GPU" alone)."""
        from ... import plugins

        return tuple(d for d in plugins.available_devices("ov") if d.startswith("GPU")) if plugins.is_loaded("ov") \
            else ()


@dataclass(frozen=True, kw_only=True)
class OV_NPU(OV):
    """OpenVINO on an Intel NPU (runs in fp16 by itself)."""

    fixed_device: ClassVar[str | None] = "NPU"

    fp16: bool | None = None
    """Accepted for vs-jetpack's ``OV_NPU(fp16=True)``: an NPU computes in fp16 only, so None and True mean the same
    and change nothing; False is refused (it cannot be honoured)."""

    def __post_init__(self) -> None:
        """``fp16`` may only say what the NPU does anyway."""
        super().__post_init__()
        require(self.fp16 is not False, "OV_NPU", "fp16", self.fp16,
                "None or True: an NPU computes in fp16 only; use OV_CPU or OV_GPU for float32")

    @classmethod
    def preset_fields(cls, name: str) -> dict[str, Any]:
        """None: an NPU has one precision and OpenVINO's own stream count."""
        return {}

    def float32(self) -> OV:
        """An NPU computes in fp16 only: unchanged."""
        return self


def _gpu(env: Environment) -> str | None:
    status = env.plugins.get("ov")
    if status and any(d.upper().startswith("GPU") for d in status.devices):
        return None
    return f"OpenVINO reports no GPU device (devices: {list(status.devices) if status else []})"


CACHE_KINDS = (Kind("ov", "foreign", role="openvino cache"),)
"""What this family keeps in the store: OpenVINO's compiled-model cache (CACHE_DIR), OpenVINO's own files."""

CLASSES = (OV, OV_CPU, OV_GPU, OV_NPU)
"""The classes of this family (autoselect is offered OV_GPU and OV_CPU; OV and OV_NPU are chosen by hand)."""

_ov = plugin_loaded("ov")
OFFERS = (
    Offer(OV_GPU, frozenset({"intel"}), 90, all_of(_ov, _gpu)),
    Offer(OV_CPU, frozenset({CPU}), 20, _ov),
)
"""What this family offers autoselect."""
