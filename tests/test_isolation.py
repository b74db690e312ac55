"""A test run writes nothing under the caller's HOME or XDG_CACHE_HOME (Mesa's shader cache, onnxruntime's id)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import need_plugin

ROOT = Path(__file__).resolve().parent.parent

CHILD_TEST = '''
import os

import numpy as np
import onnxruntime
import vapoursynth as vs

from tests.conftest import clip_from_planes, conv_model, pattern, planes_of, reference
from vsinfer import Backend


def test_writes_caches(tmp_path):
    model = conv_model(tmp_path / "m.onnx", 3, 3)
    onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])  # its device id file
    planes = pattern(3, 16, 16)
    out = Backend.NCNN(fp16=False).inference(clip_from_planes(planes, vs.RGBS), model)  # Mesa's shader cache
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=1e-3)
    print(*(f"{name} {os.environ.get(name, '-')}" for name in ("HOME", "XDG_CACHE_HOME", "MESA_SHADER_CACHE_DIR")))
'''


def test_the_callers_home_stays_empty(tmp_path: Path) -> None:
    """A pytest run (tests/conftest.py as its plugin) with HOME and XDG_CACHE_HOME in an empty folder: it stays empty,
    and the caches went to the test's own home and the session's Mesa folder."""
    need_plugin("ncnn")  # and a Vulkan device: lavapipe writes the shader cache this test is about
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "test_child.py").write_text(CHILD_TEST)
    env = {k: v for k, v in os.environ.items() if k != "MESA_SHADER_CACHE_DIR"}
    env |= {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "tests.conftest",
                           "--basetemp", str(tmp_path / "base"), str(tmp_path / "test_child.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []
    line = next(x for x in done.stdout.splitlines() if x.startswith("HOME"))
    _, test_home, _, xdg, _, mesa = line.split()
    assert Path(test_home).is_relative_to(tmp_path / "base") and xdg == str(Path(test_home) / ".cache")
    assert "vsinfer-tests-home-" in mesa and not Path(mesa).exists()  # the session's folder, removed at its end
