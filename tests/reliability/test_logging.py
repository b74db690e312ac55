"""vspipe writes video to stdout or a file: vsinfer's logging never lands in it, at any level."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ModelFactory, need_plugin

pytestmark = pytest.mark.slow

W, H, FRAMES = 40, 24, 5

SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.{level}, stream=sys.stderr, force=True)
import vapoursynth as vs
from vsinfer import Backend

core = vs.core
clip = core.std.Splice([  # frames differ, so each is really computed
    core.std.BlankClip(width={w}, height={h}, format=vs.RGBS, length=1, color=[0.1 * n, 0.5, 0.8])
    for n in range({frames})
])
out = Backend.ORT_CPU().inference(clip, {model!r})
core.resize.Point(out, format=vs.YUV444P8, matrix_s="709").set_output()
"""


def parse_y4m(data: bytes) -> tuple[bytes, list[bytes]]:
    """The header line and the frames' payloads; fails unless the bytes are exactly y4m of YUV444P8 frames."""
    header, sep, rest = data.partition(b"\n")
    assert sep and header.startswith(b"YUV4MPEG2 "), data[:200]
    fields = dict((f[:1], f[1:]) for f in header.split()[1:])
    w, h = int(fields[b"W"]), int(fields[b"H"])
    assert fields[b"C"].startswith(b"444")
    size = w * h * 3
    frames = []
    while rest:
        line, sep, rest = rest.partition(b"\n")
        assert sep and line.split()[0] == b"FRAME", rest[:200]
        assert len(rest) >= size
        frames.append(rest[:size])
        rest = rest[size:]
    return header, frames


@pytest.mark.parametrize("target", ["stdout", "file"])
@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING"])
def test_vspipe_output_is_only_video(level: str, target: str, make_model: ModelFactory, tmp_path: Path) -> None:
    need_plugin("ort")
    script = tmp_path / "script.vpy"
    script.write_text(SCRIPT.format(level=level, w=W, h=H, frames=FRAMES, model=str(make_model(3, 3))))
    vspipe = Path(sys.executable).with_name("vspipe")
    out = tmp_path / "out.y4m"
    env = os.environ | {"PATH": f"{vspipe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(vspipe), "-c", "y4m", str(script), "-" if target == "stdout" else str(out)],
                          capture_output=True, env=env, timeout=300, check=False)
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, stderr[-3000:]
    data = done.stdout if target == "stdout" else out.read_bytes()
    if target == "file":
        assert done.stdout == b""
    header, frames = parse_y4m(data)
    assert len(frames) == FRAMES and len(data) == len(header) + 1 + FRAMES * (len(b"FRAME\n") + W * H * 3)
    assert len(set(frames)) == FRAMES  # real, distinct frames
    assert b"vsinfer" not in data and b"DEBUG" not in data and b"INFO" not in data
    if level == "DEBUG":
        assert "vsinfer" in stderr  # the logging was on, and went to stderr
