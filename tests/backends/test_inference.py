"""Real inference through ort, ov and ncnn (lavapipe) on tiny models, compared with onnx's reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vapoursynth as vs
from onnx import TensorProto

from tests.conftest import ModelFactory, clip_from_planes, need_plugin, pattern, planes_of, reference
from vsinfer import Backend

# Exact (float32) configurations: OV with the f32 precision hint, ORT and NCNN with fp16 off.
EXACT = {
    "ort": Backend.ORT_CPU(fp16=False),
    "ov": Backend.OV_CPU(fp16=False),
    "ncnn": Backend.NCNN(fp16=False),
}


@pytest.fixture(params=sorted(EXACT))
def backend(request: pytest.FixtureRequest) -> Any:
    need_plugin(request.param)
    return EXACT[request.param]


def test_one_clip(backend: Any, make_model: ModelFactory) -> None:
    model = make_model(3, 3)
    planes = pattern(3, 24, 32)
    out = backend.inference(clip_from_planes(planes, vs.RGBS), model)
    assert (out.width, out.height, out.num_frames) == (32, 24, 2)
    np.testing.assert_allclose(planes_of(out, 1), reference(model, planes[None])[0], atol=1e-5)


def test_two_clips_rgb_and_gray_feed_four_channels(backend: Any, make_model: ModelFactory) -> None:
    model = make_model(4, 3)
    planes = pattern(4, 24, 32)
    rgb, gray = clip_from_planes(planes[:3], vs.RGBS), clip_from_planes(planes[3:], vs.GRAYS)
    out = backend.inference([rgb, gray], model)
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=1e-5)


def test_integer_clip_is_converted(backend: Any, make_model: ModelFactory) -> None:
    model = make_model(3, 3)
    ints = (pattern(3, 24, 32) * 255).round().astype(np.uint8)
    out = backend.inference(clip_from_planes(ints, vs.RGB24), model)
    assert out.format.sample_type == vs.FLOAT
    expected = reference(model, (ints.astype(np.float32) / 255)[None])[0]
    np.testing.assert_allclose(planes_of(out), expected, atol=1e-5)


def test_flexible_output_gives_one_clip_per_plane(backend: Any, make_model: ModelFactory) -> None:
    model = make_model(3, 5)
    planes = pattern(3, 24, 32)
    outs = backend.inference(clip_from_planes(planes, vs.RGBS), model, flexible=True)
    assert isinstance(outs, list) and len(outs) == 5
    expected = reference(model, planes[None])[0]
    for i, out in enumerate(outs):
        assert out.format.color_family == vs.GRAY
        np.testing.assert_allclose(planes_of(out)[0], expected[i], atol=1e-5)


def test_input_not_named_input(backend: Any, make_model: ModelFactory) -> None:
    model = make_model(1, 1, input_name="x.1")
    planes = pattern(1, 24, 32)
    out = backend.inference(clip_from_planes(planes, vs.GRAYS), model)
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=1e-5)


def test_tiled_with_overlap_equals_untiled(backend: Any, make_model: ModelFactory) -> None:
    model = make_model(3, 3, k=3)  # receptive field radius 1 fits in overlap 2
    clip = clip_from_planes(pattern(3, 48, 64), vs.RGBS)
    whole = planes_of(backend.inference(clip, model))
    tiled = backend.inference(clip, model, (2, 2), (24, 16))
    np.testing.assert_allclose(planes_of(tiled), whole, atol=1e-6)
    # and it is really tiled: without overlap the tile seams differ
    seams = planes_of(backend.inference(clip, model, 0, (24, 16)))
    assert np.abs(seams - whole).max() > 1e-3


def test_kwargs_reach_the_plugin_and_win(make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(3, 3)
    clip = clip_from_planes(pattern(3, 24, 32), vs.RGBS)
    # output_format=0 overrides the backend's FP16 output: the clip comes back as float32
    out = Backend.ORT_CPU(fp16=True).inference(clip, model, output_format=0)
    assert out.format.bits_per_sample == 32


def test_ort_fp16(make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(3, 3)
    planes = pattern(3, 24, 32)
    out = Backend.ORT_CPU(fp16=True).inference(clip_from_planes(planes, vs.RGBS), model)
    assert out.format.bits_per_sample == 32  # fp16 compute, float32 in and out (the plugin's output_format)
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=2e-2)


def test_ort_fp16_io_model_gets_half_float_clip(make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(3, 3, elem_type=TensorProto.FLOAT16)
    planes = pattern(3, 24, 32)
    out = Backend.ORT_CPU(fp16=False).inference(clip_from_planes(planes, vs.RGBS), model)
    expected = reference(model, planes[None].astype(np.float16))[0].astype(np.float32)
    np.testing.assert_allclose(planes_of(out), expected, atol=2e-2)


def test_ov_default_precision_runs(make_model: ModelFactory) -> None:
    need_plugin("ov")
    model = make_model(3, 3)
    planes = pattern(3, 24, 32)
    out = Backend.OV_CPU().inference(clip_from_planes(planes, vs.RGBS), model)
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=2e-2)


def test_ov_block_list_runs(make_model: ModelFactory) -> None:
    need_plugin("ov")
    model = make_model(3, 3)
    planes = pattern(3, 24, 32)
    out = Backend.OV_CPU(fp16_blacklist_ops=["Conv"]).inference(clip_from_planes(planes, vs.RGBS), model)
    # Conv kept in float32 and the f32 hint: exact
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=1e-5)


def test_odd_but_valid_inputs_give_the_right_output(tmp_path: Path) -> None:
    """Round 3's valid kinds: unicode and spaces in the path, a symlinked model, Path or str, a numpy integer field,
    a model changed on disk between two calls (the second call runs the new model)."""
    from tests.conftest import conv_model

    need_plugin("ort")
    folder = tmp_path / "modèles à tester"
    folder.mkdir()
    model = conv_model(folder / "échelle 2 fois.onnx", 3, 3)
    link = tmp_path / "link.onnx"
    link.symlink_to(model)
    planes = pattern(3, 24, 32)
    clip = clip_from_planes(planes, vs.RGBS)
    expected = reference(model, planes[None])[0]
    for path in (model, str(model), link, str(link)):
        out = Backend.ORT_CPU(num_streams=np.int64(1)).inference(clip, path)
        np.testing.assert_allclose(planes_of(out), expected, atol=1e-5)
    conv_model(model, 3, 3, seed=7)  # changed on disk
    changed = reference(model, planes[None])[0]
    assert not np.allclose(changed, expected)
    np.testing.assert_allclose(planes_of(Backend.ORT_CPU().inference(clip, link)), changed, atol=1e-5)
