"""Settings from the files users keep them in, with argument > environment > file > default."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from vsinfer import Backend, config
from vsinfer.errors import ConfigError


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    for key in config.KEYS:
        monkeypatch.delenv(config.ENV_PREFIX + key.upper(), raising=False)
    config.reload()
    yield
    config.reload()


def test_no_file_no_setting() -> None:
    assert config.find() is None and config.setting("backend") is None


def test_pyproject_table_found_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.vsinfer]\nbackend = "ort-cpu"\n')
    sub = tmp_path / "episodes" / "01"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    config.reload()
    assert config.setting("backend") == "ort-cpu"
    assert isinstance(Backend.autoselect(), Backend.ORT_CPU)  # the settings win over autoselect's own order


def test_vsjet_toml_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vsjet.toml").write_text('[vsinfer]\nbackend = "ort-cpu"\n')
    assert config.setting("backend") == "ort-cpu"
    monkeypatch.setenv("VSINFER_BACKEND", "ov-cpu")
    assert config.setting("backend") == "ov-cpu"
    assert isinstance(Backend.autoselect(), Backend.OV_CPU)


def test_a_bad_value_names_the_file_the_key_and_the_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.vsinfer]\n# comment\nlog_level = "LOUD"\n')
    with pytest.raises(ConfigError) as info:
        config.setting("log_level")
    text = str(info.value)
    assert "log_level" in text and "LOUD" in text and "pyproject.toml line 3" in text and "INFO" in text


def test_unknown_keys_and_broken_toml_are_errors(tmp_path: Path) -> None:
    (tmp_path / "vsjet.toml").write_text('[vsinfer]\nbakend = "trt"\n')
    with pytest.raises(ConfigError, match="bakend"):
        config.setting("backend")
    (tmp_path / "vsjet.toml").write_text('[vsinfer\nbackend = "trt"\n')
    config.reload()
    with pytest.raises(ConfigError, match="valid TOML"):
        config.setting("backend")


def test_a_backend_that_cannot_run_here_falls_back_with_a_warning(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "vsjet.toml").write_text('[vsinfer]\nbackend = "migx"\n')
    with caplog.at_level(logging.WARNING, logger="vsinfer"):
        chosen = Backend.autoselect()
    assert not isinstance(chosen, Backend.MIGX) and "cannot run here" in caplog.text
    (tmp_path / "vsjet.toml").write_text('[vsinfer]\nbackend = "nosuch"\n')
    config.reload()
    with pytest.raises(ConfigError, match="ort-cpu"):
        Backend.autoselect()


def test_log_level_applies_unless_the_application_set_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("vsinfer")
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    (tmp_path / "vsjet.toml").write_text('[vsinfer]\nlog_level = "debug"\n')
    config.apply_log_level()
    assert logger.level == logging.DEBUG
    monkeypatch.setattr(logger, "level", logging.ERROR)
    config.reload()
    config.apply_log_level()
    assert logger.level == logging.ERROR


def test_the_cache_folders_come_from_the_file_below_the_environment(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from vsinfer.store import Store, requested_root
    from vsinfer.store.files import shared_roots

    monkeypatch.delenv("VSINFER_CACHE_DIR", raising=False)
    monkeypatch.delenv("VSINFER_SHARED_CACHE", raising=False)
    (tmp_path / "vsjet.toml").write_text('[vsinfer]\ncache_dir = "~/renders-cache"\nshared_cache = "/mnt/farm"\n')
    assert requested_root() == Path.home() / "renders-cache" and Store().requested == Path.home() / "renders-cache"
    assert shared_roots() == (Path("/mnt/farm"),)
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(tmp_path / "env-cache"))
    assert requested_root() == tmp_path / "env-cache"  # the environment wins over the file
    assert requested_root(tmp_path / "arg") == tmp_path / "arg"  # and an argument over both
