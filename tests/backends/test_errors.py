"""Errors raised before the plugin: each names the parameter, the value and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import vapoursynth as vs
from onnx import TensorProto

from tests.conftest import ModelFactory, clip_from_planes, missing, need_plugin, pattern
from vsinfer import Backend
from vsinfer.errors import (
    ClipError,
    InvalidValueError,
    ModelError,
    PluginNotFoundError,
    TilingError,
    UnsupportedOptionError,
)


def rgb(w: int = 32, h: int = 24) -> vs.VideoNode:
    return clip_from_planes(pattern(3, h, w), vs.RGBS)


def check_message(error: InvalidValueError, parameter: str, value: Any, expected: str) -> None:
    message = str(error)
    assert error.parameter == parameter
    assert f"{parameter}={value!r}" in message, message
    assert expected in message, message


@pytest.mark.parametrize(
    ("overlap", "tilesize", "parameter", "expected"),
    [
        ((4, 4), None, "overlap", "(0, 0) when tilesize is None"),
        (8, 16, "overlap", "2 * overlap < tile width (16)"),
        ((0, 6), (16, 12), "overlap", "2 * overlap < tile height (12)"),
        (-1, 16, "overlap", "non-negative"),
        (0, (64, 16), "tilesize", "at most the frame size (32, 24)"),
        (0, 0, "tilesize", "positive"),
        (0, (8, 8, 8), "tilesize", "one or two ints"),
        ("2", 16, "overlap", "one or two ints"),
    ],
)
def test_tiling_errors(
    make_model: ModelFactory, forbid_plugin_call: list[str], overlap: Any, tilesize: Any, parameter: str,
    expected: str,
) -> None:
    with pytest.raises(TilingError) as info:
        Backend.ORT_CPU().inference(rgb(), make_model(3, 3), overlap, tilesize)
    value = overlap if parameter == "overlap" else tilesize
    check_message(info.value, parameter, value, expected)


def test_missing_model_file(tmp_path: Path, forbid_plugin_call: list[str]) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError) as info:
        Backend.OV_CPU().inference(rgb(), missing)
    check_message(info.value, "network_path", str(missing), "an existing ONNX file")


def test_not_an_onnx_file(tmp_path: Path, forbid_plugin_call: list[str]) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"\x00\xff not a protobuf \xff" * 10)
    with pytest.raises(ModelError) as info:
        Backend.NCNN().inference(rgb(), bogus)
    check_message(info.value, "network_path", str(bogus), "an ONNX model file")
    assert info.value.__cause__ is not None


def test_plane_count_must_match_channels(make_model: ModelFactory, forbid_plugin_call: list[str]) -> None:
    model = make_model(4, 3)
    with pytest.raises(ClipError) as info:
        Backend.ORT_CPU().inference(rgb(), model)
    check_message(info.value, "clips", "3 planes in total", "4 planes, the channels of input 'input'")


@pytest.mark.parametrize("backend", [Backend.OV_CPU(), Backend.NCNN()], ids=["OV_CPU", "NCNN"])
def test_fp16_io_model_rejected(backend: Any, make_model: ModelFactory, forbid_plugin_call: list[str]) -> None:
    # ov rejects such models; ncnn 17.1 crashes the whole process on them (segfault): we must stop first
    model = make_model(3, 3, elem_type=TensorProto.FLOAT16)
    with pytest.raises(ModelError) as info:
        backend.inference(rgb(), model)
    name = type(backend).__name__
    check_message(info.value, "input 'input' type", "float16", f"float32: {name} cannot take float16 model inputs")


def test_static_model_size_must_match_tile(make_model: ModelFactory, forbid_plugin_call: list[str]) -> None:
    model = make_model(3, 3, size=(16, 16))
    with pytest.raises(ModelError) as info:
        Backend.ORT_CPU().inference(rgb(), model)
    check_message(info.value, "frame size (tilesize=None)", (32, 24), "(16, 16), the static size")
    with pytest.raises(ModelError) as info:
        Backend.ORT_CPU().inference(rgb(), model, 0, (16, 12))
    check_message(info.value, "tilesize", (16, 12), "pass tilesize=(16, 16)")


def test_clips_of_different_sizes(make_model: ModelFactory, forbid_plugin_call: list[str]) -> None:
    gray = clip_from_planes(pattern(1, 20, 32), vs.GRAYS)
    with pytest.raises(ClipError) as info:
        Backend.ORT_CPU().inference([rgb(), gray], make_model(4, 3))
    check_message(info.value, "clips[1] size", (32, 20), "the size of clips[0] (32, 24)")


def test_not_a_clip(make_model: ModelFactory, forbid_plugin_call: list[str]) -> None:
    with pytest.raises(ClipError) as info:
        Backend.ORT_CPU().inference(["clip.mkv"], make_model(3, 3))  # type: ignore[list-item]
    check_message(info.value, "clips[0]", "clip.mkv", "a vs.VideoNode")


def test_several_inputs_listed(tmp_path: Path, forbid_plugin_call: list[str]) -> None:
    import onnx
    from onnx import helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["out"])], "two",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, "h", "w"]) for n in ("a", "b")],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, "h", "w"])],
    )
    path = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(ModelError) as info:
        Backend.ORT_CPU().inference(rgb(), path)
    check_message(info.value, "network_path", str(path.resolve()), "a model with one image input")
    assert "this model has 2 inputs ('a' [1, 3, ?, ?], 'b' [1, 3, ?, ?])" in str(info.value)


def test_user_option_missing_from_plugin_names_option_and_version(make_model: ModelFactory) -> None:
    need_plugin("ort")
    from vsinfer.plugins import plugin_version

    # an unknown keyword forwarded by the user is named with the plugin version and the arguments it does take
    with pytest.raises(UnsupportedOptionError) as info:
        Backend.ORT_CPU().inference(rgb(), make_model(3, 3), bogus=1)
    message = str(info.value)
    assert message.startswith(f"ORT_CPU: bogus=1 is not an argument of core.ort.Model {plugin_version('ort')}")
    assert "expected one of provider, device_id, num_streams" in message
    assert "clips" not in message.partition("expected")[2]  # never offered: inference passes them itself
    # a field the installed plugin lacks (ml_program needs a CoreML build) is named with the plugin's version
    from vsinfer.plugins import select_args

    version = plugin_version("ort")
    with pytest.raises(UnsupportedOptionError, match=rf"ml_program=1 is not available on core\.ort {version}"):
        select_args("ort", {"provider": "COREML", "ml_program": 1}, user_set={"ml_program"})


def test_provider_not_in_this_build(make_model: ModelFactory) -> None:
    need_plugin("ort")
    from vsinfer.backends.ort.checks import providers as ort_providers
    from vsinfer.errors import DeviceError

    if "COREML" in ort_providers():
        missing(None, "this core.ort build has CoreML")
    with pytest.raises(DeviceError) as info:
        Backend.ORT_COREML(ml_program=1).inference(rgb(), make_model(3, 3))
    providers = ", ".join(ort_providers())
    check_message(info.value, "provider", "COREML", f"a provider compiled into this core.ort build ({providers})")


def test_default_missing_from_plugin_is_dropped() -> None:
    need_plugin("ort")
    from vsinfer.plugins import select_args

    args = {"provider": "COREML", "ml_program": 0}
    assert select_args("ort", args, user_set=set()) == {"provider": "COREML"}


@pytest.mark.parametrize(("namespace", "extra"), [("migx", "migx"), ("trt", "trt")])
def test_missing_plugin_names_the_extra(namespace: str, extra: str) -> None:
    from vsinfer.plugins import get_plugin, is_loaded

    if is_loaded(namespace):
        missing(None, f"core.{namespace} is loaded on this machine")
    with pytest.raises(PluginNotFoundError, match=rf"pip install 'vsinfer\[{extra}\]'"):
        get_plugin(namespace)


def test_missing_plugin_reported_before_any_build(make_model: ModelFactory) -> None:
    from vsinfer.plugins import is_loaded

    if is_loaded("migx"):
        missing(None, "core.migx is loaded on this machine")
    with pytest.raises(PluginNotFoundError, match=r"core.migx is not loaded"):
        Backend.MIGX().inference(rgb(), make_model(3, 3))
