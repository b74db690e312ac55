"""Stand-ins for what a GPU machine has and this one lacks: the CUDA driver, NVML, nvidia-smi, /proc and /sys.

Each models the real interface vsinfer calls, as far as vsinfer calls it, and checks the calls the way the real
one would fail: the CUDA driver and NVML stand-ins take ctypes arguments by reference exactly where the C
functions take pointers (a wrong argument raises), honour ``CUDA_VISIBLE_DEVICES`` at ``cuInit`` as libcuda does,
and keep a context stack per thread, so a test can ask which device was current while a build ran.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import stat
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# CUresult values the stand-in returns (cuda.h)
SUCCESS, INVALID_VALUE, NOT_INITIALIZED, NO_DEVICE, INVALID_DEVICE, INVALID_CONTEXT = 0, 1, 3, 100, 101, 201
ERROR_NAMES = {SUCCESS: "CUDA_SUCCESS", INVALID_VALUE: "CUDA_ERROR_INVALID_VALUE",
               NOT_INITIALIZED: "CUDA_ERROR_NOT_INITIALIZED", NO_DEVICE: "CUDA_ERROR_NO_DEVICE",
               INVALID_DEVICE: "CUDA_ERROR_INVALID_DEVICE", INVALID_CONTEXT: "CUDA_ERROR_INVALID_CONTEXT"}


@dataclass(frozen=True)
class Card:
    """One stand-in GPU."""

    name: str
    compute_capability: tuple[int, int]
    bus_id: str
    uuid: str


RTX_4090 = Card("NVIDIA GeForce RTX 4090", (8, 9), "0000:01:00.0", "GPU-4090aaaa-0000-0000-0000-000000000000")
RTX_2080 = Card("NVIDIA GeForce RTX 2080 Ti", (7, 5), "0000:3d:00.0", "GPU-2080bbbb-0000-0000-0000-000000000000")
H100 = Card("NVIDIA H100 80GB HBM3", (9, 0), "0000:41:00.0", "GPU-h100cccc-0000-0000-0000-000000000000")


def _target(arg: Any, kind: type) -> Any:
    """The ctypes object behind ``byref(x)``, which must be of ``kind`` (what the C signature points to)."""
    obj = getattr(arg, "_obj", None)
    if not isinstance(obj, kind):
        raise TypeError(f"expected byref({kind.__name__}), got {arg!r}")
    return obj


def _int(arg: Any) -> int:
    """A C int argument: ctypes.c_int (or a Python int, which ctypes converts)."""
    if isinstance(arg, ctypes.c_int):
        return arg.value
    if isinstance(arg, int) and not isinstance(arg, bool):
        return arg
    raise TypeError(f"expected an int argument, got {arg!r}")


@dataclass
class FakeCuda:
    """libcuda with ``cards`` behind it, for a driver supporting CUDA ``version`` (1000 * major + 10 * minor)."""

    cards: list[Card]
    version: int = 13000
    initialized: bool = False
    visible: list[Card] = field(default_factory=list)
    retained: dict[int, int] = field(default_factory=dict)
    builds: list[int | None] = field(default_factory=list)
    """The device current in each build a stand-in builder ran (appended by the tests' build hooks)."""
    _stacks: dict[int, list[int]] = field(default_factory=dict)

    # -- what tests ask -------------------------------------------------------------------------------------------
    def current(self) -> int | None:
        """The device whose context is current on this thread, or None."""
        stack = self._stacks.get(threading.get_ident(), [])
        return stack[-1] if stack else None

    # -- the driver API -------------------------------------------------------------------------------------------
    def cuGetErrorName(self, code: int, pstr: Any) -> int:  # noqa: N802 (the C name)
        text = _target(pstr, ctypes.c_char_p)
        if code not in ERROR_NAMES:
            return INVALID_VALUE
        text.value = ERROR_NAMES[code].encode()
        return SUCCESS

    def cuDriverGetVersion(self, pversion: Any) -> int:  # noqa: N802
        _target(pversion, ctypes.c_int).value = self.version
        return SUCCESS

    def cuInit(self, flags: int) -> int:  # noqa: N802
        import os

        if _int(flags) != 0:
            return INVALID_VALUE
        spec = os.environ.get("CUDA_VISIBLE_DEVICES")
        self.visible = list(self.cards)
        if spec is not None:  # like libcuda: indices or UUID prefixes, up to the first bad entry
            chosen: list[Card] = []
            for entry in (e.strip() for e in spec.split(",")):
                pick = (self.cards[int(entry)] if entry.isdigit() and int(entry) < len(self.cards) else
                        next((c for c in self.cards if entry.startswith("GPU-") and c.uuid.startswith(entry)), None))
                if pick is None or pick in chosen:
                    break
                chosen.append(pick)
            self.visible = chosen
        self.initialized = True
        return SUCCESS if self.visible else NO_DEVICE

    def cuDeviceGetCount(self, pcount: Any) -> int:  # noqa: N802
        if not self.initialized:
            return NOT_INITIALIZED
        _target(pcount, ctypes.c_int).value = len(self.visible)
        return SUCCESS

    def cuDeviceGet(self, pdev: Any, ordinal: Any) -> int:  # noqa: N802
        if not self.initialized:
            return NOT_INITIALIZED
        index = _int(ordinal)
        if not 0 <= index < len(self.visible):
            return INVALID_DEVICE
        _target(pdev, ctypes.c_int).value = index
        return SUCCESS

    def _card(self, dev: Any) -> Card | None:
        index = _int(dev)
        return self.visible[index] if 0 <= index < len(self.visible) else None

    def cuDeviceGetName(self, buf: Any, length: Any, dev: Any) -> int:  # noqa: N802
        card = self._card(dev)
        if card is None:
            return INVALID_DEVICE
        if not isinstance(buf, ctypes.Array):
            raise TypeError(f"expected a char buffer, got {buf!r}")
        ctypes.memmove(buf, card.name.encode()[: _int(length) - 1] + b"\0", min(len(card.name) + 1, _int(length)))
        return SUCCESS

    def cuDeviceGetAttribute(self, pvalue: Any, attrib: Any, dev: Any) -> int:  # noqa: N802
        card = self._card(dev)
        if card is None:
            return INVALID_DEVICE
        values = {75: card.compute_capability[0], 76: card.compute_capability[1]}
        if _int(attrib) not in values:
            return INVALID_VALUE
        _target(pvalue, ctypes.c_int).value = values[_int(attrib)]
        return SUCCESS

    def cuDevicePrimaryCtxRetain(self, pctx: Any, dev: Any) -> int:  # noqa: N802
        if self._card(dev) is None:
            return INVALID_DEVICE
        index = _int(dev)
        self.retained[index] = self.retained.get(index, 0) + 1
        _target(pctx, ctypes.c_void_p).value = 0x1000 + index  # a context handle: which device it belongs to
        return SUCCESS

    def cuCtxPushCurrent_v2(self, ctx: Any) -> int:  # noqa: N802
        if not isinstance(ctx, ctypes.c_void_p) or ctx.value is None or ctx.value - 0x1000 not in self.retained:
            return INVALID_CONTEXT
        self._stacks.setdefault(threading.get_ident(), []).append(ctx.value - 0x1000)
        return SUCCESS

    def cuCtxPopCurrent_v2(self, pctx: Any) -> int:  # noqa: N802
        target = _target(pctx, ctypes.c_void_p)
        stack = self._stacks.get(threading.get_ident(), [])
        if not stack:
            return INVALID_CONTEXT
        target.value = 0x1000 + stack.pop()
        return SUCCESS

    def cuDevicePrimaryCtxRelease_v2(self, dev: Any) -> int:  # noqa: N802
        index = _int(dev)
        if self.retained.get(index, 0) <= 0:
            return INVALID_CONTEXT
        self.retained[index] -= 1
        return SUCCESS


@dataclass
class FakeNvml:
    """libnvidia-ml with ``cards`` behind it (NVML sees every GPU, whatever CUDA_VISIBLE_DEVICES says)."""

    cards: list[Card]
    open_sessions: int = 0

    def nvmlInit_v2(self) -> int:  # noqa: N802
        self.open_sessions += 1
        return 0

    def nvmlShutdown(self) -> int:  # noqa: N802
        self.open_sessions -= 1
        return 0

    def nvmlDeviceGetCount_v2(self, pcount: Any) -> int:  # noqa: N802
        _target(pcount, ctypes.c_uint).value = len(self.cards)
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index: Any, phandle: Any) -> int:  # noqa: N802
        i = index.value if isinstance(index, ctypes.c_uint) else index
        if not 0 <= i < len(self.cards):
            return 2  # NVML_ERROR_INVALID_ARGUMENT
        _target(phandle, ctypes.c_void_p).value = 0x2000 + i
        return 0

    def _card(self, handle: Any) -> Card:
        if not isinstance(handle, ctypes.c_void_p) or handle.value is None:
            raise TypeError(f"expected an nvmlDevice_t handle, got {handle!r}")
        return self.cards[handle.value - 0x2000]

    @staticmethod
    def _copy(buf: Any, text: str) -> int:
        if not isinstance(buf, ctypes.Array):
            raise TypeError(f"expected a char buffer, got {buf!r}")
        ctypes.memmove(buf, text.encode() + b"\0", len(text) + 1)
        return 0

    def nvmlDeviceGetName(self, handle: Any, buf: Any, length: Any) -> int:  # noqa: N802
        return self._copy(buf, self._card(handle).name)

    def nvmlDeviceGetUUID(self, handle: Any, buf: Any, length: Any) -> int:  # noqa: N802
        return self._copy(buf, self._card(handle).uuid)

    def nvmlDeviceGetCudaComputeCapability(self, handle: Any, pmajor: Any, pminor: Any) -> int:  # noqa: N802
        card = self._card(handle)
        _target(pmajor, ctypes.c_int).value, _target(pminor, ctypes.c_int).value = card.compute_capability
        return 0


NVIDIA_SMI = '''#!{python}
"""A stand-in nvidia-smi: --query-gpu / --format / --id / -L, over the GPUs in CARDS (driver DRIVER)."""
import sys

CARDS = {cards}
DRIVER = {driver!r}
OLD_DRIVER = {old_driver!r}  # before 510: no compute_cap field

args = sys.argv[1:]
ids = None
query = fmt = None
for arg in args:
    if arg.startswith("--id=") or arg.startswith("-i="):
        ids = [int(x) for x in arg.split("=", 1)[1].split(",")]
    elif arg.startswith("--query-gpu="):
        query = arg.split("=", 1)[1].split(",")
    elif arg.startswith("--format="):
        fmt = arg.split("=", 1)[1].split(",")
    elif arg in ("-L", "--list-gpus"):
        for i, c in enumerate(CARDS):
            print(f"GPU {{i}}: {{c['name']}} (UUID: {{c['uuid']}})")
        sys.exit(0)
    else:
        print(f"Invalid combination of input arguments: {{arg}}", file=sys.stderr)
        sys.exit(2)
if query is None:
    print("stand-in nvidia-smi: only --query-gpu and -L are modelled", file=sys.stderr)
    sys.exit(2)
if fmt is None or "csv" not in fmt:
    print('"--format" must be given with "--query-gpu"', file=sys.stderr)
    sys.exit(2)
fields = {{"index": lambda i, c: str(i), "name": lambda i, c: c["name"], "uuid": lambda i, c: c["uuid"],
          "pci.bus_id": lambda i, c: "0000" + c["bus_id"].upper(), "driver_version": lambda i, c: DRIVER,
          "compute_cap": lambda i, c: c["cc"], "memory.total": lambda i, c: "24564 MiB"}}
if OLD_DRIVER:
    del fields["compute_cap"]
for name in query:
    if name not in fields:
        print(f'Field "{{name}}" is not a valid field to query.', file=sys.stderr)
        sys.exit(2)
if "noheader" not in fmt:
    print(", ".join(query))
for i, c in enumerate(CARDS):
    if ids is not None and i not in ids:
        continue
    print(", ".join(fields[name](i, c) for name in query))
'''


def tool(folder: Path, name: str, script: str) -> Path:
    """An executable ``name`` in ``folder``."""
    path = folder / name
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def nvidia_smi(folder: Path, cards: list[Card], *, driver: str = "580.65.06", old_driver: bool = False) -> Path:
    """A stand-in ``nvidia-smi`` in ``folder`` listing ``cards``."""
    rows = [{"name": c.name, "uuid": c.uuid, "bus_id": c.bus_id, "cc": "{}.{}".format(*c.compute_capability)}
            for c in cards]
    return tool(folder, "nvidia-smi", NVIDIA_SMI.format(python=sys.executable, cards=json.dumps(rows),
                                                        driver=driver, old_driver=old_driver))


def pci_device(root: Path, bus_id: str, vendor: int, pci_class: int, device: int = 0x1234,
               product_name: str | None = None) -> None:
    """One PCI device under a stand-in /sys/bus/pci/devices."""
    folder = root / bus_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vendor").write_text(f"0x{vendor:04x}\n")
    (folder / "class").write_text(f"0x{pci_class:06x}\n")
    (folder / "device").write_text(f"0x{device:04x}\n")
    if product_name is not None:
        (folder / "product_name").write_text(product_name + "\n")


def proc_nvidia(root: Path, cards: list[Card]) -> None:
    """A stand-in /proc/driver/nvidia/gpus listing ``cards``."""
    for card in cards:
        folder = root / card.bus_id
        folder.mkdir(parents=True)
        (folder / "information").write_text(
            f"Model: \t\t {card.name}\nIRQ:   \t\t 130\nGPU UUID: \t {card.uuid}\nVideo BIOS: \t 95.02.18.80.5f\n"
            f"Bus Type: \t PCIe\nBus Location: \t {card.bus_id}\n")


def kfd_node(root: Path, node: int, *, gfx: str | None, bus: tuple[int, int, int] = (0, 0, 0),
             cpu_cores: int = 0) -> None:
    """One node of a stand-in /sys/class/kfd/kfd/topology/nodes (gfx None: a CPU agent)."""
    folder = root / str(node)
    folder.mkdir(parents=True)
    b, d, f = bus
    props = {"cpu_cores_count": cpu_cores, "simd_count": 0 if gfx is None else 192, "location_id": b << 8 | d << 3 | f,
             "domain": 0, "vendor_id": 4098 if gfx else 0}
    (folder / "properties").write_text("".join(f"{k} {v}\n" for k, v in props.items()))
    (folder / "name").write_text(f"{gfx or ''}\n")


@dataclass
class Machine:
    """A stand-in machine: an empty PATH folder, empty /proc and /sys trees, no NVML, no CUDA driver."""

    bin: Path
    proc: Path
    pci: Path
    kfd: Path
    monkeypatch: Any

    def nvml(self, cards: list[Card]) -> FakeNvml:
        """NVML loads and lists ``cards``."""
        from vsinfer import device

        fake = FakeNvml(cards)
        self.monkeypatch.setattr(device, "_nvml_library", lambda: fake)
        return fake

    def cuda(self, cards: list[Card], version: int = 13000) -> FakeCuda:
        """libcuda loads, for a driver supporting CUDA ``version``, with ``cards`` behind it."""
        from vsinfer import device

        fake = FakeCuda(cards, version)
        self.monkeypatch.setattr(device, "_cuda_library", lambda: fake)
        device.cuda_driver(refresh=True)
        return fake


def make_machine(tmp_path: Path, monkeypatch: Any) -> Machine:
    """Point every GPU probe of ``vsinfer.device`` at stand-ins that find nothing until a test adds something."""
    from vsinfer import device

    def missing(name: str) -> Any:
        def load() -> Any:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")

        return load

    machine = Machine(tmp_path / "bin", tmp_path / "proc", tmp_path / "pci", tmp_path / "kfd", monkeypatch)
    machine.bin.mkdir()
    monkeypatch.setenv("PATH", str(machine.bin))
    for name in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(device, "PROC_NVIDIA", machine.proc)
    monkeypatch.setattr(device, "SYS_PCI", machine.pci)
    monkeypatch.setattr(device, "SYS_KFD", machine.kfd)
    monkeypatch.setattr(device, "_nvml_library", missing("libnvidia-ml.so.1"))
    monkeypatch.setattr(device, "_cuda_library", missing("libcuda.so.1"))
    monkeypatch.setattr(device, "_plugin_gpus", lambda vendor, namespaces: None)
    monkeypatch.setattr(device, "_cache", {})
    monkeypatch.setattr(device, "_driver", [])
    return machine


IMPORT_PATH = os.environ.get("PATH", "")
"""PATH when the tests started (the machine fixture empties it; the compiler needs its assembler and linker)."""
COMPILER = shutil.which("cc", path=IMPORT_PATH) or shutil.which("gcc", path=IMPORT_PATH)
"""The C compiler that builds the libcuda stand-in, if this machine has one."""

LIBCUDA_C = r"""
/* A stand-in libcuda: the driver API calls vsinfer makes, with cuda.h's C signatures. */
#include <stdint.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;

static char names[8][64];
static int majors[8], minors[8], count = 0, version = 13000, initialized = 0, retained[8];
static __thread int stack[16];
static __thread int depth = 0;

void standin_configure(int n, const char *joined, const int *ma, const int *mi, int v) {
    const char *p = joined;
    count = n;
    version = v;
    for (int i = 0; i < n; ++i) {
        size_t len = strcspn(p, "|");
        memcpy(names[i], p, len < 63 ? len : 63);
        names[i][len < 63 ? len : 63] = 0;
        p += len + (p[len] ? 1 : 0);
        majors[i] = ma[i];
        minors[i] = mi[i];
        retained[i] = 0;
    }
    initialized = 0;
}
int standin_current(void) { return depth ? stack[depth - 1] : -1; }
int standin_retained(int d) { return retained[d]; }

CUresult cuGetErrorName(CUresult e, const char **p) {
    if (!p) return 1;
    *p = e == 100 ? "CUDA_ERROR_NO_DEVICE" : e == 101 ? "CUDA_ERROR_INVALID_DEVICE" : "CUDA_ERROR_UNKNOWN";
    return 0;
}
CUresult cuDriverGetVersion(int *v) { if (!v) return 1; *v = version; return 0; }
CUresult cuInit(unsigned int flags) { if (flags) return 1; initialized = 1; return count ? 0 : 100; }
CUresult cuDeviceGetCount(int *c) { if (!initialized) return 3; if (!c) return 1; *c = count; return 0; }
CUresult cuDeviceGet(CUdevice *d, int ordinal) {
    if (!initialized) return 3;
    if (!d) return 1;
    if (ordinal < 0 || ordinal >= count) return 101;
    *d = ordinal;
    return 0;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice d) {
    if (d < 0 || d >= count) return 101;
    if (!name || len <= 0) return 1;
    strncpy(name, names[d], (size_t)len - 1);
    name[len - 1] = 0;
    return 0;
}
CUresult cuDeviceGetAttribute(int *pi, int attrib, CUdevice d) {
    if (d < 0 || d >= count) return 101;
    if (!pi) return 1;
    if (attrib == 75) *pi = majors[d]; else if (attrib == 76) *pi = minors[d]; else return 1;
    return 0;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice d) {
    if (d < 0 || d >= count) return 101;
    if (!pctx) return 1;
    retained[d] += 1;
    *pctx = (CUcontext)(intptr_t)(0x1000 + d);
    return 0;
}
CUresult cuCtxPushCurrent_v2(CUcontext ctx) {
    intptr_t d = (intptr_t)ctx - 0x1000;
    if (d < 0 || d >= count || !retained[d] || depth == 16) return 201;
    stack[depth++] = (int)d;
    return 0;
}
CUresult cuCtxPopCurrent_v2(CUcontext *pctx) {
    if (!depth) return 201;
    depth -= 1;
    if (pctx) *pctx = (CUcontext)(intptr_t)(0x1000 + stack[depth]);
    return 0;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
    if (d < 0 || d >= count || retained[d] <= 0) return 201;
    retained[d] -= 1;
    return 0;
}
"""


def _compiled(folder: Path, name: str, code: str) -> Any:
    """The C source ``code`` compiled into ``folder/<name>.so`` and loaded with ctypes (None without a C compiler)."""
    import subprocess

    if COMPILER is None:
        return None
    source, library = folder / f"{name}.c", folder / f"{name}.so"
    source.write_text(code)
    subprocess.run([COMPILER, "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True, timeout=120,
                   capture_output=True, env=os.environ | {"PATH": IMPORT_PATH})
    return ctypes.CDLL(str(library))


def compiled_libcuda(folder: Path, cards: list[Card], version: int = 13000) -> Any:
    """The C stand-in of libcuda, compiled into ``folder`` and loaded with ctypes (None without a C compiler)."""
    lib = _compiled(folder, "libcuda_standin", LIBCUDA_C)
    if lib is None:
        return None
    n = len(cards)
    lib.standin_configure(n, "|".join(c.name for c in cards).encode(),
                          (ctypes.c_int * n)(*(c.compute_capability[0] for c in cards)),
                          (ctypes.c_int * n)(*(c.compute_capability[1] for c in cards)), version)
    return lib


LIBNVML_C = r"""
/* A stand-in libnvidia-ml: the NVML calls vsinfer makes, with nvml.h's C signatures. */
#include <stdint.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct device *nvmlDevice_t;

static char names[8][96], uuids[8][96];
static int majors[8], minors[8], count = 0, sessions = 0;

void standin_configure(int n, const char *joined_names, const char *joined_uuids, const int *ma, const int *mi) {
    const char *p = joined_names, *q = joined_uuids;
    count = n;
    for (int i = 0; i < n; ++i) {
        size_t a = strcspn(p, "|"), b = strcspn(q, "|");
        memcpy(names[i], p, a); names[i][a] = 0; p += a + (p[a] ? 1 : 0);
        memcpy(uuids[i], q, b); uuids[i][b] = 0; q += b + (q[b] ? 1 : 0);
        majors[i] = ma[i]; minors[i] = mi[i];
    }
}
int standin_sessions(void) { return sessions; }

static int index_of(nvmlDevice_t d) { intptr_t i = (intptr_t)d - 0x2000; return i >= 0 && i < count ? (int)i : -1; }
nvmlReturn_t nvmlInit_v2(void) { sessions += 1; return 0; }
nvmlReturn_t nvmlShutdown(void) { if (!sessions) return 1; sessions -= 1; return 0; }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *c) { if (!sessions) return 1; if (!c) return 2; *c = count; return 0; }
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) {
    if (!d || i >= (unsigned)count) return 2;
    *d = (nvmlDevice_t)(intptr_t)(0x2000 + i);
    return 0;
}
static nvmlReturn_t copy(char *out, unsigned int len, const char *text) {
    if (!out || strlen(text) + 1 > len) return 7;
    strcpy(out, text);
    return 0;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len) {
    int i = index_of(d); return i < 0 ? 2 : copy(name, len, names[i]);
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len) {
    int i = index_of(d); return i < 0 ? 2 : copy(uuid, len, uuids[i]);
}
nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *major, int *minor) {
    int i = index_of(d);
    if (i < 0 || !major || !minor) return 2;
    *major = majors[i]; *minor = minors[i];
    return 0;
}
"""


def compiled_libnvml(folder: Path, cards: list[Card]) -> Any:
    """The C stand-in of libnvidia-ml, compiled into ``folder`` and loaded with ctypes (None without a compiler)."""
    lib = _compiled(folder, "libnvml_standin", LIBNVML_C)
    if lib is None:
        return None
    n = len(cards)
    lib.standin_configure(n, "|".join(c.name for c in cards).encode(), "|".join(c.uuid for c in cards).encode(),
                          (ctypes.c_int * n)(*(c.compute_capability[0] for c in cards)),
                          (ctypes.c_int * n)(*(c.compute_capability[1] for c in cards)))
    return lib
