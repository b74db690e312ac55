"""``vsinfer info``: this machine as vsinfer sees it."""

from __future__ import annotations

import platform
import sys
from typing import Any

from ..backends import registry
from .common import Json, emit_json

__all__ = ["cmd_info", "info"]


def info() -> dict[str, Any]:
    """OS, Python, VapourSynth, GPUs, plugins, the autoselect decision and the cache folder, as plain data."""
    import vapoursynth as vs

    from ..backends.base import field_names
    from ..backends.first_use import HALF_FLAGS
    from ..device import cpu, probe_gpu
    from ..errors import VsinferError
    from ..plugins import EXTRAS, plugin_status
    from ..select import all_devices, explain_autoselect, usable_classes
    from ..store import Store

    gpu = probe_gpu(0)
    report: dict[str, Any] = {
        "os": platform.platform(),
        "python": platform.python_version(),
        "vapoursynth": {"version": str(vs.__version__), "core": vs.core.core_version.release_major},
        "cpu": {"model": cpu().model, "cores": cpu().cores, "flags": sorted(cpu().flags & HALF_FLAGS)},
        "gpu": {"device_id": 0, "vendor": gpu.vendor, "model": gpu.model, "count": gpu.count, "detail": gpu.detail},
        "plugins": {},
    }
    for namespace in EXTRAS:
        status = plugin_status(namespace)
        report["plugins"][namespace] = {"loaded": status.loaded, "version": status.version, "error": status.error}
    try:
        decision = explain_autoselect(0)
        report["autoselect"] = {
            "chosen": decision.cls.__name__,
            "steps": [{"backend": s.name, "taken": s.taken, "reason": s.reason} for s in decision.steps],
        }
    except VsinferError as exc:
        report["autoselect"] = {"chosen": None, "error": str(exc)}
    report["devices"] = {}
    for cls in registry.classes():
        present = cls.devices_present() if "device_id" in field_names(cls) else ()
        if present:
            report["devices"][cls.__name__] = {"devices": list(present), "all": all_devices(cls)}
    usable = set(usable_classes(0))
    report["precision"] = {}
    with_devices = {c for c in registry.classes() if c.__name__ in report["devices"]}
    for cls in sorted(usable | with_devices, key=lambda c: c.__name__):  # NCNN on a CPU driver too: it runs here
        asks, (computes, why) = cls().precision(), cls().effective_precision()
        report["precision"][cls.__name__] = {"asks": asks, "computes": computes, "why": why}
    offered = {o.cls for o in registry.offers()}
    report["backends"] = [{"name": registry.cli_name(c), "class": c.__name__, "usable": c in usable,
                           "offered": c in offered}
                          for c in registry.classes() if not vars(c).get("abstract", False)]
    store = Store()
    used = store.folder("models").parent  # the root in use: the requested one, or the fallback it was not writable
    report["cache"] = {"requested": str(store.requested), "root": str(used)}
    return report


def _text(report: dict[str, Any]) -> str:
    gpu = report["gpu"]
    lines = [
        f"OS           {report['os']}",
        f"Python       {report['python']}",
        f"VapourSynth  R{report['vapoursynth']['core']} (python module {report['vapoursynth']['version']})",
        f"CPU          {report['cpu']['model']}, {report['cpu']['cores']} cores; precision flags: "
        f"{' '.join(report['cpu']['flags']) or 'none (no bf16 / fp16 / int8 arithmetic)'}",
        f"GPU 0        {gpu['vendor'] or 'none'}" + (f" ({gpu['model']})" if gpu["model"] else "")
        + f"  [{gpu['detail']}]",
        "Plugins",
    ]
    for name, p in report["plugins"].items():
        state = f"loaded {p['version']}" if p["loaded"] else f"not loaded: {p['error']}"
        lines.append(f"  {name:8s} {state}")
    auto = report["autoselect"]
    lines.append(f"Autoselect   {auto['chosen'] or 'nothing usable'}")
    for step in auto.get("steps", []):
        lines.append(f"  {'->' if step['taken'] else '  '} {step['backend']}: {step['reason']}")
    if "error" in auto:
        lines.append(f"  {auto['error']}")
    for name, p in report["precision"].items():
        how = f"computes {p['computes']}" + (f" ({p['why']})" if p["why"] else "")
        lines.append(f"Precision    {name}(): asks {p['asks']}, {how}")
    for name, found in report["devices"].items():
        listed = ", ".join(f"{i}: {d}" for i, d in enumerate(found["devices"]))
        lines.append(f"Devices      {name}: {listed}; devices='all' gives device_id={found['all']!r}")
    names = ", ".join(b["name"] + ("" if b["usable"] else " (not here)" if b["offered"] else " (by hand)")
                      for b in report["backends"])
    lines.append(f"Backends     {names}")
    cache = report["cache"]
    fallback = "" if cache["root"] == cache["requested"] else f" (not writable: using {cache['root']})"
    lines.append(f"Cache        {cache['requested']}{fallback}")
    return "\n".join(lines)



def cmd_info(*, json: Json = False) -> int:
    """Describe this machine as vsinfer sees it: GPU, plugins, the autoselect decision, the cache folder.

    Args:
        json: Machine-readable output.

    """
    report = info()
    if json:
        emit_json(report)
    else:
        sys.stdout.write(_text(report) + "\n")
    return 0
