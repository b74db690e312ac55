"""``vsinfer render`` on real multi-node Ray clusters (``ray.cluster_utils.Cluster``: every node a process group
of this machine, with the CPUs it is told): default options, nodes of different sizes, a request no node can
place, a straggler started again elsewhere."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import need_plugin, vspipe
from tests.render.conftest import decoded, need_farm, reference, write_script
from tests.render.test_render import running_with
from vsinfer.errors import RenderError
from vsinfer.render import render

pytestmark = pytest.mark.slow


@contextmanager
def nodes(tmp: Path, *cpus: int) -> Iterator[list[str]]:
    """A Ray cluster of one node per entry (its CPUs; no GPU), the driver connected; the nodes' names."""
    need_farm()
    need_plugin("ort")
    import ray
    from ray.cluster_utils import Cluster

    assert not ray.is_initialized(), "one cluster at a time: another test's cluster is still connected"
    with pytest.MonkeyPatch.context() as mp:
        _, env = vspipe()
        mp.setenv("PATH", env["PATH"])  # the nodes' workers inherit it: vspipe of this venv
        mp.setenv("VSINFER_CACHE_DIR", str(tmp / "cache"))
        mp.delenv("VSINFER_SHARED_CACHE", raising=False)
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus[0], "include_dashboard": False,
                                                                 "object_store_memory": 80 * 1024 * 1024})
        try:
            for n in cpus[1:]:
                cluster.add_node(num_cpus=n, object_store_memory=80 * 1024 * 1024)
            ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            try:
                yield [f"{n['NodeManagerAddress']}/{n['NodeID'][:8]}" for n in ray.nodes() if n["Alive"]]
            finally:
                ray.shutdown()
        finally:
            cluster.shutdown()


def test_nodes_of_different_sizes(tmp_path: Path) -> None:
    # first in the module: the two-node cluster below stays up for the module's other tests
    with nodes(tmp_path, 1, 2) as names:
        script = write_script(tmp_path)
        out = tmp_path / "out.mkv"
        result = render(script, out, chunks=4)  # before: one worker asking for all 3 CPUs, which no node has
        assert (result.workers, result.nodes) == (2, 2)
        assert {c.ray_node for c in result.chunks} == set(names)
        assert decoded(out) == reference(script)


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Head and one worker node, 1 CPU each (the cluster that hung with the defaults)."""
    with nodes(tmp_path_factory.mktemp("two"), 1, 1) as names:
        yield names


def test_two_one_cpu_nodes_with_default_options(two_nodes: list[str], tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    script = write_script(tmp_path)
    out = tmp_path / "out.mkv"
    with caplog.at_level(logging.INFO, logger="vsinfer.render.farm.progress"):
        result = render(script, out)  # the defaults: each chunk asked for the cluster's 2 CPUs and waited forever
    lines = [r.getMessage() for r in caplog.records if r.name == "vsinfer.render.farm.progress"]
    assert len(lines) >= 8 and lines[-1].startswith("render: 60/60 frames (100%), "), lines  # one per chunk at least
    assert all(" fps, ETA " in line and "workers busy " in line and line.endswith("node(s)") for line in lines)
    assert (result.workers, result.nodes) == (2, 2)
    assert len(result.chunks) == 8 and [c.attempts for c in result.chunks] == [1] * 8
    assert {c.ray_node for c in result.chunks} == set(two_nodes)  # both nodes rendered
    assert decoded(out) == reference(script)


def test_a_request_no_node_can_place_fails_at_once(two_nodes: list[str], tmp_path: Path) -> None:
    script = write_script(tmp_path)
    begun = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render(script, tmp_path / "out.mkv", gpus_per_chunk=1)
    # the bound for "never hang": it fails before any chunk is submitted
    assert time.monotonic() - begun < 30
    said = str(caught.value)
    assert "1 GPU(s)" in said and "--gpus-per-chunk 0" in said, said
    assert all(f"{name} (1 CPU, 0 GPU)" in said for name in two_nodes), said
    assert not (tmp_path / "out.mkv").exists()


def test_a_straggler_is_started_again_on_the_other_node(two_nodes: list[str], tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    marker = tmp_path / "stall"
    marker.touch()
    script = write_script(tmp_path, stall=(str(marker), 50, True))  # chunk 3's first attempt sleeps at frame 50
    out = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="vsinfer.render"):
        result = render(script, out, chunks=4)
    assert Path(f"{marker}.stalled").exists()  # the stall happened
    assert result.stragglers == 1 and result.chunks[3].attempts == 2
    said = [r.getMessage() for r in caplog.records if "past its deadline" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("render: chunk-0003 (frames 45-59) has run"), said
    assert decoded(out) == reference(script)
    for _ in range(50):  # the stalled copy was cancelled: its worker and its vspipe are gone
        if not running_with(str(script)):
            break
        time.sleep(0.2)
    assert not running_with(str(script))
