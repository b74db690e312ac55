"""What core.ncnn can take, known from the model alone: its converter's op table and the model's shape of IO.

core.ncnn converts the ONNX model itself (vs-mlrt's copy of ncnn's ``onnx2ncnn``) when ``Model`` is called. On
an op it has no rule for it prints "<op> not supported yet!" to stderr and the plugin then refuses with "load
param failed"; on some graphs (a ``Cast``, ``Shape`` or ``Mod`` it cannot read, shape arithmetic it cannot
follow) it crashes the whole process (SIGSEGV, SIGABRT), and on others it returns a wrong picture. So
``unsupported_ops`` compares the model's op types with the converter's own table (facts read from its source,
``CONVERTER_OPS``) and refuses a model with an op the converter has no rule for before the plugin; what only
running can tell is left to the generic first-use probe (``vsinfer.backends.first_use``), which NCNN asks for on
every first use (``NCNN.probe_spec``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...errors import BuildError, ModelError
from ...model import graph_ops

if TYPE_CHECKING:
    from ...model import ModelInfo

__all__ = ["ALTERNATIVES", "CONVERTER_MESSAGES", "CONVERTER_OPS", "FUSED_OPS", "REWRITTEN_OPS", "check_model",
           "model_ops", "unsupported_ops", "vulkan_loader_error"]

CONVERTER_OPS = frozenset({
    "Abs", "Acos", "Add", "Asin", "Atan", "AveragePool", "MaxPool", "BatchNormalization", "BiasGelu", "Ceil", "Clip",
    "Concat", "Constant", "Conv", "ConvTranspose", "Cos", "Crop", "DepthToSpace", "Div", "Dropout", "Elu",
    "EmbedLayerNormalization", "Exp", "Flatten", "Floor", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "GroupNorm", "GRU", "HardSigmoid", "HardSwish", "ImageScaler",
    "InstanceNormalization", "LayerNorm", "LeakyRelu", "Log", "LRN", "LSTM", "MatMul", "Max", "Min", "Mul",
    "MultiHeadAttention", "Neg", "Normalize", "Pad", "PixelShuffle", "Pow", "PRelu", "Reciprocal", "ReduceMax",
    "ReduceMin", "ReduceMean", "ReduceProd", "ReduceSum", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "Relu", "Reorg", "Reshape", "RNN", "RDiv", "RSub", "ShuffleChannel", "Sigmoid", "Sin",
    "SkipLayerNormalization", "Slice", "Softmax", "Softplus", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Swish",
    "Tan", "Tanh", "Transpose", "Upsample", "Resize", "Unsqueeze",
})
"""The op types core.ncnn's converter writes a layer for (vs-mlrt ``vsncnn/onnx2ncnn.cpp``, the table that ends
in "not supported yet!"). Anything else must be removed by one of its fusions first."""

FUSED_OPS = frozenset({"Shape", "Gather", "Expand"})
"""Op types the converter has no layer for but its fusions may remove (flatten, normalize, a Gather of one
constant index, Expand before a broadcasting op): left to the probe to judge."""

REWRITTEN_OPS = frozenset({"Identity"})
"""Op types vsinfer removes before the plugin sees the model (``vsinfer.conversion.without_identity``)."""

ALTERNATIVES = "ORT_CPU or OV_CPU (CPU), TRT / TRT_RTX (NVIDIA), ORT_DML (Windows), MIGX (AMD)"
"""What to use instead, in messages."""

CONVERTER_MESSAGES = ("not supported yet", "Unknown data type", "load param failed")
"""Words of the lines core.ncnn's converter prints on stderr when it cannot convert a model (quoted in errors)."""


def unsupported_ops(op_types: Sequence[str]) -> list[str]:
    """The op types among ``op_types`` that the converter can neither convert nor fuse away (sorted)."""
    return sorted(set(op_types) - CONVERTER_OPS - FUSED_OPS - REWRITTEN_OPS)


def model_ops(model: ModelInfo) -> tuple[str, ...]:
    """The op types of the model's graph (and subgraphs), read once per file and content."""
    return graph_ops(model).op_types


def check_model(model: ModelInfo, namespace: str, where: str) -> None:
    """What the plugin cannot take, known from the model alone (facts, no process): raise before it is called.

    External data (the plugin reads the .onnx file alone), more than one output, and op types its converter has
    no rule for (it would fail with "load param failed" or kill the process).
    """
    if model.external:
        raise ModelError("network_path", model.path, "a model with its weights inside the .onnx file: it keeps them "
                         f"in {', '.join(model.external)}, and the vs-mlrt plugins read the .onnx file alone "
                         "(core.ncnn crashes on it); save a copy with onnx.save_model(onnx.load(path), new_path)",
                         where=where)
    if len(model.outputs) > 1:
        names = ", ".join(o.name for o in model.outputs)
        raise ModelError("network_path", model.path, f"a model with one output; it has {len(model.outputs)} "
                         f"({names}) and core.{namespace} takes one: keep the image output only, e.g. "
                         "onnx.utils.extract_model(path, new_path, [input name], [output name])", where=where)
    missing = unsupported_ops(model_ops(model))
    if missing:
        raise BuildError(f"{where}: core.{namespace} cannot run {model.path}: its ONNX converter has no rule for "
                         f"{', '.join(missing)} (it fails with \"load param failed\" or kills the process); use "
                         f"another backend: {ALTERNATIVES}")


def vulkan_loader_error() -> str | None:
    """Why the Vulkan loader library cannot be opened, or None when it can (it says nothing about devices)."""
    import ctypes
    import sys

    names = {"win32": ["vulkan-1.dll"], "darwin": ["libvulkan.1.dylib", "libMoltenVK.dylib"]}.get(
        sys.platform, ["libvulkan.so.1"]
    )
    errors: list[str] = []
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError as exc:
            errors.append(str(exc))
        else:
            return None
    return "; ".join(errors)
