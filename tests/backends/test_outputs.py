"""Models with several outputs: the plugins run one, so inference runs a cached copy with the one asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import vapoursynth as vs
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import clip_from_planes, need_plugin, pattern, planes_of, reference
from vsinfer import Backend
from vsinfer.errors import ModelError


def two_outputs(path: Path, second_image: bool = False) -> Path:
    """A 3->3 conv ("image") and a second output: a global mean (small) or another image ("twin")."""
    weight = numpy_helper.from_array((np.random.default_rng(0).standard_normal((3, 3, 3, 3)) * 0.2)
                                     .astype(np.float32), "W")
    nodes = [helper.make_node("Conv", ["input", "W"], ["image"], pads=[1, 1, 1, 1], name="conv")]
    if second_image:
        nodes.append(helper.make_node("Neg", ["image"], ["twin"], name="neg"))
        second = helper.make_tensor_value_info("twin", TensorProto.FLOAT, [1, 3, "h", "w"])
    else:
        nodes.append(helper.make_node("ReduceMean", ["image"], ["score"], keepdims=0, name="mean"))
        second = helper.make_tensor_value_info("score", TensorProto.FLOAT, [])
    graph = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                           [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"]), second],
                              [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_the_image_output_runs_by_default_and_output_picks_another(tmp_path: Path) -> None:
    need_plugin("ort")
    x = pattern(3, 16, 24)
    model = two_outputs(tmp_path / "image_and_score.onnx")
    out = Backend.ORT_CPU().inference(clip_from_planes(x, vs.RGBS), model)
    np.testing.assert_allclose(planes_of(out), reference(model, x[None])[0], atol=1e-5)
    twins = two_outputs(tmp_path / "twins.onnx", second_image=True)
    with pytest.raises(ModelError, match=r"output=.*'image'.*'twin'"):
        Backend.ORT_CPU().inference(clip_from_planes(x, vs.RGBS), twins)
    for chosen in ("twin", 1):
        out = Backend.ORT_CPU().inference(clip_from_planes(x, vs.RGBS), twins, output=chosen)
        np.testing.assert_allclose(planes_of(out), -reference(model, x[None])[0], atol=1e-5)


@pytest.mark.parametrize("output", [2, -1, "nope", 1.5])
def test_an_output_the_model_lacks_is_refused(tmp_path: Path, output: object,
                                              forbid_plugin_call: list[str]) -> None:
    model = two_outputs(tmp_path / "twins.onnx", second_image=True)
    with pytest.raises(ModelError, match="output"):
        Backend.ORT_CPU().inference(clip_from_planes(pattern(3, 16, 24), vs.RGBS), model, output=output)
