"""Every examples/*.vpy runs under vspipe and exits 0 (what a user copying an example does first)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import vspipe

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.vpy"))


def test_there_are_examples() -> None:
    assert EXAMPLES, "examples/*.vpy found nothing"


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_under_vspipe(script: Path, tmp_path: Path) -> None:
    exe, env = vspipe()
    info = subprocess.run([exe, "--info", str(script), "-"], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert info.returncode == 0, info.stderr
    frames = int(next(line.split(":")[1] for line in info.stdout.splitlines() if line.startswith("Frames:")))
    out = tmp_path / f"{script.stem}.raw"
    result = subprocess.run([exe, "-p", str(script), str(out)], capture_output=True, text=True, env=env,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert f"Output {frames} frames" in result.stderr, result.stderr
    assert out.stat().st_size > 0
