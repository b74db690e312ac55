"""Tile size, overlap, tiles and multiple: plans, padding, the model's scale, and real runs against whole frames."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import vapoursynth as vs
from onnx import helper, numpy_helper

from tests.conftest import ModelFactory, clip_from_planes, need_plugin, pattern, planes_of, reference
from vsinfer import Backend
from vsinfer.errors import ClipError, ModelError, TilingError
from vsinfer.model import read_model
from vsinfer.tiling import TilePlan, Tiling, as_pair, crop, model_scale, pad, plan, resolve_tiling


def test_pairs_follow_the_plugins_defaults() -> None:
    assert as_pair("overlap", 4) == (4, 4)
    assert as_pair("overlap", [4]) == (4, 4)
    assert as_pair("overlap", (4, 2)) == (4, 2)
    with pytest.raises(TilingError):
        as_pair("overlap", True)


def test_whole_frame_passes_no_tiling_arguments() -> None:
    tiling = resolve_tiling(64, 48, None, 0)
    assert tiling == Tiling((64, 48), (0, 0), whole_frame=True)
    assert tiling.plugin_args() == {}


def test_tiled_arguments() -> None:
    assert resolve_tiling(64, 48, 32, (4, 2)).plugin_args() == {"tilesize": [32, 32], "overlap": [4, 2]}
    assert resolve_tiling(64, 48, (32, 16), 0).plugin_args() == {"tilesize": [32, 16]}


def test_edge_overlap_allowed_when_tile_keeps_pixels() -> None:
    assert resolve_tiling(64, 48, 9, 4).overlap == (4, 4)
    with pytest.raises(TilingError, match="2 \\* overlap < tile width"):
        resolve_tiling(64, 48, 8, 4)


# -- plan: tiles, multiple, padding ---------------------------------------------------------------------------

def _vsmlrt_tile(size: int, tiles: int, overlap: int, multiple: int) -> int:
    """vs-mlrt's calc_tilesize for one axis, the formula users know."""
    return -(-(size + 2 * overlap * (tiles - 1)) // (tiles * multiple)) * multiple


@pytest.mark.parametrize(("size", "tiles", "overlap", "multiple"),
                         [(1920, 2, 16, 1), (1920, 3, 16, 8), (1080, 2, 8, 4), (100, 4, 4, 1), (75, 2, 4, 8)])
def test_tiles_give_vsmlrts_tile_size(size: int, tiles: int, overlap: int, multiple: int) -> None:
    p = plan(size, size, overlap=overlap, tiles=tiles, multiple=multiple)
    padded = -(-size // multiple) * multiple
    assert p.padded == (padded, padded)
    assert p.tiling.tilesize == (_vsmlrt_tile(padded, tiles, overlap, multiple),) * 2
    assert p.tiling.overlap == (overlap, overlap) and not p.tiling.whole_frame
    assert p.grid == (tiles, tiles)


def test_one_tile_on_an_axis_has_no_overlap() -> None:
    p = plan(100, 60, overlap=8, tiles=(2, 1))
    assert p.tiling.tilesize == (58, 60) and p.tiling.overlap == (8, 0) and p.grid == (2, 1)


def test_multiple_pads_the_frame_and_checks_tilesize() -> None:
    p = plan(50, 30, multiple=8)
    assert (p.original, p.padded, p.needs_padding, p.multiple) == ((50, 30), (56, 32), True, 8)
    assert p.tiling.whole_frame and p.tiling.tilesize == (56, 32) and p.tiling.plugin_args() == {}
    assert plan(48, 32, 16, 4, multiple=8).padded == (48, 32)
    assert not plan(48, 32).needs_padding and plan(48, 32).scale is None


def test_str_reads_as_a_sentence(make_model: ModelFactory) -> None:
    assert str(plan(64, 48)) == "64x48 frame as one tile"
    assert str(plan(100, 75, overlap=4, tiles=2, multiple=8)) == (
        "100x75 frame padded to 104x80 (multiple of 8); 2x2 tiles of 56x48, overlap 4x4"
    )
    info = read_model(make_model(3, 3))
    assert str(plan(50, 30, multiple=8, model=info)) == (
        "50x30 frame padded to 56x32 (multiple of 8) as one tile; model scale 1x -> output 50x30"
    )


@pytest.mark.parametrize(
    ("kwargs", "parameter", "message"),
    [
        ({"tiles": 2, "tilesize": 32}, "tiles", "None when tilesize=32 is given"),
        ({"tiles": (0, 2)}, "tiles", "ints >= 1"),
        ({"tiles": "2"}, "tiles", "an int or a sequence"),
        ({"tiles": 2, "overlap": 40}, "tiles", "fewer tiles or less overlap"),
        ({"multiple": 0}, "multiple", "None, 'auto' or an int >= 1"),
        ({"multiple": True}, "multiple", "None, 'auto' or an int >= 1"),
        ({"multiple": 8, "tilesize": 20}, "tilesize", "multiples of multiple=8"),
        ({"tiles": 2, "overlap": -1}, "overlap", "non-negative"),
    ],
)
def test_plan_errors_name_the_parameter(kwargs: dict[str, object], parameter: str, message: str) -> None:
    with pytest.raises(TilingError, match=message) as info:
        plan(64, 48, where="ORT_CPU", **kwargs)  # type: ignore[arg-type]
    assert info.value.parameter == parameter and str(info.value).startswith("ORT_CPU: ")


# -- model scale ---------------------------------------------------------------------------------------------
def _model(path: Path, nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray], cin: int = 1,
           in_hw: tuple[object, object] = ("h", "w"), out_hw: tuple[object, object] = ("H", "W")) -> Path:
    graph = helper.make_graph(
        nodes, path.stem,
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, cin, *in_hw])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, cin, *out_hw])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _kernel(cout: int, cin: int, k: int = 3, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((cout, cin, k, k)) * 0.3).astype(np.float32)


def depth_to_space_2x(path: Path, cin: int = 1) -> Path:
    """Conv 3x3 (receptive radius 1) to 4 * cin channels, then DepthToSpace(2): a 2x upscaler."""
    return _model(path, [helper.make_node("Conv", ["input", "W"], ["c"], pads=[1] * 4),
                         helper.make_node("DepthToSpace", ["c"], ["output"], blocksize=2, mode="CRD")],
                  {"W": _kernel(4 * cin, cin)}, cin)


def conv_transpose_2x(path: Path) -> Path:
    return _model(path, [helper.make_node("ConvTranspose", ["input", "W"], ["output"], strides=[2, 2])],
                  {"W": _kernel(1, 1, 2)})


def reshape_shuffle_2x(path: Path) -> Path:
    """A pixel shuffle written with Shape / Gather / Reshape: the output dims need shape data propagation."""
    nodes = [
        helper.make_node("Conv", ["input", "W"], ["c"], pads=[1] * 4),
        helper.make_node("Shape", ["input"], ["s"]),
        helper.make_node("Gather", ["s", "i2"], ["h"], axis=0),
        helper.make_node("Gather", ["s", "i3"], ["w"], axis=0),
        helper.make_node("Mul", ["h", "two"], ["h2"]),
        helper.make_node("Mul", ["w", "two"], ["w2"]),
        helper.make_node("Concat", ["one", "one", "h2", "w2"], ["shape"], axis=0),
        helper.make_node("Reshape", ["c", "shape"], ["output"]),
    ]
    ints = {"i2": np.array([2]), "i3": np.array([3]), "two": np.array([2]), "one": np.array([1])}
    return _model(path, nodes, {"W": _kernel(4, 1), **ints})


def resize_2x(path: Path) -> Path:
    return _model(path, [helper.make_node("Resize", ["input", "", "S"], ["output"], mode="nearest")],
                  {"S": np.array([1, 1, 2, 2], np.float32)})


def test_model_scale_is_read_from_the_model(tmp_path: Path, make_model: ModelFactory) -> None:
    for build in (depth_to_space_2x, conv_transpose_2x, reshape_shuffle_2x, resize_2x):
        assert model_scale(read_model(build(tmp_path / f"{build.__name__}.onnx"))) == (2, 2), build.__name__
    assert model_scale(read_model(make_model(3, 3))) == (1, 1)
    static = _model(tmp_path / "static.onnx", [helper.make_node("Resize", ["input", "", "S"], ["output"])],
                    {"S": np.array([1, 1, 2, 3], np.float32)}, in_hw=(8, 8), out_hw=(16, 24))
    assert model_scale(read_model(static)) == (3, 2)
    half = _model(tmp_path / "half.onnx", [helper.make_node("Resize", ["input", "", "S"], ["output"])],
                  {"S": np.array([1, 1, 0.5, 0.5], np.float32)})
    assert model_scale(read_model(half)) is None  # not an integer: crop then reads the output clip


# -- pad / crop ----------------------------------------------------------------------------------------------
def test_pad_replicates_the_right_and_bottom_edges() -> None:
    planes = pattern(3, 5, 6)
    clip = vs.core.std.SetFrameProps(clip_from_planes(planes, vs.RGBS), vsinferTest=7)
    p = plan(6, 5, multiple=4)
    (padded,) = pad([clip], p)
    assert (padded.width, padded.height) == (8, 8)
    np.testing.assert_array_equal(planes_of(padded), np.pad(planes, ((0, 0), (0, 3), (0, 2)), mode="edge"))
    assert padded.get_frame(0).props["vsinferTest"] == 7
    assert pad([clip], plan(6, 5)) == [clip]


def test_pad_rejects_subsampled_clips() -> None:
    clip = vs.core.std.BlankClip(width=10, height=10, format=vs.YUV420PS)
    with pytest.raises(ClipError, match="without chroma subsampling"):
        pad([clip], plan(10, 10, multiple=8))


def test_crop_uses_the_output_size() -> None:
    p = TilePlan(resolve_tiling(56, 32, None, 0), (50, 30), (56, 32), None, 8)
    out = crop(vs.core.std.BlankClip(width=112, height=64, format=vs.GRAYS), p)
    assert (out.width, out.height) == (100, 60)
    with pytest.raises(ModelError, match="an integer multiple of the padded input size"):
        crop(vs.core.std.BlankClip(width=100, height=64, format=vs.GRAYS), p)


# -- real inference: tiles / multiple equal the whole-frame run ---------------------------------------------
EXACT = {"ort": lambda: Backend.ORT_CPU(fp16=False), "ov": lambda: Backend.OV_CPU(fp16=False)}


@pytest.fixture(params=sorted(EXACT))
def exact(request: pytest.FixtureRequest) -> Backend:
    need_plugin(request.param)
    return EXACT[request.param]()  # type: ignore[no-any-return]


@pytest.mark.parametrize("tiles", [2, (3, 2), (1, 3)])
def test_tiles_equal_the_whole_frame(exact: Backend, make_model: ModelFactory, tiles: object) -> None:
    model = make_model(3, 3, k=5)  # receptive radius 2: an overlap of 2 hides the tile borders
    clip = clip_from_planes(pattern(3, 30, 50), vs.RGBS)
    whole = exact.inference(clip, model)
    tiled = exact.inference(clip, model, 2, tiles=tiles)
    assert (tiled.width, tiled.height, tiled.format.id) == (50, 30, vs.RGBS)
    np.testing.assert_allclose(planes_of(tiled), planes_of(whole), atol=1e-5)


def test_tiles_of_a_2x_model_equal_the_whole_frame(exact: Backend, tmp_path: Path) -> None:
    """The plugins crop ``overlap`` OUTPUT pixels at inner tile edges: a 2x model needs 2 x its radius (1)."""
    model = depth_to_space_2x(tmp_path / "d2s.onnx")
    clip = clip_from_planes(pattern(1, 30, 50), vs.GRAYS)
    whole = exact.inference(clip, model)
    tiled = exact.inference(clip, model, 2, tiles=(3, 2))
    assert (whole.width, whole.height) == (tiled.width, tiled.height) == (100, 60)
    np.testing.assert_allclose(planes_of(tiled), planes_of(whole), atol=1e-5)
    short = exact.inference(clip, model, 1, tiles=(3, 2))  # overlap 1 = half an input pixel: seams show
    assert np.abs(planes_of(short) - planes_of(whole)).max() > 1e-2


def _padded_reference(model: Path, planes: np.ndarray, multiple: int, scale: int) -> np.ndarray:
    """The model on the edge-padded frame (numpy padding, onnx's reference evaluator), cropped back."""
    _, h, w = planes.shape
    ph, pw = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    padded = np.pad(planes, ((0, 0), (0, ph - h), (0, pw - w)), mode="edge")
    return reference(model, padded[None])[0][:, : h * scale, : w * scale]


@pytest.mark.parametrize("tiles", [None, (2, 2)])
def test_multiple_pads_and_crops_a_2x_model(exact: Backend, tmp_path: Path, tiles: object) -> None:
    model = depth_to_space_2x(tmp_path / "d2s.onnx")
    planes = pattern(1, 30, 50)
    overlap = 0 if tiles is None else 2
    out = exact.inference(clip_from_planes(planes, vs.GRAYS), model, overlap, tiles=tiles, multiple=8)
    assert (out.width, out.height) == (100, 60)
    np.testing.assert_allclose(planes_of(out), _padded_reference(model, planes, 8, 2), atol=1e-5)


def test_multiple_with_flexible_output_crops_every_plane(exact: Backend, make_model: ModelFactory) -> None:
    model = make_model(3, 2)
    planes = pattern(3, 21, 35)
    outs = exact.inference(clip_from_planes(planes, vs.RGBS), model, flexible=True, multiple=4)
    expected = _padded_reference(model, planes, 4, 1)
    assert [(o.width, o.height) for o in outs] == [(35, 21), (35, 21)]
    np.testing.assert_allclose(np.concatenate([planes_of(o) for o in outs]), expected, atol=1e-5)


def test_tiles_beyond_one_per_pixel_are_refused_with_the_most_there_can_be() -> None:
    from vsinfer import tiling
    from vsinfer.errors import TilingError

    with pytest.raises(TilingError, match=r"tiles=\(200, 200\) is not valid; expected at most 32 tiles across a width "
                                          r"of 32 pixels .*no tile size that is a multiple of 1 makes the plugin run "
                                          r"200 of them"):
        tiling.plan(32, 24, tiles=(200, 200))
    assert tiling.plan(32, 24, tiles=(32, 24)).grid == (32, 24)  # the most there can be: still exact
    for n in range(1, 9):  # every accepted count is the grid the plugin really runs
        assert tiling.plan(64, 48, tiles=(n, n), overlap=2).grid == (n, n)


@pytest.mark.parametrize(("shape", "words"), [
    ((100000, 100000), "is 112 GiB"), ((0, 64), "sides 1 .. 16384"), ((16385, 8), "sides 1 .. 16384"),
])
def test_engine_shapes_are_bounded_with_a_memory_estimate(shape: tuple[int, int], words: str) -> None:
    from vsinfer import tiling
    from vsinfer.errors import TilingError

    with pytest.raises(TilingError, match=re.escape(words)):
        tiling.check_shape("tilesize", shape, 3, where="TRT")
    assert tiling.check_shape("tilesize", 16384, 3) == (16384, 16384)
    assert tiling.tensor_bytes(3, 1920, 1080) == 3 * 1920 * 1080 * 4


def test_tiles_with_a_multiple_pad_the_axis_when_no_tile_size_splits_it_exactly() -> None:
    """3 tiles of a multiple of 7 across 28 rows: no tile of 7, 14, 21 or 28 gives 3 (4, 2, 2, 1), tiles of 14 on 35
    padded rows do (issue 29: refused before, with a wrong bound)."""
    from vsinfer import tiling

    p = tiling.plan(28, 28, tiles=(3, 3), multiple=7)
    assert p.grid == (3, 3) and p.tiling.tilesize == (14, 14) and p.padded == (35, 35)
    assert all(side % 7 == 0 for side in (*p.tiling.tilesize, *p.padded))
    for size in range(8, 80, 3):  # every plan is the grid the plugin runs, on tiles that are multiples
        for n in (2, 3, 4):
            for m in (1, 4, 7, 8):
                try:
                    q = tiling.plan(size, size, tiles=n, multiple=m, overlap=1)
                except tiling.TilingError:
                    continue
                assert q.grid == (n, n) and q.tiling.tilesize[0] % m == 0 and q.padded[0] % m == 0
                assert q.padded[0] - size < max(q.tiling.tilesize[0], m)  # padded by less than a tile


@pytest.mark.parametrize("value", [np.int64(2), np.uint8(2), np.array([2, 2]), np.array([2]), [np.int32(2), 2]])
def test_numpy_integers_are_ints(value: object) -> None:
    from vsinfer import tiling

    assert tiling.parse_pair(value) == (2, 2)
    assert type(tiling.parse_pair(value)[0]) is int  # type: ignore[index]
    assert tiling.plan(64, 48, 16, value, multiple=np.int64(4)).tiling.overlap == (2, 2)


@pytest.mark.parametrize("value", [np.bool_(True), np.array([True, False]), np.array([2.0, 2.0]),
                                   np.array([[2, 2]]), np.array([1, 2, 3]), True])
def test_numpy_values_that_are_not_ints_are_refused(value: object) -> None:
    from vsinfer import tiling

    assert tiling.parse_pair(value) is None


def test_a_model_that_needs_a_size_multiple_is_not_called_fractional(tmp_path: Path) -> None:
    """Pool by 2 then upsample by 2: 31 -> 15 -> 30 at an odd size, but whole at sizes of many factors; that is a
    size multiple (vsinfer.sizes names it), not a 0.97x scale. A Resize by 1.5 is fractional at every size."""
    from vsinfer import tiling
    from vsinfer.errors import ModelError
    from vsinfer.model import read_model

    def resize_after(path: Path, pool: bool, factor: float) -> Path:
        nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2])] if pool else []
        nodes.append(helper.make_node("Resize", ["p" if pool else "x", "", "s"], ["y"], mode="nearest"))
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                             [1, 3, "h", "w"])],
                                  [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, "H", "W"])],
                                  [numpy_helper.from_array(np.array([1, 1, factor, factor], np.float32), "s")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, path)
        return path

    pooled = read_model(resize_after(tmp_path / "pooled.onnx", True, 2.0))
    tiling.check_whole_scale(pooled, (31, 23))
    fractional = read_model(resize_after(tmp_path / "fractional.onnx", False, 1.5))
    with pytest.raises(ModelError, match=r"scales by 1.5x \(32x24 -> 48x36\)"):
        tiling.check_whole_scale(fractional, (32, 24))
