"""Every exception vsinfer raises.

Value errors name the parameter, the value received and what was expected, so a user reading a
traceback from a .vpy script knows what to change without opening our source.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArgumentError",
    "BackendUnavailable",
    "BuildError",
    "CacheWriteError",
    "ClipError",
    "ConfigError",
    "DeviceError",
    "InvalidValueError",
    "MissingDependencyError",
    "MissingProgramError",
    "ModelError",
    "NoBackendError",
    "PluginError",
    "PluginNotFoundError",
    "QualityError",
    "RenderError",
    "TilingError",
    "UnknownArgumentError",
    "UnsupportedOptionError",
    "VsinferError",
]


class VsinferError(Exception):
    """Base class of every error raised by vsinfer."""


class BackendUnavailable(VsinferError):  # noqa: N818 (a marker mixed into errors, not raised alone)
    """Marks errors that mean "this backend cannot be used here": ``inference(fallback=...)`` tries the next one.

    Errors in the user's own input (clips, model, tiling) are never marked, so a fallback never masks them.
    """


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


class DeviceError(InvalidValueError, BackendUnavailable):
    """A device id that does not exist on this machine."""


class PluginNotFoundError(BackendUnavailable, RuntimeError):
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


class MissingDependencyError(BackendUnavailable, ImportError):
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


class BuildError(BackendUnavailable, RuntimeError):
    """An engine or program build failed; the message carries the builder's own diagnostics."""


class QualityError(BackendUnavailable, RuntimeError):
    """A quantized model below the quality bound: the message gives the measured PSNR, the bound and what to do."""

    def __init__(self, model: str, psnr_db: float, bound: float, advice: str) -> None:
        """Name the model, the PSNR measured and the bound it missed."""
        self.model = model
        """The float model's path."""
        self.psnr_db = psnr_db
        """The best PSNR (dB) any quantization reached against float32 on held-out frames."""
        self.bound = bound
        """The bound it had to reach (dB)."""
        super().__init__(f"{model}: its INT8 quantization reaches {psnr_db:.1f} dB PSNR against float32 on "
                         f"held-out frames of the clip, below the bound of {bound:g} dB; {advice}")


class NoBackendError(VsinferError, RuntimeError):
    """No usable backend was found on this machine."""


class PluginError(BackendUnavailable, RuntimeError):
    """The plugin refused the call at graph construction; the message names the backend and quotes the plugin."""

    def __init__(self, backend: str, namespace: str, message: str) -> None:
        """Name the backend and the plugin, and quote the plugin's own message."""
        self.backend = backend
        """The backend class name, e.g. ``NCNN``."""
        self.namespace = namespace
        """The plugin namespace, e.g. ``ncnn``."""
        self.plugin_message = message
        """What the plugin said."""
        super().__init__(f"{backend}: core.{namespace}.Model refused the call: {message}")


class CacheWriteError(BackendUnavailable, OSError):
    """The cache could not be written (a full disk, a read-only folder); nothing partial was left there."""

    def __init__(self, path: str, detail: str) -> None:
        """Name the file or folder and say what went wrong and what to do."""
        self.path = path
        """The file or folder that could not be written."""
        super().__init__(f"cannot write to the vsinfer cache at {path}: {detail}")


class MissingProgramError(BackendUnavailable, RuntimeError):
    """An external program (not a Python module) needed for this operation was not found."""

    def __init__(self, program: str, purpose: str, how: str) -> None:
        """Name the program, what it is needed for and how to get it."""
        self.program = program
        """The executable that was looked for, e.g. ``migraphx-driver``."""
        super().__init__(f"{purpose} needs the program {program}, which was not found: {how}")


class RenderError(VsinferError, RuntimeError):
    """``vsinfer render`` could not finish.

    A chunk failed after its retries, a tool (vspipe, ffmpeg) refused, or the joined file does not hold the frames
    it should. Finished chunks are kept for the next run.
    """


class ArgumentError(InvalidValueError):
    """A keyword argument forwarded to the plugin (``inference(**kwargs)``) that the plugin cannot take."""


class UnknownArgumentError(UnsupportedOptionError):
    """A forwarded keyword argument the loaded plugin does not have: names it, the plugin version and what it takes."""

    def __init__(
        self, option: str, value: Any, runtime: str, version: str, accepted: list[str], *, where: str | None = None
    ) -> None:
        """Name the option, the value, the plugin function and version, and the arguments it does take."""
        self.option = option
        self.runtime = runtime
        self.version = version
        self.accepted = accepted
        """The arguments the plugin function accepts (those ``inference`` may forward)."""
        prefix = f"{where}: " if where else ""
        ValueError.__init__(
            self,
            f"{prefix}{option}={value!r} is not an argument of {runtime} {version}; expected one of "
            f"{', '.join(accepted)} (or upgrade the plugin if a newer version has it)",
        )


class Shown:
    """A value shown by a short description in an error message (its ``repr`` is the description).

    Not an exception: it lives here so that every layer that raises (model facts, fp16, validation) can use it.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        """Keep ``text``, shown as is."""
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shown) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)
