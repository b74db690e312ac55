"""The demo runs through vspipe and writes an upscaled video (what `make demo` runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def y4m_info(path: Path) -> tuple[int, int, int]:
    data = path.read_bytes()
    header, _, rest = data.partition(b"\n")
    fields = {f[:1]: f[1:] for f in header.split()[1:]}
    width, height = int(fields[b"W"]), int(fields[b"H"])
    frames = rest.count(b"FRAME")  # frame headers; 10-bit samples could contain the bytes, so check sizes too
    return width, height, frames


@pytest.mark.slow
def test_demo_writes_an_upscaled_video(tmp_path: Path) -> None:
    vspipe = shutil.which("vspipe", path=str(Path(sys.executable).parent)) or shutil.which("vspipe")
    if vspipe is None:
        pytest.fail("vspipe is not installed next to this Python (pip install vapoursynth provides it)")
    out = tmp_path / "upscaled.y4m"
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [vspipe, "-c", "y4m", "-p", str(ROOT / "examples" / "upscale.vpy"), str(out)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "backend: OV_CPU(" in result.stderr  # autoselect on a machine without a GPU
    assert "fps" in result.stderr
    width, height, _ = y4m_info(out)
    assert (width, height) == (960, 540)
    frame_bytes = width * height * 3 * 2  # YUV444P10
    header_len = out.read_bytes().index(b"\n") + 1
    assert (out.stat().st_size - header_len) == 48 * (len(b"FRAME\n") + frame_bytes)
