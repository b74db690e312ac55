"""ONNX Runtime backends (``core.ort``): CPU, CUDA, DirectML, CoreML."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar

from ... import device, plugins
from ...conversion import check_block_list
from ...errors import ArgumentError, DeviceError
from ...model import QDQ_OPS, ModelInfo, TensorInfo, graph_ops
from ...store.files import log_once
from ...store.inventory import Kind
from ..base import Backend
from ..devices import SeveralDevices
from ..fields import name_set, require
from ..guard import Kept, converted
from ..int8 import Int8
from ..plugin_io import as_nodes, auto_float_bits, compact, log_level_index
from ..registry import CPU, Environment, Offer, all_of, plugin_loaded
from .checks import parse_providers
from .checks import providers as ort_providers

if TYPE_CHECKING:
    import vapoursynth as vs


__all__ = ["CLASSES", "OFFERS", "ORT", "ORT_COREML", "ORT_CPU", "ORT_CUDA", "ORT_DML", "QDQ_OPS"]

logger = logging.getLogger(__name__)


def verbosity_scale(verbosity: int | None) -> int:
    """core.ort's ``verbosity`` for a field value.

    The value itself, or the ``vsinfer`` logger's level on the plugin's scale (higher prints more: DEBUG 4 ..
    CRITICAL 0).
    """
    return 4 - log_level_index() if verbosity is None else int(verbosity)


@dataclass(frozen=True, kw_only=True)
class ORT(Backend):
    """ONNX Runtime: the fields every execution provider shares. Use a subclass (ORT_CPU, ORT_CUDA...)."""

    class Verbosity(IntEnum):
        """core.ort's ``verbosity``: higher prints more.

        Measured on core.ort 17.1.1, onnxruntime's lines on stderr for one session of a small model: 0, 1, 2 print
        none, 3 prints 78 INFO lines, 4 prints 157 INFO and VERBOSE lines. vs-jetpack's ORT.Verbosity numbers them
        the other way round (VERBOSE = 0): see docs/migrating.md.
        """

        FATAL = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    class OutputFormat(IntEnum):
        """Sample type of the output clip."""

        FP32 = 0
        FP16 = 1

    namespace: ClassVar[str] = "ort"
    abstract: ClassVar[bool] = True
    """ORT names no execution provider: use one of its subclasses."""
    provider: ClassVar[str] = ""
    """The plugin's ``provider`` argument for this class."""

    num_streams: int = 1
    """Parallel inference streams (sessions); frames in flight at once."""
    verbosity: int | None = None
    """core.ort's log level 0 (fatal only) .. 4 (verbose), as ``ORT.Verbosity``; None follows the ``vsinfer`` logger:
    DEBUG 4, INFO 3, WARNING 2, ERROR 1, CRITICAL 0."""
    fp16: bool = True
    """Run the model in half precision (the plugin converts it, keeping the IO types of the clip; a quantized (Q/DQ)
    model, whose scales core.ort's conversion would make float16, is converted by vsinfer instead)."""
    fp16_blacklist_ops: Collection[str] | None = None
    """Op types kept in float32 by the fp16 conversion; only with ``fp16=True``."""
    fp16_guard: bool = True
    """Find the nodes whose values overflow float16 and keep them in float32 (see ``vsinfer.fp16``)."""
    output_format: int | None = None
    """OutputFormat of the output clip; None means the float precision of the input clips (half in, half out)."""

    def __post_init__(self) -> None:
        """Validate and normalize the fields."""
        super().__post_init__()
        where = type(self).__name__
        require(self.verbosity is None or self.verbosity in range(5), where, "verbosity", self.verbosity,
              "None or 0 (fatal only) .. 4 (verbose), an ORT.Verbosity")
        require(self.output_format is None or self.output_format in (0, 1), where, "output_format",
              self.output_format, "None, ORT.OutputFormat.FP32 (0) or ORT.OutputFormat.FP16 (1)")
        self._set("fp16_blacklist_ops", name_set(where, "fp16_blacklist_ops", self.fp16_blacklist_ops))
        require(not self.fp16_blacklist_ops or self.fp16, where, "fp16_blacklist_ops", self.fp16_blacklist_ops,
              "None when fp16=False (the block list only applies to the fp16 conversion)")

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """Provider, streams, verbosity and precision arguments of ``core.ort.Model``."""
        output_format = self.output_format
        if output_format is None:
            half = auto_float_bits(as_nodes(clips), None, self.fp16) == 16
            output_format = self.OutputFormat.FP16 if half else self.OutputFormat.FP32
        return compact({
            "provider": self.provider,
            "num_streams": self.num_streams,
            "verbosity": verbosity_scale(self.verbosity),
            "fp16": int(self.fp16),
            "fp16_blacklist_ops": list(self.fp16_blacklist_ops) if self.fp16_blacklist_ops else None,
            "output_format": int(output_format),
        })

    def input_bits(self, clips: Sequence[vs.VideoNode], model: ModelInfo) -> int:
        """Half floats for fp16 runs of integer clips and for fp16-IO models, else single floats."""
        return auto_float_bits(clips, model, self.fp16)

    def fixed_output_bits(self) -> int | None:
        """16 for ``output_format=1``, 32 for 0, None when unset."""
        return None if self.output_format is None else 16 if self.output_format == 1 else 32

    # -- precision and the fp16 guard --
    def precision(self) -> str:
        """fp16 or fp32 (the plugin converts the model itself)."""
        return "fp16" if self.fp16 else "fp32"

    def effective_precision(self) -> tuple[str, str]:
        """fp16 on the CPU provider: half-float storage, most kernels in float32 with casts between them."""
        if self.fp16 and self.provider == "CPU":
            return "fp16", ("ONNX Runtime's CPU provider has few fp16 kernels: it stores half floats and computes "
                            "most ops in float32, with casts (slower than float32 and less exact)")
        return self.precision(), ""

    def float32(self) -> ORT:
        """fp16 off (and so no block list)."""
        return dataclasses.replace(self, fp16=False, fp16_blacklist_ops=None)

    def half(self) -> ORT | None:
        """fp16 on."""
        return None if self.fp16 else dataclasses.replace(self, fp16=True)

    def guard_on(self) -> bool:
        """fp16 runs are checked unless ``fp16_guard`` is off."""
        return self.fp16 and self.fp16_guard

    def keep_in_float32(self, nodes: tuple[str, ...], model: ModelInfo, clips: Sequence[vs.VideoNode]) -> Kept:
        """The model converted here with the nodes (and the user's block list) in float32, run as given.

        Its IO is typed like the clips (or half when ``output_format`` asks for half floats): the plugin then runs
        it with ``fp16=False``, which leaves a converted model as it is.
        """
        half_out = self.output_format == self.OutputFormat.FP16
        io = "fp16" if half_out or self.input_bits(clips, model) == 16 else "fp32"
        model = converted(model, {*(self.fp16_blacklist_ops or ()), *nodes}, io)
        how = f"{type(self).__name__} keeps {len(nodes)} nodes in float32: {', '.join(nodes)}"
        return Kept(dataclasses.replace(self, fp16=False, fp16_blacklist_ops=None), model, how)

    # -- models core.ort cannot convert itself --
    def plugin_model(self, model: ModelInfo, bits: int) -> tuple[Backend, ModelInfo]:
        """An fp16 run of a quantized (Q/DQ) model: vsinfer's fp16 copy, Q/DQ in float32, run with ``fp16=False``.

        core.ort's own fp16 conversion types the QuantizeLinear / DequantizeLinear scales float16: below opset 19
        the session fails ("Type 'tensor(float16)' of input parameter ... of operator (DequantizeLinear) ... is
        invalid"), and from opset 19 on the picture is wrong (0.12 from float32 on the zoo's INT8 compact model,
        whose output spans 1.1: a float16 scale moves values across quantization steps, layer after layer).
        ``vsinfer.conversion`` keeps Q/DQ in float32, applies the user's block list and types the IO like the
        clips (8.7e-3 on that model at every opset); the plugin runs that cached copy as it is. If the conversion
        fails, float32 (the original model, fp16 off), with a warning.
        """
        if not self.fp16:
            return self, model
        ops = graph_ops(model)
        if not QDQ_OPS & set(ops.op_types):
            return self, model
        name = type(self).__name__
        exact = dataclasses.replace(self, fp16=False, fp16_blacklist_ops=None)
        try:
            half = converted(model, self.fp16_blacklist_ops or (), "fp16" if bits == 16 else "fp32")
        except Exception as exc:  # the plugin's own conversion is wrong for this model: float32 is always right
            log_once(logging.WARNING, ("ort-qdq", model.checksum, name), "%s: %s is a quantized (Q/DQ) model, "
                     "which core.ort cannot convert to fp16 right, and vsinfer's conversion failed (%s); it runs "
                     "in float32", name, model.path, exc, to=logger)
            return exact, model
        log_once(logging.INFO, ("ort-qdq", model.checksum, name), "%s: %s is a quantized (Q/DQ) model of opset %d "
                 "(core.ort's fp16 conversion makes its Q/DQ scales float16: invalid below opset 19, inexact "
                 "after): the plugin runs vsinfer's fp16 copy %s, Q/DQ in float32", name, model.path, ops.opset,
                 half.path, to=logger)
        return exact, half

    # -- checks --
    def check_call(self, model: ModelInfo, output: TensorInfo, flexible: bool, kwargs: Mapping[str, Any],
                   where: str) -> None:
        """Block-list entries that mean nothing for this model are named in a warning (the plugin ignores them)."""
        if self.fp16_blacklist_ops:
            check_block_list(model, self.fp16_blacklist_ops, where)

    def check_device(self, where: str) -> None:
        """The execution provider is compiled into the loaded core.ort."""
        if self.provider in ("", "CPU"):
            return
        providers = ort_providers()
        if self.provider not in providers:
            raise DeviceError(
                "provider",
                self.provider,
                f"a provider compiled into this core.ort build ({', '.join(providers)}); {where} needs one "
                f"with {self.provider} (pip install 'vsinfer[ort-cuda]' for CUDA; DML on Windows, COREML on macOS)",
                where=where,
            )

    @classmethod
    def devices_present(cls) -> tuple[str, ...]:
        """core.ort has no device query: unknown here (autoselect then counts the vendor's GPUs)."""
        return ()

    def check_plugin_kwargs(self, kwargs: Mapping[str, Any], where: str) -> None:
        """A forwarded ``provider`` is one of this build's."""
        if "provider" in kwargs:
            provider = plugins.as_text(kwargs["provider"])
            providers = ort_providers()
            if provider not in ("", *providers):
                raise ArgumentError("provider", kwargs["provider"],
                                    f"a provider of this core.ort build: {', '.join(repr(p) for p in providers)} "
                                    "(names are case-sensitive)", where=where)


@dataclass(frozen=True, kw_only=True)
class ORT_CPU(Int8, ORT):
    """ONNX Runtime on the CPU: float32 by default (measured faster and exact there; fp16=True is still there)."""

    provider: ClassVar[str] = "CPU"

    fp16: bool = False
    """Run the model in half precision. Off on the CPU: its provider computes most ops in float32 anyway, with
    casts around them, so fp16 measured 0.56x float32's speed at a larger error (AMD EPYC, AVX512-BF16)."""


@dataclass(frozen=True, kw_only=True)
class ORT_CUDA(SeveralDevices, ORT):
    """ONNX Runtime with the CUDA execution provider (needs ``vsinfer[ort-cuda]``)."""

    provider: ClassVar[str] = "CUDA"
    on_gpu: ClassVar[bool] = True

    cudnn_benchmark: bool = True
    """Let cuDNN benchmark convolution algorithms on the first frame."""
    use_cuda_graph: bool = False
    """Capture the inference in a CUDA graph (lower launch overhead, static shapes only)."""
    tf32: bool = False
    """Allow TF32 math in float32 convolutions and matmuls (Ampere and newer)."""
    prefer_nhwc: bool = False
    """Prefer NHWC layouts inside the CUDA provider."""

    @classmethod
    def devices_present(cls) -> tuple[str, ...]:
        """The devices CUDA sees (the driver applies ``CUDA_VISIBLE_DEVICES``), by CUDA device id.

        core.ort has no device query, and ``devices="all"`` must count CUDA devices, not display controllers.
        """
        return device.cuda_devices()

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """The ORT arguments plus the CUDA provider's options."""
        return super().get_args(clips) | {
            "device_id": self.device_id,
            "cudnn_benchmark": int(self.cudnn_benchmark),
            "use_cuda_graph": int(self.use_cuda_graph),
            "tf32": int(self.tf32),
            "prefer_nhwc": int(self.prefer_nhwc),
        }


@dataclass(frozen=True, kw_only=True)
class ORT_DML(SeveralDevices, ORT):
    """ONNX Runtime with DirectML (Windows, any DirectX 12 GPU)."""

    provider: ClassVar[str] = "DML"
    on_gpu: ClassVar[bool] = True


    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """The ORT arguments plus the adapter index."""
        return super().get_args(clips) | {"device_id": self.device_id}


@dataclass(frozen=True, kw_only=True)
class ORT_COREML(ORT):
    """ONNX Runtime with CoreML (macOS)."""

    class MLProgram(IntEnum):
        """CoreML model format."""

        NEURAL_NETWORK = 0
        ML_PROGRAM = 1

    provider: ClassVar[str] = "COREML"

    ml_program: int = MLProgram.NEURAL_NETWORK
    """CoreML model format: NEURAL_NETWORK (0) or ML_PROGRAM (1); the plugin needs a CoreML build."""

    def __post_init__(self) -> None:
        """Validate ``ml_program`` too."""
        super().__post_init__()
        require(self.ml_program in (0, 1), type(self).__name__, "ml_program", self.ml_program,
              "ORT_COREML.MLProgram.NEURAL_NETWORK (0) or ML_PROGRAM (1)")

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """The ORT arguments plus the CoreML model format."""
        return super().get_args(clips) | {"ml_program": int(self.ml_program)}


def providers(env: Environment) -> frozenset[str]:
    """Execution providers compiled into the ort plugin of ``env``."""
    status = env.plugins.get("ort")
    return frozenset(parse_providers(status.info.get("providers", "") if status else ""))


def _provider(name: str, hint: str) -> Callable[[Environment], str | None]:
    return lambda env: None if name in providers(env) else f"this ort build has no {name} provider ({hint})"


def _windows(env: Environment) -> str | None:
    return None if env.os == "windows" else "DirectML needs Windows"


_CUDA_WHEEL = "vapoursynth-mlrt-ort-cuda"


def _cuda_libraries(env: Environment) -> str | None:
    if _CUDA_WHEEL in env.distributions:
        return None
    return "the CUDA provider's libraries are missing: pip install 'vsinfer[ort-cuda]'"


CACHE_KINDS: tuple[Kind, ...] = ()
"""ONNX Runtime keeps nothing of its own in the store (the converted models it runs are the store's own kind)."""

CLASSES = (ORT, ORT_CPU, ORT_CUDA, ORT_DML, ORT_COREML)
"""The classes of this family, by name in ``Backend``."""

_ort = plugin_loaded("ort")
OFFERS = (
    Offer(ORT_DML, frozenset({"nvidia", "amd", "intel"}), 80,
          all_of(_windows, _ort, _provider("DML", "a Windows build"))),
    Offer(ORT_CUDA, frozenset({"nvidia"}), 70,
          all_of(_ort, _provider("CUDA", "pip install 'vsinfer[ort-cuda]'"), _cuda_libraries),
          distributions=(_CUDA_WHEEL,)),
    Offer(ORT_COREML, frozenset({"apple"}), 70, all_of(_ort, _provider("COREML", "a macOS build"))),
    Offer(ORT_CPU, frozenset({CPU}), 10, _ort),
)
"""What this family offers autoselect."""
