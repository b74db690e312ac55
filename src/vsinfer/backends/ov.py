"""OpenVINO backends (``core.ov``): CPU, GPU, NPU."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..model import ModelInfo
from .base import Backend, compact
from .fields import FrozenMapping, check, check_types, frozen_mapping, name_set

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["OV", "OV_CPU", "OV_GPU", "OV_NPU", "OVConfig"]

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
    fixed_device: ClassVar[str | None] = None
    """The device of OV_CPU / OV_GPU / OV_NPU; None for ``OV`` itself (its ``device`` field)."""

    device: str | None = None
    """OpenVINO device string for ``OV`` (default "AUTO"): "CPU", "GPU.1", "AUTO:GPU,CPU", "HETERO:GPU,CPU",
    "MULTI:GPU,CPU". Each device must be in ``core.ov.AvailableDevices()``, and AUTO / HETERO / MULTI need their
    OpenVINO plugins (the Linux vapoursynth-mlrt-ov 17.1 wheel ships none: name a device there). OV_CPU / OV_GPU /
    OV_NPU fix their device and leave this None."""
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
            check(self.device is None, where, "device", self.device,
                  f"None: {where} runs on {self.fixed_device}; use Backend.OV(device=...) for a device string")
        else:
            check(self.device is None or (isinstance(self.device, str) and bool(device_list(self.device))), where,
                  "device", self.device, 'an OpenVINO device string such as "CPU", "AUTO" or "HETERO:GPU,CPU"')
        self._set("custom_config", frozen_mapping(where, "custom_config", self.custom_config, (str, int, float)))

    def properties(self) -> dict[str, ConfigValue]:
        """The OpenVINO properties vsinfer derives from the fields (before ``custom_config``)."""
        props: dict[str, ConfigValue] = {}
        if self.num_streams is not None:
            props["NUM_STREAMS"] = self.num_streams
        if self.uses_model_cache():
            from ..engine.store import Store

            props["CACHE_DIR"] = str(Store().folder("ov"))
        return props

    def uses_model_cache(self) -> bool:
        """Whether OpenVINO's compiled-model cache is on for this backend."""
        if self.model_cache is not None:
            return self.model_cache
        return any(d.split(".")[0] in ("GPU", "NPU") for d in device_list(self.device_name()))

    def device_name(self) -> str:
        """The plugin's ``device`` argument."""
        return self.fixed_device or self.device or "AUTO"

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


def device_list(device: str) -> list[str]:
    """The devices named in an OpenVINO device string: "HETERO:GPU.1,CPU" -> ["GPU.1", "CPU"]."""
    _, _, names = device.rpartition(":")
    return [d.strip() for d in names.split(",") if d.strip()]


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
        check(not self.fp16_blacklist_ops or bool(self.fp16), where, "fp16_blacklist_ops", self.fp16_blacklist_ops,
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
        check(self.num_threads >= 0, "OV_CPU", "num_threads", self.num_threads, "an int >= 0 (0: automatic)")

    def precision_hint(self) -> str:
        """bf16 when asked, else as for every device."""
        return "bf16" if self.bf16 else super().precision_hint()

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

    device_id: int = 0
    """GPU index: the device is ``GPU.<device_id>``."""
    fp16: bool | None = True
    """Run in half precision (precision hint f16)."""

    def device_name(self) -> str:
        """``GPU.<device_id>``."""
        return f"GPU.{self.device_id}"


@dataclass(frozen=True, kw_only=True)
class OV_NPU(OV):
    """OpenVINO on an Intel NPU (runs in fp16 by itself)."""

    fixed_device: ClassVar[str | None] = "NPU"
