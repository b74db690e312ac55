"""The parts of a render that need no cluster: the plan, the recipe, the manifest, the y4m join."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsinfer.errors import InvalidValueError, VsinferError
from vsinfer.render import CORE_GROUP, local_workers, plan_chunks
from vsinfer.render import manifest as mf
from vsinfer.render.media import FFV1, Y4M, encoder_command, join, recipe_for


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
