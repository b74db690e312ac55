"""Fixtures for render tests: a real local Ray instance with two workers, a 60-frame script through the demo model.

The script paints a moving pattern on a 96x64 RGBS clip (numpy in ModifyFrame), runs the bundled demo model
(ORT_CPU, fp16: the fp16 guard writes its analysis to the cache, which the build spy watches) and converts to
YUV444P16. Faults are written into the script: ``kill`` kills vspipe (or its Ray worker) at a frame, once (a
marker file is consumed); ``fail`` raises at a frame while a marker file exists; ``stall`` stops at a frame (once:
the first attempt takes the marker and sleeps; else every attempt waits while the marker exists), after writing
``<marker>.stalled``; RENDER_TEST_SLEEP slows frames.

Ray keeps its sessions in a temporary folder of the test run (RAY_TMPDIR), not in /tmp/ray, and token
authentication is off for these throwaway clusters (RAY_AUTH_MODE): nothing is left in ~/.ray.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import vsinfer
from tests.conftest import need_plugin, vspipe

MODEL = Path(vsinfer.__file__).parent / "models" / "demo_2x.onnx"

SCRIPT = '''\
import os, signal, time
import numpy as np
import vapoursynth as vs
from vsinfer import Backend
core = vs.core
KILL = {kill!r}   # (marker file, frame, "vspipe" | "worker") or None
FAIL = {fail!r}   # (marker file, frame) or None
STALL = {stall!r}   # (marker file, frame, once) or None
SLEEP = float(os.environ.get("RENDER_TEST_SLEEP", "0"))
src = core.std.BlankClip(width=96, height=64, format=vs.RGBS, length=60)
yy, xx = np.mgrid[0:64, 0:96].astype(np.float32)

def paint(n, f):
    if SLEEP:
        time.sleep(SLEEP)
    if KILL is not None and n == KILL[1]:
        try:
            os.remove(KILL[0])
        except FileNotFoundError:
            pass
        else:
            os.kill(os.getpid() if KILL[2] == "vspipe" else os.getppid(), signal.SIGKILL)
    if FAIL is not None and n == FAIL[1] and os.path.exists(FAIL[0]):
        raise RuntimeError("test fault at frame %d" % n)
    if STALL is not None and n == STALL[1]:
        if STALL[2]:
            try:
                os.rename(STALL[0], STALL[0] + ".stalled")
            except FileNotFoundError:
                pass
            else:
                time.sleep(600)
        elif os.path.exists(STALL[0]):
            open(STALL[0] + ".stalled", "w").close()
            while os.path.exists(STALL[0]):
                time.sleep(0.1)
    f = f.copy()
    for p in range(3):
        np.asarray(f[p])[:] = (np.sin(xx * (0.1 + 0.05 * p) + n * 0.3) * np.cos(yy * 0.13 - n * 0.1) + 1) * 0.5
    return f

src = core.std.ModifyFrame(src, src, paint)
out = Backend.ORT_CPU(fp16=True).inference(src, {model!r})
out.resize.Point(format=vs.YUV444P16, matrix_s="709").set_output()
'''


CLIP_SCRIPT = '''\
import numpy as np
import vapoursynth as vs
core = vs.core
SOURCE = {source!r}
data = np.memmap(SOURCE, dtype=np.uint8, mode="r")
header = bytes(data[:200]).split(b"\\n")[0]
width, height = (int(t[1:]) for t in header.split() if t[:1] in (b"W", b"H"))
luma, chroma = width * height, (width // 2) * (height // 2)
offset, size = len(header) + 1, 6 + luma + 2 * chroma
clip = core.std.BlankClip(width=width, height=height, format=vs.YUV420P8, length=(len(data) - offset) // size,
                          fpsnum=24, fpsden=1)

def read(n, f):
    f = f.copy()
    at = offset + n * size + 6
    np.asarray(f[0])[:] = data[at:at + luma].reshape(height, width)
    np.asarray(f[1])[:] = data[at + luma:at + luma + chroma].reshape(height // 2, width // 2)
    np.asarray(f[2])[:] = data[at + luma + chroma:at + size - 6].reshape(height // 2, width // 2)
    return f

core.std.ModifyFrame(clip, clip, read).set_output()
'''

CUTS = (36, 66, 114)
"""Where the scenes of ``make_clip`` start (frames)."""


def make_clip(folder: Path, size: str = "96x64") -> Path:
    """A 144-frame y4m clip of four scenes (ffmpeg's test sources, each moving), cut at ``CUTS``."""
    clip = folder / "clip.y4m"
    sources = [f"testsrc2=size={size}:rate=24", f"mandelbrot=size={size}:rate=24",
               f"life=size={size}:rate=24:mold=10:ratio=0.1", f"testsrc=size={size}:rate=24"]
    inputs = [arg for s in sources for arg in ("-f", "lavfi", "-i", s)]
    lengths = [b - a for a, b in zip((0, *CUTS), (*CUTS, 144), strict=True)]
    trims = "".join(f"[{i}]trim=end_frame={n},setpts=PTS-STARTPTS[s{i}];" for i, n in enumerate(lengths))
    graph = trims + "".join(f"[s{i}]" for i in range(4)) + "concat=n=4:v=1:a=0,format=yuv420p[v]"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *inputs, "-filter_complex", graph, "-map", "[v]", "-y",
                    str(clip)], check=True, timeout=60)
    return clip


def write_clip_script(folder: Path, clip: Path) -> Path:
    """A script that shows the y4m clip (a source filter in numpy: it names the clip, as a source filter would)."""
    path = folder / "clip.vpy"
    path.write_text(CLIP_SCRIPT.format(source=str(clip)), encoding="utf-8")
    return path


def need_farm() -> None:
    """Skip, naming the install command, when ray or ffmpeg is missing."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed: pip install 'vsinfer[farm]' (or pip install 'ray>=2.9')")
    for program in ("ffmpeg", "ffprobe"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed: apt-get install -y ffmpeg")


def write_script(folder: Path, name: str = "job.vpy", *, kill: tuple[str, int, str] | None = None,
                 fail: tuple[str, int] | None = None, stall: tuple[str, int, bool] | None = None) -> Path:
    """A 60-frame script through the demo model, with the faults asked for."""
    path = folder / name
    path.write_text(SCRIPT.format(kill=kill, fail=fail, stall=stall, model=str(MODEL)), encoding="utf-8")
    return path


def reference(script: Path) -> bytes:
    """The script's frames from one plain vspipe run (raw planes, as ffmpeg's yuv444p16le)."""
    exe, env = vspipe()
    return subprocess.run([exe, str(script), "-"], capture_output=True, check=True, env=env).stdout


def decoded(path: Path) -> bytes:
    """A rendered file's frames decoded by ffmpeg into the same raw layout."""
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv444p16le",
                           "-"], capture_output=True, check=True).stdout


def cache_files(root: Path) -> set[str]:
    """Every file under the cache root (the build spy compares these sets)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.fixture(scope="session", autouse=True)
def ray_scratch() -> Iterator[Path]:
    """Ray's temporary folder for the whole run (short: its socket paths must fit 107 bytes), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="vsr-"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_TMPDIR", str(root))
        mp.setenv("RAY_AUTH_MODE", "disabled")  # else a local cluster writes a token to ~/.ray/auth_token
        try:
            yield root
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray instance with two CPU workers shared by the module; its workers use a fresh cache folder."""
    need_farm()
    need_plugin("ort")
    import ray

    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        _, env = vspipe()
        mp.setenv("PATH", env["PATH"])
        mp.setenv("VSINFER_CACHE_DIR", str(cache))
        mp.delenv("VSINFER_SHARED_CACHE", raising=False)
        ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
                 object_store_memory=100 * 1024 * 1024, configure_logging=False)
        try:
            yield cache
        finally:
            ray.shutdown()
            os.environ.pop("RAY_ADDRESS", None)
