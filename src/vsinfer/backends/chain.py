"""The fallback chain of a call: which backend of ``inference(fallback=...)`` runs, and when the chain moves on.

It moves on only when a backend cannot be used on this machine (plugin missing, engine build failed, device or
driver missing); a configuration or model error stops it, since the next backend would only hide the mistake.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import plugins, tiling
from ..errors import BackendUnavailable, NoBackendError, PluginError
from ..model import ModelInfo
from .call import Runnable, run

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["run_chain"]

logger = logging.getLogger("vsinfer")


def run_chain(chain: Sequence[Runnable], clips: list[vs.VideoNode], model: ModelInfo, plan: tiling.TilePlan,
              flexible: bool, kwargs: dict[str, Any]) -> vs.VideoNode | list[vs.VideoNode]:
    """The output of the first backend of ``chain`` that can be used here; the failures, chained, when none can."""
    failures: list[BackendUnavailable] = []
    for i, backend in enumerate(chain):
        try:
            given = kwargs if len(chain) == 1 else _kwargs_for(backend, kwargs, chain)
            return run(backend, clips, model, plan, flexible, given)
        except BackendUnavailable as exc:
            if isinstance(exc, PluginError) and not _cannot_run_here(exc):
                raise  # the plugin refused this configuration: the next backend would only hide the mistake
            failures.append(exc)
            if i + 1 == len(chain):
                break
            logger.warning("%s cannot be used here (%s); falling back to %s",
                           type(backend).__name__, exc, type(chain[i + 1]).__name__)
    if len(failures) == 1:
        raise failures[0]
    causes = "; ".join(f"{type(b).__name__}: {e}" for b, e in zip(chain, failures, strict=True))
    raise NoBackendError(f"no backend of the fallback chain could run {model.path}: {causes}") from failures[-1]


_MACHINE_WORDS = ("cuda", "driver", "device", "gpu", "vulkan", "opencl", "rocm", "cannot open", "no such file",
                  "out of memory", "insufficient", "not available", "unavailable", "failed to load", "library")
"""Words of a plugin error that says this machine cannot run the backend (no GPU, no driver, no library), as opposed
to a configuration the plugin refuses: only the former moves ``inference(fallback=...)`` on."""


def _cannot_run_here(exc: PluginError) -> bool:
    """Whether the plugin's refusal is about this machine (then the fallback chain moves on)."""
    text = str(exc).lower()
    return any(word in text for word in _MACHINE_WORDS)


def _kwargs_for(backend: Runnable, kwargs: dict[str, Any], chain: Sequence[Runnable]) -> dict[str, Any]:
    """The forwarded ``kwargs`` that ``backend``'s plugin takes.

    A name no loaded plugin of the chain takes stays (its check then refuses it as a typo), and so do all of them
    when the plugin is not loaded (the backend is then unavailable).
    """
    if not kwargs:
        return kwargs
    taken: dict[str, set[str]] = {}
    for other in chain:
        if other.namespace not in taken and plugins.is_loaded(other.namespace):
            taken[other.namespace] = set(plugins.accepted_args(other.namespace))
    own = taken.get(backend.namespace)
    if own is None:
        return kwargs
    known = set().union(*taken.values())
    kept = {k: v for k, v in kwargs.items() if k in own or k not in known}
    if len(kept) < len(kwargs):
        logger.debug("%s: core.%s takes no %s; not passed to it", type(backend).__name__, backend.namespace,
                     ", ".join(sorted(kwargs.keys() - kept.keys())))
    return kept
