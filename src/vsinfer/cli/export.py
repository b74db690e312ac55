"""``vsinfer export MODEL.pth|.safetensors [-o OUT.onnx]``: a PyTorch model file as ONNX, through spandrel."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from ..export import default_output, export_model, is_torch_model
from .common import Json, UsageError, emit_json, out

__all__ = ["cmd_export"]


def cmd_export(
    model: Path,
    *,
    output: Annotated[Path | None, Parameter(name=["--output", "-o"])] = None,
    json: Json = False,
) -> int:
    """Export a PyTorch model file (.pth, .pt, .ckpt, .safetensors) to ONNX with dynamic height and width.

    The weights are read without running pickled code; spandrel recognises the architecture. The export is
    kept in the cache under the file's content, so inference() on the same .pth finds it. Needs the export extra:
    pip install 'vsinfer[export]'.

    Args:
        model: The PyTorch model file.
        output: Where to write the ONNX file (default: MODEL with the suffix .onnx, beside it).
        json: Print the result as JSON.

    """
    if not is_torch_model(model):
        raise UsageError(f"MODEL={str(model)!r} is not valid; expected a .pth, .pt, .ckpt or .safetensors file")
    target = output or default_output(model)
    if target.resolve() == model.resolve():
        raise UsageError(f"--output={str(target)!r} is the model file itself; name another file")
    exported = export_model(model, target)
    if json:
        emit_json({k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(exported).items()})
        return 0
    multiple = f", sizes multiple of {exported.multiple}" if exported.multiple > 1 else ""
    out().print(f"{exported.path}: {exported.architecture}, {exported.scale}x, {exported.input_channels} -> "
                f"{exported.output_channels} channels{multiple} (from {model.name})")
    return 0
