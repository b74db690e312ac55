"""Many callers of one engine build it once; callers of different engines do not wait for each other."""

from __future__ import annotations

import threading
import zlib
from pathlib import Path

import pytest

from tests.conftest import ModelFactory, need_module
from tests.reliability.conftest import Events, assert_committed, files, finish, spawn
from vsinfer import Backend

pytestmark = pytest.mark.slow
N = 8


@pytest.fixture(autouse=True)
def _rtx() -> None:
    need_module("tensorrt_rtx")


def test_eight_processes_build_one_engine_once(make_model: ModelFactory, events: Events, tmp_path: Path,
                                               isolated_cache: Path) -> None:
    model = make_model(3, 3)
    gate = tmp_path / "gate"
    gate.mkdir()
    ids = [str(i) for i in range(N)]
    # the builder waits until every child has called build_engine: the other seven are then inside the store
    spec = {"model": str(model), "tile": [32, 32], "backend": {"fp16": False}, "events": str(events.path),
            "barrier": {"dir": str(gate), "n": N}, "wait_for": [f"{i} calling" for i in ids]}
    procs = [spawn(spec | {"id": i}) for i in ids]
    try:
        while len(list(gate.glob("ready-*"))) < N and all(p.poll() is None for p in procs):
            threading.Event().wait(0.02)
        (gate / "go").touch()  # all eight start together
        results = [finish(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert len(events.of("build-start")) == 1 and len(events.of("build-end")) == 1
    assert not [e for _, e, _ in events.read() if e.startswith("timeout")]
    engine = Path(results[0]["engine"])
    assert {r["engine"] for r in results} == {str(engine)}
    record = assert_committed(engine)
    assert {r["crc32"] for r in results} == {record["crc32"]}  # every child read the same bytes
    assert files(isolated_cache / "trt") == [engine.name, engine.with_suffix(".json").name]


def test_eight_threads_build_one_engine_once(make_model: ModelFactory, builds: list[Path],
                                             isolated_cache: Path) -> None:
    model = make_model(3, 3)
    barrier = threading.Barrier(N)
    results: dict[int, tuple[Path, int]] = {}
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            barrier.wait()
            engine = Backend.TRT_RTX(fp16=False).build_engine(model, 3, (32, 32))
            results[i] = (engine, zlib.crc32(engine.read_bytes()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == [] and len(results) == N
    assert len(builds) == 1
    engines = {engine for engine, _ in results.values()}
    assert len(engines) == 1
    record = assert_committed(engines.pop())
    assert {crc for _, crc in results.values()} == {record["crc32"]}
    assert not list((isolated_cache / "trt").glob("*.lock"))


def test_two_engines_build_at_the_same_time(make_model: ModelFactory, events: Events, isolated_cache: Path) -> None:
    model = make_model(3, 3)
    base = {"model": str(model), "backend": {"fp16": False}, "events": str(events.path)}
    # each build waits (inside its lock) until the other build has started: if one waited on the other's lock,
    # that wait would never end and the child would log a timeout instead
    children = [spawn(base | {"id": "a", "tile": [32, 32], "wait_for": ["b build-start"]}),
                spawn(base | {"id": "b", "tile": [48, 32], "wait_for": ["a build-start"]})]
    try:
        ra, rb = (finish(child) for child in children)
    finally:  # one failed: the other is killed, not left running
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert not [e for _, e, _ in events.read() if e.startswith("timeout")]
    assert ra["engine"] != rb["engine"]
    for child in ("a", "b"):
        assert events.time(child, "build-start") < events.time("b" if child == "a" else "a", "build-end")
    for result in (ra, rb):
        assert_committed(Path(result["engine"]))
    assert len(files(isolated_cache / "trt")) == 4  # two engines and their sidecars, no lock, no temp file
