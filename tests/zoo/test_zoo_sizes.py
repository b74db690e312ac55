"""Zoo models at a frame size that is a multiple of nothing: refused before the plugin, or right with "auto".

Without ``multiple=``, a model that needs a multiple is refused with a ModelError that names it; with
``multiple="auto"``, the output equals onnxruntime float32 on the edge-padded frame, cropped back.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import need_plugin, planes_of
from tests.zoo.cells import ZOO, cell_input, clips_for, manifest
from vsinfer import Backend, sizes
from vsinfer.errors import ModelError
from vsinfer.model import model_info

MODELS = sorted(manifest())
BACKENDS = {"ORT_CPU": lambda: Backend.ORT_CPU(), "OV_CPU_fp32": lambda: Backend.OV_CPU(fp16=False)}
NAMESPACE = {"ORT_CPU": "ort", "OV_CPU_fp32": "ov"}


def odd_input(name: str) -> np.ndarray:
    """The cell's input grown by 3 columns and 5 rows (edge-replicated): a size that is a multiple of nothing."""
    x = cell_input(manifest()[name])
    return np.pad(x, ((0, 0), (0, 0), (0, 5), (0, 3)), mode="edge")


def padded_reference(name: str, x: np.ndarray, multiple: int) -> np.ndarray:
    """onnxruntime float32 on ``x`` edge-padded to ``multiple``, cropped back by the model's scale."""
    import onnxruntime as ort

    _, _, h, w = x.shape
    ph, pw = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    padded = np.pad(x, ((0, 0), (0, 0), (0, ph - h), (0, pw - w)), mode="edge")
    session = ort.InferenceSession(str(ZOO / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    out = np.asarray(session.run(None, {session.get_inputs()[0].name: padded})[0])
    scale = out.shape[3] // pw
    return out[:, :, : h * scale, : w * scale]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("name", MODELS)
def test_an_odd_size(name: str, backend: str) -> None:
    need_plugin(NAMESPACE[backend])
    x = odd_input(name)
    multiple = sizes.model_multiple(model_info(ZOO / f"{name}.onnx")).multiple
    assert multiple is not None, name
    if multiple > 1:
        with pytest.raises(ModelError, match=rf"multiples of {multiple}.*pass multiple={multiple}"):
            BACKENDS[backend]().inference(clips_for(x), ZOO / f"{name}.onnx")
    got = planes_of(BACKENDS[backend]().inference(clips_for(x), ZOO / f"{name}.onnx", multiple="auto"))[None]
    ref = padded_reference(name, x, multiple)
    assert got.shape == ref.shape
    exact = 3e-2 if manifest()[name]["exporter"].endswith("qdq") else 1e-4  # int8 kernels differ by a step
    assert float(np.abs(got - ref).max()) <= exact * max(1.0, float(np.abs(ref).max())), name


def test_ncnn_on_drunet_at_an_odd_size() -> None:
    """The DPIR size that used to kill the process: refused before core.ncnn, and right with "auto"."""
    need_plugin("ncnn")  # and a Vulkan device
    x = odd_input("drunet")
    with pytest.raises(ModelError, match="pass multiple=8"):
        Backend.NCNN(fp16=False).inference(clips_for(x), ZOO / "drunet.onnx")
    got = planes_of(Backend.NCNN(fp16=False).inference(clips_for(x), ZOO / "drunet.onnx", multiple="auto"))[None]
    ref = padded_reference("drunet", x, 8)
    assert float(np.abs(got - ref).max()) <= 2e-2 * max(1.0, float(np.abs(ref).max()))
