"""Settings users keep in files: ``[tool.vsinfer]`` in a ``pyproject.toml``, ``[vsinfer]`` in a ``vsjet.toml``.

The file is found from the script's folder upwards (vspipe's script, else the main module's, else the current
folder): the first ``vsjet.toml`` with a ``[vsinfer]`` table or ``pyproject.toml`` with ``[tool.vsinfer]`` wins.
Keys are named like the environment variables, lower case, without the prefix. Precedence: an argument > the
environment variable > the config file > vsinfer's default. A bad value is a ConfigError naming the file, the key
and its line. Read once per process (``reload`` forgets it, for tests).

```toml
[tool.vsinfer]            # or [vsinfer] in vsjet.toml
cache_dir = "~/.cache/vsinfer-renders"
log_level = "INFO"        # the vsinfer logger's level when the application set none
backend = "ov-cpu"        # what Backend.autoselect() picks when it is usable here
```
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["ENV_PREFIX", "KEYS", "ConfigFile", "apply_log_level", "find", "reload", "setting"]

logger = logging.getLogger(__name__)

ENV_PREFIX = "VSINFER_"
"""A key's environment variable: ``VSINFER_`` + the key in upper case."""

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


KEYS: Mapping[str, tuple[Callable[[Any], Any], str]] = {
    "cache_dir": (_text, "a folder path (a non-empty string; ~ is expanded)"),
    "shared_cache": (_text, "read-only cache folders, separated by the OS path separator"),
    "log_level": (lambda v: v.upper() if isinstance(v, str) and v.upper() in _LEVELS else None,
                  f"one of {', '.join(_LEVELS)}"),
    "backend": (_text, 'a backend\'s command-line name, e.g. "ov-cpu" or "trt"'),
}
"""Each key: a converter (the value, or None when it is not valid) and the words for what it accepts."""


@dataclass(frozen=True)
class ConfigFile:
    """A config file found, and its vsinfer table."""

    path: Path
    """The file."""
    table: Mapping[str, Any]
    """Its ``[tool.vsinfer]`` / ``[vsinfer]`` table."""

    def line_of(self, key: str) -> int | None:
        """The line that sets ``key`` (1-based), for error messages."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        return next((i for i, line in enumerate(lines, 1) if line.strip().startswith((f"{key} ", f"{key}="))), None)


def _start_folders() -> list[Path]:
    """Where the search starts: vspipe's script, the main module's file, the current folder."""
    folders = []
    for name in ("__vapoursynth__", "__main__"):
        file = getattr(sys.modules.get(name), "__file__", None)
        if isinstance(file, str) and file:
            folders.append(Path(file).resolve().parent)
    folders.append(Path.cwd())
    return list(dict.fromkeys(folders))


def _table(path: Path) -> Mapping[str, Any] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config file", str(path), f"valid TOML ({exc})", where=str(path)) from exc
    table = data.get("vsinfer") if path.name == "vsjet.toml" else data.get("tool", {}).get("vsinfer")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError("vsinfer", table, "a table of settings", where=str(path))
    return table


@functools.cache
def find() -> ConfigFile | None:
    """The config file that applies here, or None."""
    for start in _start_folders():
        for folder in (start, *start.parents):
            for name in ("vsjet.toml", "pyproject.toml"):
                path = folder / name
                if path.is_file():
                    table = _table(path)
                    if table is not None:
                        logger.debug("settings from %s", path)
                        return ConfigFile(path, table)
    return None


def setting(key: str) -> Any:
    """The value of ``key`` from the environment, else the config file, else None (the caller's default)."""
    convert, words = KEYS[key]
    _check_keys()
    env = os.environ.get(ENV_PREFIX + key.upper())
    if env is not None and env.strip():  # an empty variable counts as unset, as XDG variables do
        value = convert(env)
        if value is None:
            raise ConfigError(ENV_PREFIX + key.upper(), env, words, where="environment")
        return value
    found = find()
    if found is None or key not in found.table:
        return None
    raw = found.table[key]
    value = convert(raw)
    if value is None:
        line = found.line_of(key)
        raise ConfigError(key, raw, words, where=f"{found.path}" + (f" line {line}" if line else ""))
    return value


def reload() -> None:
    """Forget the config file found (the next ``setting`` searches again)."""
    find.cache_clear()
    _check_keys.cache_clear()
    apply_log_level.cache_clear()


@functools.cache
def _check_keys() -> None:
    """Unknown keys are named once (a typo must not pass silently)."""
    found = find()
    if found is not None:
        unknown = sorted(set(found.table) - set(KEYS))
        if unknown:
            raise ConfigError(", ".join(unknown), {k: found.table[k] for k in unknown},
                              f"keys vsinfer knows ({', '.join(KEYS)})", where=str(found.path))


@functools.cache
def apply_log_level() -> None:
    """Set the ``vsinfer`` logger to ``log_level`` once, unless the application set a level itself."""
    level = setting("log_level")
    vsinfer = logging.getLogger("vsinfer")
    if level is not None and vsinfer.level == logging.NOTSET:
        vsinfer.setLevel(level)
