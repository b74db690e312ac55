"""The machine's devices: GPU probing with device-smi (which vendor's GPU is ``device_id``), and the CPU's facts.

Every way the probe can fail (no lspci, no nvidia-smi / NVML, no amd-smi, an unknown vendor, an unsupported
OS) ends in "no GPU", logged at debug with the reason, because autoselect must work on every machine. The one
exception is a ``device_id`` beyond the GPUs present: that is the caller's mistake and an error says how many
there are. The result is cached per process; ``refresh=True`` probes again.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import shutil
import subprocess
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import DeviceError

__all__ = ["CPU", "GPU", "cpu", "normalize_vendor", "probe_gpu"]

logger = logging.getLogger(__name__)

VENDORS = ("nvidia", "amd", "intel", "apple")
_ALIASES = {"advanced micro devices": "amd", "ati": "amd", "radeon": "amd", "geforce": "nvidia"}


@dataclass(frozen=True)
class GPU:
    """What the probe found for one device id."""

    device_id: int
    """The device id probed."""
    vendor: str | None
    """"nvidia", "amd", "intel", "apple", or None when no usable GPU was found."""
    model: str | None
    """Model name as device-smi reports it (lower case), when known."""
    count: int | None
    """Display controllers found on the machine, when it could be counted."""
    detail: str
    """How the answer was reached, or why there is no GPU."""


def normalize_vendor(raw: str | None) -> str | None:
    """Map a vendor string from device-smi (or elsewhere) to one of VENDORS, or None."""
    if not raw:
        return None
    text = raw.strip().lower()
    for vendor in VENDORS:
        if vendor in text:
            return vendor
    return next((v for alias, v in _ALIASES.items() if alias in text), None)


def _display_controllers() -> int | None:
    """Display controllers lspci lists (the lines device-smi itself looks at); None without lspci."""
    lspci = shutil.which("lspci")
    if lspci is None:
        return None
    try:
        out = subprocess.run([lspci], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sum(1 for line in out.lower().splitlines() if any(k in line for k in ("vga", "3d", "display")))


def _probe(device_id: int) -> GPU:
    system = platform.system()
    if system == "Darwin":
        if platform.machine() == "arm64":
            return GPU(device_id, "apple", None, 1, "macOS on Apple Silicon")
        return GPU(device_id, None, None, None, "macOS on an Intel CPU: device-smi cannot probe its GPU")
    if system not in ("Linux", "Windows"):
        return GPU(device_id, None, None, None, f"device-smi does not support {system}")
    count = None
    if system == "Linux":
        count = _display_controllers()
        if count is None:
            return GPU(device_id, None, None, None, "lspci is not installed (Debian: apt install pciutils)")
        if count == 0:
            return GPU(device_id, None, None, 0, "lspci lists no display controller")
        if device_id >= count:
            raise DeviceError("device_id", device_id, f"0 .. {count - 1}: this machine has {count} GPU(s)")
    from device_smi import Device

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # device-smi warns about CUDA_DEVICE_ORDER; not our user's concern
            device = Device(f"gpu:{device_id}")
    except Exception as exc:  # device-smi raises bare Exception, RuntimeError, ValueError...: all mean "no GPU"
        return GPU(device_id, None, None, count, f"device-smi could not read gpu:{device_id}: {exc}".strip())
    try:
        vendor = normalize_vendor(device.vendor)
        detail = f"device-smi: {device.vendor} {device.model}"
        if vendor is None:
            detail = f"device-smi reported an unknown vendor {device.vendor!r}"
        return GPU(device_id, vendor, device.model, count, detail)
    finally:
        device.close()  # device-smi starts a polling thread per Device


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
