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
    clip = clip_from_planes(pattern(3, 24, 32), vs.RGBS)
    with caplog.at_level(logging.WARNING, logger="vsinfer"):
        out = Backend.MIGX().inference(clip, model, fallback=[Backend.TRT(), Backend.OV_CPU(fp16=False)])
    assert out.format.id == vs.RGBS
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
