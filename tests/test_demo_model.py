"""The shipped demo model (src/vsinfer/models/demo_2x.onnx): what the docs promise, on the real plugins."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import vapoursynth as vs

import vsinfer.backends.trt.builder as trt_module
from tests.conftest import clip_from_planes, need_module, need_plugin, planes_of, reference
from vsinfer import Backend
from vsinfer.identity import DeviceInfo
from vsinfer.model import read_model

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "src" / "vsinfer" / "models" / "demo_2x.onnx"
PHOTO = ROOT / "examples" / "data" / "chelsea.png"  # a crop of a picture held out of training (tools/sr_pictures.py)
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)[:, None, None]


def photo() -> np.ndarray:
    from PIL import Image

    rgb = np.asarray(Image.open(PHOTO).convert("RGB"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    err = (np.clip(a, 0, 1) * LUMA).sum(0) - (np.clip(b, 0, 1) * LUMA).sum(0)
    return 10 * math.log10(1.0 / float(np.mean(err**2)))


def catmull_rom(clip: vs.VideoNode, width: int, height: int) -> vs.VideoNode:
    return vs.core.resize.Bicubic(clip, width, height, filter_param_a=0, filter_param_b=0.5)


def test_model_is_small_valid_rgb_2x_with_dynamic_size() -> None:
    assert MODEL.stat().st_size <= 200 * 1024
    model = onnx.load(MODEL)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    (inp,) = model.graph.input
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert inp.name == "input" and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims[:2] == [1, 3] and all(isinstance(d, str) for d in dims[2:])  # H and W are named, not fixed
    tensor = read_model(MODEL).input()
    assert tensor.channels == 3 and tensor.spatial == (None, None)  # what vsinfer itself reads from it


def test_model_output_is_twice_the_size_and_matches_the_reference() -> None:
    planes = photo()[:, 100:124, 150:182]
    out = reference(MODEL, planes[None])[0]
    assert out.shape == (3, 48, 64)
    # A 2x upscaler: the output shrunk back is close to its input (and not, say, a shifted or colour-swapped copy).
    clip = clip_from_planes(out, vs.RGBS, length=1)
    back = planes_of(catmull_rom(clip, 32, 24))
    assert psnr_y(back, planes) > 30


@pytest.mark.parametrize("name", ["ORT_CPU", "OV_CPU", "NCNN"])
def test_runs_through_each_cpu_backend(name: str) -> None:
    need_plugin({"ORT_CPU": "ort", "OV_CPU": "ov", "NCNN": "ncnn"}[name])  # ncnn: skips without a Vulkan device
    planes = photo()[:, 64:112, 96:160]
    out = getattr(Backend, name)(fp16=False).inference(clip_from_planes(planes, vs.RGBS, length=1), MODEL)
    assert (out.width, out.height) == (128, 96)
    np.testing.assert_allclose(planes_of(out), reference(MODEL, planes[None])[0], atol=1e-4)


def test_beats_bicubic_on_a_held_out_photo_through_ov_cpu() -> None:
    """The docs' claim, on the shipped photo: Catmull-Rom 2x down, then 2x up; the model wins by >= 0.8 dB luma."""
    need_plugin("ov")
    hr = photo()
    _, h, w = hr.shape
    lr = catmull_rom(clip_from_planes(hr, vs.RGBS, length=1), w // 2, h // 2)
    bicubic = psnr_y(planes_of(catmull_rom(lr, w, h)), hr)
    model = psnr_y(planes_of(Backend.OV_CPU().inference(lr, MODEL)), hr)
    assert model - bicubic >= 0.8, f"model {model:.2f} dB vs bicubic {bicubic:.2f} dB"


@pytest.mark.slow
def test_trt_rtx_builds_an_fp16_engine(monkeypatch: pytest.MonkeyPatch, isolated_cache: Path) -> None:
    need_module("tensorrt_rtx")
    # No GPU here: the engine is keyed to a stated device (the builder itself runs on the CPU).
    monkeypatch.setattr(trt_module, "plugin_device", lambda namespace, device_id: DeviceInfo("Test RTX 4090", "8.9"))
    engine = Backend.TRT_RTX(fp16=True).build_engine(MODEL, channels=3, tilesize=(640, 480))
    assert engine.is_file() and engine.stat().st_size > 1000
    assert engine.parent == isolated_cache / "trt"
