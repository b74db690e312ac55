"""inference(fallback=...): the next backend runs when one cannot be used; input errors are never masked."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import vapoursynth as vs

from tests.conftest import ModelFactory, clip_from_planes, need_module, need_plugin, pattern, planes_of, reference
from vsinfer import Backend
from vsinfer.errors import ClipError, ConfigError, NoBackendError, TilingError


def test_trt_rtx_falls_back_to_ort_cpu_here(make_model: ModelFactory, caplog: pytest.LogCaptureFixture) -> None:
    """No CUDA here: TRT_RTX cannot run; ORT_CPU does, and the log names TRT_RTX's cause."""
    need_plugin("ort")
    need_plugin("trt_rtx")
    need_module("tensorrt_rtx")
    model = make_model(3, 3)
    planes = pattern(3, 24, 32)
    with caplog.at_level(logging.WARNING, logger="vsinfer"):
        clip = clip_from_planes(planes, vs.RGBS)
        out = Backend.TRT_RTX().inference(clip, model, fallback=Backend.ORT_CPU(fp16=False))
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=1e-5)
    (record,) = [r for r in caplog.records if "falling back" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "TRT_RTX cannot be used here" in record.getMessage() and "ORT_CPU" in record.getMessage()


def test_a_missing_plugin_falls_through_a_chain(make_model: ModelFactory, caplog: pytest.LogCaptureFixture) -> None:
    need_plugin("ov")
    model = make_model(3, 3)
    planes = pattern(3, 24, 32)
    clip = clip_from_planes(planes, vs.RGBS)
    with caplog.at_level(logging.WARNING, logger="vsinfer"):
        out = Backend.MIGX().inference(clip, model, fallback=[Backend.TRT(), Backend.OV_CPU(fp16=False)])
    assert out.format.id == vs.RGBS
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=1e-4)  # OV_CPU, float32
    text = caplog.text
    assert "MIGX cannot be used here" in text and "core.migx is not loaded" in text
    assert "TRT cannot be used here" in text and "core.trt is not loaded" in text


def test_every_backend_failing_lists_every_cause(make_model: ModelFactory) -> None:
    model = make_model(3, 3)
    clip = clip_from_planes(pattern(3, 24, 32), vs.RGBS)
    with pytest.raises(NoBackendError, match=r"MIGX: .*core\.migx.*; TRT: .*core\.trt") as info:
        Backend.MIGX().inference(clip, model, fallback=Backend.TRT())
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"tilesize": 999}, TilingError),  # the user's tiling
        ({"clips": "not a clip"}, ClipError),  # the user's clips
    ],
)
def test_input_errors_are_never_masked(make_model: ModelFactory, kwargs: dict[str, object], error: type) -> None:
    model = make_model(3, 3)
    clip = kwargs.pop("clips", clip_from_planes(pattern(3, 24, 32), vs.RGBS))
    with pytest.raises(error):
        Backend.MIGX().inference(clip, model, fallback=Backend.ORT_CPU(), **kwargs)  # type: ignore[arg-type]


def test_a_channel_mismatch_is_never_masked(make_model: ModelFactory) -> None:
    model = make_model(4, 3)
    with pytest.raises(ClipError, match="4 planes"):
        Backend.MIGX().inference(clip_from_planes(pattern(3, 24, 32), vs.RGBS), model, fallback=Backend.ORT_CPU())


def test_fallback_must_be_backends(make_model: ModelFactory) -> None:
    with pytest.raises(ConfigError, match="fallback"):
        Backend.ORT_CPU().inference(clip_from_planes(pattern(3, 24, 32), vs.RGBS), make_model(3, 3),
                                    fallback="ORT_CPU")  # type: ignore[arg-type]


def test_forwarded_kwargs_reach_only_the_plugins_that_take_them(make_model: ModelFactory) -> None:
    """use_cuda_graph is core.trt_rtx's: OV_CPU, the fallback, runs without it (it used to die on it)."""
    need_plugin("ov")
    need_plugin("trt_rtx")
    need_module("tensorrt_rtx")
    model = make_model(3, 3)
    planes = pattern(3, 24, 32)
    out = Backend.TRT_RTX().inference(clip_from_planes(planes, vs.RGBS), model,
                                      fallback=Backend.OV_CPU(fp16=False), use_cuda_graph=0)
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=1e-4)


def test_a_kwarg_no_plugin_of_the_chain_takes_is_a_typo(make_model: ModelFactory) -> None:
    from vsinfer.errors import UnknownArgumentError

    need_plugin("ort")
    need_plugin("ov")
    with pytest.raises(UnknownArgumentError, match="num_stream"):
        Backend.ORT_CPU().inference(clip_from_planes(pattern(3, 24, 32), vs.RGBS), make_model(3, 3),
                                    fallback=Backend.OV_CPU(), num_stream=2)


def test_a_configuration_the_plugin_refuses_stops_the_chain(make_model: ModelFactory,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """OpenVINO refuses a value vsinfer does not check: the user's configuration, not this machine; no fallback.

    (An unknown key is refused before the plugin since issue 29; KEY_CACHE_QUANT_MODE's values are left to OpenVINO.)
    """
    from vsinfer.errors import PluginError

    need_plugin("ov")
    need_plugin("ort")
    with caplog.at_level(logging.WARNING, logger="vsinfer"), pytest.raises(PluginError, match="KEY_CACHE_QUANT_MODE"):
        Backend.OV_CPU(custom_config={"KEY_CACHE_QUANT_MODE": "1"}).inference(
            clip_from_planes(pattern(3, 24, 32), vs.RGBS), make_model(3, 3), fallback=Backend.ORT_CPU())
    assert "falling back" not in caplog.text


def test_a_configuration_error_stops_the_chain(make_model: ModelFactory) -> None:
    need_plugin("ort")
    with pytest.raises(ConfigError, match="custom_config"):
        Backend.OV_CPU(custom_config={"NUM_STREAMS": "lots"}).inference(
            clip_from_planes(pattern(3, 24, 32), vs.RGBS), make_model(3, 3), fallback=Backend.ORT_CPU())


@pytest.mark.parametrize(("message", "moves_on"), [
    ("CUDA driver version is insufficient for CUDA runtime version", True),
    ("libOpenCL.so.1: cannot open shared object file", True),
    ("get_gpu_device failed", True),
    ("cudaGetDeviceCount failed", True),
    ('"output_format" must be 0', False),
    ("NotFound: Unsupported property BOGUS_KEY by CPU plugin.", False),
])
def test_which_plugin_refusals_move_the_chain_on(message: str, moves_on: bool) -> None:
    from vsinfer.backends.chain import _cannot_run_here
    from vsinfer.errors import PluginError

    assert _cannot_run_here(PluginError("X", "ort", message)) is moves_on
