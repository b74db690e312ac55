"""A builder killed with SIGKILL at any point leaves nothing that a later call reuses or waits for."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import ModelFactory, need_module
from tests.reliability.conftest import WAIT_S, Events, assert_committed, files, spawn
from vsinfer import Backend

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")]


@pytest.fixture(autouse=True)
def _rtx() -> None:
    need_module("tensorrt_rtx")


# point -> what the cache holds when the child dies (besides the stale lock file)
POINTS = {
    "build": None,  # TensorRT building into the temp file (or done with it): never committed
    "engine-in-temp": "temp",  # the engine is complete in its temp file, not moved into place
    "engine-placed": "engine",  # the engine is in place, its sidecar never written
    "sidecar-in-temp": "engine+sidecar-temp",  # the sidecar's temp file written, not moved into place
    "committed": "committed",  # everything committed, the lock still held
}


@pytest.mark.parametrize("point", list(POINTS))
def test_killed_builder_leaves_nothing_reused(point: str, make_model: ModelFactory, events: Events,
                                              builds: list[Path], isolated_cache: Path) -> None:
    model = make_model(3, 3)
    child = spawn({"model": str(model), "tile": [32, 32], "backend": {"fp16": False}, "events": str(events.path),
                   "id": "victim", "hang": point})
    try:
        events.wait(f"hang-{point}")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=WAIT_S)
    trt = isolated_cache / "trt"
    left = files(trt)
    assert any(name.endswith(".engine.lock") for name in left), left  # the dead holder's lock file stays behind
    expected = POINTS[point]
    if expected is None:
        assert not any(name.endswith(".json") for name in left), left
    if expected == "temp":
        assert any(name.endswith(".tmp") for name in left), left
    if expected in ("engine", "engine+sidecar-temp"):
        assert any(name.endswith(".engine") for name in left) and not any(n.endswith(".json") for n in left), left
    if expected == "engine+sidecar-temp":
        assert any(name.endswith(".json.tmp") or ".json." in name for name in left), left
    stale = {name: (trt / name).read_bytes() for name in left if name.endswith(".engine")}

    result: list[Path] = []
    caller = threading.Thread(target=lambda: result.append(Backend.TRT_RTX(fp16=False).build_engine(model, 3,
                                                                                                  (32, 32))))
    caller.start()
    caller.join(timeout=WAIT_S)  # a stale lock that blocked would never let it finish
    assert result, "the next call did not finish: blocked by the dead builder's lock?"
    engine = result[0]
    record = assert_committed(engine)
    if expected == "committed":
        assert builds == [] and stale[engine.name] == engine.read_bytes()  # a complete commit is reused
    else:
        assert len(builds) == 1  # rebuilt: nothing of the dead build was reused
    assert record["identity"] == Backend.TRT_RTX(fp16=False).get_identity(model, 3, (32, 32))
    assert files(trt) == [engine.name, engine.with_suffix(".json").name]  # no temp, no lock left
