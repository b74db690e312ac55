"""Fixtures for tests that build engines: a device the plugin cannot show here, a counter of real builds, and a
machine of GPU stand-ins (the CUDA driver, nvidia-smi, /proc, /sys)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vsinfer.backends.trt.builder as trt_module
from tests.gpu_standins import Machine, make_machine
from vsinfer.identity import DeviceInfo

TEST_DEVICE = DeviceInfo("Test RTX 4090", "8.9")


@pytest.fixture(autouse=True)
def known_device(monkeypatch: pytest.MonkeyPatch) -> DeviceInfo:
    """The plugin cannot see a GPU here; engines are keyed to this injected device instead."""
    monkeypatch.setattr(trt_module, "plugin_device", lambda namespace, device_id: TEST_DEVICE)
    return TEST_DEVICE


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Records every real engine build (the ONNX path built from)."""
    calls: list[Path] = []
    real = trt_module.EngineBuilder.build

    def counted(self: Any, onnx_path: Path, *args: Any, **kwargs: Any) -> None:
        calls.append(onnx_path)
        real(self, onnx_path, *args, **kwargs)

    monkeypatch.setattr(trt_module.EngineBuilder, "build", counted)
    yield calls


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    """A machine of stand-ins: no CUDA driver, no GPU, until the test adds them (``machine.cuda([...])``)."""
    return make_machine(tmp_path, monkeypatch)


def per_device(monkeypatch: pytest.MonkeyPatch, devices: dict[int, DeviceInfo]) -> None:
    """Engines keyed to a different device per device id, as the plugin would report two GPU models."""
    monkeypatch.setattr(trt_module, "plugin_device", lambda namespace, device_id: devices[device_id])
