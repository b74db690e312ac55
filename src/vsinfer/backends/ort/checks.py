"""What core.ort takes: the execution providers compiled into the loaded build."""

from __future__ import annotations

from ... import plugins

__all__ = ["parse_providers", "providers"]


def parse_providers(listed: str) -> tuple[str, ...]:
    """The providers of a ``Version()["providers"]`` text ("CUDA, DML" or "CUDA;DML"): "CPU" first, names as given."""
    names = (p.strip() for p in listed.replace(";", ",").split(","))
    return ("CPU", *dict.fromkeys(n for n in names if n and n != "CPU"))


def providers() -> tuple[str, ...]:
    """The execution providers of the loaded core.ort build (read once per process)."""
    plugin = plugins.get_plugin("ort")
    return plugins.read_once("ort", "providers", plugin,
                             lambda: parse_providers((plugins.plugin_info("ort") or {}).get("providers", "")))
