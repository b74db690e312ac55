"""The machine's devices: the GPUs this process may use, the CUDA driver, and the CPU's facts.

GPU probing needs neither ``lspci`` nor a Python package: minimal containers, WSL and cloud images often lack
``lspci`` while ``core.trt`` works. Each source is optional and tried in order until one finds GPUs of a vendor:

- NVIDIA: NVML (``libnvidia-ml``, through ctypes), else ``nvidia-smi``, else ``/proc/driver/nvidia/gpus``, else
  the PCI devices in ``/sys`` (vendor id 10de), else the loaded ``core.trt`` / ``core.trt_rtx`` plugins' own
  ``DeviceProperties``;
- AMD: ``amd-smi``, else ``rocm-smi``, else the ROCm kernel driver's topology in ``/sys/class/kfd``, else the PCI
  devices in ``/sys`` (vendor id 1002), else ``core.migx``'s ``DeviceProperties``;
- Intel: the PCI devices in ``/sys`` (vendor id 8086; OpenVINO's GPU runs on integrated graphics too).

Only GPUs count: display controllers of other vendors (a server's BMC VGA chip) never do, and an NVIDIA or AMD
count never includes the CPU's integrated graphics. The GPUs this process may use are counted, as the runtimes
count them: ``CUDA_VISIBLE_DEVICES`` (and a container's ``NVIDIA_VISIBLE_DEVICES``) for NVIDIA,
``ROCR_VISIBLE_DEVICES`` then ``HIP_VISIBLE_DEVICES`` (else ``CUDA_VISIBLE_DEVICES``) for AMD.

Every way the probe can fail ends in "no GPU", logged at debug with the reason, because autoselect must work on
every machine. The one exception is a ``device_id`` beyond the GPUs present: that is the caller's mistake and an
error says how many there are. The result is cached per process; ``refresh=True`` probes again.

The CUDA driver API (``libcuda``, through ctypes) serves the builds: an engine is built with its device's primary
context current (``use_cuda_device``), so GPU 1's engine is compiled on GPU 1; ``cuda_devices`` counts what CUDA
sees, and ``cuda_driver_problem`` says before a plugin is called why its CUDA runtime cannot run.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DeviceError

__all__ = [
    "CPU",
    "GPU",
    "CudaDriver",
    "CudaError",
    "GPUInfo",
    "cpu",
    "cuda_devices",
    "cuda_driver",
    "cuda_driver_problem",
    "find_gpus",
    "normalize_vendor",
    "probe_gpu",
    "use_cuda_device",
]

logger = logging.getLogger(__name__)

VENDORS = ("nvidia", "amd", "intel", "apple")
_ALIASES = {"advanced micro devices": "amd", "ati": "amd", "radeon": "amd", "geforce": "nvidia"}
PCI_VENDORS = {0x10DE: "nvidia", 0x1002: "amd", 0x8086: "intel"}
"""PCI vendor ids of the GPU vendors vsinfer has backends for (any other display controller is not a GPU here)."""
COMPUTE_VENDORS = ("nvidia", "amd", "intel")
"""The order vendors are looked for: a discrete NVIDIA or AMD GPU wins over Intel graphics beside it."""

# Where the probes read; tests point them at stand-in trees.
PROC_NVIDIA = Path("/proc/driver/nvidia/gpus")
SYS_PCI = Path("/sys/bus/pci/devices")
SYS_KFD = Path("/sys/class/kfd/kfd/topology/nodes")
TIMEOUT_S = 10
"""Longest wait for one ``nvidia-smi`` / ``amd-smi`` / ``rocm-smi`` call."""


@dataclass(frozen=True)
class GPUInfo:
    """One GPU a probe found."""

    vendor: str
    """"nvidia", "amd" or "intel"."""
    name: str | None
    """Its name as the source reports it ("NVIDIA GeForce RTX 4090"), when known."""
    compute_capability: str | None = None
    """"major.minor" for NVIDIA, the gfx target ("gfx1100") for AMD, when known."""
    bus_id: str | None = None
    """PCI address, "0000:01:00.0", when known."""
    uuid: str | None = None
    """"GPU-..." as ``CUDA_VISIBLE_DEVICES`` / ``ROCR_VISIBLE_DEVICES`` take it, when known."""
    integrated: bool = False
    """Integrated graphics (an Intel GPU on the CPU's root bus, an AMD APU)."""


@dataclass(frozen=True)
class GPU:
    """What the probe found for one device id."""

    device_id: int
    """The device id probed."""
    vendor: str | None
    """"nvidia", "amd", "intel", "apple", or None when no usable GPU was found."""
    model: str | None
    """The GPU's name as its source reports it, when known."""
    count: int | None
    """GPUs of that vendor this process may use, when they could be counted."""
    detail: str
    """How the answer was reached, or why there is no GPU."""
    compute_capability: str | None = None
    """"major.minor" (NVIDIA) or the gfx target (AMD) of this GPU, when known."""


def normalize_vendor(raw: str | None) -> str | None:
    """Map a vendor string (a tool's output, a PCI vendor name) to one of VENDORS, or None."""
    if not raw:
        return None
    text = raw.strip().lower()
    for vendor in VENDORS:
        if vendor in text:
            return vendor
    return next((v for alias, v in _ALIASES.items() if alias in text), None)


# -- small helpers ------------------------------------------------------------------------------------------------
def _run(cmd: Sequence[str]) -> str | None:
    """The stdout of ``cmd``, or None when it is missing, fails or hangs (logged at debug)."""
    exe = shutil.which(cmd[0])
    if exe is None:
        return None
    try:
        result = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        logger.debug("%s failed: %s", " ".join(cmd), exc)
        return None
    if result.returncode != 0:
        logger.debug("%s exited with %d: %s", " ".join(cmd), result.returncode, result.stderr.strip()[-300:])
        return None
    return result.stdout


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _bus(raw: str | None) -> str | None:
    """A PCI address in the kernel's form, "0000:01:00.0" (nvidia-smi writes "00000000:01:00.0")."""
    if not raw:
        return None
    m = re.fullmatch(r"(?:([0-9a-fA-F]+):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])", raw.strip())
    if m is None:
        return raw.strip().lower()
    domain = int(m.group(1) or "0", 16) & 0xFFFF
    return f"{domain:04x}:{int(m.group(2), 16):02x}:{int(m.group(3), 16):02x}.{m.group(4)}"


def _root_bus(bus_id: str | None) -> bool:
    """On bus 0 of domain 0, where a CPU's integrated graphics sits (a discrete GPU is behind a bridge)."""
    return bus_id is not None and bus_id.startswith("0000:00:")


# -- NVIDIA -------------------------------------------------------------------------------------------------------
def _nvml_library() -> Any:
    """libnvidia-ml through ctypes (raises OSError where it does not load)."""
    return ctypes.CDLL("nvml.dll" if sys.platform == "win32" else "libnvidia-ml.so.1")


def _nvml() -> list[GPUInfo] | None:
    """The GPUs NVML lists (PCI order), or None where NVML does not load or initialize."""
    try:
        lib = _nvml_library()
    except OSError as exc:
        logger.debug("NVML does not load: %s", exc)
        return None
    if lib.nvmlInit_v2() != 0:
        logger.debug("nvmlInit_v2 failed")
        return None
    try:
        count = ctypes.c_uint()
        if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
            return None
        found = []
        for index in range(count.value):
            handle = ctypes.c_void_p()
            if lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != 0:
                continue
            name, uuid = ctypes.create_string_buffer(96), ctypes.create_string_buffer(96)
            major, minor = ctypes.c_int(), ctypes.c_int()
            got_name = lib.nvmlDeviceGetName(handle, name, ctypes.c_uint(len(name))) == 0
            got_uuid = lib.nvmlDeviceGetUUID(handle, uuid, ctypes.c_uint(len(uuid))) == 0
            got_cc = lib.nvmlDeviceGetCudaComputeCapability(handle, ctypes.byref(major), ctypes.byref(minor)) == 0
            found.append(GPUInfo("nvidia", name.value.decode() if got_name else None,
                                 f"{major.value}.{minor.value}" if got_cc else None, None,
                                 uuid.value.decode() if got_uuid else None))
        return found
    finally:
        lib.nvmlShutdown()


SMI_FIELDS = ("index", "name", "pci.bus_id", "uuid", "compute_cap")


def _nvidia_smi() -> list[GPUInfo] | None:
    """The GPUs ``nvidia-smi --query-gpu`` lists, or None without it (a driver before 510 lacks compute_cap)."""
    for fields in (SMI_FIELDS, SMI_FIELDS[:-1]):
        out = _run(["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader"])
        if out is None:
            if shutil.which("nvidia-smi") is None:
                return None
            continue
        found = []
        for line in out.splitlines():
            values = [v.strip() for v in line.split(",")]
            if len(values) != len(fields):
                continue
            row = dict(zip(fields, values, strict=True))
            cc = row.get("compute_cap")
            found.append(GPUInfo("nvidia", row["name"] or None, cc if cc and cc[0].isdigit() else None,
                                 _bus(row["pci.bus_id"]), row["uuid"] or None))
        return found
    return None


def _proc_nvidia() -> list[GPUInfo] | None:
    """The GPUs the NVIDIA kernel driver lists in /proc (bus order), or None without it."""
    try:
        folders = sorted(p for p in PROC_NVIDIA.iterdir() if p.is_dir())
    except OSError:
        return None
    found = []
    for folder in folders:
        text = _read(folder / "information") or ""
        values = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}
        found.append(GPUInfo("nvidia", values.get("model") or None, None,
                             _bus(values.get("bus location") or folder.name), values.get("gpu uuid") or None))
    return found


def _pci(vendor: str) -> list[GPUInfo] | None:
    """``vendor``'s display controllers among the PCI devices in /sys (what lspci reads), or None without /sys."""
    try:
        devices = sorted(SYS_PCI.iterdir())
    except OSError:
        return None
    found = []
    for dev in devices:
        vendor_id, pci_class = _read(dev / "vendor"), _read(dev / "class")
        try:
            if PCI_VENDORS.get(int(vendor_id or "", 16)) != vendor or int(pci_class or "", 16) >> 16 != 0x03:
                continue
        except ValueError:
            continue
        device_id = (_read(dev / "device") or "0x0")[2:]
        name = _read(dev / "product_name") or f"{vendor} PCI device {int(vendor_id or '0', 16):04x}:{device_id}"
        bus = _bus(dev.name)
        found.append(GPUInfo(vendor, name, None, bus, None, integrated=vendor == "intel" and _root_bus(bus)))
    return found


def _plugin_gpus(vendor: str) -> list[GPUInfo] | None:
    """The devices a loaded plugin's ``DeviceProperties`` lists (its runtime's order), or None.

    The plugins asked are those a family declared for ``vendor``'s GPUs (``PluginFacts.gpu_vendor``).
    """
    from . import plugins

    for namespace in plugins.gpu_plugins(vendor):
        found = []
        for device_id in range(plugins.MAX_DEVICE_IDS):
            props = plugins.device_properties(namespace, device_id)
            if props is None:
                break
            values = {k: plugins.as_text(v) for k, v in props.items()}
            cc = values.get("gcn_arch_name") or (f"{values['major']}.{values['minor']}" if "major" in values else None)
            found.append(GPUInfo(vendor, values.get("name"), cc))
        if found:
            return found
    return None


# -- AMD ----------------------------------------------------------------------------------------------------------
def _amd_smi() -> list[GPUInfo] | None:
    """The GPUs ``amd-smi static --asic --bus`` lists (its JSON, else its text), or None without it."""
    out = _run(["amd-smi", "static", "--asic", "--bus", "--json"])
    try:
        data = json.loads(out) if out is not None else None
    except ValueError:
        data = None
    if data is None:
        text = _run(["amd-smi", "static", "--asic", "--bus"])
        return None if text is None else _amd_smi_text(text)
    rows = data.get("gpu_data", []) if isinstance(data, dict) else data  # newer amd-smi wraps the list
    found = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        asic, bus = row.get("asic") or {}, row.get("bus") or {}
        found.append(GPUInfo("amd", asic.get("market_name") or None, asic.get("target_graphics_version") or None,
                             _bus(bus.get("bdf"))))
    return found


def _amd_smi_text(text: str) -> list[GPUInfo]:
    """``amd-smi static`` without --json: a "GPU: n" line, then indented "KEY: value" lines."""
    blocks: list[dict[str, str]] = []
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        key = key.strip().lower()
        if key == "gpu" and value.strip().isdigit():
            blocks.append({})
        elif blocks and value.strip():
            blocks[-1].setdefault(key, value.strip())
    return [GPUInfo("amd", b.get("market_name"), b.get("target_graphics_version"), _bus(b.get("bdf")))
            for b in blocks]


def _rocm_smi() -> list[GPUInfo] | None:
    """The GPUs ``rocm-smi --showproductname --json`` lists, or None without it."""
    out = _run(["rocm-smi", "--showproductname", "--json"])
    if out is None:
        return None
    try:
        data = json.loads(out)
    except ValueError:
        return None
    cards = sorted((k for k in data if re.fullmatch(r"card\d+", k)), key=lambda k: int(k[4:]))
    found = []
    for card in cards:
        values = {k.lower(): str(v) for k, v in data[card].items()}
        name = values.get("card series") or values.get("card model")
        found.append(GPUInfo("amd", name or None, values.get("gfx version") or None))
    return found


def _kfd() -> list[GPUInfo] | None:
    """The GPU agents of the ROCm kernel driver's topology (HIP's order), or None without /sys/class/kfd."""
    try:
        nodes = sorted((p for p in SYS_KFD.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    except OSError:
        return None
    found = []
    for node in nodes:
        props = {}
        for line in (_read(node / "properties") or "").splitlines():
            key, _, value = line.partition(" ")
            props[key] = value.strip()
        if props.get("simd_count", "0") == "0":
            continue  # a CPU agent
        loc = int(props.get("location_id", "0") or 0)
        bus = f"{int(props.get('domain', '0') or 0):04x}:{loc >> 8:02x}:{(loc >> 3) & 0x1F:02x}.{loc & 7}"
        name = _read(SYS_PCI / bus / "product_name") or None
        found.append(GPUInfo("amd", name, _read(node / "name") or None, bus,
                             integrated=props.get("cpu_cores_count", "0") != "0"))
    return found


# -- which GPUs this process may use ------------------------------------------------------------------------------
def _select(gpus: list[GPUInfo], spec: str) -> list[GPUInfo]:
    """The GPUs a ``*_VISIBLE_DEVICES`` list names, in its order; like CUDA, the list ends at its first bad entry."""
    chosen: list[int] = []  # indices: two cards of one model may be equal GPUInfo records
    uuids_known = any(g.uuid for g in gpus)
    for raw in spec.split(","):
        entry = raw.strip()
        pick: int | None = None
        if entry.isdigit():
            pick = int(entry) if int(entry) < len(gpus) else None
        elif entry.upper().startswith("GPU-") and uuids_known:
            matches = [i for i, g in enumerate(gpus) if g.uuid and g.uuid.lower().startswith(entry.lower())]
            pick = matches[0] if len(matches) == 1 else None
        elif entry.upper().startswith("GPU-"):
            # The source gives no UUIDs (/sys, amd-smi): the entry is some GPU; count it, in order.
            pick = next((i for i in range(len(gpus)) if i not in chosen), None)
        if pick is None or pick in chosen:
            break
        chosen.append(pick)
    return [gpus[i] for i in chosen]


def _visible(vendor: str, gpus: list[GPUInfo], host_view: bool) -> tuple[list[GPUInfo], str]:
    """The GPUs this process may use, and a note naming the variables that narrowed them."""
    notes: list[str] = []
    if vendor == "nvidia":
        container = os.environ.get("NVIDIA_VISIBLE_DEVICES")
        if container is not None and container.strip().lower() in ("none", "void"):
            return [], f"NVIDIA_VISIBLE_DEVICES={container!r}"
        if container and container.strip().lower() != "all" and host_view:
            # Sources that see the host (the PCI devices) are narrowed to the container's GPUs; NVML, nvidia-smi
            # and /proc see only those already.
            gpus = _select(gpus, container)
            notes.append(f"NVIDIA_VISIBLE_DEVICES={container!r}")
        order = ["CUDA_VISIBLE_DEVICES"]
    elif vendor == "amd":
        order = ["ROCR_VISIBLE_DEVICES",
                 "HIP_VISIBLE_DEVICES" if "HIP_VISIBLE_DEVICES" in os.environ else "CUDA_VISIBLE_DEVICES"]
    else:
        return gpus, ""
    for name in order:
        spec = os.environ.get(name)
        if spec is not None:
            gpus = _select(gpus, spec)
            notes.append(f"{name}={spec!r}")
    return gpus, ", ".join(notes)


@dataclass(frozen=True)
class _Found:
    gpus: tuple[GPUInfo, ...]
    source: str
    note: str
    total: int


_SOURCES: dict[str, tuple[tuple[str, Callable[[], list[GPUInfo] | None], bool], ...]] = {
    "nvidia": (("NVML", _nvml, False), ("nvidia-smi", _nvidia_smi, False),
               ("/proc/driver/nvidia", _proc_nvidia, False), ("/sys PCI devices", lambda: _pci("nvidia"), True),
               ("the plugins' DeviceProperties", lambda: _plugin_gpus("nvidia"), False)),
    "amd": (("amd-smi", _amd_smi, True), ("rocm-smi", _rocm_smi, True), ("/sys/class/kfd", _kfd, True),
            ("/sys PCI devices", lambda: _pci("amd"), True),
            ("the plugins' DeviceProperties", lambda: _plugin_gpus("amd"), False)),
    "intel": (("/sys PCI devices", lambda: _pci("intel"), True),),
}


def _find(vendor: str) -> _Found:
    """The first source that lists GPUs of ``vendor``, narrowed to the visible ones."""
    tried = []
    for source, probe, host_view in _SOURCES[vendor]:
        try:
            gpus = probe()
        except Exception as exc:  # a broken tool or library only means "this source cannot tell"
            logger.debug("%s GPU probe %s failed: %s", vendor, source, exc)
            gpus = None
        if not gpus:
            tried.append(f"{source}: {'none' if gpus is not None else 'not available'}")
            continue
        if vendor == "amd" and len(gpus) > 1:
            gpus = [g for g in gpus if not g.integrated] or gpus  # an APU's graphics beside a discrete GPU
        visible, note = _visible(vendor, gpus, host_view)
        return _Found(tuple(visible), source, note, len(gpus))
    return _Found((), "", "; ".join(tried), 0)


def find_gpus(vendor: str) -> tuple[GPUInfo, ...]:
    """The GPUs of ``vendor`` ("nvidia", "amd", "intel") this process may use, in their runtime's order."""
    return _find(vendor).gpus


def _probe(device_id: int) -> GPU:
    system = platform.system()
    if system == "Darwin":
        if platform.machine() == "arm64":
            return GPU(device_id, "apple", None, 1, "macOS on Apple Silicon")
        return GPU(device_id, None, None, None, "macOS on an Intel CPU: vsinfer has no GPU backend for it")
    if system not in ("Linux", "Windows"):
        return GPU(device_id, None, None, None, f"GPU probing does not support {system}")
    why = []
    for vendor in COMPUTE_VENDORS:
        found = _find(vendor)
        if not found.gpus:
            if found.total:
                why.append(f"{found.total} {vendor} GPU(s) found by {found.source}, none visible ({found.note})")
            continue
        count = len(found.gpus)
        if device_id >= count:
            raise DeviceError("device_id", device_id, f"0 .. {count - 1}: this machine has {count} GPU(s)"
                              + (f" visible ({found.note})" if found.note else ""))
        gpu = found.gpus[device_id]
        detail = f"{found.source}: {gpu.name or vendor}"
        if found.note:
            detail += f" ({count} of {found.total} visible: {found.note})"
        if (vendor == "nvidia" and len({g.name for g in found.gpus}) > 1 and "DeviceProperties" not in found.source
                and os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID"):
            # The sources list GPUs in PCI order; CUDA numbers them fastest first unless told otherwise.
            detail += "; CUDA may number these GPUs differently: set CUDA_DEVICE_ORDER=PCI_BUS_ID"
        return GPU(device_id, vendor, gpu.name, count, detail, gpu.compute_capability)
    if not why:
        why.append("no NVIDIA, AMD or Intel GPU found (NVML, nvidia-smi, amd-smi, rocm-smi, /proc and /sys tried)")
    return GPU(device_id, None, None, 0, "; ".join(why))


_cache: dict[int, GPU] = {}
_cache_lock = threading.Lock()


def probe_gpu(device_id: int = 0, *, refresh: bool = False) -> GPU:
    """The GPU ``device_id`` of this machine (cached per process; ``refresh=True`` probes again)."""
    if not isinstance(device_id, int) or isinstance(device_id, bool) or device_id < 0:
        raise DeviceError("device_id", device_id, "an int >= 0")
    with _cache_lock:
        if not refresh and device_id in _cache:
            return _cache[device_id]
    gpu = _probe(device_id)
    if gpu.vendor is None:
        logger.debug("no GPU for device_id=%d: %s", device_id, gpu.detail)
    with _cache_lock:
        _cache[device_id] = gpu
    return gpu


# -- the CUDA driver API ------------------------------------------------------------------------------------------
CUDA_SUCCESS = 0
CUDA_ERROR_NO_DEVICE = 100
_ATTR_CC_MAJOR, _ATTR_CC_MINOR = 75, 76
DRIVER_FOR_CUDA = {11: "450", 12: "525", 13: "580"}
"""The oldest NVIDIA driver branch (Linux) for each CUDA major version."""


class CudaError(RuntimeError):
    """A CUDA driver call failed; the message names the call and the driver's error."""

    def __init__(self, call: str, code: int, name: str) -> None:
        """Name the call and the error the driver gave (e.g. ``CUDA_ERROR_NO_DEVICE``)."""
        self.code = code
        """The ``CUresult``."""
        super().__init__(f"{call} failed: {name} ({code})")


class CudaDriver:
    """The CUDA driver API (``libcuda``) through ctypes: the few calls vsinfer needs, nothing at import."""

    def __init__(self, lib: Any) -> None:
        """Wrap a loaded ``libcuda`` (or a stand-in with the same functions)."""
        self._lib = lib
        self._lock = threading.Lock()
        self._initialized = False

    def _check(self, call: str, code: int) -> None:
        if code == CUDA_SUCCESS:
            return
        text = ctypes.c_char_p()
        name = f"error {code}"
        if self._lib.cuGetErrorName(code, ctypes.byref(text)) == CUDA_SUCCESS and text.value:
            name = text.value.decode()
        raise CudaError(call, code, name)

    @functools.cached_property
    def version(self) -> int:
        """The CUDA version the driver supports, 1000 * major + 10 * minor (13000 for CUDA 13.0)."""
        value = ctypes.c_int()
        self._check("cuDriverGetVersion", self._lib.cuDriverGetVersion(ctypes.byref(value)))
        return value.value

    def init(self) -> None:
        """``cuInit(0)`` once per process."""
        with self._lock:
            if not self._initialized:
                self._check("cuInit", self._lib.cuInit(0))
                self._initialized = True

    def device_count(self) -> int:
        """Devices CUDA sees (``CUDA_VISIBLE_DEVICES`` applied by the driver)."""
        self.init()
        count = ctypes.c_int()
        self._check("cuDeviceGetCount", self._lib.cuDeviceGetCount(ctypes.byref(count)))
        return count.value

    def _device(self, ordinal: int) -> ctypes.c_int:
        self.init()
        dev = ctypes.c_int()
        self._check(f"cuDeviceGet({ordinal})", self._lib.cuDeviceGet(ctypes.byref(dev), ctypes.c_int(ordinal)))
        return dev

    def device_name(self, ordinal: int) -> str:
        """The name of device ``ordinal``."""
        dev = self._device(ordinal)
        buf = ctypes.create_string_buffer(256)
        self._check("cuDeviceGetName", self._lib.cuDeviceGetName(buf, ctypes.c_int(len(buf)), dev))
        return buf.value.decode()

    def compute_capability(self, ordinal: int) -> tuple[int, int]:
        """(major, minor) of device ``ordinal``."""
        dev = self._device(ordinal)
        out = []
        for attr in (_ATTR_CC_MAJOR, _ATTR_CC_MINOR):
            value = ctypes.c_int()
            self._check("cuDeviceGetAttribute",
                        self._lib.cuDeviceGetAttribute(ctypes.byref(value), ctypes.c_int(attr), dev))
            out.append(value.value)
        return out[0], out[1]

    @contextlib.contextmanager
    def current(self, ordinal: int) -> Iterator[None]:
        """Device ``ordinal``'s primary context current on this thread inside the block.

        The CUDA runtime, and TensorRT with it, then works on that device; the previous context is current again
        afterwards.
        """
        dev = self._device(ordinal)
        ctx = ctypes.c_void_p()
        self._check("cuDevicePrimaryCtxRetain", self._lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev))
        try:
            self._check("cuCtxPushCurrent", self._lib.cuCtxPushCurrent_v2(ctx))
            try:
                yield
            finally:
                popped = ctypes.c_void_p()
                self._check("cuCtxPopCurrent", self._lib.cuCtxPopCurrent_v2(ctypes.byref(popped)))
        finally:
            self._lib.cuDevicePrimaryCtxRelease_v2(dev)


def _cuda_library() -> Any:
    """The CUDA driver library through ctypes (raises OSError where no NVIDIA driver is installed)."""
    return ctypes.CDLL("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1")


_driver: list[CudaDriver | None] = []
_driver_lock = threading.Lock()


def cuda_driver(*, refresh: bool = False) -> CudaDriver | None:
    """The CUDA driver, loaded once per process; None where ``libcuda`` does not load (no NVIDIA driver)."""
    with _driver_lock:
        if refresh or not _driver:
            try:
                loaded: CudaDriver | None = CudaDriver(_cuda_library())
            except OSError as exc:
                logger.debug("the CUDA driver does not load: %s", exc)
                loaded = None
            _driver[:] = [loaded]
        return _driver[0]


def cuda_devices() -> tuple[str, ...]:
    """The name of each device CUDA sees, by CUDA device id; () without a driver or a device."""
    driver = cuda_driver()
    if driver is None:
        return ()
    try:
        return tuple(driver.device_name(i) for i in range(driver.device_count()))
    except CudaError as exc:
        logger.debug("CUDA sees no device: %s", exc)
        return ()


def _cuda_text(version: int) -> str:
    return f"{version // 1000}.{version % 1000 // 10}"


def cuda_driver_problem(runtime_version: int | None, what: str) -> str | None:
    """Why ``what`` cannot run here, or None when it can.

    ``what`` is linked to the CUDA runtime ``runtime_version`` (1000 * major + 10 * minor): no driver, a driver
    older than that runtime's major version, or no device are each a reason.
    """
    needed = ""
    if runtime_version:
        major = runtime_version // 1000
        branch = DRIVER_FOR_CUDA.get(major)
        needed = f"an NVIDIA driver for CUDA {major}.0 or newer" + (f" (R{branch} or newer)" if branch else "")
    driver = cuda_driver()
    if driver is None:
        return (f"{what} needs {needed or 'the NVIDIA driver'}, and no CUDA driver loads here "
                f"({'nvcuda.dll' if sys.platform == 'win32' else 'libcuda.so.1'} is missing): install the NVIDIA "
                "driver")
    try:
        version = driver.version
    except CudaError as exc:
        return f"{what} needs {needed or 'a working NVIDIA driver'}; the driver does not answer: {exc}"
    if runtime_version and version // 1000 < runtime_version // 1000:
        return (f"{what} uses the CUDA {_cuda_text(runtime_version)} runtime, which needs {needed}; this machine's "
                f"driver supports CUDA {_cuda_text(version)}: update the NVIDIA driver")
    try:
        count = driver.device_count()
    except CudaError as exc:
        return f"the CUDA driver (CUDA {_cuda_text(version)}) sees no GPU: {exc}"
    if count == 0:
        return f"the CUDA driver (CUDA {_cuda_text(version)}) sees no GPU (CUDA_VISIBLE_DEVICES may hide them)"
    return None


@contextlib.contextmanager
def use_cuda_device(device_id: int) -> Iterator[str]:
    """Device ``device_id`` current on this thread for the block (a build compiles for the current device).

    Yields how the device was selected, for the log. Without a CUDA driver, or where it sees no device, nothing
    is selected (TensorRT-RTX then builds on the CPU for its targets; TensorRT says it needs a GPU); a
    ``device_id`` beyond the devices CUDA sees is a DeviceError naming them.
    """
    driver = cuda_driver()
    if driver is None:
        yield "no CUDA driver: no device selected"
        return
    try:
        count = driver.device_count()
    except CudaError as exc:
        count, why = 0, str(exc)
    else:
        why = "none"
    if count == 0:
        if device_id != 0:
            raise DeviceError("device_id", device_id, f"0: the CUDA driver sees no device ({why})")
        yield f"the CUDA driver sees no device ({why}): no device selected"
        return
    if device_id >= count:
        names = ", ".join(f"{i}: {driver.device_name(i)}" for i in range(count))
        raise DeviceError("device_id", device_id, f"0 .. {count - 1}: CUDA sees {count} device(s) ({names})")
    with driver.current(device_id):
        yield f"CUDA device {device_id} ({driver.device_name(device_id)}) current"


# -- the CPU ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CPU:
    """What the CPU this process runs on can do, as far as precision and speed depend on it."""

    model: str
    """Its model name ("AMD EPYC ..."), else what ``platform`` knows."""
    cores: int
    """CPUs this process may run on."""
    flags: frozenset[str]
    """Instruction set flags as Linux lists them ("avx512_bf16", "amx_fp16", ...); empty elsewhere."""

    @property
    def native_fp16(self) -> bool:
        """Half-float arithmetic in hardware (AVX512-FP16 or AMX-FP16)."""
        return bool(self.flags & {"avx512_fp16", "amx_fp16"})

    @property
    def native_bf16(self) -> bool:
        """bfloat16 arithmetic in hardware (AVX512-BF16 or AMX-BF16)."""
        return bool(self.flags & {"avx512_bf16", "amx_bf16"})

    @property
    def native_int8(self) -> bool:
        """INT8 dot products in hardware (VNNI in AVX512 or AVX, or AMX-INT8): what makes quantized models fast."""
        return bool(self.flags & {"avx512_vnni", "avx_vnni", "avx_vnni_int8", "amx_int8"})


@functools.cache
def cpu() -> CPU:
    """The CPU of this machine, read once from /proc/cpuinfo (Linux) or ``platform``."""
    model, flags = "", frozenset[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if not model and key in ("model name", "hardware", "cpu model"):
                model = value.strip()
            elif not flags and key in ("flags", "features"):
                flags = frozenset(value.split())
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return CPU(model or platform.processor() or platform.machine() or "unknown", cores, flags)
