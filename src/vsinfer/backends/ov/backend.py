"""OpenVINO backends (``core.ov``): CPU, GPU, NPU."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ... import device
from ...conversion import check_block_list
from ...device import cpu
from ...model import ModelInfo, TensorInfo, quantized
from ...store.files import log_once
from ...store.inventory import Kind
from ...validation import GraphLimit
from ..base import Backend, field_names, variants
from ..devices import SeveralDevices
from ..fields import FrozenMapping, frozen_mapping, name_set, require
from ..first_use import ProbeSpec
from ..guard import Kept, converted
from ..int8 import Int8
from ..plugin_io import compact
from ..precision import settle_fp16_bf16
from ..registry import CPU, Environment, Offer, all_of, plugin_loaded
from .checks import OV_GRAPH_LIMITS, check_ov_config, check_ov_config_function, check_ov_device, device_list

if TYPE_CHECKING:
    import vapoursynth as vs

logger = logging.getLogger(__name__)

__all__ = ["OV", "OV_CPU", "OV_GPU", "OV_NPU", "OVConfig", "cpu_reduced_precision"]

DEFAULT_DEVICE = "CPU"
"""``OV``'s device when none is given. Not "AUTO": the PyPI vapoursynth-mlrt-ov wheel ships no AUTO plugin, so
``Backend.OV()`` would fail there; "CPU" runs with every OpenVINO build (pass ``device="AUTO"`` where it ships)."""

_HALF_BY_DEFAULT = ("GPU", "NPU", "AUTO")
"""Devices whose default precision is f16 (the CPU's is f32, or bf16 where the CPU has it)."""

ConfigValue = str | int | float

HINT = "INFERENCE_PRECISION_HINT"
"""OpenVINO's precision property."""
_HINTS = {"f16": "fp16", "bf16": "bf16"}
"""OpenVINO precision hints -> vsinfer's precision names (anything else: fp32)."""


def cpu_reduced_precision(machine: device.CPU) -> tuple[str, str]:
    """What a reduced-precision request (``OV_CPU()``'s default ``fp16=True``) runs on OpenVINO's CPU device, and why.

    The rule, verified on each CPU kind met by ``benchmarks/vs_peers.py`` (docs/performance.md): the fastest
    precision this CPU has whose error stays in the reduced class (bf16's, ~1e-2 on pictures in [0, 1]):

    - bf16 where the CPU has bf16 arithmetic (AVX512-BF16 or AMX-BF16): ~1.9x float32 on an EPYC with AVX512-BF16,
      2.8x on a Xeon with AMX;
    - float32 everywhere else. Real fp16 (AVX512-FP16, Sapphire Rapids and later) is never chosen by itself: OpenVINO
      ran it slower than float32 there, 0.061 from float32 on a Q/DQ model, and it killed the process on SwinIR
      (SIGFPE). It stays reachable with ``custom_config={"INFERENCE_PRECISION_HINT": "f16"}`` (probed first).
    """
    if machine.native_bf16:
        unit = "AMX-BF16" if "amx_bf16" in machine.flags else "AVX512-BF16"
        slower = "; its real fp16 (AVX512-FP16) runs slower than float32" if machine.native_fp16 else ""
        return "bf16", (f"fp16=True runs bf16, the fastest reduced precision of this CPU ({unit}{slower}); "
                        "fp16=False gives float32")
    if machine.native_fp16:
        return "fp32", ("fp16=True runs float32: this CPU has no bf16, and its real fp16 (AVX512-FP16) runs slower "
                        "than float32 in OpenVINO")
    return "fp32", ("fp16=True runs float32: this CPU has no bf16 or fp16 arithmetic, so float32 is its fastest "
                    "precision (OpenVINO computes the f16 hint in float32 here too)")


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
        hint = self.custom_config.get(HINT)
        if hint is not None:
            return _HINTS.get(str(hint).lower(), "fp32")
        return "fp16" if any(d in _HALF_BY_DEFAULT for d in self.devices()) else "fp32"

    def effective_precision(self) -> tuple[str, str]:
        """What OpenVINO computes in on a CPU: the precision hint's, or the CPU's own arithmetic.

        The f16 hint runs as bf16 where the CPU has bf16 and not fp16, else as float32; without a hint OpenVINO
        computes in bf16 where the CPU has bf16 (its own default), else in float32.
        """
        asked = self.precision()
        if "CPU" not in self.devices():
            return asked, ""
        machine = cpu()
        hinted = "INFERENCE_PRECISION_HINT" in (self.properties() | dict(self.custom_config))
        if asked == "fp32" and not hinted and machine.native_bf16:
            return "bf16", ("OpenVINO's CPU computes in bf16 by default on this CPU (it has bf16 arithmetic; 8 "
                            "mantissa bits): custom_config={'INFERENCE_PRECISION_HINT': 'f32'} gives float32")
        if asked == "fp32":
            return asked, ""
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
        return dataclasses.replace(self, custom_config={**self.custom_config, HINT: "f32"})

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

    def plugin_model(self, model: ModelInfo, bits: int) -> tuple[Backend, ModelInfo]:
        """A quantized (Q/DQ) model in real fp16 on the CPU runs in float32 (fp16 was 0.061 from float32, bf16 8.7e-3).

        OpenVINO's CPU fp16 kernels (AVX512-FP16) move the Q/DQ values across quantization steps; nothing of the
        model can be kept in float32 on its own there (the precision hint is the whole model's).
        """
        if not self._real_fp16_on_cpu() or not quantized(model):
            return self, model
        name = type(self).__name__
        log_once(logging.WARNING, ("ov-qdq", model.checksum, name), "%s: %s is a quantized (Q/DQ) model, which "
                 "OpenVINO's real fp16 on this CPU (AVX512-FP16) computes wrong; it runs in float32", name,
                 model.path, to=logger)
        return self.float32(), model

    def probe_spec(self, model: ModelInfo) -> ProbeSpec | None:
        """Real fp16 on the CPU (AVX512-FP16): OpenVINO's fp16 kernels killed the process on SwinIR (SIGFPE)."""
        if not self._real_fp16_on_cpu():
            return None
        args = self.get_args([])
        args["config"] = dict(args["config"].properties)  # as data: the child hands it to the plugin as a callable
        name = type(self).__name__
        return ProbeSpec(
            args=args,
            device=self.device_name(),
            reduced=True,
            why="OpenVINO's real fp16 kernels on this CPU (AVX512-FP16) killed the process on SwinIR (SIGFPE)",
            alternatives=f"{name}() without an f16 hint (bf16 where the CPU has it) or a float32 hint",
        )

    def _real_fp16_on_cpu(self) -> bool:
        """Whether fp16 arithmetic runs on the CPU (the CPU has AVX512-FP16 / AMX-FP16 and gets the f16 hint)."""
        return "CPU" in self.devices() and self.effective_precision()[0] == "fp16"

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
        """The hint in ``custom_config`` (it wins), fp16 with a block list, else ``precision_hint``'s precision."""
        if HINT in self.custom_config:
            return super().precision()
        if self.fp16_blacklist_ops:
            return "fp16"
        return _HINTS.get(self.precision_hint(), "fp32")

    def float32(self) -> OV:
        """fp16 and bf16 off (and a precision hint in ``custom_config`` set to f32)."""
        changes: dict[str, Any] = {"fp16": False, "fp16_blacklist_ops": None}
        if any(f.name == "bf16" for f in dataclasses.fields(self)):
            changes["bf16"] = False
        if HINT in self.custom_config:
            changes["custom_config"] = {**self.custom_config, HINT: "f32"}
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
        return super().properties() | {HINT: self.precision_hint()}


@dataclass(frozen=True, kw_only=True)
class OV_CPU(Int8, _OVPrecision):
    """OpenVINO on the CPU."""

    fixed_device: ClassVar[str | None] = "CPU"

    num_threads: int = 0
    """INFERENCE_NUM_THREADS; 0 lets OpenVINO decide."""
    bind_thread: bool = True
    """ENABLE_CPU_PINNING: pin inference threads to cores."""
    fp16: bool | None = None
    """Reduced precision allowed (the default, as vs-jetpack's users read ``fp16=True``): this CPU's fastest reduced
    precision, by the rule of ``cpu_reduced_precision`` (bf16 where the CPU has bf16 arithmetic, else float32;
    ``effective_precision()`` says which and why). ``False``: float32. Real fp16 arithmetic (AVX512-FP16) only
    with ``custom_config={"INFERENCE_PRECISION_HINT": "f16"}``."""
    bf16: bool | None = None
    """Run in bfloat16 (precision hint bf16; needs AVX512-BF16 or AMX, else OpenVINO computes float32)."""

    def __post_init__(self) -> None:
        """fp16 defaults to True unless bf16 is set."""
        settle_fp16_bf16(self)
        super().__post_init__()
        require(self.num_threads >= 0, "OV_CPU", "num_threads", self.num_threads, "an int >= 0 (0: automatic)")

    def precision_hint(self) -> str:
        """bf16 when asked; for ``fp16=True`` this CPU's reduced precision (``cpu_reduced_precision``); else f32."""
        if self.bf16:
            return "bf16"
        if self.fp16 and not self.fp16_blacklist_ops:
            return "bf16" if cpu_reduced_precision(cpu())[0] == "bf16" else "f32"
        return "f32"

    def reduced_by_default(self) -> bool:
        """The precision is the one ``fp16=True`` chooses for this CPU (no bf16, block list or hint of the user's)."""
        return bool(self.fp16) and not self.bf16 and not self.fp16_blacklist_ops and HINT not in self.custom_config

    def effective_precision(self) -> tuple[str, str]:
        """For ``fp16=True``: the rule's choice for this CPU and its reason; else what OpenVINO makes of the hint."""
        if self.reduced_by_default():
            return cpu_reduced_precision(cpu())
        return super().effective_precision()

    def guard_on(self) -> bool:
        """fp16 is checked, and so is the bf16 that ``fp16=True`` chooses (an explicit ``bf16=True`` is not).

        bf16 has float32's range, but values beyond float16's lose their absolute precision (8 mantissa bits) just as
        badly: 61 off on a residual model whose branches cancel, 4.9e-3 guarded. Not on a CPU that computes float32.
        """
        if super().guard_on():
            return True
        return self.fp16_guard and self.reduced_by_default() and self.effective_precision()[0] == "bf16"

    def keep_in_float32(self, nodes: tuple[str, ...], model: ModelInfo, clips: Sequence[vs.VideoNode]) -> Kept:
        """Hint f32 on the original model: OpenVINO's CPU takes one precision hint for the whole model."""
        return Kept(self.float32(), model, "OpenVINO's CPU takes one precision for the whole model: OV_CPU runs it in "
                                           "float32")

    @classmethod
    def tune_variants(cls, device_id: int = 0) -> list[Backend]:
        """The default's stream counts, then every other precision this CPU offers, each once.

        Float32, and real fp16 where the CPU has AVX512-FP16 (probed first); a variant that hands OpenVINO the same
        properties as one before (float32 where the default already is) is left out.
        """
        found = super().tune_variants(device_id)
        others: list[Backend] = [cls(fp16=False)]
        if cpu().native_fp16:
            others.append(cls(custom_config={HINT: "f16"}))
        seen = [dict(b.get_args([])["config"].properties) for b in found]
        for other in others:
            props = dict(other.get_args([])["config"].properties)
            if props not in seen:
                seen.append(props)
                found.append(other)
        return found

    def properties(self) -> dict[str, ConfigValue]:
        """Threads, pinning, streams and precision."""
        return super().properties() | {
            "INFERENCE_NUM_THREADS": self.num_threads,
            "ENABLE_CPU_PINNING": "YES" if self.bind_thread else "NO",
        }


@dataclass(frozen=True, kw_only=True)
class OV_GPU(SeveralDevices, _OVPrecision):
    """OpenVINO on an Intel GPU."""

    fixed_device: ClassVar[str | None] = "GPU"
    on_gpu: ClassVar[bool] = True

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
