"""The CI rule itself: a runtime named in VSINFER_REQUIRE fails when missing instead of skipping."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import conftest

ROOT = Path(__file__).resolve().parent.parent


def test_required_missing_plugin_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "REQUIREMENTS", conftest.REQUIREMENTS | {"nosuchplugin": "a test plugin"})
    monkeypatch.setattr(conftest, "REQUIRED", {"nosuchplugin"})
    with pytest.raises(pytest.fail.Exception, match="VSINFER_REQUIRE says nosuchplugin must run here"):
        conftest.need_plugin("nosuchplugin")


def test_optional_missing_plugin_skips_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "REQUIREMENTS", conftest.REQUIREMENTS | {"nosuchplugin": "a test plugin"})
    monkeypatch.setattr(conftest, "REQUIRED", set())
    with pytest.raises(pytest.skip.Exception, match=r"core\.nosuchplugin is not loaded"):
        conftest.need_plugin("nosuchplugin")


def test_a_requirement_name_nobody_knows_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"requirement='jetpak' is not valid"):
        conftest.missing("jetpak", "a typo")


def test_builder_module_counts_as_its_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "REQUIRED", {"trt"})
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(pytest.fail.Exception):
        conftest.need_module("tensorrt")


@pytest.mark.parametrize(("module", "requirement"), [("vsscale", "jetpack"), ("vsscale.mlrt", "jetpack"),
                                                     ("vsdenoise", "jetpack"), ("ray", "ray"),
                                                     ("tensorrt_rtx", "trt_rtx")])
def test_a_missing_module_fails_where_required(monkeypatch: pytest.MonkeyPatch, module: str, requirement: str) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    monkeypatch.setattr(conftest, "REQUIRED", {requirement})
    top = module.partition(".")[0]
    with pytest.raises(pytest.fail.Exception, match=rf"the Python module {top} is not installed.*VSINFER_REQUIRE "
                                                    rf"says {requirement} must run here"):
        conftest.need_module(module)
    monkeypatch.setattr(conftest, "REQUIRED", set())
    with pytest.raises(pytest.skip.Exception, match=rf"the Python module {top} is not installed"):
        conftest.need_module(module)


def test_an_installed_module_is_returned() -> None:
    import json.decoder

    assert conftest.need_module("json.decoder") is json.decoder


@pytest.mark.parametrize("program", ["ffmpeg", "ffprobe"])
def test_a_missing_program_fails_where_required(monkeypatch: pytest.MonkeyPatch, program: str) -> None:
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None)
    monkeypatch.setattr(conftest, "REQUIRED", {"ffmpeg"})
    with pytest.raises(pytest.fail.Exception, match=rf"the program {program} is not on PATH: apt-get install -y "
                                                    r"ffmpeg, but VSINFER_REQUIRE says ffmpeg must run here"):
        conftest.need_program(program)
    monkeypatch.setattr(conftest, "REQUIRED", set())
    with pytest.raises(pytest.skip.Exception, match=rf"the program {program} is not on PATH"):
        conftest.need_program(program)


def test_a_module_level_requirement_fails_the_run_where_required(tmp_path: Path) -> None:
    """need_module at module level (as test_jetpack does): the whole file skipped (pytest exit 5: nothing ran), or a
    collection error when required (exit 2)."""
    test = tmp_path / "test_needs_a_module.py"
    test.write_text("from tests.conftest import need_module\nneed_module('vsscale')\n\n\ndef test_x():\n    pass\n")
    code = ("import importlib.util, sys, pytest; real = importlib.util.find_spec; "
            "importlib.util.find_spec = lambda n, *a: None if n == 'vsscale' else real(n, *a); "
            f"sys.exit(pytest.main(['-q', '-rs', '-p', 'no:cacheprovider', '--rootdir', {str(ROOT)!r}, "
            f"'--confcutdir', {str(ROOT)!r}, {str(test)!r}]))")
    for required, code_wanted, said in [("", 5, "1 skipped"), ("jetpack", 2, "VSINFER_REQUIRE says jetpack")]:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**conftest.os.environ, "VSINFER_REQUIRE": required, "PYTHONPATH": str(ROOT)},
                              check=False)
        assert done.returncode == code_wanted and said in done.stdout, done.stdout + done.stderr


def test_ci_requires_every_runtime_it_installs() -> None:
    """.ci/run installs vs-jetpack, ffmpeg and ray (the dev extras, apt's ffmpeg): their tests must not skip there."""
    line = re.search(r'^export VSINFER_REQUIRE="([^"]*)"$', (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    assert line is not None
    names = set(line.group(1).split(","))
    assert {"ort", "ov", "ncnn", "trt_rtx", "jetpack", "ffmpeg", "ray"} <= names
    assert names <= conftest.REQUIREMENTS.keys()


def test_an_unknown_required_name_stops_the_run() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_required_runtimes.py::test_an_installed_module_is_returned"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                          env={**conftest.os.environ, "VSINFER_REQUIRE": "ort,jetpak"})
    assert done.returncode == 4 and "names ['jetpak']" in done.stdout + done.stderr, done.stdout + done.stderr
