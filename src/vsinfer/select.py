"""Backend.autoselect: a pure policy over (vendor, OS, plugins) and a registry that new backends can join.

The policy is ``decide(environment)``: no probing, no plugin calls, so every branch is testable with a
hand-made Environment. ``current_environment`` gathers the real one; ``autoselect`` joins the two.

A backend written outside vsinfer joins autoselect with ``register``::

    from vsinfer.select import register

    register(MyBackend, vendors=["nvidia"], priority=85)   # between TRT_RTX (90) and ORT_DML (80)

Registered backends add to the built-ins, never replace them. Candidates for a vendor are tried from the highest
priority down; the first whose availability check passes is chosen. The CPU candidates (vendor ``"cpu"``: the
built-in OV_CPU at priority 20 and ORT_CPU at 10) come last, on every machine; a CPU runtime registered with
``vendors=["cpu"]`` and a priority above 20 is chosen before them. The default check is "its plugin namespace is
loaded".
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, NoBackendError

if TYPE_CHECKING:
    from .backends.base import Backend
    from .plugins import PluginStatus

__all__ = [
    "Candidate",
    "Decision",
    "Environment",
    "autoselect",
    "current_environment",
    "decide",
    "explain_autoselect",
    "register",
]

logger = logging.getLogger(__name__)

Check = Callable[["Environment"], str | None]
"""An availability check: None when the backend can serve this environment, else the reason it cannot."""


@dataclass(frozen=True)
class Environment:
    """Everything the policy looks at."""

    vendor: str | None
    """GPU vendor: "nvidia", "amd", "intel", "apple" or None."""
    os: str
    """"linux", "windows" or "darwin"."""
    plugins: Mapping[str, PluginStatus]
    """Status of each plugin namespace by name (missing names count as not loaded)."""
    modules: frozenset[str] = frozenset()
    """Optional Python modules present (e.g. "tensorrt", "tensorrt_rtx")."""
    distributions: frozenset[str] = frozenset()
    """Optional wheels installed (e.g. "vapoursynth-mlrt-ort-cuda")."""
    gpu_detail: str = ""
    """How the vendor was found, for explanations."""

    def loaded(self, namespace: str) -> bool:
        """Whether ``core.<namespace>`` is loaded."""
        status = self.plugins.get(namespace)
        return status is not None and status.loaded

    def providers(self) -> frozenset[str]:
        """Execution providers compiled into the ort plugin."""
        status = self.plugins.get("ort")
        raw = status.info.get("providers", "") if status else ""
        return frozenset(p.strip().upper() for p in raw.replace(";", ",").split(",") if p.strip())


@dataclass(frozen=True)
class Candidate:
    """One backend class offered for some vendors."""

    cls: type[Backend]
    """The backend class."""
    vendors: frozenset[str]
    """Vendors it serves."""
    priority: int
    """Higher is tried first."""
    check: Check
    """Availability check."""


@dataclass(frozen=True)
class Step:
    """One candidate considered, and why it was taken or passed over."""

    name: str
    """Backend class name."""
    taken: bool
    """True for the chosen one."""
    reason: str
    """Why."""


@dataclass(frozen=True)
class Decision:
    """The chosen class and the path that led to it."""

    cls: type[Backend]
    """The chosen backend class."""
    vendor: str | None
    """The vendor the decision was made for."""
    steps: tuple[Step, ...] = field(default_factory=tuple)
    """Every candidate tried, in order."""

    def __str__(self) -> str:
        lines = [f"GPU vendor: {self.vendor or 'none'}"]
        lines += [f"  {'->' if s.taken else '  '} {s.name}: {s.reason}" for s in self.steps]
        lines.append(f"chosen: {self.cls.__name__}")
        return "\n".join(lines)


CPU = "cpu"
"""The vendor name under which CPU backends are registered; they serve every machine, after its GPU's candidates."""


def _plugin(namespace: str, extra: str | None) -> Check:
    def check(env: Environment) -> str | None:
        if env.loaded(namespace):
            return None
        if extra is None:  # a namespace vsinfer does not ship: no wheel or extra to name
            return f"core.{namespace} is not loaded in VapourSynth"
        status = env.plugins.get(namespace)
        why = status.error if status and status.error else f"not loaded (pip install 'vsinfer[{extra}]')"
        return f"core.{namespace} {why}" if why.startswith("not") else why

    return check


def _all(*checks: Check) -> Check:
    def check(env: Environment) -> str | None:
        return next((r for c in checks if (r := c(env)) is not None), None)

    return check


def _module(name: str, extra: str) -> Check:
    return lambda env: None if name in env.modules else f"the {name} Python module (the engine builder) is " \
                                                         f"missing: pip install 'vsinfer[{extra}]'"


def _windows(env: Environment) -> str | None:
    return None if env.os == "windows" else "DirectML needs Windows"


def _provider(name: str, hint: str) -> Check:
    return lambda env: None if name in env.providers() else f"this ort build has no {name} provider ({hint})"


def _ort_cuda_libraries(env: Environment) -> str | None:
    if "vapoursynth-mlrt-ort-cuda" in env.distributions:
        return None
    return "the CUDA provider's libraries are missing: pip install 'vsinfer[ort-cuda]'"


def _ov_gpu(env: Environment) -> str | None:
    status = env.plugins.get("ov")
    if status and any(d.upper().startswith("GPU") for d in status.devices):
        return None
    return f"OpenVINO reports no GPU device (devices: {list(status.devices) if status else []})"


_registry: list[Candidate] = []
"""Backends registered from outside; the built-ins are kept apart and always offered."""


def _candidate(cls: type[Backend], vendors: Iterable[str], priority: int, available: Check | None) -> Candidate:
    from .plugins import EXTRAS

    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ConfigError("priority", priority, "an int (built-ins use 10 .. 100)", where="register")
    names = frozenset(v.lower() for v in ([vendors] if isinstance(vendors, str) else vendors))
    if not names:
        raise ConfigError("vendors", vendors, 'one or more of "nvidia", "amd", "intel", "apple", "cpu"',
                          where="register")
    check = available or _plugin(cls.namespace, EXTRAS.get(cls.namespace))
    return Candidate(cls, names, priority, check)


def register(
    cls: type[Backend], *, vendors: Iterable[str], priority: int, available: Check | None = None
) -> None:
    """Offer ``cls`` to autoselect for ``vendors`` at ``priority`` (higher first), beside the built-ins.

    ``vendors`` are GPU vendors ("nvidia", "amd", "intel", "apple") and/or "cpu" (every machine, after its GPU's
    candidates; the built-in OV_CPU has priority 20, ORT_CPU 10). ``available(environment)`` returns None when
    ``cls`` can run, else a short reason; by default, the backend's plugin namespace must be loaded.
    """
    _registry.append(_candidate(cls, vendors, priority, available))


@functools.cache
def _builtins() -> tuple[Candidate, ...]:
    from .backends import MIGX, NCNN, ORT_COREML, ORT_CPU, ORT_CUDA, ORT_DML, OV_CPU, OV_GPU, TRT, TRT_RTX

    ort, ov = _plugin("ort", "ort"), _plugin("ov", "ov")
    return (
        _candidate(TRT, ["nvidia"], 100, _all(_plugin("trt", "trt"), _module("tensorrt", "trt"))),
        _candidate(TRT_RTX, ["nvidia"], 90, _all(_plugin("trt_rtx", "trt-rtx"), _module("tensorrt_rtx", "trt-rtx"))),
        _candidate(ORT_DML, ["nvidia", "amd", "intel"], 80, _all(_windows, ort, _provider("DML", "a Windows build"))),
        _candidate(ORT_CUDA, ["nvidia"], 70,
                   _all(ort, _provider("CUDA", "pip install 'vsinfer[ort-cuda]'"), _ort_cuda_libraries)),
        _candidate(MIGX, ["amd"], 70, _plugin("migx", "migx")),
        _candidate(OV_GPU, ["intel"], 90, _all(ov, _ov_gpu)),
        _candidate(NCNN, ["nvidia", "amd", "intel"], 60, _plugin("ncnn", "ncnn")),
        _candidate(NCNN, ["apple"], 80, _plugin("ncnn", "ncnn")),
        _candidate(ORT_COREML, ["apple"], 70, _all(ort, _provider("COREML", "a macOS build"))),
        _candidate(OV_CPU, [CPU], 20, ov),
        _candidate(ORT_CPU, [CPU], 10, ort),
    )


def candidates(vendor: str | None) -> list[Candidate]:
    """The candidates for ``vendor`` (built-in and registered), highest priority first; "cpu" for the CPU ones."""
    found = [c for c in (*_builtins(), *_registry) if vendor is not None and vendor in c.vendors]
    return sorted(found, key=lambda c: -c.priority)  # stable: equal priorities keep built-ins first


def decide(env: Environment) -> Decision:
    """The backend class for ``env``: the first usable candidate for its vendor, else the CPU backend."""
    steps: list[Step] = []
    gpu = candidates(env.vendor) if env.vendor != CPU else []
    if env.vendor is None:
        steps.append(Step("GPU backends", False, f"no GPU found ({env.gpu_detail or 'none'})"))
    for candidate in [*gpu, *candidates(CPU)]:
        reason = candidate.check(env)
        if reason is None:
            why = "usable" if candidate in gpu else f"CPU fallback: core.{candidate.cls.namespace} is loaded"
            steps.append(Step(candidate.cls.__name__, True, why))
            return Decision(candidate.cls, env.vendor, tuple(steps))
        steps.append(Step(candidate.cls.__name__, False, reason))
    raise NoBackendError(
        "no usable backend: " + "; ".join(f"{s.name}: {s.reason}" for s in steps)
        + ". Install a CPU backend with pip install 'vsinfer[cpu]'"
    )


def current_environment(device_id: int = 0) -> Environment:
    """The real environment: probed GPU, OS, plugin status, optional modules and wheels."""
    from importlib import metadata

    from .device import probe_gpu
    from .plugins import EXTRAS, plugin_status

    gpu = probe_gpu(device_id)
    system = platform.system().lower()
    namespaces = set(EXTRAS) | {c.cls.namespace for c in _registry}
    modules = frozenset(m for m in ("tensorrt", "tensorrt_rtx") if importlib.util.find_spec(m) is not None)
    try:
        metadata.version("vapoursynth-mlrt-ort-cuda")
        dists = frozenset({"vapoursynth-mlrt-ort-cuda"})
    except metadata.PackageNotFoundError:
        dists = frozenset()
    return Environment(gpu.vendor, system, {ns: plugin_status(ns) for ns in sorted(namespaces)}, modules, dists,
                       gpu.detail)


def explain_autoselect(device_id: int = 0) -> Decision:
    """The decision autoselect makes for GPU ``device_id`` on this machine, with every step's reason."""
    return decide(current_environment(device_id))


def autoselect(device_id: int = 0, *, strict: bool = False, **kwargs: Any) -> Backend:
    """An instance of the chosen backend class.

    ``device_id`` reaches the chosen class when it has that field. Other ``kwargs`` the class does not take
    are dropped (logged at debug), or rejected with ``strict=True``.
    """
    decision = explain_autoselect(device_id)
    logger.info("autoselect chose %s\n%s", decision.cls.__name__, decision)
    names = {f.name for f in fields(decision.cls)}
    args = {k: v for k, v in kwargs.items() if k in names}
    dropped = sorted(set(kwargs) - names)
    if dropped:
        if strict:
            raise ConfigError(", ".join(dropped), {k: kwargs[k] for k in dropped},
                              f"fields of {decision.cls.__name__}, the backend autoselect chose ({sorted(names)})",
                              where="autoselect")
        logger.debug("autoselect: %s does not take %s; dropped", decision.cls.__name__, dropped)
    if "device_id" in names:
        args["device_id"] = device_id
    return decision.cls(**args)
