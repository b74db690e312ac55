"""Each family's verbosity scale, read from its plugin: the log lines a real session prints at each logger level.

core.ort 17.1.1 (measured here): verbosity 0, 1, 2 print nothing for a model that runs cleanly, 3 prints
onnxruntime's INFO lines, 4 its VERBOSE lines too; so the ``vsinfer`` logger's DEBUG must give 4 and ERROR 1.
core.trt / core.trt_rtx use the same direction (0 internal errors .. 4 verbose). core.ov, core.ncnn and core.migx
take no verbosity: their backends pass none.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_plugin
from vsinfer import Backend
from vsinfer.plugins import accepted_args

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import logging, sys
from pathlib import Path
import vapoursynth as vs
from tests.conftest import conv_model
from vsinfer import Backend
logging.getLogger("vsinfer").setLevel(int(sys.argv[1]))
model = conv_model(Path(sys.argv[2]) / "m.onnx", 3, 3)
clip = vs.core.std.BlankClip(width=32, height=24, format=vs.RGBS, length=1)
Backend.ORT_CPU().inference(clip, model).get_frame(0)
"""

ORT_LINE = re.compile(r"\[([VIWEF]):onnxruntime:")


def _ort_lines(level: int, tmp: Path) -> dict[str, int]:
    env = os.environ | {"PYTHONPATH": str(ROOT), "VSINFER_CACHE_DIR": str(tmp / "cache")}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(level), str(tmp)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = {k: 0 for k in "VIWEF"}
    for line in proc.stderr.splitlines():
        match = ORT_LINE.search(line)
        if match:
            counts[match.group(1)] += 1
    return counts


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL])
def test_ort_prints_what_the_logger_level_asks_for(level: int, tmp_path: Path) -> None:
    need_plugin("ort")
    counts = _ort_lines(level, tmp_path)
    if level == logging.DEBUG:
        assert counts["V"] > 0 and counts["I"] > 0, counts
    elif level == logging.INFO:
        assert counts["I"] > 0 and counts["V"] == 0, counts
    else:  # a clean session has nothing at WARNING or above: nothing at all may be printed
        assert sum(counts.values()) == 0, counts


def test_ort_scale_goes_up_with_detail() -> None:
    log = logging.getLogger("vsinfer")
    saved = log.level
    try:
        levels = []
        for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG):
            log.setLevel(level)
            levels.append(Backend.ORT_CPU().get_args([])["verbosity"])
    finally:
        log.setLevel(saved)
    assert levels == [0, 1, 2, 3, 4]
    assert Backend.ORT.Verbosity.VERBOSE == 4 and Backend.ORT.Verbosity.FATAL == 0


@pytest.mark.parametrize(("name", "namespace"), [("OV_CPU", "ov"), ("NCNN", "ncnn")])
def test_families_without_a_verbosity_pass_none(name: str, namespace: str) -> None:
    need_plugin(namespace)
    assert "verbosity" not in accepted_args(namespace)
    assert "verbosity" not in getattr(Backend, name)().get_args([])


def test_trt_rtx_takes_the_same_direction() -> None:
    need_plugin("trt_rtx")
    assert "verbosity" in accepted_args("trt_rtx")
    log = logging.getLogger("vsinfer")
    saved = log.level
    try:
        log.setLevel(logging.DEBUG)
        assert Backend.TRT_RTX().get_args([])["verbosity"] == 4
        log.setLevel(logging.ERROR)
        assert Backend.TRT_RTX().get_args([])["verbosity"] == 1
    finally:
        log.setLevel(saved)
