"""GPU probing without lspci, against stand-in NVML / nvidia-smi / amd-smi / rocm-smi, /proc and /sys trees.

Each source is tried alone (the others missing), as on the machines where only it exists: a minimal container
with nvidia-smi and no lspci, a WSL image with NVML only, a cloud image with /sys only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.gpu_standins import (
    H100,
    RTX_2080,
    RTX_4090,
    Machine,
    kfd_node,
    make_machine,
    nvidia_smi,
    pci_device,
    proc_nvidia,
    tool,
)
from vsinfer import device
from vsinfer.device import cuda_devices, cuda_driver_problem, find_gpus, normalize_vendor, probe_gpu, use_cuda_device
from vsinfer.errors import DeviceError

REAL_PLUGIN_GPUS = device._plugin_gpus  # the fixture replaces it; one test puts it back
ASPEED, MATROX = 0x1A03, 0x102B  # BMC VGA chips of servers: display controllers, not GPUs
VGA, THREE_D, DISPLAY_OTHER, NETWORK = 0x030000, 0x030200, 0x038000, 0x020000


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    return make_machine(tmp_path, monkeypatch)


# -- NVIDIA: each source alone -------------------------------------------------------------------------------------
def test_nvidia_smi_alone_is_enough(machine: Machine) -> None:
    """No lspci, no NVML: nvidia-smi on PATH finds the GPU (before: "lspci is not installed", no GPU)."""
    nvidia_smi(machine.bin, [RTX_4090])
    gpu = probe_gpu(0)
    assert (gpu.vendor, gpu.model, gpu.count, gpu.compute_capability) == ("nvidia", RTX_4090.name, 1, "8.9")
    assert gpu.detail.startswith("nvidia-smi:")


def test_nvidia_smi_two_models(machine: Machine) -> None:
    nvidia_smi(machine.bin, [RTX_4090, RTX_2080])
    first, second = probe_gpu(0), probe_gpu(1)
    assert (first.model, first.count, second.model, second.compute_capability) == (
        RTX_4090.name, 2, RTX_2080.name, "7.5")
    with pytest.raises(DeviceError, match=r"device_id=2 .*0 \.\. 1: this machine has 2 GPU\(s\)"):
        probe_gpu(2)
    assert "set CUDA_DEVICE_ORDER=PCI_BUS_ID" in first.detail  # nvidia-smi's order is PCI's, not CUDA's


def test_nvidia_smi_of_an_old_driver_without_compute_cap(machine: Machine) -> None:
    nvidia_smi(machine.bin, [RTX_4090], old_driver=True)
    gpu = probe_gpu(0)
    assert gpu.model == RTX_4090.name and gpu.compute_capability is None


def test_standin_nvidia_smi_honours_id_and_format(machine: Machine) -> None:
    """The stand-in answers like the real one: --id narrows, --format decides the header, bad fields fail."""
    exe = str(nvidia_smi(machine.bin, [RTX_4090, RTX_2080]))
    run = lambda *a: subprocess.run([exe, *a], capture_output=True, text=True, timeout=30)  # noqa: E731
    assert run("--query-gpu=index,name", "--format=csv,noheader", "--id=1").stdout == f"1, {RTX_2080.name}\n"
    assert run("--query-gpu=name", "--format=csv").stdout.splitlines()[0] == "name"
    bad = run("--query-gpu=nonsense", "--format=csv")
    assert bad.returncode == 2 and 'Field "nonsense" is not a valid field' in bad.stderr


def test_nvml_first(machine: Machine) -> None:
    nvml = machine.nvml([RTX_2080, RTX_4090])
    nvidia_smi(machine.bin, [H100])  # not asked: NVML answered
    gpu = probe_gpu(1)
    assert (gpu.model, gpu.count, gpu.compute_capability) == (RTX_4090.name, 2, "8.9")
    assert gpu.detail.startswith("NVML:") and nvml.open_sessions == 0  # nvmlShutdown after every nvmlInit


def test_proc_driver_nvidia(machine: Machine) -> None:
    proc_nvidia(machine.proc, [RTX_4090, H100])
    gpu = probe_gpu(1)
    assert (gpu.vendor, gpu.model, gpu.count) == ("nvidia", H100.name, 2)
    assert gpu.detail.startswith("/proc/driver/nvidia:")


def test_sys_pci_counts_gpus_only(machine: Machine) -> None:
    """BMC VGA chips, integrated graphics and a bus address "3d:..." are not GPUs (lspci counted all three)."""
    pci_device(machine.pci, "0000:00:02.0", 0x8086, VGA)  # the CPU's integrated graphics
    pci_device(machine.pci, "0000:02:00.0", ASPEED, VGA)  # the BMC
    pci_device(machine.pci, "0000:03:00.0", MATROX, VGA)
    pci_device(machine.pci, "0000:3d:00.0", 0x8086, NETWORK)  # "3d" in its address, a network card
    pci_device(machine.pci, "0000:41:00.0", 0x10DE, THREE_D, 0x2330)  # a data-centre GPU is a "3D controller"
    pci_device(machine.pci, "0000:41:00.1", 0x10DE, 0x040300)  # its HDMI audio function
    gpu = probe_gpu(0)
    assert (gpu.vendor, gpu.count) == ("nvidia", 1) and "10de:2330" in (gpu.model or "")
    with pytest.raises(DeviceError, match="this machine has 1 GPU"):
        probe_gpu(1)


def test_intel_graphics_alone_is_an_intel_gpu(machine: Machine) -> None:
    pci_device(machine.pci, "0000:00:02.0", 0x8086, VGA)
    pci_device(machine.pci, "0000:02:00.0", ASPEED, VGA)
    gpu = probe_gpu(0)
    assert (gpu.vendor, gpu.count) == ("intel", 1)


def test_loaded_plugin_device_properties_last(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    import vsinfer.plugins as plugins

    listed = {("trt_rtx", 0): {"name": b"NVIDIA GeForce RTX 4090", "major": 8, "minor": 9}}
    monkeypatch.setattr(plugins, "device_properties", lambda ns, i: listed.get((ns, i)))
    monkeypatch.setattr(device, "_plugin_gpus", REAL_PLUGIN_GPUS)
    gpu = probe_gpu(0)
    assert (gpu.vendor, gpu.model, gpu.compute_capability) == ("nvidia", "NVIDIA GeForce RTX 4090", "8.9")
    assert gpu.detail.startswith("the plugins' DeviceProperties")


def test_nothing_found_says_what_was_tried(machine: Machine, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG", logger="vsinfer.device"):
        gpu = probe_gpu(0)
    assert gpu.vendor is None and gpu.count == 0 and "NVML, nvidia-smi" in gpu.detail
    assert "no GPU for device_id=0" in caplog.text


# -- the GPUs this process may use ---------------------------------------------------------------------------------
def test_cuda_visible_devices_index(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    nvidia_smi(machine.bin, [RTX_4090, RTX_2080])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    gpu = probe_gpu(0)
    assert (gpu.model, gpu.count) == (RTX_2080.name, 1) and "CUDA_VISIBLE_DEVICES='1'" in gpu.detail


def test_cuda_visible_devices_uuid_and_order(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    machine.nvml([RTX_4090, RTX_2080])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", f"{RTX_2080.uuid[:12]},0,7,1")  # a bad entry ends the list
    assert [g.name for g in find_gpus("nvidia")] == [RTX_2080.name, RTX_4090.name]


def test_cuda_visible_devices_empty_hides_every_gpu(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    nvidia_smi(machine.bin, [RTX_4090])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    gpu = probe_gpu(0)
    assert gpu.vendor is None and "1 nvidia GPU(s) found by nvidia-smi, none visible" in gpu.detail


@pytest.mark.parametrize("value", ["none", "void"])
def test_container_without_gpus(machine: Machine, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    pci_device(machine.pci, "0000:01:00.0", 0x10DE, VGA)
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", value)
    assert probe_gpu(0).vendor is None


def test_container_sees_its_gpus_in_sys(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    """/sys shows the host's GPUs inside a container: NVIDIA_VISIBLE_DEVICES narrows them."""
    for bus in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0"):
        pci_device(machine.pci, bus, 0x10DE, VGA)
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", "2")
    assert probe_gpu(0).count == 1


# -- AMD -----------------------------------------------------------------------------------------------------------
AMD_SMI_JSON = [
    {"gpu": 0, "asic": {"market_name": "AMD Radeon RX 7900 XTX", "target_graphics_version": "gfx1100"},
     "bus": {"bdf": "0000:03:00.0"}},
    {"gpu": 1, "asic": {"market_name": "AMD Instinct MI210", "target_graphics_version": "gfx90a"},
     "bus": {"bdf": "0000:83:00.0"}},
]


def test_amd_smi(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    tool(machine.bin, "amd-smi", f"#!{sys.executable}\nimport sys\nassert sys.argv[1:3] == ['static', '--asic']\n"
                                 f"print({json.dumps(json.dumps({'gpu_data': AMD_SMI_JSON}))})\n")
    gpu = probe_gpu(1)
    assert (gpu.vendor, gpu.model, gpu.compute_capability, gpu.count) == ("amd", "AMD Instinct MI210", "gfx90a", 2)
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "1")
    gpu = probe_gpu(0, refresh=True)
    assert (gpu.model, gpu.count) == ("AMD Instinct MI210", 1)


def test_amd_smi_text(machine: Machine) -> None:
    """An amd-smi without --json (older releases): its text output."""
    text = ("GPU: 0\n    ASIC:\n        MARKET_NAME: AMD Radeon RX 7900 XTX\n        TARGET_GRAPHICS_VERSION: gfx1100\n"
            "    BUS:\n        BDF: 0000:03:00.0\n\n")
    tool(machine.bin, "amd-smi", f"#!{sys.executable}\nimport sys\nif '--json' in sys.argv: sys.exit(2)\n"
                                 f"print({text!r})\n")
    gpu = probe_gpu(0)
    assert (gpu.vendor, gpu.model, gpu.compute_capability, gpu.count) == ("amd", "AMD Radeon RX 7900 XTX", "gfx1100",
                                                                          1)


def test_rocm_smi(machine: Machine) -> None:
    data = {"card0": {"Card Series": "Navi 31 [Radeon RX 7900 XTX]", "GFX Version": "gfx1100"}}
    tool(machine.bin, "rocm-smi", f"#!{sys.executable}\nprint({json.dumps(json.dumps(data))})\n")
    gpu = probe_gpu(0)
    assert (gpu.vendor, gpu.model, gpu.compute_capability) == ("amd", "Navi 31 [Radeon RX 7900 XTX]", "gfx1100")


def test_two_identical_cards(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    """rocm-smi tells two cards of one model apart only by position: both stay visible."""
    card = {"Card Series": "Navi 31 [Radeon RX 7900 XTX]", "GFX Version": "gfx1100"}
    listing = json.dumps(json.dumps({"card0": card, "card1": card}))
    tool(machine.bin, "rocm-smi", f"#!{sys.executable}\nprint({listing})\n")
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "1,0")
    assert probe_gpu(0).count == 2


def test_kfd_topology(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    kfd_node(machine.kfd, 0, gfx=None, cpu_cores=16)  # the CPU agent
    kfd_node(machine.kfd, 1, gfx="gfx1100", bus=(3, 0, 0))
    kfd_node(machine.kfd, 2, gfx="gfx1030", bus=(4, 0, 0))
    pci_device(machine.pci, "0000:03:00.0", 0x1002, VGA, product_name="AMD Radeon RX 7900 XTX")
    assert [(g.name, g.compute_capability) for g in find_gpus("amd")] == [
        ("AMD Radeon RX 7900 XTX", "gfx1100"), (None, "gfx1030")]
    monkeypatch.setenv("ROCR_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "0")
    assert [g.compute_capability for g in find_gpus("amd")] == ["gfx1030"]


def test_uuids_where_the_source_has_none(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    """/sys gives no UUIDs: a UUID in the variable still stands for one GPU (it must not hide them all)."""
    for bus in ("0000:01:00.0", "0000:02:00.0"):
        pci_device(machine.pci, bus, 0x10DE, VGA)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-4090aaaa")
    assert probe_gpu(0).count == 1


def test_amd_apu_graphics_beside_a_discrete_gpu(machine: Machine) -> None:
    kfd_node(machine.kfd, 0, gfx="gfx1036", bus=(0x7A, 0, 0), cpu_cores=16)  # the APU's graphics
    kfd_node(machine.kfd, 1, gfx="gfx1100", bus=(3, 0, 0))
    assert probe_gpu(0).count == 1 and probe_gpu(0).compute_capability == "gfx1100"


def test_nvidia_wins_over_intel_graphics_and_amd(machine: Machine) -> None:
    pci_device(machine.pci, "0000:00:02.0", 0x8086, VGA)
    pci_device(machine.pci, "0000:03:00.0", 0x1002, VGA)
    pci_device(machine.pci, "0000:41:00.0", 0x10DE, VGA)
    assert (probe_gpu(0).vendor, probe_gpu(0).count) == ("nvidia", 1)


def test_no_torch_and_no_device_smi(tmp_path: Path) -> None:
    """A ROCm build of torch does not make an NVIDIA machine AMD, and probing imports neither torch nor device-smi
    (device-smi imports torch when present and then takes the AMD path for every GPU)."""
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    marker = tmp_path / "torch-imported"
    (fake / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                      "class version:\n    hip = '6.2'\n    cuda = None\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    nvidia_smi(bin_dir, [RTX_4090])
    code = ("import sys; import vsinfer.device as d; d._nvml_library = d._cuda_library = None; "
            "d.PROC_NVIDIA = d.SYS_PCI = d.SYS_KFD = d.Path('/nonexistent'); "
            "g = d.probe_gpu(0); print(g.vendor, g.model, 'device_smi' in sys.modules)")
    env = os.environ | {"PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                        "PATH": str(bin_dir)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                         check=True).stdout.split()
    assert out == ["nvidia", "NVIDIA", "GeForce", "RTX", "4090", "False"] and not marker.exists()


# -- the CUDA driver -----------------------------------------------------------------------------------------------
def test_cuda_devices_follow_the_driver(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    machine.cuda([RTX_4090, RTX_2080])
    assert cuda_devices() == (RTX_4090.name, RTX_2080.name)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    machine.cuda([RTX_4090, RTX_2080])  # a new process: the driver reads the variable at cuInit
    assert cuda_devices() == (RTX_2080.name,)


def test_no_cuda_driver(machine: Machine) -> None:
    assert cuda_devices() == ()
    problem = cuda_driver_problem(13040, "core.trt_rtx v17.1")
    assert problem is not None and "core.trt_rtx v17.1 needs an NVIDIA driver for CUDA 13.0 or newer (R580" in problem
    assert "libcuda.so.1 is missing" in problem


def test_cuda_driver_too_old(machine: Machine) -> None:
    machine.cuda([RTX_4090], version=12080)
    problem = cuda_driver_problem(13040, "core.trt v17.1")
    assert problem == ("core.trt v17.1 uses the CUDA 13.4 runtime, which needs an NVIDIA driver for CUDA 13.0 or "
                       "newer (R580 or newer); this machine's driver supports CUDA 12.8: update the NVIDIA driver")
    assert cuda_driver_problem(12080, "x") is None


def test_cuda_driver_without_a_device(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    machine.cuda([RTX_4090])
    assert "sees no GPU" in (cuda_driver_problem(13000, "x") or "")


def test_use_cuda_device_makes_it_current(machine: Machine) -> None:
    cuda = machine.cuda([RTX_4090, RTX_2080])
    assert cuda.current() is None
    with use_cuda_device(1) as how:
        assert cuda.current() == 1 and RTX_2080.name in how
        seen: list[int | None] = []
        other = threading.Thread(target=lambda: seen.append(cuda.current()))
        other.start()
        other.join()
        assert seen == [None]  # a context is current per thread
    assert cuda.current() is None and cuda.retained == {1: 0}
    with pytest.raises(ZeroDivisionError), use_cuda_device(0):
        1 / 0  # noqa: B018
    assert cuda.current() is None and cuda.retained[0] == 0
    too_far = use_cuda_device(2)
    with pytest.raises(DeviceError, match=r"device_id=2 .*0 \.\. 1: CUDA sees 2 device\(s\) \(0: NVIDIA GeForce"):
        too_far.__enter__()


def test_use_cuda_device_without_a_driver(machine: Machine) -> None:
    with use_cuda_device(0) as how:
        assert "no CUDA driver" in how


# -- unchanged behaviour ------------------------------------------------------------------------------------------
def test_cached_and_refreshable(machine: Machine) -> None:
    nvidia_smi(machine.bin, [RTX_4090])
    first = probe_gpu(0)
    (machine.bin / "nvidia-smi").unlink()
    assert probe_gpu(0) is first
    assert probe_gpu(0, refresh=True).vendor is None


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


def test_ort_cuda_all_devices_counts_cuda_devices(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    """devices="all" for ORT_CUDA: the devices CUDA sees (before: lspci's display controllers, BMC and iGPU too)."""
    from vsinfer import Backend
    from vsinfer.select import all_devices

    machine.cuda([RTX_4090, RTX_2080])
    assert all_devices(Backend.ORT_CUDA, gpu_count=3) == (0, 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    machine.cuda([RTX_4090, RTX_2080])
    assert all_devices(Backend.ORT_CUDA, gpu_count=3) == 0


def test_cuda_driver_calls_through_a_compiled_library(machine: Machine, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The same calls through a real shared library with cuda.h's C signatures: ctypes marshals what C expects."""
    from tests.gpu_standins import compiled_libcuda

    lib = compiled_libcuda(tmp_path, [RTX_4090, RTX_2080], version=13000)
    if lib is None:
        pytest.skip("no C compiler (cc / gcc) to build the libcuda stand-in; the Python stand-in tests cover the calls")
    monkeypatch.setattr(device, "_cuda_library", lambda: lib)
    device.cuda_driver(refresh=True)
    assert cuda_devices() == (RTX_4090.name, RTX_2080.name)
    assert device.cuda_driver().compute_capability(1) == (7, 5)  # type: ignore[union-attr]
    assert cuda_driver_problem(13040, "x") is None
    with use_cuda_device(1):
        assert lib.standin_current() == 1 and lib.standin_retained(1) == 1
    assert lib.standin_current() == -1 and lib.standin_retained(1) == 0
    too_far = use_cuda_device(2)
    with pytest.raises(DeviceError, match=r"CUDA sees 2 device\(s\) \(0: NVIDIA GeForce RTX 4090, 1: NVIDIA GeForce "
                                          r"RTX 2080 Ti\)"):
        too_far.__enter__()


def test_nvml_calls_through_a_compiled_library(machine: Machine, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.gpu_standins import compiled_libnvml

    lib = compiled_libnvml(tmp_path, [RTX_2080, RTX_4090])
    if lib is None:
        pytest.skip("no C compiler (cc / gcc) to build the NVML stand-in; the Python stand-in tests cover the calls")
    monkeypatch.setattr(device, "_nvml_library", lambda: lib)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", RTX_4090.uuid[:10])
    gpu = probe_gpu(0)
    assert (gpu.model, gpu.count, gpu.compute_capability) == (RTX_4090.name, 1, "8.9")
    assert lib.standin_sessions() == 0
