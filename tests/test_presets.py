"""Presets resolve on this machine; each sets what its documentation says."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import vapoursynth as vs

from tests.conftest import ModelFactory, clip_from_planes, need_plugin, pattern, planes_of, reference
from vsinfer import Backend
from vsinfer.errors import ConfigError
from vsinfer.presets import PRESETS, preset_fields

DOCUMENTED = {
    "default": {},
    "fast": {"fp16": True, "bf16": False},  # and num_streams=2 on GPU backends
    "exact": {"fp16": False, "bf16": False, "tf32": False},
}
"""What each preset sets, as src/vsinfer/presets.py and docs describe it."""


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_autoselects_choice_with_its_documented_fields(name: str) -> None:
    """Same class as autoselect's, the documented fields set (those the class has), every other field untouched."""
    chosen = Backend.autoselect()
    got = Backend.preset(name)
    assert type(got) is type(chosen)
    fields = {f.name for f in dataclasses.fields(chosen)}
    wanted = dict(DOCUMENTED[name]) | ({"num_streams": 2} if name == "fast" and chosen.on_gpu else {})
    wanted = {k: v for k, v in wanted.items() if k in fields}
    assert {k: getattr(got, k) for k in wanted} == wanted
    untouched = fields - wanted.keys()
    assert {k: getattr(got, k) for k in untouched} == {k: getattr(chosen, k) for k in untouched}
    if name == "default":
        assert got == chosen
    if name == "exact":
        assert got.effective_precision() == ("fp32", "")  # float32 on every CPU kind, whatever its bf16 / fp16


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
