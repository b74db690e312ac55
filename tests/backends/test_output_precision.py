"""Output precision follows the input (DESIGN principle 11) on every backend family, with real plugins.

float32 in -> float32 out, half in -> half out; integer clips -> the float type they were converted to. Where the
plugin can produce the precision itself (ort / ncnn ``output_format``) no conversion filter is added.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vapoursynth as vs

from tests.conftest import ModelFactory, clip_from_planes, need_module, need_plugin, pattern, planes_of, reference
from vsinfer import Backend

FORMATS = {"RGBS": (vs.RGBS, 3), "RGBH": (vs.RGBH, 3), "GRAYS": (vs.GRAYS, 1), "RGB24": (vs.RGB24, 3)}
FAMILIES = {
    "ort": lambda fp16: Backend.ORT_CPU(fp16=fp16),
    "ov": lambda fp16: Backend.OV_CPU(fp16=fp16),
    "ncnn": lambda fp16: Backend.NCNN(fp16=fp16),
}


def expected_bits(fmt: str, backend: Any) -> int:
    if fmt in ("RGBS", "GRAYS"):
        return 32
    if fmt == "RGBH":
        return 16
    # integer clips: the float type they were converted to (ort / ncnn: half for fp16 runs; ov: float32)
    return 32 if backend.namespace == "ov" or not backend.fp16 else 16


@pytest.mark.parametrize("fp16", [True, False], ids=["fp16", "fp32"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_output_precision(family: str, fmt: str, fp16: bool, make_model: ModelFactory) -> None:
    need_plugin(family)
    vs_format, channels = FORMATS[fmt]
    model = make_model(channels, channels)
    planes = pattern(channels, 24, 32)
    if fmt == "RGB24":
        planes = (planes * 255).round() / 255
        clip = clip_from_planes((planes * 255).round().astype(np.uint8), vs_format)
    else:
        clip = clip_from_planes(planes, vs_format)
    backend = FAMILIES[family](fp16)
    out = backend.inference(clip, model)
    assert out.format.sample_type == vs.FLOAT
    assert out.format.bits_per_sample == expected_bits(fmt, backend)
    assert out.format.color_family == clip.format.color_family
    half_somewhere = fp16 or fmt == "RGBH" or out.format.bits_per_sample == 16
    inp = planes.astype(np.float16).astype(np.float32) if fmt == "RGBH" else planes
    np.testing.assert_allclose(planes_of(out), reference(model, inp[None])[0], atol=2e-2 if half_somewhere else 1e-5)


@pytest.mark.parametrize("fmt", [vs.RGBS, vs.RGBH])
def test_no_conversion_filter_where_the_plugin_produces_the_precision(
    fmt: int, make_model: ModelFactory, monkeypatch: Any
) -> None:
    """ort with fp16 compute: the plugin's own output_format gives the clip's precision; no conversion is added."""
    need_plugin("ort")
    import vsinfer.backends.plugin_io as plugin_io

    def no_conversion(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a conversion filter was added")

    model = make_model(3, 3)
    clip = clip_from_planes(pattern(3, 24, 32), fmt)
    monkeypatch.setattr(plugin_io, "as_float", no_conversion)
    out = Backend.ORT_CPU(fp16=True).inference(clip, model)
    assert out.format.id == clip.format.id


def test_explicit_output_format_wins(make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(3, 3)
    clip = clip_from_planes(pattern(3, 24, 32), vs.RGBS)
    out = Backend.ORT_CPU(output_format=Backend.ORT.OutputFormat.FP16).inference(clip, model)
    assert out.format.bits_per_sample == 16


def test_composes_with_the_source(make_model: ModelFactory) -> None:
    """What the issue measured: stacking the output with its source works without a conversion."""
    need_plugin("ort")
    model = make_model(3, 3)
    for fmt in (vs.RGBS, vs.RGBH):
        clip = clip_from_planes(pattern(3, 24, 32), fmt)
        out = Backend.ORT_CPU().inference(clip, model)
        assert vs.core.std.StackHorizontal([clip, out]).width == 64


@pytest.mark.parametrize(("fmt", "io"), [(vs.RGBS, "fp32"), (vs.RGBH, "fp16"), (vs.RGB24, "fp16")])
def test_trt_engine_io_follows_the_clip(fmt: int, io: str, make_model: ModelFactory, monkeypatch: Any,
                                        tmp_path: Path) -> None:
    """fp16 compute with float32 IO is its own engine; its identity records the IO (no GPU needed to check)."""
    need_module("tensorrt_rtx")
    import vsinfer.backends.trt.builder as trt_module
    from vsinfer.identity import DeviceInfo

    monkeypatch.setattr(trt_module, "plugin_device", lambda namespace, device_id: DeviceInfo("Test GPU", "8.9"))
    built: list[dict[str, Any]] = []

    def fake_build_engine(self: Any, model: Any, channels: int, tilesize: Any, input_name: Any, *, io: Any) -> Path:
        built.append(self.get_identity(model, channels, tilesize, input_name, io=io))
        raise RuntimeError("stop before building")

    monkeypatch.setattr(trt_module.EngineBuilder, "build_engine", fake_build_engine)
    model = make_model(3, 3)
    clip = vs.core.std.BlankClip(width=32, height=24, format=fmt, length=1)
    with pytest.raises(RuntimeError, match="stop before building"):
        Backend.TRT_RTX(fp16=True).inference(clip, model)
    assert built[0]["io"] == io
    with pytest.raises(RuntimeError, match="stop before building"):
        Backend.TRT_RTX(fp16=False).inference(clip, model)
    assert built[1]["io"] == "fp32"
