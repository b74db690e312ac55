"""Where the cache lives, and whether it can be trusted: the root asked for, the fallbacks, the marker.

The writable root must be the user's own and not writable by others (DESIGN principle 16): otherwise it is neither
read nor written. The last-resort fallback is a private folder vsinfer creates itself.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

from .. import config
from .files import ENV_VAR, MARKER, expand_path, folder_problem

__all__ = ["default_root", "mark", "requested_root", "temp_root"]

logger = logging.getLogger("vsinfer.store")


def requested_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The cache root asked for: argument > ``$VSINFER_CACHE_DIR`` > the settings file > the user cache dir.

    The settings file is ``vsinfer.config``'s (its ``cache_dir``). ``~`` is expanded; an empty argument is refused
    (ConfigError); an empty variable counts as unset.
    """
    if root is not None:
        return expand_path(root, "cache_dir")
    env = os.environ.get(ENV_VAR)
    if env:
        return expand_path(env, ENV_VAR)
    configured = config.setting("cache_dir")
    if configured:
        return expand_path(configured, "cache_dir (settings file)")
    return default_root()


def default_root() -> Path:
    """The user cache dir for vsinfer (platformdirs): a folder only vsinfer uses."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("vsinfer", appauthor=False))


def temp_root() -> Path:
    """The last-resort root: ``<temp>/vsinfer-<uid>``, a private folder vsinfer creates for this user."""
    return Path(tempfile.gettempdir()) / f"vsinfer-{os.geteuid() if hasattr(os, 'geteuid') else 'user'}"


def mark(root: Path) -> None:
    """Write the marker that says ``root`` is a vsinfer cache (``files.MARKER``); a failure is only logged."""
    try:
        fd = os.open(root / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        return
    except OSError as exc:
        logger.debug("cannot mark %s as a vsinfer cache: %s", root, exc)
        return
    with os.fdopen(fd, "w") as f:
        f.write("vsinfer cache: vsinfer created this folder and may delete files in it (vsinfer cache clear)\n")


def _make_root(root: Path, *, private: bool) -> str | None:
    """Create or check the cache root ``root``; the problem (with its fix) when it cannot be trusted, else None.

    A root vsinfer creates gets the marker. ``private`` (the temp fallback): the folder must be made by us now,
    or already be ours with mode 0700, and never a symbolic link.
    """
    try:
        if not private:
            root.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(root, 0o700 if private else 0o755)
    except FileExistsError:
        pass
    except OSError as exc:
        return exc.strerror or str(exc)
    else:
        mark(root)
        return None
    try:
        st = os.lstat(root) if private else os.stat(root)
    except OSError as exc:
        return exc.strerror or str(exc)
    if private:
        import stat

        uid = os.geteuid() if hasattr(os, "geteuid") else None
        if not stat.S_ISDIR(st.st_mode) or (uid is not None and (st.st_uid != uid or st.st_mode & 0o077)):
            return (f"exists and is not a private folder vsinfer made for you (owner uid {st.st_uid}, mode "
                    f"{st.st_mode & 0o7777:o}): remove it, or set {ENV_VAR}")
        return None
    problem = folder_problem(root, st)
    if problem is None and not os.path.lexists(root / MARKER) and (root == default_root() or _empty(root)):
        mark(root)  # vsinfer's by its name (an older vsinfer's cache has no marker), or an empty folder made for it
    return problem


def _empty(folder: Path) -> bool:
    """True when ``folder`` has nothing in it (it holds nothing of the user's that maintenance could touch)."""
    try:
        with os.scandir(folder) as it:
            return next(it, None) is None
    except OSError:
        return False


def _kind_folder(path: Path) -> str | None:
    """Create or check ``<root>/<kind>``: a real folder (never a link), trusted like the root; the problem or None."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        pass
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        st = os.lstat(path)
    except OSError as exc:
        return exc.strerror or str(exc)

    if stat.S_ISLNK(st.st_mode):
        return f"is a symbolic link (vsinfer never follows links in its cache; fix: remove the link {path})"
    return folder_problem(path, st)
