"""Colour: YUV and GRAY clips into a model give outputs whose frame properties agree with what they are."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from tests.conftest import ModelFactory, need_plugin, planes_of
from vsinfer import Backend

core = vs.core


def _props(clip: vs.VideoNode) -> dict[str, object]:
    return dict(clip.get_frame(0).props)


def _yuv(fmt: int = vs.YUV444P8) -> vs.VideoNode:
    clip = core.std.BlankClip(format=fmt, width=32, height=24, color=[235, 128, 128], length=1)
    return core.std.SetFrameProps(clip, _Matrix=1, _Transfer=1, _Primaries=1, _ChromaLocation=0)


def test_yuv_into_an_rgb_model_is_labelled_rgb_and_resizes(make_model: ModelFactory,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    need_plugin("ort")
    with caplog.at_level(logging.INFO, logger="vsinfer"):
        out = Backend.ORT_CPU().inference(_yuv(), make_model(3, 3))
    props = _props(out)
    assert out.format.color_family == vs.RGB
    assert "_Matrix" not in props and "_ChromaLocation" not in props
    assert props["_Transfer"] == 1 and props["_Primaries"] == 1
    assert props["_Range"] == vs.RANGE_FULL
    core.resize.Bicubic(out, format=vs.YUV420P8, matrix_s="709").get_frame(0)  # used to fail: RGB with a YUV matrix
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "expect RGB" in r.getMessage()]
    assert len(warnings) == 1
    assert "resize.Bicubic(format=vs.RGBS, matrix_in_s='709')" in warnings[0].getMessage()


def test_rgb_input_gets_no_extra_filter() -> None:
    """RGB in: the plugin's properties are right, nothing is added to the graph."""
    from vsinfer.validation import label_outputs

    rgb = core.std.BlankClip(format=vs.RGBS, width=32, height=24, length=1)
    assert label_outputs([rgb], [rgb])[0] is rgb
    rgb24 = core.std.BlankClip(format=vs.RGB24, width=32, height=24, length=1)
    assert label_outputs([rgb], [rgb24])[0] is rgb


@pytest.mark.parametrize(("props", "expected"), [({}, 255 / 219 - 16 / 219), ({"_Range": vs.RANGE_FULL}, 1.0)])
def test_gray8_range_is_explicit(make_model: ModelFactory, caplog: pytest.LogCaptureFixture,
                                 props: dict[str, int], expected: float) -> None:
    """Unset _Range on GRAY8 is limited (255 -> 1.09), as logged; _Range full reads 255 as 1.0. The GRAY output keeps
    the input's range, so converting it back gives the input's levels."""
    need_plugin("ort")
    gray = core.std.BlankClip(format=vs.GRAY8, width=32, height=24, color=255, length=1)
    if props:
        gray = core.std.SetFrameProps(gray, **props)
    model = make_model(1, 1)
    with caplog.at_level(logging.INFO, logger="vsinfer"):
        out = Backend.ORT_CPU().inference(gray, model)
    assert "limited range" in caplog.text and "_Range=vs.RANGE_FULL" in caplog.text
    assert _props(out)["_Range"] == props.get("_Range", vs.RANGE_LIMITED)
    ref = Backend.ORT_CPU().inference(core.std.BlankClip(format=vs.GRAYS, width=32, height=24, length=1,
                                                         color=expected), model)
    np.testing.assert_allclose(planes_of(out), planes_of(ref), atol=1e-5)


def test_gray_output_keeps_its_matrix(make_model: ModelFactory) -> None:
    """A GRAY output (luma) may carry a matrix and a range: both are kept (a round trip keeps its levels)."""
    need_plugin("ort")
    luma = core.std.ShufflePlanes(_yuv(vs.YUV444PS), 0, vs.GRAY)
    out = Backend.ORT_CPU().inference(luma, make_model(1, 1))
    props = _props(out)
    assert out.format.color_family == vs.GRAY and props.get("_Matrix") == 1
    assert props == _props(luma) | {k: v for k, v in props.items() if k.startswith("_Duration")}


def test_nhwc_model_is_refused_before_the_plugin(tmp_path: Path, forbid_plugin_call: list[str]) -> None:
    from onnx import TensorProto, helper, save

    from vsinfer.errors import ModelError

    shape = [1, "h", "w", 3]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "nhwc",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    path = tmp_path / "nhwc.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    clip = core.std.BlankClip(format=vs.RGBS, width=32, height=24, length=1)
    with pytest.raises(ModelError, match=r"input 'x' layout=NHWC \[1, \?, \?, 3\] is not valid; expected NCHW"):
        Backend.ORT_CPU().inference(clip, path)
    with pytest.raises(ModelError, match="NHWC"):
        Backend.TRT_RTX().build_engine(path, 3, (32, 32))
