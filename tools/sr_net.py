"""The demo network: a tiny ESPCN-like 2x super-resolution net, in PyTorch and as a hand-written ONNX graph.

    out = DepthToSpace(tail(act(body(act(head(x))))) + skip(pad_edge(x)))     act = LeakyReLU(0.1)

``head`` is a 5x5 conv (3 -> feats), ``body`` a few 3x3 convs (feats -> feats), ``tail`` a 3x3 conv
(feats -> 12): four sub-pixel phases per RGB channel. ``skip`` is a depthwise 7x7 conv (3 -> 12): a linear 2x
upscale (four phase filters per channel) that starts as the least-squares best linear filter for the training
pictures (or as Catmull-Rom), so the untrained net is already a good linear upscale and training learns what a
linear filter cannot do (``tail`` starts at zero; the leaky slope keeps every feature alive from the first step).
The ONNX graph is written node by node (not by torch.onnx) so it holds only Conv, LeakyRelu, Pad, Add and
DepthToSpace: ops every vs-mlrt runtime (ORT, OpenVINO, NCNN, TensorRT) handles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sr_resample import bicubic_kernel

if TYPE_CHECKING:
    import onnx
    import torch

SCALE = 2
PAD = 3  # the skip filter reaches three input pixels either side
SLOPE = 0.1  # LeakyReLU


def catmull_rom_phases() -> np.ndarray:
    """(4, 7, 7) filters: phase (py, px) of a 2x Catmull-Rom upscale as a 7x7 kernel on the edge-padded input."""
    taps = np.zeros((SCALE, 2 * PAD + 1))
    for p in range(SCALE):
        centre = (p + 0.5) / SCALE - 0.5  # output pixel p's position on the input grid, relative to pixel 0
        offsets = np.arange(-PAD, PAD + 1)
        taps[p] = bicubic_kernel(offsets - centre, 0.0, 0.5)
    return np.stack([np.outer(taps[py], taps[px]) for py in range(SCALE) for px in range(SCALE)])


def make_net(feats: int, blocks: int, skip: np.ndarray | None = None) -> torch.nn.Module:
    """The PyTorch module (torch is imported lazily: only training needs it).

    ``skip``: (4, 7, 7) phase filters for the linear path (Catmull-Rom's when None).
    """
    import torch
    from torch import nn
    from torch.nn import functional as F  # noqa: N812

    class TinySR(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Conv2d(3, feats, 5, padding=2)
            self.body = nn.ModuleList(nn.Conv2d(feats, feats, 3, padding=1) for _ in range(blocks))
            self.tail = nn.Conv2d(feats, 3 * SCALE * SCALE, 3, padding=1)
            self.skip = nn.Conv2d(3, 3 * SCALE * SCALE, 2 * PAD + 1, groups=3, bias=False)
            with torch.no_grad():
                nn.init.zeros_(self.tail.weight)
                nn.init.zeros_(self.tail.bias)
                phases = torch.from_numpy(catmull_rom_phases() if skip is None else skip).float()
                self.skip.weight.copy_(phases[:, None].repeat(3, 1, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = F.leaky_relu(self.head(x), SLOPE)
            for conv in self.body:
                f = F.leaky_relu(conv(f), SLOPE)
            skip = self.skip(F.pad(x, (PAD, PAD, PAD, PAD), mode="replicate"))
            return F.pixel_shuffle(self.tail(f) + skip, SCALE)

    return TinySR()


def to_onnx(net: torch.nn.Module) -> onnx.ModelProto:
    """The trained net as an opset-17 ONNX model: float32 NCHW RGB, input "input" [1, 3, H, W], dynamic H and W."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def conv(x: str, layer: torch.nn.Module, name: str, *, pads: int, group: int = 1) -> str:
        weight = layer.weight.detach().cpu().numpy().astype(np.float32)
        inits.append(numpy_helper.from_array(weight, f"{name}.weight"))
        inputs = [x, f"{name}.weight"]
        if layer.bias is not None:
            inits.append(numpy_helper.from_array(layer.bias.detach().cpu().numpy().astype(np.float32), f"{name}.bias"))
            inputs.append(f"{name}.bias")
        nodes.append(helper.make_node("Conv", inputs, [name], name=name, kernel_shape=list(weight.shape[2:]),
                                      pads=[pads] * 4, group=group))
        return name

    def act(x: str) -> str:
        nodes.append(helper.make_node("LeakyRelu", [x], [f"{x}.act"], name=f"{x}.act", alpha=SLOPE))
        return f"{x}.act"

    f = act(conv("input", net.head, "head", pads=2))
    for i, layer in enumerate(net.body):
        f = act(conv(f, layer, f"body{i}", pads=1))
    residual = conv(f, net.tail, "tail", pads=1)
    inits.append(numpy_helper.from_array(np.array([0, 0, PAD, PAD, 0, 0, PAD, PAD], dtype=np.int64), "skip.pads"))
    nodes.append(helper.make_node("Pad", ["input", "skip.pads"], ["padded"], name="pad", mode="edge"))
    skip = conv("padded", net.skip, "skip", pads=0, group=3)
    nodes.append(helper.make_node("Add", [residual, skip], ["phases"], name="add"))
    nodes.append(helper.make_node("DepthToSpace", ["phases"], ["output"], name="shuffle", blocksize=SCALE,
                                  mode="CRD"))
    graph = helper.make_graph(
        nodes,
        "vsinfer_demo_2x",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "height2", "width2"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="vsinfer-train_sr")
    model.ir_version = 8
    model.doc_string = "vsinfer demo: 2x super-resolution (RGB float32 in [0, 1]), trained by tools/train_sr.py"
    onnx.checker.check_model(model, full_check=True)
    return model
