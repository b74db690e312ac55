"""One zoo cell: a zoo model on one backend, compared with onnxruntime float32 on the same input.

``python -m tests.zoo.cells MODEL BACKEND`` runs a cell and prints its outcome as one JSON line on stdout, so that
``test_zoo.py`` can run the cells whose plugin may kill the process (NCNN) in a child process.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ZOO = Path(__file__).resolve().parent.parent / "data" / "zoo"
NOISE_LEVEL = 0.1
"""DRUNet's noise-level plane (DPIR's strength / 255)."""


@dataclass(frozen=True)
class Outcome:
    """What a cell gave: a picture and its error against float32, or a vsinfer error, or something else."""

    kind: str  # "picture", "vsinfer-error", "other-error"
    error_type: str = ""
    message: str = ""
    max_error: float = float("nan")
    scale: float = float("nan")  # max |reference|: the errors are judged relative to it
    shape: tuple[int, ...] = ()


def manifest() -> dict[str, Any]:
    """The zoo's manifest (tools/make_zoo.py writes it)."""
    data: dict[str, Any] = json.loads((ZOO / "manifest.json").read_text())
    return data


def backend(name: str) -> Any:
    """A backend by its short label: ORT_CPU, ORT_CPU_fp16, OV_CPU, OV_CPU_fp32, NCNN, NCNN_fp32."""
    from vsinfer import Backend

    return {
        "ORT_CPU": lambda: Backend.ORT_CPU(),
        "ORT_CPU_fp16": lambda: Backend.ORT_CPU(fp16=True),
        "OV_CPU": lambda: Backend.OV_CPU(),
        "OV_CPU_fp32": lambda: Backend.OV_CPU(fp16=False),
        "NCNN": lambda: Backend.NCNN(),
        "NCNN_fp32": lambda: Backend.NCNN(fp16=False),
    }[name]()


def cell_input(facts: dict[str, Any]) -> np.ndarray:
    """The (1, C, H, W) float32 input of a cell: the model's smallest accepted size, smooth random content."""
    h, w = min(facts["sizes"], key=lambda s: (s[0] * s[1], s))
    channels = facts["inputs"][0]["shape"][1]
    rng = np.random.default_rng(7)
    x = rng.random((1, channels, h, w), dtype=np.float32)
    if channels == 4:  # DPIR: RGB and the noise-level plane
        x[:, 3] = NOISE_LEVEL
    return x


def reference(name: str, x: np.ndarray) -> np.ndarray:
    """onnxruntime float32 (the Python package, CPU) on ``x``: the model's first output."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(ZOO / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def clips_for(x: np.ndarray) -> list[Any]:
    """The clips a user passes for input ``x``: RGB (+ a GRAY noise plane for 4 channels) or GRAY."""
    import vapoursynth as vs

    from tests.conftest import clip_from_planes

    planes = x[0]
    if planes.shape[0] == 1:
        return [clip_from_planes(planes, vs.GRAYS, length=1)]
    clips = [clip_from_planes(planes[:3], vs.RGBS, length=1)]
    if planes.shape[0] == 4:
        clips.append(clip_from_planes(planes[3:], vs.GRAYS, length=1))
    return clips


def run_cell(name: str, backend_name: str) -> Outcome:
    """Run zoo model ``name`` on ``backend_name`` and compare it with onnxruntime float32."""
    from tests.conftest import planes_of
    from vsinfer.errors import VsinferError

    facts = manifest()[name]
    x = cell_input(facts)
    ref = reference(name, x)
    try:
        out = backend(backend_name).inference(clips_for(x), ZOO / f"{name}.onnx")
        got = planes_of(out)[None]
    except VsinferError as exc:
        return Outcome("vsinfer-error", type(exc).__name__, str(exc))
    except Exception as exc:  # a raw error: the test fails on it
        return Outcome("other-error", type(exc).__name__, str(exc))
    if got.shape != ref.shape:
        return Outcome("picture", message=f"shape {got.shape} != {ref.shape}", shape=got.shape)
    error = float(np.nanmax(np.abs(got.astype(np.float64) - ref))) if np.isfinite(got).all() else float("inf")
    return Outcome("picture", max_error=error, scale=float(np.abs(ref).max()), shape=got.shape)


def main(argv: list[str]) -> int:
    """Run one cell; print its outcome as JSON on stdout."""
    outcome = run_cell(argv[0], argv[1])
    print(json.dumps(asdict(outcome)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
