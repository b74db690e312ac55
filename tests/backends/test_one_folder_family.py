"""Adding a family is one folder: a package written here into a temporary folder, with a fake plugin namespace,
declares its facts in its ``__init__.py``; one ``registry.add_family`` call, and every generic table sees it.

What it shows, with no other edit: autoselect offers it, autotune's candidates and the CLI's backend names include
it, the plugin tables know its extra, wheel and runtime version key (the install hint, timings' machine key), the
store's inventory knows its cache kind, and the docs index (the families' pages) lists its page. These are the
steps of docs/architecture.md ("Adding a family").
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.test_select import env
from vsinfer import plugins, select
from vsinfer.backends import registry
from vsinfer.cli import main
from vsinfer.store import inventory
from vsinfer.tune import default_candidates

INIT = '''
"""A fake family: one class on the plugin namespace "fakeplug"."""

from vsinfer.backends.registry import CPU, Offer, plugin_loaded
from vsinfer.plugins import PluginFacts
from vsinfer.store.inventory import Kind

from .backend import FAKE_CPU

CLASSES = (FAKE_CPU,)
OFFERS = (Offer(FAKE_CPU, frozenset({CPU}), 99, plugin_loaded("fakeplug")),)
PLUGINS = (PluginFacts(namespace="fakeplug", extra="fakeplug", wheel="vapoursynth-mlrt-fakeplug",
                       runtime_keys=("fakeruntime_version",)),)
CACHE_KINDS = (Kind("fakeplug", "records"),)
DOCS_PAGE = "backends/fakeplug.md"
'''

BACKEND = '''
"""The class of the fake family."""

from dataclasses import dataclass
from typing import Any, ClassVar

from vsinfer.backends.base import Backend


@dataclass(frozen=True, kw_only=True)
class FAKE_CPU(Backend):
    """A backend on core.fakeplug."""

    namespace: ClassVar[str] = "fakeplug"

    num_streams: int = 1
    """Requests in flight."""

    def get_args(self, clips: Any) -> dict[str, Any]:
        """Its streams."""
        return {"num_streams": self.num_streams}
'''


@pytest.fixture
def family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The folder written, imported and added; every table it reaches is restored afterwards."""
    folder = tmp_path / "fake_family_pkg"
    folder.mkdir()
    (folder / "__init__.py").write_text(textwrap.dedent(INIT))
    (folder / "backend.py").write_text(textwrap.dedent(BACKEND))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name, value in (("_families", list(registry._families)), ("_registered", list(registry._registered)),
                        ("_registered_classes", list(registry._registered_classes))):
        monkeypatch.setattr(registry, name, value)
    monkeypatch.setattr(plugins, "EXTRAS", dict(plugins.EXTRAS))
    monkeypatch.setattr(plugins, "DISTRIBUTIONS", dict(plugins.DISTRIBUTIONS))
    monkeypatch.setattr(plugins, "_RUNTIME_KEYS", dict(plugins._RUNTIME_KEYS))
    monkeypatch.setattr(plugins, "_GPU_VENDORS", dict(plugins._GPU_VENDORS))
    monkeypatch.setattr(inventory, "_kinds", dict(inventory._kinds))
    module = importlib.import_module("fake_family_pkg")
    yield module
    sys.modules.pop("fake_family_pkg", None)
    sys.modules.pop("fake_family_pkg.backend", None)


def test_a_family_folder_is_seen_everywhere(family: Any, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    fake = family.FAKE_CPU
    assert fake not in registry.classes() and "fakeplug" not in plugins.EXTRAS  # nothing knows it yet
    registry.add_family(family)
    # autoselect: offered on every machine, before OV_CPU (99 > 20) where its plugin is loaded
    loaded = env(None, loaded=("ov", "ort"))
    with_plugin = select.Environment(None, "linux", {**loaded.plugins, "fakeplug": plugins.PluginStatus(
        "fakeplug", True, "v1", {"version": "v1"}, (), None)}, loaded.modules)
    assert select.decide(with_plugin).cls is fake
    without = select.decide(loaded)
    passed = next(s for s in without.steps if s.name == "FAKE_CPU")
    assert without.cls is not fake and "pip install 'vsinfer[fakeplug]'" in passed.reason  # its declared extra
    # autotune's candidates, where it is usable
    monkeypatch.setattr(select, "current_environment", lambda device_id=0: with_plugin)
    assert fake() in default_candidates()
    # the CLI's backend names
    assert registry.find("fake-cpu") is fake
    code = main(["info", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and "fake-cpu" in [b["name"] for b in report["backends"]]
    # the plugin tables: wheel and runtime version key
    assert plugins.DISTRIBUTIONS["fakeplug"] == "vapoursynth-mlrt-fakeplug"
    assert "fakeruntime_version" in plugins.runtime_keys()
    # the store's inventory, and the docs index
    assert "fakeplug" in inventory.known_kinds()
    assert "backends/fakeplug.md" in [f.DOCS_PAGE for f in registry.families()]
