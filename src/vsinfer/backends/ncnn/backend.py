"""NCNN on Vulkan (``core.ncnn``): any GPU with a Vulkan driver."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ... import plugins
from ...conversion import without_identity
from ...errors import DeviceError, ModelError
from ...model import ModelInfo, TensorInfo, model_info
from ...store import Store
from ...store.inventory import Kind
from ...validation import Shown, id_range
from ..base import Backend, variants
from ..devices import SeveralDevices
from ..fields import name_set, require
from ..first_use import ProbeSpec
from ..plugin_io import as_nodes, auto_float_bits, compact
from ..registry import Offer, plugin_loaded
from .checks import ALTERNATIVES, CONVERTER_MESSAGES, REWRITTEN_OPS, check_model, model_ops, vulkan_loader_error

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["CLASSES", "NCNN", "OFFERS", "VULKAN_HINT", "VulkanDevice", "vulkan_device"]

logger = logging.getLogger(__name__)

VULKAN_HINT = "install a Vulkan driver (Debian: apt install libvulkan1 mesa-vulkan-drivers)"
"""What to do when ncnn finds no Vulkan device."""

MAX_BATCH_TILES = 256
"""Most tiles ncnn dispatches at once (each one's activations are in device memory together)."""

CPU_DEVICE_TYPE = 3
"""``core.ncnn.DeviceProperties()["type"]`` of a CPU Vulkan device (lavapipe / llvmpipe): far slower than
OV_CPU or ORT_CPU on the same cores, so autotune leaves it out (ncnn: 0 discrete, 1 integrated, 2 virtual)."""

CPU_DRIVER_NAMES = ("llvmpipe", "lavapipe", "swiftshader")
"""Lower-case parts of the device names of the known CPU Vulkan drivers: Mesa's lavapipe reports "llvmpipe (LLVM
15.0.6, 256 bits)", Google's SwiftShader "SwiftShader Device (Subzero)". Read when the plugin reports no ``type``."""

CPU_FP16_WHY = ("emulates fp16 (each half-float operation runs in float32 and is rounded back): on lavapipe 1e4x the "
                "float32 error and no faster (0.6-1.0x its speed, benchmarks/ncnn_precision.py)")
"""Why NCNN computes in float32 by default on a CPU Vulkan device (the end of "<device> is a CPU Vulkan device, which
...")."""


@dataclass(frozen=True)
class VulkanDevice:
    """What NCNN's precision default depends on: a Vulkan device's name and whether it is the CPU itself."""

    device_id: int
    """Its index."""
    name: str
    """``DeviceProperties()["device_name"]``."""
    on_cpu: bool
    """A CPU Vulkan device: ``type`` is ``CPU_DEVICE_TYPE``, or the name is one of ``CPU_DRIVER_NAMES``."""


def vulkan_device(device_id: int) -> VulkanDevice | None:
    """Vulkan device ``device_id`` as core.ncnn reports it, or None (no such device, or no plugin).

    Read with ``DeviceProperties`` (about 40 us once Vulkan is up), never Model.
    """
    props = plugins.device_properties("ncnn", device_id)
    if props is None:
        return None
    name = plugins.as_text(props.get("device_name", props.get("name", f"device {device_id}")))
    on_cpu = props.get("type") == CPU_DEVICE_TYPE or any(p in name.lower() for p in CPU_DRIVER_NAMES)
    return VulkanDevice(device_id, name, on_cpu)


@dataclass(frozen=True, kw_only=True)
class NCNN(SeveralDevices, Backend):
    """NCNN with Vulkan compute (``Backend.NCNN_VK`` is the same class)."""

    namespace: ClassVar[str] = "ncnn"
    on_gpu: ClassVar[bool] = True
    takes_fp16_io: ClassVar[bool] = False  # core.ncnn 17.1 crashes the process on a float16-input model

    num_streams: int = 1
    """Parallel inference streams."""
    fp16: bool | None = None
    """Store and compute in half precision. None: by device, fp16 on a GPU and float32 on a CPU Vulkan device
    (lavapipe / llvmpipe, SwiftShader), which emulates fp16: slower there, at 1e4x the float32 error
    (``effective_precision`` says which, and why). With ``output_format=1`` (half output) None means True."""
    fp16_blacklist_ops: Collection[str] | None = None
    """Accepted for vs-jetpack's NCNN and ignored, as there: core.ncnn has no op block list (one INFO line says so);
    the fp16 guard runs a model that overflows float16 in float32 instead."""
    fp16_guard: bool = True
    """Find the nodes whose values overflow float16 and keep them in float32 (see ``vsinfer.fp16``)."""
    batch_tiles: int | None = None
    """Tiles processed per batch; None leaves the plugin's default."""
    output_format: int | None = None
    """0 float32, 1 float16 output clip; None means the float precision of the input clips (half in, half out)."""

    def __post_init__(self) -> None:
        """Validate ``batch_tiles`` and ``output_format``."""
        super().__post_init__()
        require(self.batch_tiles is None or 1 <= self.batch_tiles <= MAX_BATCH_TILES, "NCNN", "batch_tiles",
                self.batch_tiles, f"None or an int 1 .. {MAX_BATCH_TILES} (tiles per dispatch, each one in memory)")
        require(self.output_format in (None, 0, 1), "NCNN", "output_format", self.output_format,
              "None, 0 (float32) or 1 (float16)")
        self._set("fp16_blacklist_ops", name_set("NCNN", "fp16_blacklist_ops", self.fp16_blacklist_ops))
        require(self.output_format != 1 or self.fp16 is not False, "NCNN", "output_format", self.output_format,
                "None or 0 with fp16=False: core.ncnn gives float16 output only from an fp16 run")
        if self.fp16 is None and self.output_format == 1:  # half output asks for an fp16 run on every device
            self._set("fp16", True)

    # -- the precision each device runs in (fp16=None: by device) --
    def fp16_on(self, device_id: int | None = None) -> bool:
        """Whether the run on ``device_id`` (None: the first device) is fp16: ``fp16`` when set, else by device.

        By device: float32 on a CPU Vulkan device (``vulkan_device``), fp16 on any other device, and on one that
        cannot be read (a missing plugin or device: ``check_device`` refuses it before anything runs).
        """
        if self.fp16 is not None:
            return self.fp16
        device = vulkan_device(self.device_ids()[0] if device_id is None else device_id)
        return device is None or not device.on_cpu

    def fp16_by_device(self) -> tuple[bool, ...]:
        """``fp16_on`` for each device of ``device_id``, in order (several devices may differ: GPU + CPU)."""
        return tuple(self.fp16_on(d) for d in self.device_ids())

    def _float32_devices(self) -> str:
        """"float32 by device on device 0 (llvmpipe ...)": the devices ``fp16=None`` runs in float32."""
        ids = [d for d, half in zip(self.device_ids(), self.fp16_by_device(), strict=True) if not half]
        return "float32 by device on " + ", ".join(_named(d, vulkan_device(d)) for d in ids)

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """Device, streams and precision arguments of ``core.ncnn.Model``.

        With ``fp16=None`` the precision is the first device's (``fp16_on``: its type is read with
        ``DeviceProperties``, never Model); several devices each get their own call (``on_each_device``).
        """
        fp16 = self.fp16_on()
        output_format = self.output_format
        if output_format is None:
            output_format = int(auto_float_bits(as_nodes(clips), None, fp16) == 16)
        return compact({
            "device_id": self.device_id,
            "num_streams": self.num_streams,
            "fp16": int(fp16),
            "batch_tiles": self.batch_tiles,
            "output_format": output_format,
        })

    def input_bits(self, clips: Sequence[vs.VideoNode], model: ModelInfo) -> int:
        """Half floats for fp16 runs of integer clips and for fp16-IO models, else single floats.

        Several devices share the converted clips: single floats unless every device runs fp16.
        """
        return auto_float_bits(clips, model, all(self.fp16_by_device()))

    def fixed_output_bits(self) -> int | None:
        """16 for ``output_format=1``, 32 for 0, None when unset."""
        return None if self.output_format is None else 16 if self.output_format == 1 else 32

    # -- precision and the fp16 guard (no node block list: an overflowing model runs in float32) --
    def precision(self) -> str:
        """fp16 or fp32, resolved by device when ``fp16`` is None; fp16 when any device of several runs fp16."""
        return "fp16" if any(self.fp16_by_device()) else "fp32"

    def effective_precision(self) -> tuple[str, str]:
        """``precision()``, and why when a device decides it (``fp16=None``) or is a CPU Vulkan device."""
        asked = self.precision()
        by_device = self.fp16_by_device()
        devices = [vulkan_device(d) for d in self.device_ids()]
        on_cpu = [d for d in devices if d is not None and d.on_cpu]
        if len(set(by_device)) > 1:
            runs = ", ".join(f"{'fp16' if half else 'float32'} on {_named(i, d)}"
                             for i, d, half in zip(self.device_ids(), devices, by_device, strict=True))
            return asked, f"by device: {runs} (a CPU Vulkan device {CPU_FP16_WHY})"
        if not on_cpu:
            return asked, ""
        names = ", ".join(_named(d.device_id, d) for d in on_cpu)
        if asked == "fp16":
            return asked, f"fp16=True on {names}: a CPU Vulkan device {CPU_FP16_WHY} (fp16=None runs float32 there)"
        if self.fp16 is None:
            return asked, f"float32: {names} is a CPU Vulkan device, which {CPU_FP16_WHY} (fp16=True asks for it)"
        return asked, ""

    def float32(self) -> NCNN:
        """fp16 off (and so float32 output: core.ncnn gives float16 output only from an fp16 run)."""
        return dataclasses.replace(self, fp16=False, output_format=None if self.output_format == 1 else
                                   self.output_format)

    def half(self) -> NCNN | None:
        """fp16 on (on every device); None when every device already runs fp16."""
        return None if all(self.fp16_by_device()) else dataclasses.replace(self, fp16=True)

    def guard_on(self) -> bool:
        """fp16 runs (on any device) are checked unless ``fp16_guard`` is off."""
        return self.fp16_guard and any(self.fp16_by_device())

    # -- checks --
    def check_device(self, where: str) -> None:
        """A Vulkan device with this index exists; one that decides the precision (``fp16=None``) is said once."""
        for device_id in self.device_ids():
            _check_vulkan_device(device_id, where)
            device = vulkan_device(device_id) if self.fp16 is None else None
            if device is not None and device.on_cpu and device.name not in _told:
                _told.add(device.name)
                logger.info("%s: float32 on %s: a CPU Vulkan device %s; NCNN(fp16=True) asks for fp16 anyway",
                            where, _named(device_id, device), CPU_FP16_WHY)

    def check_plugin_kwargs(self, kwargs: Mapping[str, Any], where: str) -> None:
        """A forwarded ``device_id`` names a Vulkan device of this machine."""
        if "device_id" in kwargs:
            _check_vulkan_device(int(kwargs["device_id"]), where)

    def for_call(self, model: ModelInfo, output: TensorInfo, flexible: bool, kwargs: Mapping[str, Any]) -> NCNN:
        """By device (``fp16=None``), but fp16 where float32 would crash core.ncnn: flexible output of 4k channels.

        The fp16 guard then checks that run like any other (a model that overflows float16 is refused by
        ``check_call``, naming the crash).
        """
        channels = output.channels
        if (self.fp16 is not None or "fp16" in kwargs or not flexible or channels is None or channels % 4
                or all(self.fp16_by_device())):
            return self
        logger.info("%s: fp16 for %s: core.ncnn 17.1 crashes the process on float32 flexible output of %d channels "
                    "(%s)", type(self).__name__, model.path, channels, self._float32_devices())
        return dataclasses.replace(self, fp16=True)

    def check_call(self, model: ModelInfo, output: TensorInfo, flexible: bool, kwargs: Mapping[str, Any],
                   where: str) -> None:
        """What core.ncnn cannot take: the model's facts, and flexible float32 output of 4k channels.

        ``ncnn_checks.check_model``: external data, several outputs, ops its converter lacks; and core.ncnn 17.1
        crashes on float32 flexible output whose channel count is a multiple of 4.
        """
        check_model(model, self.namespace, where)
        if self.fp16_blacklist_ops:
            logger.info("%s: fp16_blacklist_ops=%s is ignored: core.ncnn has no op block list (vs-jetpack ignores it "
                        "too); the fp16 guard runs a model that overflows float16 in float32", where,
                        list(self.fp16_blacklist_ops))
        fp16 = bool(kwargs["fp16"]) if "fp16" in kwargs else all(self.fp16_by_device())
        if not flexible or fp16:
            return
        shown: Any = False if "fp16" in kwargs or self.fp16 is False else Shown(f"None ({self._float32_devices()})")
        channels = output.channels
        if channels is None:
            logger.warning("%s: output %r of %s has dynamic channels; core.ncnn 17.1 crashes the process on float32 "
                           "flexible output whose channel count is a multiple of 4", where, output.name, model.path)
        elif channels % 4 == 0:
            raise ModelError(
                "fp16",
                shown,
                f"fp16=True for a model with {channels} output channels and flexible=True: core.ncnn 17.1 crashes "
                "the process (segfault) on float32 flexible output whose channel count is a multiple of 4; use "
                "NCNN(fp16=True) or another backend (ORT_CPU, OV_CPU)",
                where=f"{where} {model.path}",
            )

    def plugin_model(self, model: ModelInfo, bits: int) -> tuple[Backend, ModelInfo]:
        """A model with ``Identity`` nodes runs as a cached copy without them (core.ncnn's converter has no rule)."""
        if REWRITTEN_OPS & set(model_ops(model)):
            return self, model_info(without_identity(model, Store()))
        return self, model

    def probe_spec(self, model: ModelInfo) -> ProbeSpec | None:
        """Every first use: core.ncnn converts the model itself, and its converter kills the process on some graphs.

        Not for float32 flexible output of 4k channels, which ``check_call`` refuses (core.ncnn 17.1 crashes on it).
        A failure of the precision chosen by device (``fp16=None``) runs the model in float32 instead.
        """
        device = self.device_ids()[0] if self.device_ids() else 0
        fp16 = self.fp16_on(device)
        channels = model.outputs[0].channels if model.outputs else None
        if not fp16 and channels is not None and channels not in (1, 3) and channels % 4 == 0:
            return None
        names = plugins.device_names(self.namespace) or ()
        return ProbeSpec(
            args={"device_id": device, "fp16": int(fp16)},
            device=names[device] if device < len(names) else "",
            reduced=fp16,
            why="core.ncnn converts the model itself, and its converter kills the process on some graphs",
            alternatives=ALTERNATIVES,
            default_precision=fp16 and self.fp16 is None,
            judge_values=self.fp16_guard or not fp16,
            stderr_reasons=CONVERTER_MESSAGES,
        )

    @classmethod
    def preset_fields(cls, name: str) -> dict[str, Any]:
        """As every GPU class, except that "fast" leaves the precision by device (``fp16=None``).

        That is fp16 on a GPU; a CPU Vulkan device runs fp16 slower than float32 (benchmarks/ncnn_precision.py).
        "exact" sets ``fp16=False``.
        """
        fields = super().preset_fields(name)
        if name == "fast":
            fields["fp16"] = None
        return fields

    @classmethod
    def tune_variants(cls, device_id: int = 0) -> list[Backend]:
        """One and two streams, with the precision this device runs by default written out (``fp16_on``).

        So a candidate and its ``float32()`` / ``half()`` variants are told apart by what they compute.
        """
        fp16 = cls(device_id=device_id).fp16_on()
        return variants(cls, ({"device_id": device_id, "num_streams": s, "fp16": fp16} for s in (1, 2)))

    @classmethod
    def tuning_skip(cls, device_id: int = 0) -> str | None:
        """Left out when the Vulkan device is missing or a software renderer on the CPU."""
        device = vulkan_device(device_id)
        if device is None:
            return f"core.ncnn sees no Vulkan device {device_id}"
        if device.on_cpu:
            return f"its Vulkan device {device.name} is a software renderer on the CPU"
        return None


_told: set[str] = set()
"""The CPU Vulkan devices whose float32 default was logged (once per process)."""


def _named(device_id: int, device: VulkanDevice | None) -> str:
    """"device 0 (llvmpipe (LLVM 15.0.6, 256 bits))", or "device 0 (not found)"."""
    return f"device {device_id} ({device.name if device is not None else 'not found'})"


def _check_vulkan_device(device_id: int, where: str) -> None:
    names = plugins.device_names("ncnn")
    if not names:
        loader = vulkan_loader_error()
        detail = f" (the Vulkan loader does not load: {loader})" if loader else ""
        raise DeviceError("device_id", device_id, f"a Vulkan device, but no Vulkan device was found{detail}; "
                          f"{VULKAN_HINT}", where=where)
    if device_id >= len(names):
        raise DeviceError("device_id", device_id, id_range(names, "Vulkan"), where=where)


CLASSES = (NCNN,)
"""The classes of this family."""

CACHE_KINDS: tuple[Kind, ...] = ()
"""NCNN keeps nothing of its own in the store (its probe verdicts are the generic ``first_use`` records)."""

OFFERS = (
    Offer(NCNN, frozenset({"nvidia", "amd", "intel"}), 60, plugin_loaded("ncnn")),
    Offer(NCNN, frozenset({"apple"}), 80, plugin_loaded("ncnn")),
)
"""What this family offers autoselect."""
