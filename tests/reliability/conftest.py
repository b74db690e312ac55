"""Fixtures of the reliability tests: the injected device, a build counter, child processes, cache listings."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.trt_fixtures import TEST_DEVICE, builds, known_device  # the same injected device and build counter

__all__ = ["TEST_DEVICE", "builds", "known_device"]
REPO = Path(__file__).resolve().parents[2]
WAIT_S = 300.0
"""Upper bound on any wait for a child: a guard against hangs, never a timing assertion."""


@dataclass
class Events:
    """The lines children append to one file: "<id> <event> <monotonic ns>"."""

    path: Path

    def read(self) -> list[tuple[str, str, int]]:
        """All events so far."""
        if not self.path.exists():
            return []
        return [(i, e, int(t)) for i, e, t in (line.split() for line in self.path.read_text().splitlines())]

    def of(self, event: str) -> list[str]:
        """Ids of the children that logged ``event``."""
        return [i for i, e, _ in self.read() if e == event]

    def time(self, child: str, event: str) -> int:
        """When ``child`` logged ``event``."""
        return next(t for i, e, t in self.read() if i == child and e == event)

    def wait(self, event: str, count: int = 1) -> None:
        """Wait until ``count`` children logged ``event`` (fails after WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while len(self.of(event)) < count:
            assert time.monotonic() < deadline, f"no {event!r} after {WAIT_S} s: {self.read()}"
            time.sleep(0.02)


@pytest.fixture
def events(tmp_path: Path) -> Events:
    """The events file of this test's children (created empty)."""
    path = tmp_path / "events.txt"
    path.touch()
    return Events(path)


def spawn(spec: dict[str, Any]) -> subprocess.Popen[str]:
    """Start ``tests/reliability/_child.py`` with ``spec``; the child inherits VSINFER_CACHE_DIR."""
    return subprocess.Popen([sys.executable, "-m", "tests.reliability._child", json.dumps(spec)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """Wait for a child and return what it printed; its stderr is shown when it failed."""
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{err[-4000:]}"
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def files(root: Path) -> list[str]:
    """Every file under ``root``, relative, sorted (folders are not listed)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def assert_committed(engine: Path) -> dict[str, Any]:
    """``engine`` matches its sidecar (size, mtime, checksum); returns the sidecar."""
    record: dict[str, Any] = json.loads(engine.with_suffix(".json").read_text())
    data = engine.read_bytes()
    assert record["size"] == len(data) and record["crc32"] == zlib.crc32(data)
    assert record["mtime_ns"] == engine.stat().st_mtime_ns
    assert len(data) > 1000  # a real engine, not a stand-in
    return record
