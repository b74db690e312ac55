"""Write the hand-made 2x upscaler (bicubic taps + light sharpening) that vsinfer's first demo shipped.

The shipped demo model (src/vsinfer/models/demo_2x.onnx) is now a trained network (tools/train_sr.py); this
one is kept reproducible as the baseline tools/evaluate_sr.py compares it with.

The model is a depthwise ConvTranspose whose taps are the Catmull-Rom (a=-0.5) bicubic weights at the two
output phases of a 2x grid, followed by a depthwise 3x3 sharpening convolution. Edges are replicated
first (Pad mode=edge) so borders do not darken. It is a hand-made network, not a trained one; any RGB
float clip goes in, the same clip at twice the size comes out.

    python scripts/make_demo_model.py [OUT]          # default build/demo_2x_handmade.onnx
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "build" / "demo_2x_handmade.onnx"


def cubic(x: float, a: float = -0.5) -> float:
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def taps_1d() -> np.ndarray:
    # ConvTranspose(k=8, stride=2, pad=3): weight index p + 3 - 2t feeds output phase p from input offset t.
    w = np.zeros(8, dtype=np.float64)
    for p, ts in ((0, range(-2, 2)), (1, range(-1, 3))):
        phase = p / 2 - 0.25
        for t in ts:
            w[p + 3 - 2 * t] = cubic(t - phase)
    return w


def build() -> onnx.ModelProto:
    k1 = taps_1d()
    up = np.tile(np.outer(k1, k1)[None, None], (3, 1, 1, 1)).astype(np.float32)
    s = 0.12
    sharp = np.array([[0, -s, 0], [-s, 1 + 4 * s, -s], [0, -s, 0]], dtype=np.float32)
    sharp = np.tile(sharp[None, None], (3, 1, 1, 1))
    pad = 2
    nodes = [
        helper.make_node("Pad", ["input", "pads"], ["padded"], mode="edge"),
        helper.make_node("ConvTranspose", ["padded", "up_w"], ["up"], group=3, strides=[2, 2], pads=[3, 3, 3, 3],
                         kernel_shape=[8, 8]),
        helper.make_node("Conv", ["up", "sharp_w"], ["sharpened"], group=3, pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Slice", ["sharpened", "starts", "ends", "axes"], ["output"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0, 0, pad, pad, 0, 0, pad, pad], dtype=np.int64), "pads"),
        numpy_helper.from_array(up, "up_w"),
        numpy_helper.from_array(sharp, "sharp_w"),
        numpy_helper.from_array(np.array([2 * pad, 2 * pad], dtype=np.int64), "starts"),
        numpy_helper.from_array(np.array([-2 * pad, -2 * pad], dtype=np.int64), "ends"),
        numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"),
    ]
    graph = helper.make_graph(
        nodes,
        "vsinfer_demo_2x",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "height2", "width2"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="vsinfer")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build(), out)
    print(out)
