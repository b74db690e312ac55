"""The one list of backends: every class by name, and the offers autoselect, autotune, bench, presets and the CLI read.

A family declares its facts in its own folder (``Family``); ``vsinfer.backends`` hands each to ``add_family``.
A backend written outside vsinfer joins with ``register``, and is then autoselected, autotuned, benched, listed by
``vsinfer info`` and named on the command line like a built-in one::

    from vsinfer.backends.registry import register

    register(MyBackend, vendors=["nvidia"], priority=85)   # between TRT_RTX (90) and ORT_DML (80)

An offer's ``check(environment)`` returns None when the class can serve that environment, else a short reason. The
environment is gathered once (``vsinfer.select.current_environment``) from what the offers ask for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .. import plugins
from ..errors import ConfigError
from ..plugins import PluginFacts, PluginStatus
from ..store import inventory
from ..store.inventory import Kind

if TYPE_CHECKING:
    from .base import Backend

__all__ = [
    "CPU",
    "VENDORS",
    "Check",
    "Environment",
    "Family",
    "Offer",
    "add_family",
    "all_of",
    "classes",
    "cli_name",
    "families",
    "find",
    "offers",
    "plugin_loaded",
    "register",
]

CPU = "cpu"
"""The vendor of CPU backends: they serve every machine, after its GPU's offers."""
VENDORS = ("nvidia", "amd", "intel", "apple", CPU)
"""The vendors an offer can name."""


@dataclass(frozen=True)
class Environment:
    """Everything an availability check looks at (gathered by ``vsinfer.select.current_environment``)."""

    vendor: str | None
    """GPU vendor: "nvidia", "amd", "intel", "apple" or None."""
    os: str
    """"linux", "windows" or "darwin"."""
    plugins: Mapping[str, PluginStatus]
    """Status of each plugin namespace by name (missing names count as not loaded)."""
    modules: frozenset[str] = frozenset()
    """Optional Python modules present, of those the offers ask about (``Offer.modules``)."""
    distributions: frozenset[str] = frozenset()
    """Optional wheels installed, of those the offers ask about (``Offer.distributions``)."""
    gpu_detail: str = ""
    """How the vendor was found, for explanations."""
    gpu_count: int = 0
    """GPUs of that vendor found (0 when unknown)."""

    def loaded(self, namespace: str) -> bool:
        """Whether ``core.<namespace>`` is loaded."""
        status = self.plugins.get(namespace)
        return status is not None and status.loaded


Check = Callable[[Environment], str | None]
"""An availability check: None when the backend can serve this environment, else the reason it cannot."""


@dataclass(frozen=True)
class Offer:
    """A backend class offered to autoselect for some vendors."""

    cls: type[Backend]
    """The backend class."""
    vendors: frozenset[str]
    """Vendors it serves ("cpu": every machine, after the GPU's offers)."""
    priority: int
    """Higher is tried first."""
    check: Check
    """Availability check."""
    modules: tuple[str, ...] = ()
    """Python modules the check asks about (found with ``importlib.util.find_spec``)."""
    distributions: tuple[str, ...] = ()
    """Installed wheels the check asks about."""


def plugin_loaded(namespace: str, extra: str | None = None) -> Check:
    """The check "``core.<namespace>`` is loaded"; its reason names the pip extra that installs it (declared)."""

    def check(env: Environment) -> str | None:
        if env.loaded(namespace):
            return None
        nonlocal extra
        extra = extra if extra is not None else plugins.EXTRAS.get(namespace)
        if extra is None:  # a namespace vsinfer does not ship: no wheel or extra to name
            return f"core.{namespace} is not loaded in VapourSynth"
        status = env.plugins.get(namespace)
        why = status.error if status and status.error else f"not loaded (pip install 'vsinfer[{extra}]')"
        return f"core.{namespace} {why}" if why.startswith("not") else why

    return check


def all_of(*checks: Check) -> Check:
    """A check that passes when every one of ``checks`` does (the first reason otherwise)."""

    def check(env: Environment) -> str | None:
        return next((r for c in checks if (r := c(env)) is not None), None)

    return check


_lock = threading.Lock()
_builtin_classes: list[type[Backend]] = []
_builtin_offers: list[Offer] = []
_registered: list[Offer] = []
"""Offers registered from outside; the built-ins are kept apart and always offered."""
_registered_classes: list[type[Backend]] = []
"""Classes of families added from outside (``add_family``), also those they do not offer."""


class Family(Protocol):
    """What a family folder's ``__init__.py`` declares (``vsinfer.backends.ort`` is one)."""

    CLASSES: tuple[type[Backend], ...]
    """Its classes, by name in ``Backend`` (also those autoselect never offers)."""
    OFFERS: tuple[Offer, ...]
    """What it offers autoselect."""
    PLUGINS: tuple[PluginFacts, ...]
    """The plugins it runs on: namespace, pip extra, wheel, runtime version keys."""
    CACHE_KINDS: tuple[Kind, ...]
    """What it keeps in the store."""
    DOCS_PAGE: str
    """The docs page of its classes and fields (under docs/)."""


_families: list[Family] = []


def add_family(family: Family, *, builtin: bool = False) -> None:
    """Record a family's facts: its classes and offers here, its plugins' extras and wheels, its cache kinds.

    vsinfer's own families are ``builtin`` (``vsinfer.backends`` adds them); a family from outside is offered beside
    them, as ``register`` does for one class.
    """
    plugins.declare(*family.PLUGINS)
    inventory.declare(*family.CACHE_KINDS)
    with _lock:
        if family not in _families:
            _families.append(family)
        if builtin:
            _builtin_classes.extend(c for c in family.CLASSES if c not in _builtin_classes)
            _builtin_offers.extend(o for o in family.OFFERS if o not in _builtin_offers)
        else:
            _registered_classes.extend(c for c in family.CLASSES if c not in _registered_classes)
            _registered.extend(o for o in family.OFFERS if o not in _registered)


def families() -> list[Family]:
    """Every family added so far (vsinfer's own first)."""
    return list(_families)


def _offer(cls: type[Backend], vendors: Iterable[str] | str, priority: int, available: Check | None) -> Offer:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ConfigError("priority", priority, "an int (built-ins use 10 .. 100)", where="register")
    names = frozenset(v.lower() for v in ([vendors] if isinstance(vendors, str) else vendors))
    unknown = sorted(names - set(VENDORS))
    if not names or unknown:
        raise ConfigError("vendors", vendors, f"one or more of {', '.join(map(repr, VENDORS))}", where="register")
    return Offer(cls, names, priority, available or plugin_loaded(cls.namespace))


def register(
    cls: type[Backend], *, vendors: Iterable[str] | str, priority: int, available: Check | None = None
) -> None:
    """Offer ``cls`` to autoselect for ``vendors`` at ``priority`` (higher first), beside the built-ins.

    ``vendors`` are GPU vendors ("nvidia", "amd", "intel", "apple") and/or "cpu" (every machine, after its GPU's
    offers; the built-in OV_CPU has priority 20, ORT_CPU 10). ``available(environment)`` returns None when ``cls``
    can run, else a short reason; by default, the backend's plugin namespace must be loaded.
    """
    offer = _offer(cls, vendors, priority, available)
    with _lock:
        _registered.append(offer)


def offers(vendor: str | None = None) -> list[Offer]:
    """The offers for ``vendor`` (all of them for None), built-in and registered, highest priority first."""
    found = [o for o in (*_builtin_offers, *_registered) if vendor is None or vendor in o.vendors]
    return sorted(found, key=lambda o: -o.priority)  # stable: equal priorities keep built-ins first


def classes() -> list[type[Backend]]:
    """Every backend class: vsinfer's own (also those autoselect never offers, e.g. OV, OV_NPU), then registered."""
    found = list(_builtin_classes)
    found += [c for c in _registered_classes if c not in found]
    found += [o.cls for o in _registered if o.cls not in found]
    return found


def cli_name(cls: type[Backend]) -> str:
    """The command-line name of ``cls``: ``ORT_CPU`` -> "ort-cpu"."""
    return cls.__name__.lower().replace("_", "-")


def find(name: str) -> type[Backend] | None:
    """The class called ``name`` (its class name, "ORT_CPU", or its command-line name, "ort-cpu"), else None."""
    key = name.strip().lower().replace("_", "-")
    return next((c for c in classes() if cli_name(c) == key), None)
