"""The parts of a render that need no cluster: the plan, the recipe, the manifest, the y4m join."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsinfer.errors import InvalidValueError, VsinferError
from vsinfer.render import CORE_GROUP, Chunk, local_workers, plan_chunks
from vsinfer.render import manifest as mf
from vsinfer.render.media import FFV1, Y4M, encoder_command, join, named_files, recipe_for
from vsinfer.render.plan import NodeSize, longest_first, place, snap_to_scenes
from vsinfer.render.worker import check_node


def test_plan_covers_every_frame_once() -> None:
    plan = plan_chunks(60, 4)
    assert [(c.start, c.end) for c in plan] == [(0, 14), (15, 29), (30, 44), (45, 59)]
    odd = plan_chunks(7, 3)
    assert [c.frames for c in odd] == [3, 2, 2] and odd[-1].end == 6
    assert len(plan_chunks(2, 8)) == 2 and plan[3].name == "chunk-0003"
    with pytest.raises(InvalidValueError, match="chunks=0"):
        plan_chunks(60, 0)


def test_local_workers_one_per_gpu_else_per_core_group() -> None:
    assert local_workers(2, 64) == 2
    assert local_workers(0, 2) == 1 and local_workers(0, 4 * CORE_GROUP) == 4


def test_recipe_from_suffix_or_template(tmp_path: Path) -> None:
    assert recipe_for(tmp_path / "a.mkv", None) == FFV1 and recipe_for(tmp_path / "a.Y4M", None) == Y4M
    with pytest.raises(InvalidValueError, match=r"out=.*a\.mp4.*\.mkv"):
        recipe_for(tmp_path / "a.mp4", None)
    with pytest.raises(InvalidValueError, match=r"\{out\}"):
        recipe_for(tmp_path / "a.hevc", "x265 --y4m - -o out.hevc")
    template = "x265 --y4m - -o {out}"
    assert recipe_for(tmp_path / "a.hevc", template) == template
    part = tmp_path / "it's here" / "chunk-0000.hevc"
    quoted = f"'{tmp_path}/it'\"'\"'s here/chunk-0000.hevc'"  # shlex.quote: the shell reads one word
    assert encoder_command(template, part) == ["/bin/sh", "-c", f"x265 --y4m - -o {quoted}"]


def test_y4m_join_one_header_with_the_total_length(tmp_path: Path) -> None:
    frame = b"FRAME\n" + bytes(6)
    a = tmp_path / "a.y4m"
    b = tmp_path / "b.y4m"
    a.write_bytes(b"YUV4MPEG2 C444 W2 H1 F24:1 XLENGTH=2\n" + frame * 2)
    b.write_bytes(b"YUV4MPEG2 C444 W2 H1 F24:1 XLENGTH=1\n" + frame)
    join(Y4M, [a, b], tmp_path / "out.y4m", 3)
    assert (tmp_path / "out.y4m").read_bytes() == b"YUV4MPEG2 C444 W2 H1 F24:1 XLENGTH=3\n" + frame * 3
    b.write_bytes(b"YUV4MPEG2 C444 W4 H1 F24:1 XLENGTH=1\n" + frame)
    with pytest.raises(VsinferError, match="another y4m header"):
        join(Y4M, [a, b], tmp_path / "out.y4m", 3)


def test_manifest_keeps_only_intact_chunks(tmp_path: Path) -> None:
    plan = plan_chunks(4, 2)
    good, bad = tmp_path / "chunk-0000.mkv", tmp_path / "chunk-0001.mkv"
    good.write_bytes(b"first")
    bad.write_bytes(b"second")
    record = {str(c.index): mf.ChunkRecord(index=c.index, start=c.start, end=c.end, file=p.name, frames=c.frames,
                                           size=p.stat().st_size, crc32=mf.crc32_file(p), node="h:1", seconds=1.0,
                                           attempts=1) for c, p in zip(plan, (good, bad), strict=True)}
    manifest = mf.Manifest(script="s.vpy", script_crc32=1, frames=4, ranges=[(0, 1), (2, 3)], recipe=FFV1,
                           done=record)
    mf.save(manifest, tmp_path / "m.json")
    loaded = mf.load(tmp_path / "m.json")
    assert loaded is not None and loaded.same_plan(manifest)
    assert set(mf.valid_chunks(loaded, tmp_path, plan)) == {0, 1}
    bad.write_bytes(b"Second")  # same size, another CRC32
    assert set(mf.valid_chunks(loaded, tmp_path, plan)) == {0}
    # a record that names a path outside the chunk folder is never followed
    outside = mf.ChunkRecord(**{**mf.msgspec.structs.asdict(record["0"]), "file": "../chunk-0000.mkv"})
    loaded.done["0"] = outside
    assert set(mf.valid_chunks(loaded, tmp_path, plan)) == set()
    (tmp_path / "m.json").write_text("{not json")
    assert mf.load(tmp_path / "m.json") is None


def node(i: int, cpus: float, gpus: float = 0) -> NodeSize:
    return NodeSize(id=f"{i:02d}" * 28, address="10.0.0.1", cpus=cpus, gpus=gpus)


def test_slots_per_node_from_its_own_size() -> None:
    small, big, huge = node(1, 1), node(2, 2), node(3, 16)
    layout = place((small, big))  # 3 CPUs in all, no node has 3: each node gets its own worker
    assert [(s.node, s.workers, s.cpus, s.gpus) for s in layout.slots] == [(small, 1, 1.0, 0.0), (big, 1, 2.0, 0.0)]
    assert place((huge, small)).workers == 16 // CORE_GROUP + 1
    spread = place((small, big), workers=3)  # in proportion to the CPUs: 1 + 2
    assert [(s.workers, s.cpus) for s in spread.slots] == [(1, 1.0), (2, 1.0)]
    assert [(s.workers, s.cpus) for s in place((small,), workers=2).slots] == [(2, 0.5)]


def test_gpu_slots_and_requests_no_node_can_place() -> None:
    one, two, cpu = node(1, 8, 1), node(2, 8, 2), node(3, 64)
    layout = place((one, two, cpu))
    assert [(s.node, s.workers, s.gpus, s.cpus) for s in layout.slots] == [(one, 1, 1.0, 1.0), (two, 2, 1.0, 1.0)]
    assert [s.workers for s in place((one, two), gpus_per_chunk=2).slots] == [1]
    with pytest.raises(VsinferError, match=r"(?s)3 GPU.*\(8 CPU, 1 GPU\).*\(8 CPU, 2 GPU\).*-chunk 2 or less"):
        place((one, two), gpus_per_chunk=3)
    with pytest.raises(VsinferError, match=r"(?s)--workers 4 .*hold 3.*--workers 3 or fewer.*--gpus-per-chunk 0.75"):
        place((one, two), workers=4)
    with pytest.raises(VsinferError, match=r"no node has as many.*\(64 CPU, 0 GPU\).*--gpus-per-chunk 0 "):
        place((cpu,), gpus_per_chunk=1)
    with pytest.raises(VsinferError, match="no node has a CPU"):
        place(())


def test_longest_chunks_start_first() -> None:
    chunks = [Chunk(index=0, start=0, end=9), Chunk(index=1, start=10, end=39), Chunk(index=2, start=40, end=49)]
    assert [c.index for c in longest_first(chunks)] == [1, 0, 2]


def test_node_check_names_the_node_and_what_it_cannot_use(tmp_path: Path) -> None:
    import socket

    script = tmp_path / "job.vpy"
    script.write_text("x = 1\n")
    token = ".probe-abc"
    (tmp_path / token).write_text(token)
    assert check_node(str(script), str(tmp_path), token, (), ()) == socket.gethostname()
    elsewhere = tmp_path / "not-shared"
    elsewhere.mkdir()
    with pytest.raises(VsinferError) as caught:
        check_node(str(script), str(elsewhere), token, (str(tmp_path / "model.onnx"),), ("no-such-program-x",))
    said = str(caught.value)
    assert f"node {socket.gethostname()} cannot render" in said
    assert f"cannot read {tmp_path / 'model.onnx'} (no such file)" in said
    assert f"{elsewhere} is not the driver's folder" in said and "no-such-program-x" in said
    assert "mounts at the same path" in said


def test_the_files_a_script_names(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    script = tmp_path / "job.vpy"
    script.write_text(f"a = {str(model)!r}\nb = 'relative.onnx'\nc = {str(tmp_path / 'gone.onnx')!r}\n"
                      f"d = {str(tmp_path)!r}\n")
    assert named_files(script) == (str(model),)  # files that exist here, not folders or missing ones
    script.write_text("def (:")
    assert named_files(script) == ()


def test_boundaries_move_to_the_nearest_scene_cut_within_half_a_chunk() -> None:
    plan = plan_chunks(144, 4)  # starts 0, 36, 72, 108; window 18
    moved = snap_to_scenes(plan, [36, 66, 114])
    assert [(c.start, c.end) for c in moved] == [(0, 35), (36, 65), (66, 113), (114, 143)]
    assert [c.start for c in snap_to_scenes(plan, [10, 100])] == [0, 36, 72, 100]  # 10 and 72: too far
    assert [c.start for c in snap_to_scenes(plan, [27, 45])] == [0, 27, 72, 108]  # ties go to the earlier
    assert snap_to_scenes(plan, []) == plan and sum(c.frames for c in moved) == 144


def test_vspipe_progress_goes_to_the_chunk_progress_file(tmp_path: Path) -> None:
    import os

    from vsinfer.render.worker import _Progress

    read, write = os.pipe()
    with os.fdopen(read, "rb") as stream:
        reader = _Progress(stream, tmp_path / "chunk-0000.progress")
        os.write(write, b"Script evaluation done in 0.12 seconds\nFrame: 3/10\rFrame: 7/10\rOutput 10 frames\n")
        os.close(write)
        said = reader.text()
    assert (tmp_path / "chunk-0000.progress").read_bytes() == b"7"  # the latest count (one read: one write)
    assert said == b"Script evaluation done in 0.12 seconds\nOutput 10 frames\n"  # the rest, for an error message
