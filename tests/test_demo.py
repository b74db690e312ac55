"""`make demo`: vspipe runs the example on the shipped photo, then scripts/compare.py writes the comparison."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from tests.conftest import clip_from_planes, need_plugin, planes_of, reference, vspipe

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "src" / "vsinfer" / "models" / "demo_2x.onnx"
PHOTO = ROOT / "examples" / "data" / "chelsea.png"
BOX = (180, 120, 240, 180)  # scripts/compare.py's default crop (x, y, w, h) of the 640x480 output
ZOOM, BAR, GAP = 2, 30, 8


def photo() -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(PHOTO).convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0


def to_uint8(planes: np.ndarray) -> np.ndarray:
    """(3, H, W) float -> (H, W, 3) uint8, as scripts/compare.py rounds."""
    return np.clip(np.round(planes * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def test_photo_is_small_and_documented() -> None:
    from PIL import Image

    assert PHOTO.stat().st_size < 200 * 1024
    assert Image.open(PHOTO).size == (320, 240)
    assert "CC0" in (PHOTO.parent / "README.md").read_text()


@pytest.mark.slow
def test_vspipe_reports_backend_and_fps() -> None:
    need_plugin("ov")
    exe, env = vspipe()
    result = subprocess.run([exe, "-p", str(ROOT / "examples" / "upscale.vpy"), "--"], capture_output=True,
                            text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert re.search(r"backend: [A-Z_]+\(", result.stderr), result.stderr
    assert "chelsea.png: 320x240 -> 640x480, 24 frames" in result.stderr
    assert re.search(r"Output 24 frames in [\d.]+ seconds \([\d.]+ fps\)", result.stderr), result.stderr


@pytest.mark.slow
def test_compare_png_shows_bicubic_beside_the_model(tmp_path: Path) -> None:
    from PIL import Image

    need_plugin("ov")
    _, env = vspipe()
    out = tmp_path / "compare.png"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare.py"), "--out", str(out)],
                            capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert re.search(r"wrote .*compare\.png.*backend [A-Z_]+", result.stderr), result.stderr
    picture = np.asarray(Image.open(out).convert("RGB"))
    x, y, w, h = BOX
    assert picture.shape == (h * ZOOM + BAR, 2 * w * ZOOM + GAP, 3)
    left = picture[BAR::ZOOM, : w * ZOOM : ZOOM]
    right = picture[BAR::ZOOM, w * ZOOM + GAP :: ZOOM]
    for label_bar in (picture[:BAR, : w * ZOOM], picture[:BAR, w * ZOOM + GAP :]):
        assert (label_bar < 100).any() and (label_bar > 200).mean() > 0.8  # dark text on white

    src = photo()
    bicubic = vs.core.resize.Bicubic(clip_from_planes(src, vs.RGBS, length=1), 640, 480,
                                     filter_param_a=0, filter_param_b=0.5)
    np.testing.assert_array_equal(left, to_uint8(planes_of(bicubic))[y : y + h, x : x + w])

    # The model's output, computed here by onnx's reference evaluator on the crop plus a margin wider than the
    # net's reach. The demo's backend may run in fp16: allow a few levels, on average well under one.
    m = 8
    inp = src[:, y // 2 - m : (y + h) // 2 + m, x // 2 - m : (x + w) // 2 + m]
    expected = to_uint8(reference(MODEL, inp[None])[0])[2 * m : -2 * m, 2 * m : -2 * m]
    diff = np.abs(right.astype(int) - expected.astype(int))
    assert diff.mean() < 0.5 and diff.max() <= 8, (diff.mean(), diff.max())
    assert np.abs(right.astype(int) - left.astype(int)).mean() > 1.0  # and the model is not bicubic
