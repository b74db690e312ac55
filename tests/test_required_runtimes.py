"""The CI rule itself: a runtime named in VSINFER_REQUIRE fails when missing instead of skipping."""

from __future__ import annotations

import pytest

from tests import conftest


def test_required_missing_plugin_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "REQUIRED", {"nosuchplugin"})
    with pytest.raises(pytest.fail.Exception, match="VSINFER_REQUIRE says it must run here"):
        conftest.need_plugin("nosuchplugin")


def test_optional_missing_plugin_skips_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "REQUIRED", set())
    with pytest.raises(pytest.skip.Exception, match=r"core\.nosuchplugin is not loaded"):
        conftest.need_plugin("nosuchplugin")


def test_builder_module_counts_as_its_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "REQUIRED", {"trt"})
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(pytest.fail.Exception):
        conftest.need_module("tensorrt")
