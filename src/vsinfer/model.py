"""ONNX introspection: input names, channels, IO precision, dynamic dims, content checksum.

A model is read once per (path, size, mtime_ns) in a process; ``engine.store`` keeps the same facts on
disk so that a later process resolving a cached engine does not re-read a large model.
"""

from __future__ import annotations

import logging
import os
import threading
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError

__all__ = ["ModelInfo", "TensorInfo", "model_info", "stat_key"]

logger = logging.getLogger(__name__)

# onnx.TensorProto element types, spelled out so that reading a cached ModelInfo does not import onnx.
FLOAT = 1
FLOAT16 = 10
BFLOAT16 = 16
_TYPE_NAMES = {FLOAT: "float32", FLOAT16: "float16", BFLOAT16: "bfloat16"}


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output."""

    name: str
    """Tensor name in the graph."""
    elem_type: int
    """ONNX element type (``onnx.TensorProto`` value: 1 float32, 10 float16, ...)."""
    shape: tuple[int | None, ...]
    """Dimensions, None where the dim is dynamic (a dim_param or unset)."""

    @property
    def type_name(self) -> str:
        """Readable element type name."""
        return _TYPE_NAMES.get(self.elem_type, f"onnx type {self.elem_type}")

    @property
    def channels(self) -> int | None:
        """The channel dim of an NCHW tensor, None when dynamic or not 4-D."""
        return self.shape[1] if len(self.shape) == 4 else None

    @property
    def spatial(self) -> tuple[int | None, int | None]:
        """(width, height) of an NCHW tensor; None for a dynamic dim."""
        if len(self.shape) != 4:
            return (None, None)
        return (self.shape[3], self.shape[2])


@dataclass(frozen=True)
class ModelInfo:
    """What vsinfer needs to know about an ONNX file, read without loading external weights."""

    path: str
    """Absolute path of the file."""
    checksum: int
    """CRC32 of the file's bytes: the model's content identity."""
    inputs: tuple[TensorInfo, ...]
    """Graph inputs that are not initializers."""
    outputs: tuple[TensorInfo, ...]
    """Graph outputs."""
    foreign_ops: tuple[str, ...] | None = None
    """Ops ("domain.op") outside the ONNX standard domains and the runtimes' own; None when not recorded (an old
    memo): ``vsinfer.inputs`` then reads the model once to find them."""

    def input(self, name: str | None = None) -> TensorInfo:
        """The input called ``name``; without a name, the model's only input."""
        for tensor in self.inputs:
            if tensor.name == name:
                return tensor
        if len(self.inputs) != 1:  # a single-input model answers to any name
            raise ModelError(
                "input_name", name, f"one of the model's inputs {[t.name for t in self.inputs]}", where=self.path
            )
        return self.inputs[0]

    def input_for(self, channels: int, name: str | None = None) -> TensorInfo:
        """The input ``name`` (or the only one), checked to take ``channels`` channels."""
        tensor = self.input(name)
        if tensor.channels is not None and tensor.channels != channels:
            raise ModelError("channels", channels, f"{tensor.channels}, the channels of input {tensor.name!r}",
                             where=self.path)
        return tensor

    @property
    def fp16_io(self) -> bool:
        """True when the (only) input is float16: the clip must be 16-bit float."""
        return self.input().elem_type == FLOAT16

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_json`` reads it back."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        """Rebuild from ``to_json`` output."""

        def tensors(items: list[dict[str, Any]]) -> tuple[TensorInfo, ...]:
            return tuple(TensorInfo(t["name"], int(t["elem_type"]), tuple(t["shape"])) for t in items)

        foreign = data.get("foreign_ops")
        return cls(str(data["path"]), int(data["checksum"]), tensors(data["inputs"]), tensors(data["outputs"]),
                   None if foreign is None else tuple(str(op) for op in foreign))


def stat_key(path: Path) -> tuple[str, int, int]:
    """(absolute path, size, mtime_ns): changes whenever the file is rewritten."""
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _tensor(value_info: Any) -> TensorInfo:
    tensor_type = value_info.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim)
    return TensorInfo(value_info.name, int(tensor_type.elem_type), dims)


def read_model(path: Path) -> ModelInfo:
    """Read ``path`` once: its CRC32 and its graph inputs / outputs. Raises ModelError for a bad file."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError("network_path", str(path), "a readable ONNX file", where="model") from exc
    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError("network_path", str(path), "an ONNX model file (it could not be parsed)") from exc
    graph = proto.graph
    if not graph.input and not graph.output:
        raise ModelError("network_path", str(path), "an ONNX model file with a graph (none found)")
    initializers = {init.name for init in graph.initializer}
    inputs = tuple(_tensor(v) for v in graph.input if v.name not in initializers)
    outputs = tuple(_tensor(v) for v in graph.output)
    from .inputs import foreign_ops

    return ModelInfo(str(path.resolve()), zlib.crc32(data), inputs, outputs, foreign_ops(proto))


_memo: dict[tuple[str, int, int], ModelInfo] = {}
_memo_lock = threading.Lock()


def model_info(network_path: str | os.PathLike[str]) -> ModelInfo:
    """ModelInfo of ``network_path``, read once per process for each (path, size, mtime_ns)."""
    path = Path(network_path)
    if not path.is_file():
        raise ModelError("network_path", str(network_path), "an existing ONNX file")
    key = stat_key(path)
    with _memo_lock:
        cached = _memo.get(key)
    if cached is not None:
        return cached
    from .engine.store import model_memo  # the on-disk memo lives with the other cached artifacts

    info = model_memo().get(key)
    if info is None:
        logger.debug("reading %s", path)
        info = read_model(path)
        model_memo().put(key, info)
    with _memo_lock:
        _memo[key] = info
    return info
