"""Backend.autoselect: a pure policy over (vendor, OS, plugins) applied to the one registry of backends.

The policy is ``decide(environment)``: no probing, no plugin calls, so every branch is testable with a
hand-made Environment. ``current_environment`` gathers the real one; ``autoselect`` joins the two.

The candidates are the registry's offers (``vsinfer.backends.registry``): a backend written outside vsinfer joins
with ``register``. Registered backends add to the built-ins, never replace them. Offers for a vendor are tried
from the highest priority down; the first whose availability check passes is chosen. The CPU offers (vendor
``"cpu"``: the built-in OV_CPU at priority 20 and ORT_CPU at 10) come last, on every machine.
"""

from __future__ import annotations

import importlib.util
import logging
import platform
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from .backends import Backend
from .backends.registry import CPU, Environment, Offer, classes, cli_name, find, offers, register
from .config import apply_log_level, setting
from .errors import ConfigError, NoBackendError

__all__ = [
    "Decision",
    "Environment",
    "all_devices",
    "autoselect",
    "current_environment",
    "decide",
    "explain_autoselect",
    "register",
    "usable_classes",
]

logger = logging.getLogger(__name__)

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


def decide(env: Environment) -> Decision:
    """The backend class for ``env``: the first usable candidate for its vendor, else the CPU backend."""
    steps: list[Step] = []
    gpu = _gpu_offers(env.vendor)
    if env.vendor is None:
        steps.append(Step("GPU backends", False, f"no GPU found ({env.gpu_detail or 'none'})"))
    for offer in [*gpu, *offers(CPU)]:
        reason = offer.check(env)
        if reason is None:
            why = "usable" if offer in gpu else "CPU fallback: its availability check passed"
            steps.append(Step(offer.cls.__name__, True, why))
            return Decision(offer.cls, env.vendor, tuple(steps))
        steps.append(Step(offer.cls.__name__, False, reason))
    raise NoBackendError(
        "no usable backend: " + "; ".join(f"{s.name}: {s.reason}" for s in steps)
        + ". Install a CPU backend with pip install 'vsinfer[cpu]'"
    )


def _gpu_offers(vendor: str | None) -> list[Offer]:
    return offers(vendor) if vendor is not None and vendor != CPU else []


def current_environment(device_id: int = 0) -> Environment:
    """The real environment: probed GPU, OS, plugin status, and the optional modules and wheels the offers name."""
    from importlib import metadata

    from .device import probe_gpu
    from .plugins import EXTRAS, plugin_status

    gpu = probe_gpu(device_id)
    system = platform.system().lower()
    every = offers()
    namespaces = set(EXTRAS) | {o.cls.namespace for o in every}
    modules = frozenset(m for o in every for m in o.modules if importlib.util.find_spec(m) is not None)
    dists: set[str] = set()
    for name in {d for o in every for d in o.distributions}:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        dists.add(name)
    return Environment(gpu.vendor, system, {ns: plugin_status(ns) for ns in sorted(namespaces)}, modules,
                       frozenset(dists), gpu.detail, gpu.count or 0)


def usable_classes(device_id: int = 0, env: Environment | None = None) -> list[type[Backend]]:
    """Every class that can run here, in autoselect's order: the GPU vendor's offers, then the CPU ones.

    For autotune, bench and the CLI. A class an offer passes may still leave itself out (``tuning_skip``: no such
    device, or a software renderer standing in for a GPU), logged at INFO.
    """
    env = env or current_environment(device_id)
    found: list[type[Backend]] = []
    for offer in [*_gpu_offers(env.vendor), *offers(CPU)]:
        if offer.cls in found or offer.check(env) is not None:
            continue
        skip = offer.cls.tuning_skip(device_id)
        if skip is not None:
            logger.info("leaving %s out: %s", offer.cls.__name__, skip)
            continue
        found.append(offer.cls)
    return found


def explain_autoselect(device_id: int = 0) -> Decision:
    """The decision autoselect makes for GPU ``device_id`` on this machine, with every step's reason."""
    return decide(current_environment(device_id))


def autoselect(
    device_id: int = 0, *, devices: Literal["one", "all"] = "one", strict: bool = False, **kwargs: Any
) -> Backend:
    """An instance of the chosen backend class.

    ``device_id`` reaches the chosen class when it has that field; with ``devices="all"`` the class gets every
    device of that kind on this machine (``device_id=(0, 1, ...)``: one ``inference`` spread over them). Other
    ``kwargs`` the class does not take are dropped (logged at debug), or rejected with ``strict=True``.
    """
    if devices not in ("one", "all"):
        raise ConfigError("devices", devices, '"one" (GPU device_id) or "all" (every GPU of the chosen kind)',
                          where="autoselect")
    apply_log_level()
    env = current_environment(device_id)
    decision = _configured(env) or decide(env)
    logger.info("autoselect chose %s", decision.cls.__name__)
    logger.debug("autoselect:\n%s", decision)
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
        args["device_id"] = all_devices(decision.cls, env.gpu_count) if devices == "all" else device_id
    return decision.cls(**args)


def _configured(env: Environment) -> Decision | None:
    """The backend the config file or ``VSINFER_BACKEND`` names, when it is usable here (else None, logged)."""
    name = setting("backend")
    if name is None:
        return None
    cls = find(name)
    if cls is None:
        raise ConfigError("backend", name, f"one of {', '.join(cli_name(c) for c in classes())}",
                          where="vsinfer settings (VSINFER_BACKEND or the config file)")
    found: list[str] = []
    for offer in (o for o in offers() if o.cls is cls):
        reason = offer.check(env)
        if reason is None:
            return Decision(cls, env.vendor, (Step(cls.__name__, True, f"the settings name {name!r}"),))
        found.append(reason)
    reasons = "; ".join(found) or "never offered"
    logger.warning("the settings name backend %r, which cannot run here (%s); autoselect chooses instead", name,
                   reasons)
    return None


def all_devices(cls: type[Backend], gpu_count: int = 0) -> int | tuple[int, ...]:
    """Every device ``cls`` can use here: the ids its plugin lists, else the vendor's GPU count, else device 0."""
    count = len(cls.devices_present()) or gpu_count or 1
    return tuple(range(count)) if count > 1 else 0
