"""``vsinfer quantize``: the report, the copy, the refusal and the errors (real onnxruntime / OpenVINO runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import need_plugin
from vsinfer.cli import main
from vsinfer.model import model_info, quantized

ZOO = Path(__file__).parents[1] / "data" / "zoo"
SCRIPT = """import numpy as np, vapoursynth as vs
w, h = 96, 64
y, x = np.mgrid[0:h, 0:w].astype(np.float32)
blank = vs.core.std.BlankClip(width=w, height=h, format=vs.{fmt}, length=12)
def fill(n, f):
    out = f.copy()
    for p in range(out.format.num_planes):
        np.copyto(np.asarray(out[p]), np.clip(0.5 + 0.4 * np.sin((x * (p + 1) + n * 7) / 17.0)
                  * np.cos((y + n * 3) / 11.0), 0, 1).astype(np.float32))
    return out
vs.core.std.ModifyFrame(blank, blank, fill).set_output()
"""


def script(tmp_path: Path, fmt: str = "RGBS") -> Path:
    path = tmp_path / f"clip_{fmt}.vpy"
    path.write_text(SCRIPT.format(fmt=fmt))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_quantize_reports_copies_and_times(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    need_plugin("ov")
    copy = tmp_path / "demo_int8.onnx"
    code, out, err = run(capsys, "quantize", "demo", "--clip", str(script(tmp_path)), "--frames", "4",
                         "--min-psnr", "30", "-o", str(copy), "--speed-frames", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["psnr_db"] >= 30 and report["max_error"] > 0 and not report["cached"]
    assert quantized(model_info(copy)) and copy.read_bytes() == Path(report["quantized"]).read_bytes()
    speed = report["speed"]
    assert speed["float_fps"] > 0 and speed["int8_fps"] > 0 and "INT8 is" in speed["verdict"]
    code, out, _ = run(capsys, "quantize", "demo", "--clip", str(script(tmp_path)), "--frames", "4",
                       "--min-psnr", "30", "--speed-frames", "0")
    assert code == 0 and "read back from the cache" in out and "dB PSNR" in out


def test_quantize_refuses_below_the_bound(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "quantize", "demo", "--clip", str(script(tmp_path)), "--frames", "4",
                       "--min-psnr", "100", "--speed-frames", "0")
    assert code == 1 and "below the bound of 100 dB" in err and "dB PSNR" in err


@pytest.mark.parametrize(("args", "words"), [
    (["demo"], "--clip=None"),
    ([str(ZOO / "compact_int8.onnx"), "--clip", "{script}"], "already quantized"),
    (["demo", "--clip", "{yuv}"], "RGB or GRAY"),
    (["demo", "--clip", "{missing}"], "an existing .vpy script"),
])
def test_quantize_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], words: str) -> None:
    values = {"script": str(script(tmp_path)), "yuv": str(script(tmp_path, "YUV444PS")),
              "missing": str(tmp_path / "missing.vpy")}
    code, out, err = run(capsys, "quantize", *[a.format(**values) for a in args], "--speed-frames", "0")
    assert code == 1 and words in err and "Traceback" not in err and out == ""
