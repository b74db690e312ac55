"""Every exception vsinfer raises.

Value errors name the parameter, the value received and what was expected, so a user reading a
traceback from a .vpy script knows what to change without opening our source.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BuildError",
    "ClipError",
    "ConfigError",
    "DeviceError",
    "InvalidValueError",
    "MissingDependencyError",
    "ModelError",
    "NoBackendError",
    "PluginNotFoundError",
    "TilingError",
    "UnsupportedOptionError",
    "VsinferError",
]


class VsinferError(Exception):
    """Base class of every error raised by vsinfer."""


class InvalidValueError(VsinferError, ValueError):
    """A value that vsinfer cannot use: names the parameter, the value and what was expected."""

    def __init__(self, parameter: str, value: Any, expected: str, *, where: str | None = None) -> None:
        """Build the message ``<where>: <parameter>=<value!r> is not valid; expected <expected>``."""
        self.parameter = parameter
        """Name of the offending parameter (a field, an argument, a model input)."""
        self.value = value
        """The value received."""
        self.expected = expected
        """What would have been accepted."""
        self.where = where
        """The backend, function or file the parameter belongs to."""
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{parameter}={value!r} is not valid; expected {expected}")


class ConfigError(InvalidValueError):
    """A backend field rejected at construction."""


class ClipError(InvalidValueError):
    """Input clips that the model or the plugin cannot take."""


class ModelError(InvalidValueError):
    """A model file that is missing, not ONNX, or does not fit the request."""


class TilingError(InvalidValueError):
    """A tilesize / overlap combination that the plugins would reject."""


class DeviceError(InvalidValueError):
    """A device id that does not exist on this machine."""


class PluginNotFoundError(VsinferError, RuntimeError):
    """A vs-mlrt plugin is not loaded in the VapourSynth core."""

    def __init__(self, namespace: str, extra: str) -> None:
        """Name the missing plugin namespace and the pip extra that installs it."""
        self.namespace = namespace
        """The plugin namespace, e.g. ``ort``."""
        self.extra = extra
        """The vsinfer extra that installs the plugin, e.g. ``ort``."""
        super().__init__(
            f"the VapourSynth plugin core.{namespace} is not loaded; install it with pip install 'vsinfer[{extra}]'"
        )


class UnsupportedOptionError(VsinferError, ValueError):
    """An option the user set that the installed plugin or runtime does not have."""

    def __init__(self, option: str, value: Any, runtime: str, version: str) -> None:
        """Name the option, the value set, and the runtime and version that lack it."""
        self.option = option
        """The option (plugin argument or builder field)."""
        self.runtime = runtime
        """The plugin namespace or runtime name."""
        self.version = version
        """The installed version of that runtime."""
        super().__init__(
            f"{option}={value!r} is not available on {runtime} {version}; remove the option or upgrade {runtime}"
        )


class MissingDependencyError(VsinferError, ImportError):
    """An optional Python module needed for this operation is not installed."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        """Name the module, the extra that installs it and what it is needed for."""
        self.module = module
        """The importable module name."""
        self.extra = extra
        """The vsinfer extra that installs it."""
        super().__init__(
            f"{purpose} needs the Python module {module!r}; install it with pip install 'vsinfer[{extra}]'"
        )


class BuildError(VsinferError, RuntimeError):
    """An engine or program build failed; the message carries the builder's own diagnostics."""


class NoBackendError(VsinferError, RuntimeError):
    """No usable backend was found on this machine."""
