"""``vsinfer bench`` as a person uses it: the bundled model by name, exit codes that say what happened, text kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import need_plugin
from vsinfer.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_demo_model_by_name_and_auto_streams(capsys: pytest.CaptureFixture[str]) -> None:
    need_plugin("ort")
    code, out, _ = run(capsys, "bench", "demo", "--backends", "ort-cpu", "--size", "32x24", "--frames", "3",
                       "--streams", "1,auto", "--json")
    report: Any = json.loads(out)
    assert code == 0 and report["model"].endswith("demo_2x.onnx")
    assert len(report["results"]) == 1  # 'auto' is ORT_CPU's default, 1: measured once
    assert report["results"][0]["error"] is None and report["results"][0]["fps"] > 0


def test_nothing_ran_is_a_failure_and_brackets_survive(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "bench", "demo", "--backends", "migx", "--size", "32x24", "--frames", "3")
    assert code == 1 and "no configuration ran" in err
    assert "pip install 'vsinfer[migx]'" in out  # rich markup would have eaten [migx]


@pytest.mark.parametrize(("option", "value"), [("--timeout", "nan"), ("--timeout", "-1"), ("--frames", "1"),
                                               ("--frames", "1000000000")])
def test_bad_numbers_are_usage_errors(capsys: pytest.CaptureFixture[str], option: str, value: str) -> None:
    code, out, err = run(capsys, "bench", "demo", "--backends", "ort-cpu", option, value)
    assert code == 2 and option in err and value in err and "Traceback" not in err and out == ""
