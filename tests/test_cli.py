"""The vsinfer command, run in-process through ``main`` (and once as ``python -m vsinfer``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ModelFactory, need_module, need_plugin
from tests.store.test_inventory import held, store  # a builder holding a lock; the store fixture
from vsinfer.cli import main, parse_size_pair
from vsinfer.store import Store

__all__ = ["held", "store"]  # the fixture is used by name, not referenced


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def put(store: Store, kind: str, suffix: str, n: int, size: int = 2000) -> Path:
    meta = {"model": f"m{n}.onnx", "precision": "fp32", "shapes": {"min": [8, 8], "opt": [8, 8], "max": [8, 8]},
            "runtime": "TensorRT-RTX 1.7.1", "device": "dev"}
    return store.get_or_create(kind, suffix, {"n": n}, lambda tmp: bytes(size), meta=meta)


def test_info_json(capsys: pytest.CaptureFixture[str], isolated_cache: Path) -> None:
    report = run_json(capsys, "info")
    assert {"os", "python", "vapoursynth", "gpu", "plugins", "autoselect", "cache"} <= report.keys()
    assert report["cache"]["requested"] == str(isolated_cache)
    code, out, _ = run(capsys, "info")
    assert code == 0 and out.startswith("OS ") and "Autoselect" in out


def test_python_m_vsinfer(isolated_cache: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vsinfer", "info", "--json"], capture_output=True, text=True,
                          env=os.environ, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cache"]["requested"] == str(isolated_cache)


def test_usage_errors(capsys: pytest.CaptureFixture[str], make_model: ModelFactory) -> None:
    code, _, _ = run(capsys, "nosuchcommand")
    assert code == 2
    code, _, err = run(capsys, "build", str(make_model(3, 3)), "--backend", "trt-rtx", "--tilesize", "big")
    assert code == 2 and "--tilesize='big'" in err and "Traceback" not in err
    code, _, err = run(capsys, "build", "/nonexistent/model.onnx", "--backend", "trt-rtx", "--tilesize", "64x64")
    assert code == 1 and "MODEL" in err and "Traceback" not in err


def test_parse_size_pair() -> None:
    assert parse_size_pair("1280x720", "--size") == (1280, 720)
    assert parse_size_pair("256", "--size") == (256, 256)


def test_cache_list_json_and_table(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    engine = put(store, "trt", ".engine", 1)
    put(store, "onnx", ".onnx", 2)
    listing = run_json(capsys, "cache", "list")
    by_name = {Path(e["path"]).name: e for e in listing["entries"]}
    assert engine.name in by_name and [e["kind"] for e in listing["entries"]].count("onnx") == 1
    entry = by_name[engine.name]
    assert (entry["model"], entry["precision"], entry["shapes"], entry["runtime"], entry["device"]) == (
        "m1.onnx", "fp32", "8x8", "TensorRT-RTX 1.7.1", "dev")
    assert listing["total"] == sum(e["size"] for e in listing["entries"])
    only_onnx = run_json(capsys, "cache", "list", "--kind", "onnx")
    assert [e["kind"] for e in only_onnx["entries"]] == ["onnx"]
    code, out, _ = run(capsys, "cache", "list")
    assert code == 0 and engine.name in out and "m1.onnx" in out and "TensorRT-RTX" not in out  # the narrow view
    assert all(len(line) <= 80 for line in out.splitlines()[1:])  # readable at 80 columns
    code, out, _ = run(capsys, "cache", "list", "--wide")
    assert code == 0 and "TensorRT-RTX 1.7.1" in out and "dev" in out


def test_cache_verify_reports_then_fixes(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    good = put(store, "trt", ".engine", 1)
    bad = put(store, "trt", ".engine", 2)
    bad.write_bytes(b"\x01" * bad.stat().st_size)  # same size, other bytes
    code, out, _ = run(capsys, "cache", "verify")
    assert code == 1 and bad.name in out and "CRC32" in out
    assert bad.exists()
    report = run_json(capsys, "cache", "verify", "--fix")
    assert [f["action"] for f in report["findings"]] == ["removed"] and report["ok"]
    assert not bad.exists() and good.exists()
    code, out, _ = run(capsys, "cache", "verify")
    assert code == 0 and "healthy" in out


def test_cache_clear_kind_age_and_held_lock(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    old = put(store, "trt", ".engine", 1)
    busy = put(store, "trt", ".engine", 2)
    onnx = put(store, "onnx", ".onnx", 3)
    t = time.time() - 30 * 86400
    for p in (old, busy):
        os.utime(p.with_suffix(".json"), (t, t))
    with held(store, busy):
        result = run_json(capsys, "cache", "clear", "--kind", "trt", "--older-than", "7")
    assert [Path(e["path"]) for e in result["removed"]] == [old]
    assert [Path(e["path"]) for e in result["skipped"]] == [busy] and "lock" in result["skipped"][0]["reason"]
    assert busy.exists() and onnx.exists() and not old.exists()
    code, out, err = run(capsys, "cache", "clear")  # everything: asks, and stdin is not a terminal
    assert code == 2 and "--yes" in err and busy.exists()
    code, out, _ = run(capsys, "cache", "clear", "--yes")
    assert code == 0 and "2 removed" in out
    assert not busy.exists() and not onnx.exists()
    code, _, err = run(capsys, "cache", "clear", "--kind", "bogus")
    assert code == 1 and "kind='bogus'" in err


def test_cache_prune_lru_and_held_lock(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    paths = [put(store, "trt", ".engine", i, size=10_000) for i in range(3)]
    for i, p in enumerate(paths):
        t = time.time() - 1000 * (3 - i)
        os.utime(p.with_suffix(".json"), (t, t))
    with held(store, paths[0]):  # the least recently used one is being rebuilt: prune takes the next
        result = run_json(capsys, "cache", "prune", "--max-size", "25K")
    assert [Path(e["path"]) for e in result["removed"]] == [paths[1]]
    assert paths[0].exists() and paths[2].exists()
    code, _, err = run(capsys, "cache", "prune", "--max-size", "lots")
    assert code == 1 and "max_size" in err


def test_cache_dir_empty_is_refused_and_tilde_expanded(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, "--cache-dir", "", "cache", "list")
    assert code == 2 and "--cache-dir=''" in err and "current folder" in err
    monkeypatch.setenv("HOME", str(tmp_path))
    result = run_json(capsys, "--cache-dir", "~/renders", "cache", "list")
    assert result["root"] == str(tmp_path / "renders")


def test_cache_publish_copies_verified_entries(capsys: pytest.CaptureFixture[str], store: Store,
                                               tmp_path: Path) -> None:
    good, bad = put(store, "onnx", ".onnx", 1), put(store, "onnx", ".onnx", 2)
    with open(bad, "r+b") as f:
        f.write(b"\1")  # damaged after it was committed
    share = tmp_path / "share"
    code, out, _ = run(capsys, "cache", "publish", str(share))
    assert code == 1 and "1 published" in out and "1 skipped" in out
    assert (share / "onnx" / good.name).read_bytes() == good.read_bytes()
    assert (share / "onnx" / good.name).with_suffix(".json").is_file() and not (share / "onnx" / bad.name).exists()
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "cache", "publish", str(tmp_path / "project"))
    assert code == 1 and "holds other files" in err and not (tmp_path / "project" / "onnx").exists()


def test_build_needs_a_model_or_a_script(capsys: pytest.CaptureFixture[str], make_model: ModelFactory,
                                         tmp_path: Path) -> None:
    code, _, err = run(capsys, "build")
    assert code == 2 and "--script" in err
    code, _, err = run(capsys, "build", str(make_model(3, 3)), "--script", str(tmp_path / "x.vpy"))
    assert code == 2 and "either MODEL" in err
    code, _, err = run(capsys, "build", "--script", str(tmp_path / "missing.vpy"))
    assert code == 2 and "missing.vpy" in err


def test_build_trt_rtx_into_the_store(capsys: pytest.CaptureFixture[str], make_model: ModelFactory,
                                      isolated_cache: Path) -> None:
    need_module("tensorrt_rtx")
    model = make_model(3, 3)
    result = run_json(capsys, "build", str(model), "--backend", "trt-rtx", "--tilesize", "64x48", "--no-fp16")
    engine = Path(result["path"])
    assert engine.parent == isolated_cache / "trt" and engine.stat().st_size == result["size"] > 1000
    assert result["identity"]["profile"] == {"min": [64, 48], "opt": [64, 48], "max": [64, 48]}
    assert result["identity"]["io"] == "fp32" and result["meta"]["model"] == model.name
    mtime = engine.stat().st_mtime_ns
    again = run_json(capsys, "build", str(model), "--backend", "trt-rtx", "--tilesize", "64x48", "--no-fp16")
    assert again["path"] == result["path"] and engine.stat().st_mtime_ns == mtime  # found, not rebuilt
    dynamic = run_json(capsys, "build", str(model), "--backend", "trt-rtx", "--dynamic", "32x32:64x64:128x96")
    assert dynamic["identity"]["profile"] == {"min": [32, 32], "opt": [64, 64], "max": [128, 96]}
    assert dynamic["path"] != result["path"]
    listing = run_json(capsys, "cache", "list", "--kind", "trt")
    assert {e["shapes"] for e in listing["entries"]} == {"64x48", "32x32..64x64..128x96"}


def test_build_error_exits_1_without_traceback(capsys: pytest.CaptureFixture[str], make_model: ModelFactory) -> None:
    model = make_model(3, 3)
    code, _, err = run(capsys, "build", str(model), "--backend", "migx", "--tilesize", "64x48")
    assert code == 1 and "vsinfer: error:" in err and "Traceback" not in err
    code, _, err = run(capsys, "build", str(model), "--backend", "migx", "--dynamic", "8x8:16x16:32x32")
    assert code == 2 and "--dynamic" in err


def test_bench_two_frames_on_ort_cpu(capsys: pytest.CaptureFixture[str], make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(3, 3)
    result = run_json(capsys, "bench", str(model), "--backends", "ort-cpu", "--size", "64x48", "--frames", "2",
                      "--streams", "1,2")
    rows = result["results"]
    assert [r["backend"]["class"] for r in rows] == ["ORT_CPU", "ORT_CPU"]
    assert sorted(r["backend"]["fields"].get("num_streams", 1) for r in rows) == [1, 2]
    for row in rows:
        assert row["error"] is None and row["fps"] > 0 and row["frames"] == 1 and row["peak_rss_mib"] > 10
    assert rows[0]["fps"] >= rows[1]["fps"]  # fastest first


def test_bench_reports_a_failing_backend(capsys: pytest.CaptureFixture[str], make_model: ModelFactory) -> None:
    model = make_model(3, 3)
    code, out, _ = run(capsys, "bench", str(model), "--backends", "migx", "--size", "64x48", "--frames", "2", "--json")
    assert code == 1  # nothing ran: the exit status says so
    (row,) = json.loads(out)["results"]
    assert row["error"] and row["fps"] == 0
    code, _, err = run(capsys, "bench", str(model), "--backends", "warp-drive")
    assert code == 2 and "warp-drive" in err


def test_tune_command_then_reuse(capsys: pytest.CaptureFixture[str], make_model: ModelFactory) -> None:
    need_plugin("ort")
    need_plugin("ov")
    model = make_model(3, 3)
    first = run_json(capsys, "tune", str(model), "--size", "64x48", "--frames", "3")
    assert not first["reused"] and first["timings"]
    second = run_json(capsys, "tune", str(model), "--size", "64x48", "--frames", "3")
    assert second["reused"] and second["backend"] == first["backend"]


def test_fp16_check(capsys: pytest.CaptureFixture[str], make_model: ModelFactory, tmp_path: Path) -> None:
    model = make_model(3, 3)
    report = run_json(capsys, "fp16-check", str(model))
    assert isinstance(report, dict)
    script = tmp_path / "clip.vpy"
    script.write_text("import vapoursynth as vs\n"
                      "vs.core.std.BlankClip(width=64, height=48, format=vs.RGBS, length=4, color=[0.5] * 3)"
                      ".set_output()\n")
    assert isinstance(run_json(capsys, "fp16-check", str(model), "--clip", str(script)), dict)
    code, out, _ = run(capsys, "fp16-check", str(model))
    assert code == 0 and out.strip()


def test_cache_list_counts_the_facts_and_lists_them_with_all(capsys: pytest.CaptureFixture[str], store: Store,
                                                             make_model: ModelFactory) -> None:
    from vsinfer.model import model_info

    model_info(make_model(3, 3))  # a model memo: a fact vsinfer keeps for itself
    put(store, "trt", ".engine", 1)
    code, out, _ = run(capsys, "cache", "list")
    rows = out.splitlines()[2:-1]
    assert code == 0 and not any(r.split()[0] == "models" for r in rows) and "not shown (--all lists them)" in out
    code, out, _ = run(capsys, "cache", "list", "--all")
    rows = out.splitlines()[2:-1]
    assert code == 0 and any(r.split()[0] == "models" for r in rows) and "not shown" not in out


# -- issue 29 ------------------------------------------------------------------------------------------------------
def test_cache_verify_says_what_it_could_not_read(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An unreadable root is not "healthy" (a root that is a file stands in for one: root reads every folder here)."""
    root = tmp_path / "not-a-folder"
    root.write_text("")
    code, out, _ = run(capsys, "--cache-dir", str(root), "cache", "verify")
    assert code == 1 and "cannot read" in out and "Not a directory" in out and "healthy" not in out
    report = json.loads(run(capsys, "--cache-dir", str(root), "cache", "verify", "--json")[1])
    assert not report["ok"] and report["unreadable"]
    code, out, _ = run(capsys, "--cache-dir", str(tmp_path / "none"), "cache", "verify")
    assert code == 0 and "there is no cache at" in out and "healthy" not in out


def test_cache_verify_names_a_folder_it_cannot_list(capsys: pytest.CaptureFixture[str], store: Store,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    put(store, "trt", ".engine", 1)
    real = os.scandir

    def refuse(path: Any) -> Any:
        if str(path).endswith(f"{os.sep}trt"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", refuse)
    code, out, _ = run(capsys, "cache", "verify")
    assert code == 1 and "trt (Permission denied)" in out and "healthy" not in out


def test_cache_list_with_only_records_prints_no_empty_table(capsys: pytest.CaptureFixture[str], store: Store,
                                                            make_model: ModelFactory) -> None:
    from vsinfer.model import model_info

    model_info(make_model(3, 3))
    code, out, _ = run(capsys, "cache", "list")
    assert code == 0 and "kind" not in out.split() and "holds no engine" in out and "--all lists them" in out
    assert all(len(line) <= 80 for line in out.splitlines()[1:]), out
    put(store, "trt", ".engine", 1)
    code, out, _ = run(capsys, "cache", "list")
    assert code == 0 and all(len(line) <= 80 for line in out.splitlines()[1:]), out


def test_build_without_a_backend_names_the_builders(capsys: pytest.CaptureFixture[str],
                                                    make_model: ModelFactory) -> None:
    code, _, err = run(capsys, "build", str(make_model(3, 3)))
    assert code == 2 and "--backend is required" in err and "trt-rtx" in err and "MODEL is" not in err
    code, _, err = run(capsys, "cache", "clear", "--older-than=inf")
    assert code == 2 and "leave --older-than out" in err


@pytest.mark.parametrize(("text", "words"), [
    ("raise ValueError('boom')\n", "it raised ValueError: boom"),
    ("x = = 1\n", "a script Python can read: line 1"),
    ("import sys\nsys.exit(3)\n", "it called sys.exit(3)"),
    ("import vapoursynth as vs\nvs.core.std.BlankAudio().set_output()\n", "it is audio"),
    ("import vapoursynth as vs\nvs.core.std.BlankClip(width=64, height=64, format=vs.GRAYS).set_output()\n",
     "a clip of 3 planes"),
])
def test_fp16_check_refuses_a_clip_script_it_cannot_use(capsys: pytest.CaptureFixture[str], make_model: ModelFactory,
                                                         tmp_path: Path, text: str, words: str) -> None:
    script = tmp_path / "clip.vpy"
    script.write_text(text)
    code, out, err = run(capsys, "fp16-check", str(make_model(3, 3)), "--clip", str(script))
    assert code == 1 and words in err and "--clip" in err and "Traceback" not in err and not out
