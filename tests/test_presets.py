"""Presets resolve on this machine; each sets what its documentation says."""

from __future__ import annotations

import numpy as np
import pytest
import vapoursynth as vs

from tests.conftest import ModelFactory, clip_from_planes, need_plugin, pattern, planes_of, reference
from vsinfer import Backend
from vsinfer.errors import ConfigError
from vsinfer.presets import PRESETS, preset_fields


def test_every_preset_resolves_here() -> None:
    for name in PRESETS:
        assert isinstance(Backend.preset(name), Backend)


def test_exact_is_float32_and_matches_the_reference(make_model: ModelFactory) -> None:
    need_plugin("ov")
    backend = Backend.preset("exact")
    assert getattr(backend, "fp16", False) is False and not getattr(backend, "bf16", False)
    model = make_model(3, 3)
    planes = pattern(3, 24, 32)
    out = backend.inference(clip_from_planes(planes, vs.RGBS), model)
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=1e-5)


def test_fast_sets_fp16_and_gpu_streams() -> None:
    assert preset_fields("fast", Backend.OV_CPU) == {"fp16": True, "bf16": False}
    assert preset_fields("fast", Backend.TRT)["num_streams"] == 2
    assert preset_fields("fast", Backend.ORT_CUDA)["num_streams"] == 2
    assert Backend.preset("fast").fp16 is True  # type: ignore[attr-defined]


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"name='turbo' is not valid; expected one of \['default', 'exact', 'fast'\]"):
        Backend.preset("turbo")
