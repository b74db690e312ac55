"""The sizes a model takes (vsinfer.sizes): found once by running it, kept in the store, used by ``multiple=``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.conftest import ModelFactory, clip_from_planes, conv_model, need_plugin, pattern, planes_of
from vsinfer import Backend, sizes
from vsinfer.errors import ModelError, TilingError
from vsinfer.fp16 import samples
from vsinfer.model import model_info
from vsinfer.store import Store

ZOO = Path(__file__).resolve().parent / "data" / "zoo"


@pytest.fixture(autouse=True)
def forget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the process memo (the store is the test's own)."""
    monkeypatch.setattr(sizes, "_known", {})


def test_probe_sizes_are_odd_multiples_of_at_least_min_side() -> None:
    for m in sizes.MULTIPLES:
        w, h = sizes.probe_size(m)
        assert w >= sizes.MIN_SIDE and w != h
        for side in (w, h):
            assert side % m == 0 and (side // m) % 2 == 1  # a multiple of m and of no larger power of two


@pytest.mark.parametrize(("name", "multiple"), [
    ("compact", 1),  # any size
    ("esrgan_2x", 2),  # pixel-unshuffle by 2
    ("realcugan", 2),  # takes odd sizes, but its output is then not 2x the input: refused
    ("drunet", 8),  # three 2x downsamplings
    ("swinir", 8),  # window attention, window 8
    ("scunet", 64),
])
def test_the_multiple_of_zoo_models(name: str, multiple: int) -> None:
    assert sizes.model_multiple(model_info(ZOO / f"{name}.onnx")).multiple == multiple


def test_the_answer_is_kept_in_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = model_info(ZOO / "swinir.onnx")
    store = Store(tmp_path / "cache")
    assert sizes.model_multiple(model, store).multiple == 8
    record = store.folder("sizes") / f"{model.checksum:032x}.json"
    assert json.loads(record.read_text())["facts"]["multiple"] == 8
    monkeypatch.setattr(sizes, "_known", {})

    def no_probe(_: object) -> sizes.SizeFacts:
        raise AssertionError("probed again although the store has the answer")

    monkeypatch.setattr(sizes, "_probe", no_probe)
    assert sizes.model_multiple(model, store).multiple == 8


def test_a_damaged_record_is_probed_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = model_info(ZOO / "drunet.onnx")
    store = Store(tmp_path / "cache")
    record = store.folder("sizes") / f"{model.checksum:032x}.json"
    record.write_text(json.dumps({"version": sizes.SIZES_VERSION, "checksum": f"{model.checksum:032x}",
                                  "facts": {"multiple": "../../etc"}}))
    with caplog.at_level(logging.WARNING):
        assert sizes.model_multiple(model, store).multiple == 8
    assert "model size record" in caplog.text
    assert json.loads(record.read_text())["facts"]["multiple"] == 8


def test_static_and_unloadable_models_have_no_multiple(tmp_path: Path) -> None:
    static = model_info(conv_model(tmp_path / "static.onnx", 3, 3, size=(32, 32)))
    assert sizes.model_multiple(static).multiple is None
    node = helper.make_node("Mystery", ["x"], ["y"], domain="example.custom")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)]
    proto = helper.make_model(graph, opset_imports=opsets)
    onnx.save(proto, tmp_path / "custom.onnx")
    facts = sizes.model_multiple(model_info(tmp_path / "custom.onnx"))
    assert facts.multiple is None and "onnxruntime cannot load it" in facts.reason


# -- inference ---------------------------------------------------------------------------------------------------
def _rgb(width: int, height: int) -> object:
    import vapoursynth as vs

    return clip_from_planes(pattern(3, height, width), vs.RGBS, length=1)


def test_a_size_the_model_cannot_take_is_refused_before_the_plugin(forbid_plugin_call: list[str]) -> None:
    with pytest.raises(ModelError, match=r"multiples of 8.*pass multiple=8 or multiple='auto'") as info:
        Backend.ORT_CPU().inference(_rgb(100, 75), ZOO / "swinir.onnx")
    assert "(100, 75)" in str(info.value) and "Reshape" in str(info.value)
    with pytest.raises(ModelError, match=r"tilesize.*or a tilesize that is a multiple of 8"):
        Backend.ORT_CPU().inference(_rgb(128, 96), ZOO / "swinir.onnx", tilesize=(60, 48))


def test_sizes_that_are_multiples_of_64_are_never_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    need_plugin("ort")

    def no_probe(_: object) -> sizes.SizeFacts:
        raise AssertionError("probed although every multiple divides the size")

    monkeypatch.setattr(sizes, "_probe", no_probe)
    out = Backend.ORT_CPU().inference(_rgb(64, 128), ZOO / "swinir.onnx")
    assert (out.width, out.height) == (128, 256)


@pytest.mark.parametrize("name", ["swinir", "scunet", "esrgan_2x"])
def test_auto_pads_like_the_explicit_multiple(name: str) -> None:
    need_plugin("ort")
    clip = _rgb(100, 75)
    multiple = sizes.model_multiple(model_info(ZOO / f"{name}.onnx")).multiple
    auto = Backend.ORT_CPU().inference(clip, ZOO / f"{name}.onnx", multiple="auto")
    explicit = Backend.ORT_CPU().inference(clip, ZOO / f"{name}.onnx", multiple=multiple)
    scale = auto.width // 100
    assert (auto.width, auto.height) == (100 * scale, 75 * scale)
    np.testing.assert_array_equal(planes_of(auto), planes_of(explicit))


def test_an_explicit_multiple_is_the_users_word(monkeypatch: pytest.MonkeyPatch) -> None:
    """``multiple=`` given: no probe; a wrong value is the tiling's error, and "auto" is named in it."""
    def no_probe(_: object) -> sizes.SizeFacts:
        raise AssertionError("probed although the user gave the multiple")

    monkeypatch.setattr(sizes, "_probe", no_probe)
    need_plugin("ort")
    out = Backend.ORT_CPU().inference(_rgb(100, 75), ZOO / "swinir.onnx", multiple=16)
    assert (out.width, out.height) == (200, 150)
    with pytest.raises(TilingError, match="'auto'"):
        Backend.ORT_CPU().inference(_rgb(100, 75), ZOO / "swinir.onnx", multiple="eight")  # type: ignore[arg-type]


def test_auto_on_a_model_without_a_multiple_warns_and_pads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    need_plugin("ort")
    monkeypatch.setattr(sizes, "_probe", lambda _: sizes.SizeFacts(multiple=None, reason="a stand-in reason"))
    path = conv_model(tmp_path / "conv.onnx", 3, 3)
    with caplog.at_level(logging.WARNING, logger="vsinfer"):
        out = Backend.ORT_CPU().inference(_rgb(33, 17), path, multiple="auto")
    assert (out.width, out.height) == (33, 17)
    assert "found no size multiple" in caplog.text and "a stand-in reason" in caplog.text


# -- the fp16 guard's samples ------------------------------------------------------------------------------------
def test_the_synthetic_sample_is_a_multiple_of_every_multiple() -> None:
    assert all(samples.SAMPLE_SIZE % m == 0 for m in sizes.MULTIPLES)


@pytest.mark.parametrize(("size", "multiple", "side"), [
    (100, 1, 96), (100, 8, 96), (100, 64, 64), (200, 64, 128), (1080, 32, 128), (40, 64, None), (10, 1, 10),
])
def test_clip_crops_are_multiples_of_the_models_multiple(size: int, multiple: int, side: int | None) -> None:
    assert samples._crop_side(size, None, multiple) == side


def test_the_guard_reads_the_clip_of_a_model_that_needs_64() -> None:
    """SCUNet (multiple 64) on a 100x75 clip: the guard's samples include a 64x64 crop of the clip."""
    need_plugin("ort")
    model = model_info(ZOO / "scunet.onnx")
    pictures, description = samples._samples(model, [_rgb(100, 75)], frames=1)  # type: ignore[list-item]
    assert len(pictures) == 2 and pictures[1].shape == (3, 64, 64), description


# -- the context (overlap="auto") --------------------------------------------------------------------------------
DEMO = Path(__file__).resolve().parent.parent / "src" / "vsinfer" / "models" / "demo_2x.onnx"


@pytest.mark.parametrize("k", [1, 3, 7])
def test_the_context_of_a_convolution_is_its_radius(make_model: ModelFactory, k: int) -> None:
    facts = sizes.model_context(model_info(make_model(3, 3, k=k)))
    assert (facts.radius, facts.scale, facts.overlap) == (k // 2, 1, k // 2)


def test_the_context_of_the_demo_model_and_a_global_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    demo = sizes.model_context(model_info(DEMO), store)
    assert (demo.radius, demo.scale, demo.overlap) == (6, 2, 12)
    assert (store.folder("sizes") / f"{model_info(DEMO).checksum:032x}.context.json").is_file()
    hat = sizes.model_context(model_info(ZOO / "hat.onnx"))  # channel attention: global pooling
    assert hat.overlap is None and "edges" in hat.reason


def test_auto_overlap_tiles_give_the_whole_frame() -> None:
    """The demo model in 2 x 2 tiles with overlap="auto" (12): bit for bit the whole frame; overlap 6 is not."""
    need_plugin("ort")
    clip = _rgb(96, 80)
    whole = planes_of(Backend.ORT_CPU().inference(clip, DEMO))
    auto = planes_of(Backend.ORT_CPU().inference(clip, DEMO, tiles=(2, 2), overlap="auto"))
    short = planes_of(Backend.ORT_CPU().inference(clip, DEMO, tiles=(2, 2), overlap=6))
    np.testing.assert_array_equal(auto, whole)
    assert np.abs(short - whole).max() > 1e-3


def test_auto_overlap_on_a_global_model_is_refused(forbid_plugin_call: list[str]) -> None:
    with pytest.raises(ModelError, match=r"overlap='auto'.*edges of a .*give overlap= in pixels"):
        Backend.ORT_CPU().inference(_rgb(128, 96), ZOO / "hat.onnx", tiles=(2, 2), overlap="auto")


def test_auto_overlap_on_the_whole_frame_measures_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    need_plugin("ort")

    def no_probe(*_: object) -> sizes.ContextFacts:
        raise AssertionError("measured the context of a whole-frame run")

    monkeypatch.setattr(sizes, "_measure_context", no_probe)
    out = Backend.ORT_CPU().inference(_rgb(64, 64), DEMO, overlap="auto")
    assert (out.width, out.height) == (128, 128)


@pytest.mark.parametrize("multiple", [0, -8, 128, "8", 8.5])
def test_a_record_out_of_bounds_is_a_miss(tmp_path: Path, multiple: object) -> None:
    """The cache is data: a multiple no probe can give (0 would divide by zero) is a miss, probed again."""
    model = model_info(ZOO / "swinir.onnx")
    store = Store(tmp_path / "cache")
    record = store.folder("sizes") / f"{model.checksum:032x}.json"
    record.write_text(json.dumps({"version": sizes.SIZES_VERSION, "checksum": f"{model.checksum:032x}",
                                  "facts": {"multiple": multiple}}))
    assert sizes.model_multiple(model, store).multiple == 8
