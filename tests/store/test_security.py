"""The cache as a trust boundary: each attack and fault of issue 16, on real files in temp folders.

"Another user" is a folder or file chowned to uid 65534 (nobody); that needs root, which the project's machines
are: elsewhere those tests skip, saying so.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest

import vsinfer.model as model_module
from tests.conftest import ModelFactory, conv_model, missing
from vsinfer.errors import CacheWriteError, ConfigError
from vsinfer.model import model_info, read_model, stat_key
from vsinfer.store import Store
from vsinfer.store.artifacts import mark
from vsinfer.store.files import MARKER
from vsinfer.store.inventory import scan
from vsinfer.store.maintenance import clear, prune, verify
from vsinfer.store.records import ModelMemoRecord, dump

NOBODY = 65534


def need_root() -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        missing("root", "files owned by another user need root to chown them")


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


@pytest.fixture
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user cache dir (the first fallback), inside the test's folder."""
    path = tmp_path / "user-cache"
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda *a, **k: str(path))
    return path


def put(store: Store, kind: str, n: int, suffix: str = ".onnx") -> Path:
    return store.get_or_create(kind, suffix, {"n": n}, lambda tmp: bytes([n]) * 3000, meta={"model": f"m{n}.onnx"})


# -- 1. trust: whose folder is it ---------------------------------------------------------------------------------
def test_foreign_owned_root_is_neither_read_nor_written(tmp_path: Path, user_cache: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    need_root()
    shared = tmp_path / "someone-elses"
    (shared / "onnx").mkdir(parents=True)
    os.chown(shared, NOBODY, NOBODY)
    folder = Store(shared).folder("onnx")
    assert folder == user_cache / "onnx"
    assert list((shared / "onnx").iterdir()) == []  # not even the writability probe
    [warning] = warnings(caplog, "not trusted")
    assert "belongs to another user (uid 65534" in warning and "VSINFER_CACHE_DIR" in warning


@pytest.mark.parametrize("mode", [0o777, 0o775], ids=["world-writable", "group-writable"])
def test_root_writable_by_others_is_refused_with_the_fix(mode: int, tmp_path: Path, user_cache: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "open"
    root.mkdir()
    os.chmod(root, mode)
    if mode == 0o775:  # a group that is not the user's private one
        need_root()
        os.chown(root, os.geteuid(), NOBODY)
    assert Store(root).folder("trt") == user_cache / "trt"
    [warning] = warnings(caplog, "not trusted")
    assert f"chmod go-w {root}" in warning
    os.chmod(root, 0o755)  # the fix named in the warning works
    assert Store(root).folder("trt") == root / "trt"


def test_planted_memo_in_another_users_cache_is_not_read(make_model: ModelFactory, tmp_path: Path,
                                                         user_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack: a memo claiming the victim's good.onnx is evil.onnx (its checksum) in a shared cache."""
    need_root()
    good, evil = make_model(3, 3, seed=1), make_model(3, 3, seed=2)
    planted = tmp_path / "tmp-cache"
    (planted / "models").mkdir(parents=True)
    key = stat_key(good)
    lie = model_module.ModelInfo(key[0], read_model(evil).checksum, read_model(good).inputs,
                                 read_model(good).outputs, ())
    memo_file = model_module.ModelMemo(Store(planted))._file(key)  # where the victim's vsinfer would look
    assert memo_file is not None and memo_file.parent == planted / "models"
    dump(memo_file, ModelMemoRecord.seal(key, lie.to_facts()))
    os.chmod(planted, 0o777)
    for path in planted.rglob("*"):
        os.chown(path, NOBODY, NOBODY)
    os.chown(planted, NOBODY, NOBODY)
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(planted))
    monkeypatch.setattr(model_module, "_memo", {})
    assert model_info(good).checksum == read_model(good).checksum != lie.checksum


def _unusable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The requested root and the user cache cannot be made (a file is in the way): the temp folder is last."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda *a, **k: str(blocker / "user"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))


def test_temp_fallback_is_a_private_folder_vsinfer_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _unusable(tmp_path, monkeypatch)
    folder = Store().folder("onnx")
    root = tmp_path / "tmp" / f"vsinfer-{os.geteuid()}"
    assert folder == root / "onnx"
    assert root.stat().st_mode & 0o777 == 0o700 and (root / MARKER).is_file()


@pytest.mark.parametrize("who", ["another user", "us, but open to others", "a link"])
def test_precreated_temp_fallback_is_refused(who: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _unusable(tmp_path, monkeypatch)
    trap = tmp_path / "tmp" / f"vsinfer-{os.geteuid()}"
    if who == "a link":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        trap.symlink_to(tmp_path / "elsewhere")
    else:
        trap.mkdir(mode=0o700)
        if who == "another user":
            need_root()
            os.chown(trap, NOBODY, NOBODY)
        else:
            os.chmod(trap, 0o755)
    with pytest.raises(CacheWriteError, match="not a private folder vsinfer made for you"):
        Store().folder("onnx")
    assert [p for p in tmp_path.rglob("*") if p.name in ("onnx", MARKER)] == []  # nothing written there


# -- 2. paths ------------------------------------------------------------------------------------------------------
def test_empty_cache_dir_is_refused_and_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"cache_dir='' is not valid; expected a folder path"):
        Store("")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Store("~/a").requested == tmp_path / "a"
    monkeypatch.setenv("VSINFER_CACHE_DIR", "~/b")
    assert Store().folder("onnx") == tmp_path / "b" / "onnx"
    assert not (Path.cwd() / "~").exists()
    monkeypatch.setenv("VSINFER_CACHE_DIR", "")  # an empty variable counts as unset (as XDG's do)
    assert Store().requested != Path("")


# -- 3. identity by content ----------------------------------------------------------------------------------------
def test_same_size_and_mtime_rewrite_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = conv_model(tmp_path / "m.onnx", 3, 3, seed=1)
    first = model_info(path)
    before = path.stat()
    other = conv_model(tmp_path / "other.onnx", 3, 3, seed=2).read_bytes()
    assert len(other) == before.st_size
    with open(path, "r+b") as f:  # in place: same inode, same size
        f.write(other)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime restored
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_size == before.st_size
    assert model_info(path).checksum == read_model(path).checksum != first.checksum  # in this process
    monkeypatch.setattr(model_module, "_memo", {})  # a new process: only the on-disk memo
    assert model_info(path).checksum == read_model(path).checksum != first.checksum


def test_new_external_data_is_a_new_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proto = onnx.load(conv_model(tmp_path / "src.onnx", 3, 3, seed=1))
    onnx.save_model(proto, tmp_path / "m.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                    location="m.data", size_threshold=0)
    first = model_info(tmp_path / "m.onnx")
    assert first.external == ("m.data",)
    onnx_stat = (tmp_path / "m.onnx").stat()
    data = bytearray((tmp_path / "m.data").read_bytes())
    data[:4] = np.float32(5.0).tobytes()  # new weights; the .onnx file is untouched
    (tmp_path / "m.data.new").write_bytes(data)
    os.replace(tmp_path / "m.data.new", tmp_path / "m.data")
    assert (tmp_path / "m.onnx").stat().st_mtime_ns == onnx_stat.st_mtime_ns
    second = model_info(tmp_path / "m.onnx")
    assert second.checksum != first.checksum and second.checksum == read_model(tmp_path / "m.onnx").checksum
    monkeypatch.setattr(model_module, "_memo", {})
    assert model_info(tmp_path / "m.onnx").checksum == second.checksum  # the on-disk memo knows the new data
    (tmp_path / "m.data").unlink()
    assert read_model(tmp_path / "m.onnx").checksum not in (first.checksum, second.checksum)
    from vsinfer.errors import ModelError
    with pytest.raises(ModelError, match=r"it keeps its weights in 'm\.data', a file that does not exist"):
        model_info(tmp_path / "m.onnx")  # a model without its weights runs nowhere: said before any copy is made


def test_a_memo_hit_reads_nothing(make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_model(3, 3)
    info = model_info(path)
    monkeypatch.setattr(model_module, "_memo", {})
    monkeypatch.setattr(model_module, "read_model", lambda p: pytest.fail("the model was read again"))
    assert model_info(path) == info


# -- 4. maintenance never leaves the cache --------------------------------------------------------------------------
def test_symlinked_kind_folder_is_never_followed(tmp_path: Path, isolated_cache: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    from vsinfer.cli import main

    store = Store(isolated_cache)
    put(store, "onnx", 1)
    documents = tmp_path / "Documents"
    documents.mkdir()
    for name in ("thesis.json", "net.onnx", "notes.txt"):
        (documents / name).write_text("{}")
    for kind in ("models", "tune"):
        (isolated_cache / kind).symlink_to(documents, target_is_directory=True)
    assert main(["cache", "clear", "--yes"]) == 0
    verify(store, fix=True)
    prune(store, max_size=0)
    assert sorted(p.name for p in documents.iterdir()) == ["net.onnx", "notes.txt", "thesis.json"]
    assert warnings(caplog, "is a symbolic link")
    assert Store(isolated_cache).folder("models") != isolated_cache / "models"  # not written through either


def test_a_project_folder_as_the_root_is_never_wiped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from vsinfer.cli import main

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "models" / "net.onnx").write_bytes(b"the user's model")
    (project / "models" / "config.json").write_text("{}")
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(project))
    put(Store(), "onnx", 1)  # inference may still use it: vsinfer's own files go in its kind folders
    assert not (project / MARKER).exists()  # it did not create the folder, so it does not claim it
    assert main(["cache", "clear", "--kind", "models", "--yes"]) == 1
    assert "not a vsinfer cache" in capsys.readouterr().err
    for call in (lambda: clear(Store()), lambda: prune(Store(), max_size=0), lambda: verify(Store(), fix=True)):
        with pytest.raises(ConfigError, match=f"touch {project / MARKER}"):
            call()
    assert sorted(p.name for p in (project / "models").iterdir()) == ["config.json", "net.onnx"]


def test_only_files_vsinfer_writes_are_removed(isolated_cache: Path) -> None:
    store = Store(isolated_cache)
    kept = put(store, "onnx", 1)
    store.folder("models")
    (isolated_cache / "models" / "notes.txt").write_text("not a record")
    outside = isolated_cache.parent / f"{isolated_cache.name}-target.json"
    outside.write_text("{}")
    (isolated_cache / "models" / "link.json").symlink_to(outside)
    (isolated_cache / "onnx" / "net.onnx").write_bytes(b"a model the user put here")
    (isolated_cache / "onnx" / "net.json").write_text('{"a": 1}')
    (isolated_cache / "onnx" / "config.json").write_text('{"b": 2}')
    interrupted = isolated_cache / "onnx" / "0123abcd.onnx"  # named by the store, never committed: vsinfer's
    interrupted.write_bytes(b"half")
    removal = clear(store, kinds=["models", "onnx"])
    assert sorted(e.name for e in removal.removed) == sorted([kept.name, interrupted.name])
    assert sorted(p.name for p in (isolated_cache / "onnx").iterdir()) == ["config.json", "net.json", "net.onnx"]
    assert outside.exists() and (isolated_cache / "models" / "notes.txt").exists()
    problems = {e.name: e.problem for e in scan(store, ["models"])}
    assert problems["link.json"] is not None and "symbolic link" in problems["link.json"]


@pytest.mark.parametrize("value", ["nan", "-1", "1e9", "inf"])
def test_older_than_must_be_a_sane_number_of_days(value: str, isolated_cache: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from vsinfer.cli import main

    engine = put(Store(isolated_cache), "onnx", 1)
    code = main(["cache", "clear", f"--older-than={value}"])
    assert code == 2 and engine.exists()
    assert "--older-than" in capsys.readouterr().err


def test_clear_dry_run_removes_nothing(isolated_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vsinfer.cli import main

    engine = put(Store(isolated_cache), "onnx", 1)
    assert main(["cache", "clear", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would remove onnx/{engine.name}" in out and engine.exists()


def test_names_print_as_they_are_and_escape_sequences_are_shown_escaped(isolated_cache: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from vsinfer.cli import main

    Store(isolated_cache).folder("tune")
    (isolated_cache / "tune" / "net[v2].json").write_text("{}")
    (isolated_cache / "tune" / "evil\x1b[2J.json").write_text("{}")
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert "net[v2].json" in out and "\x1b" not in out and "evil\\x1b[2J.json" in out


# -- 5. artifacts: links and planted files --------------------------------------------------------------------------
def test_a_symlinked_artifact_is_not_followed(isolated_cache: Path, tmp_path: Path) -> None:
    store = Store(isolated_cache)
    artifact = put(store, "onnx", 1)
    elsewhere = tmp_path / "elsewhere.onnx"
    shutil.copy(artifact, elsewhere)
    artifact.unlink()
    artifact.symlink_to(elsewhere)  # the same bytes, but behind a link
    assert store.lookup("onnx", ".onnx", {"n": 1}) is None
    rebuilt = put(store, "onnx", 1)
    assert rebuilt == artifact and not artifact.is_symlink() and elsewhere.exists()


def test_a_symlinked_record_is_not_followed(isolated_cache: Path, tmp_path: Path) -> None:
    from vsinfer.store.records import Miss, read

    target = tmp_path / "target.json"
    target.write_text('{"a": 1}')
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = read(link, ModelMemoRecord)
    assert isinstance(result, Miss) and result.code == "unreadable"


# -- 6. the fp16 guard cannot be switched off by the cache ---------------------------------------------------------
def test_a_lock_the_guard_cannot_take_means_analysing_privately(make_model: ModelFactory, isolated_cache: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Another user's lock file (EACCES): as root the kernel lets us open it, so its refusal is injected here."""
    from vsinfer.fp16 import analysis as analysis_module

    store = Store(isolated_cache)

    def refused(path: Path) -> object:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path) + ".lock")

    monkeypatch.setattr(store, "lock", refused)
    model = model_info(make_model(3, 3))
    result = analysis_module.analyse(model, frames=0, channels=3, store=store)
    assert result.model_crc32 == model.checksum and result.max_abs > 0  # analysed, not "unchecked"
    assert warnings(caplog, "analysing privately")
    assert list((isolated_cache / "fp16").glob("*.json")) == []  # and nothing published


def test_marker_is_written_once_and_kept(isolated_cache: Path) -> None:
    Store(isolated_cache).folder("onnx")
    marker = isolated_cache / MARKER
    text = marker.read_text()
    mark(isolated_cache)
    assert marker.read_text() == text and "vsinfer" in text


def test_another_users_lock_file_as_a_real_other_user(make_model: ModelFactory) -> None:
    """The foreign lock for real: a child running as nobody meets a lock file root owns (EACCES)."""
    import subprocess
    import sys

    need_root()
    try:
        runs = subprocess.run([sys.executable, "-c", "import vsinfer"], user=NOBODY, group=NOBODY,
                              capture_output=True, text=True, check=False).returncode == 0
    except OSError:
        runs = False
    if not runs:
        missing(None, "this Python cannot run as nobody here (its install is private to root): the EACCES path is "
                    "covered by test_a_lock_the_guard_cannot_take_means_analysing_privately")
    from vsinfer.fp16 import analysis as analysis_module

    root = Path(tempfile.mkdtemp())
    try:
        os.chmod(root, 0o755)
        model = shutil.copy(make_model(3, 3), root / "m.onnx")
        info = model_info(model)
        name = analysis_module._record_path(Store(root / "probe"), analysis_module._identity(info, [], 0, 3)).name
        (root / "cache" / "fp16").mkdir(parents=True)
        (root / "cache" / "fp16" / f"{name}.lock").write_text("")  # root's, mode 0644: nobody cannot open it
        for path in (root / "cache", root / "cache" / "fp16"):
            os.chown(path, NOBODY, NOBODY)
        code = ("from vsinfer.fp16.analysis import analyse; from vsinfer.model import model_info; "
                f"a = analyse(model_info({str(model)!r}), frames=0, channels=3); print(a.max_abs > 0)")
        done = subprocess.run([sys.executable, "-c", code], user=NOBODY, group=NOBODY, capture_output=True, text=True,
                              check=False, env={**os.environ, "VSINFER_CACHE_DIR": str(root / "cache"),
                                                "HOME": str(root)})
        assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
        assert "analysing privately" in done.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)
