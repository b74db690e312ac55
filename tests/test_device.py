"""GPU probing: the real device-smi code runs against fake lspci / nvidia-smi / amd-smi on PATH."""

from __future__ import annotations

import shutil
import stat
import threading
from pathlib import Path

import pytest

from vsinfer import device
from vsinfer.device import normalize_vendor, probe_gpu
from vsinfer.errors import DeviceError

NVIDIA_LSPCI = "01:00.0 VGA compatible controller: NVIDIA Corporation AD102 [GeForce RTX 4090] (rev a1)"
AMD_LSPCI = "03:00.0 VGA compatible controller: Advanced Micro Devices, Inc. [AMD/ATI] Navi 31 (rev c8)"
INTEL_LSPCI = "00:02.0 VGA compatible controller: Intel Corporation Alder Lake-S GT1 [UHD Graphics 770] (rev 0c)"

NVIDIA_SMI = """#!/bin/sh
case "$*" in
  *--list-gpus*) echo "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-1234)";;
  *--query-gpu=name,memory.total*) echo "NVIDIA GeForce RTX 4090, 24564, 00000000:01:00.0, 4, 4, 560.35";;
  *-q*) echo "    VBIOS Version : 95.02.18.80.5F";;
  *compute_cap*) printf 'compute_cap\\n8.9\\n';;
  *) echo "unexpected: $*" >&2; exit 2;;
esac
"""

AMD_SMI = """#!/bin/sh
case "$*" in
  static*) printf 'market_name: Navi 31 [Radeon RX 7900 XTX]\\nsize: 24560 MB\\nbdf: 0000:03:00.0\\n\
pcie_interface_version: Gen 4\\nmax_pcie_width: 16\\ndriver: amdgpu\\ntarget_graphics_version: gfx1100\\n';;
  firmware*) printf 'fw_id: SMC\\nfw_version: 1.2\\n';;
  *) echo "unexpected: $*" >&2; exit 2;;
esac
"""


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An otherwise empty PATH (plus sh for the scripts); the probe cache is cleared."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setattr(device, "_cache", {})
    import device_smi.nvidia as smi_nvidia

    monkeypatch.setattr(smi_nvidia._nvml, "_available", False, raising=False)  # NVML stands for a real driver
    return folder


def tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def lspci(folder: Path, *lines: str) -> None:
    body = "".join(f"echo '{line}'\n" for line in ["00:00.0 Host bridge: Intel Corporation Device 4660", *lines])
    tool(folder, "lspci", f"#!/bin/sh\n{body}")  # builtins only: PATH holds nothing else


def test_nvidia(bin_dir: Path) -> None:
    lspci(bin_dir, NVIDIA_LSPCI)
    tool(bin_dir, "nvidia-smi", NVIDIA_SMI)
    gpu = probe_gpu(0)
    assert gpu.vendor == "nvidia" and "4090" in (gpu.model or "") and gpu.count == 1


def test_amd(bin_dir: Path) -> None:
    lspci(bin_dir, AMD_LSPCI)
    tool(bin_dir, "amd-smi", AMD_SMI)
    gpu = probe_gpu(0)
    assert gpu.vendor == "amd" and "7900" in (gpu.model or "")


def test_nothing_installed(bin_dir: Path) -> None:
    gpu = probe_gpu(0)
    assert gpu.vendor is None and "lspci is not installed" in gpu.detail


def test_lspci_without_gpu(bin_dir: Path) -> None:
    lspci(bin_dir, "00:1f.3 Audio device: Intel Corporation Device 7ad0")
    gpu = probe_gpu(0)
    assert gpu.vendor is None and gpu.count == 0 and "no display controller" in gpu.detail


def test_nvidia_without_nvidia_smi_is_no_gpu(bin_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    lspci(bin_dir, NVIDIA_LSPCI)
    with caplog.at_level("DEBUG", logger="vsinfer.device"):
        gpu = probe_gpu(0)
    assert gpu.vendor is None and "nvidia-smi" in gpu.detail
    assert "no GPU for device_id=0" in caplog.text


def test_amd_without_amd_smi_is_no_gpu(bin_dir: Path) -> None:
    lspci(bin_dir, AMD_LSPCI)
    assert probe_gpu(0).vendor is None


def test_device_id_too_large_says_how_many(bin_dir: Path) -> None:
    lspci(bin_dir, NVIDIA_LSPCI, INTEL_LSPCI)
    tool(bin_dir, "nvidia-smi", NVIDIA_SMI)
    with pytest.raises(DeviceError) as info:
        probe_gpu(2)
    assert "device_id=2" in str(info.value) and "this machine has 2 GPU(s)" in str(info.value)


def test_cached_and_refreshable(bin_dir: Path) -> None:
    lspci(bin_dir, NVIDIA_LSPCI)
    tool(bin_dir, "nvidia-smi", NVIDIA_SMI)
    first = probe_gpu(0)
    (bin_dir / "nvidia-smi").unlink()
    assert probe_gpu(0) is first
    assert probe_gpu(0, refresh=True).vendor is None


def test_devices_are_closed(bin_dir: Path) -> None:
    lspci(bin_dir, NVIDIA_LSPCI)
    tool(bin_dir, "nvidia-smi", NVIDIA_SMI)
    before = {t.name for t in threading.enumerate()}
    probe_gpu(0)
    leftover = {t.name for t in threading.enumerate()} - before
    assert not any(name.startswith("device-smi") for name in leftover)


def test_apple_silicon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "_cache", {})
    monkeypatch.setattr("platform.system", lambda: "Darwin")
    monkeypatch.setattr("platform.machine", lambda: "arm64")
    assert probe_gpu(0).vendor == "apple"


def test_unsupported_os(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "_cache", {})
    monkeypatch.setattr("platform.system", lambda: "FreeBSD")
    gpu = probe_gpu(0)
    assert gpu.vendor is None and "FreeBSD" in gpu.detail


@pytest.mark.parametrize(("raw", "vendor"), [("NVIDIA", "nvidia"), ("amd", "amd"), ("Advanced Micro Devices", "amd"),
                                             ("Intel(R) Corporation", "intel"), ("Apple", "apple"), ("Matrox", None),
                                             (None, None)])
def test_normalize_vendor(raw: str | None, vendor: str | None) -> None:
    assert normalize_vendor(raw) == vendor


def test_negative_device_id() -> None:
    with pytest.raises(DeviceError, match="device_id=-1"):
        probe_gpu(-1)


def test_this_machine_probe_does_not_crash() -> None:
    gpu = probe_gpu(0, refresh=True)
    assert gpu.detail  # whatever this machine has, the answer says why
    if shutil.which("lspci") is None:
        assert gpu.vendor is None and "lspci" in gpu.detail
