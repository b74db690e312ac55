"""The ``vsinfer`` command (also ``python -m vsinfer``): info, build, cache, bench, tune, quantize, render and more.

Results go to stdout (tables for people, ``--json`` for programs); logs, progress bars and errors go to
stderr. A vsinfer error prints its message and exits with status 1, without a traceback; a command-line
value that cannot be used exits with status 2.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from cyclopts import App, Parameter

from .build import cmd_build
from .cache import cache_clear, cache_list, cache_prune, cache_publish, cache_verify
from .common import UsageError, err, parse_size_pair
from .export import cmd_export
from .info import cmd_info, info
from .measure import cmd_bench, cmd_fp16_check, cmd_tune
from .quantize import cmd_quantize
from .render import cmd_render

__all__ = ["UsageError", "build_app", "info", "main", "parse_size_pair"]


class _Logging:
    """The CLI's stderr log handler on the ``vsinfer`` logger, removed again when ``main`` returns."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("vsinfer")
        self.handler: logging.Handler | None = None
        self.level = self.logger.level

    def setup(self, verbose: int) -> None:
        from rich.logging import RichHandler

        if self.handler is None:
            if sys.stderr.isatty():
                self.handler = RichHandler(console=err(), show_time=False, show_path=False, markup=False)
            else:  # a log file or a pipe: whole lines
                self.handler = logging.StreamHandler(sys.stderr)
                self.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG)

    def restore(self) -> None:
        if self.handler is not None:
            self.logger.removeHandler(self.handler)
            self.handler = None
        self.logger.setLevel(self.level)


def build_app(log: _Logging | None = None) -> App:
    """The cyclopts application (its meta app takes the global options)."""
    from importlib.metadata import version

    __version__ = version("vsinfer")

    app = App(name="vsinfer", help="ONNX inference for VapourSynth via vs-mlrt: inspect, prebuild, cache, measure.",
              version=__version__, result_action="return_value")
    app.command(cmd_info, name="info")
    app.command(cmd_build, name="build")
    app.command(cmd_bench, name="bench")
    app.command(cmd_tune, name="tune")
    app.command(cmd_fp16_check, name="fp16-check")
    app.command(cmd_render, name="render")
    app.command(cmd_export, name="export")
    app.command(cmd_quantize, name="quantize")
    cache = App(name="cache", help="List, verify, clear and prune the cache (engines, converted models, decisions).",
                result_action="return_value")
    cache.command(cache_list, name="list")
    cache.command(cache_verify, name="verify")
    cache.command(cache_clear, name="clear")
    cache.command(cache_prune, name="prune")
    cache.command(cache_publish, name="publish")
    app.command(cache)

    @app.meta.default
    def _meta(
        *tokens: Annotated[str, Parameter(show=False, allow_leading_hyphen=True)],
        verbose: Annotated[int, Parameter(alias="-v", count=True)] = 0,
        cache_dir: str | None = None,
    ) -> int:
        """Global options.

        Args:
            *tokens: The command and its arguments.
            verbose: More log lines on stderr (-v: info, -vv: debug).
            cache_dir: Cache root for this run (default: VSINFER_CACHE_DIR or the user cache dir; ~ is expanded).

        """
        from ..store import ENV_VAR

        if log is not None:
            log.setup(verbose)
        if cache_dir is not None:
            if not cache_dir.strip():
                raise UsageError("--cache-dir='' is not valid; expected a folder path (an empty one would put the "
                                 "cache in the current folder; leave the option out for the default)")
            os.environ[ENV_VAR] = str(Path(cache_dir).expanduser())
        result = app(tokens, exit_on_error=False, result_action="return_value")
        return result if isinstance(result, int) else 0

    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vsinfer`` console script and ``python -m vsinfer``; returns the exit status."""
    from cyclopts import CycloptsError

    from ..errors import VsinferError

    log = _Logging()
    app = build_app(log)
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app.meta(tokens, exit_on_error=False, result_action="return_value")
    except CycloptsError:
        return 2  # cyclopts printed the problem
    except UsageError as exc:
        err().print(f"vsinfer: error: {exc}", markup=False)
        return 2
    except (VsinferError, OSError) as exc:
        err().print(f"vsinfer: error: {exc}", markup=False)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        log.restore()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
