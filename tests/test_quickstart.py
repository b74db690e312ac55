"""The quick start runs as written: the README's and docs/index.md's install line, script and vspipe | ffmpeg line.

The fast tests read the three pieces out of each page. The slow test runs them literally in a fresh venv (the
install line from PyPI, with ``vsinfer`` replaced by this checkout), on a short generated video and the demo model
in place of ``input.mkv`` and ``model_2x.onnx``, and checks the encoded file's frame count and size.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/index.md"]
DEMO_MODEL = ROOT / "src" / "vsinfer" / "models" / "demo_2x.onnx"
FRAMES, WIDTH, HEIGHT = 6, 96, 64
"""The generated input video: a few frames, small enough for the CPU."""

PLACEHOLDERS = {"input": "input.mkv", "model": "model_2x.onnx", "script": "upscale.vpy", "output": "out.mkv",
                "package": "'vsinfer[cpu]'"}
"""The names in the pages that the test replaces; each must appear in its piece, or the test fails."""


@dataclass(frozen=True)
class QuickStart:
    """The three pieces of one page's quick start."""

    install: str
    """The sh block with the ``pip install`` line."""
    script: str
    """The python block that ends in ``set_output()``: the .vpy script."""
    pipe: str
    """The sh block whose line starts with ``vspipe``."""


def fenced(text: str, lang: str) -> list[str]:
    """The bodies of the fenced code blocks of ``lang`` (a title after the language is allowed)."""
    return [m.group(1) for m in re.finditer(rf"^```{lang}\b[^\n]*\n(.*?)^```", text, re.M | re.S)]


def quick_start(page: str) -> QuickStart:
    """The quick start of ``page`` (relative to the repository root); fails when a piece is missing."""
    text = (ROOT / page).read_text()
    shells = fenced(text, "sh")
    install = next((b for b in shells if "pip install" in b), None)
    script = next((b for b in fenced(text, "python") if "set_output()" in b and "VideoSource" in b), None)
    pipe = next((b for b in shells if b.lstrip().startswith("vspipe")), None)
    assert install and script and pipe, (
        f"{page}: the quick start needs an sh block with `pip install`, a python block reading a video and calling "
        f"set_output(), and an sh block starting with `vspipe`; found install={install!r} script={script!r} "
        f"pipe={pipe!r}")
    return QuickStart(install, script, pipe)


@pytest.mark.parametrize("page", PAGES)
def test_the_page_has_a_quick_start(page: str) -> None:
    qs = quick_start(page)
    assert PLACEHOLDERS["package"] in qs.install, f"{page}: the install line does not install {PLACEHOLDERS['package']}"
    for key in ("input", "model"):
        assert PLACEHOLDERS[key] in qs.script, f"{page}: the script does not name {PLACEHOLDERS[key]}"
    for key in ("script", "output"):
        assert PLACEHOLDERS[key] in qs.pipe, f"{page}: the vspipe line does not name {PLACEHOLDERS[key]}"
    assert "-c y4m" in qs.pipe and "| ffmpeg" in qs.pipe, f"{page}: the quick start pipes y4m into ffmpeg"


@pytest.mark.parametrize("page", PAGES)
def test_the_install_line_brings_the_source_filter(page: str) -> None:
    qs = quick_start(page)
    if "core.bs." in qs.script:
        assert "vapoursynth-bestsource" in qs.install, f"{page}: the script reads with core.bs (BestSource), which " \
                                                       "the install line does not install (vapoursynth-bestsource)"


def test_the_readme_and_the_quick_start_page_agree() -> None:
    readme, index = (quick_start(p) for p in PAGES)
    strip = lambda s: [ln for ln in s.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]  # noqa: E731
    assert strip(readme.script) == strip(index.script), "README.md and docs/index.md show different scripts"
    assert readme.pipe == index.pipe, "README.md and docs/index.md show different vspipe lines"


def need_program(name: str) -> str:
    """The path of ``name``; a skip naming the install command, or a failure under CI (which installs it)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed: apt-get install -y ffmpeg"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (.ci/run installs it, so CI must run this test)")
        pytest.skip(reason)
    return path


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``, failing the test with its output when it exits non-zero."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{cmd[:3]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Fresh venvs by install line, so that two pages with the same line install once."""
    return {}


def venv_for(install: str, venvs: dict[str, Path], tmp: Path) -> Path:
    """A fresh venv where ``install`` ran literally (``vsinfer`` from this checkout); its bin folder."""
    if install not in venvs:
        venv = tmp / f"venv{len(venvs)}"
        run([sys.executable, "-m", "venv", str(venv)], timeout=300)
        line = install.replace(PLACEHOLDERS["package"], f"'{ROOT}[cpu]'")
        env = os.environ | {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
                            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        env.pop("PYTHONPATH", None)
        run(["bash", "-euo", "pipefail", "-c", line], env=env, cwd=tmp, timeout=1200)
        venvs[install] = venv / "bin"
    return venvs[install]


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("page", PAGES)
def test_the_quick_start_runs_as_written(page: str, venvs: dict[str, Path],
                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    ffmpeg, ffprobe = need_program("ffmpeg"), need_program("ffprobe")
    qs = quick_start(page)
    bin_dir = venv_for(qs.install, venvs, tmp_path_factory.mktemp("quickstart-venvs"))
    work = tmp_path_factory.mktemp("quickstart")
    video, script, out = work / "input.mkv", work / "upscale.vpy", work / "out.mkv"
    run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate=24",
         "-frames:v", str(FRAMES), "-pix_fmt", "yuv420p", "-colorspace", "bt709", "-c:v", "ffv1", str(video)],
        timeout=120)
    script.write_text(qs.script.replace(f'"{PLACEHOLDERS["input"]}"', repr(str(video)))
                      .replace(f'"{PLACEHOLDERS["model"]}"', repr(str(DEMO_MODEL))))
    line = qs.pipe.replace(PLACEHOLDERS["script"], str(script)).replace(PLACEHOLDERS["output"], str(out))
    env = os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(bin_dir.parent),
                        "VSINFER_CACHE_DIR": str(work / "cache")}
    env.pop("PYTHONPATH", None)
    run(["bash", "-euo", "pipefail", "-c", line], env=env, cwd=work, timeout=600)

    probe = run([ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                 "stream=width,height,nb_read_frames,pix_fmt,color_space", "-of", "json", str(out)], timeout=120)
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["width"], stream["height"]) == (2 * WIDTH, 2 * HEIGHT), stream
    assert int(stream["nb_read_frames"]) == FRAMES, stream
    assert stream.get("color_space") == "bt709", stream
