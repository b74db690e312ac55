"""MIGraphX program builder: ``migraphx-driver compile`` through the same store, identity and locks."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import BuildError, DeviceError, MissingProgramError, TilingError
from ...identity import IDENTITY_VERSION, DeviceInfo, build_fields, plugin_device
from ...store import Store
from ..devices import first_device
from .settings import MIGXSettings

if TYPE_CHECKING:
    from ...model import ModelInfo

__all__ = ["ProgramBuilder", "find_driver", "require_driver"]

logger = logging.getLogger(__name__)

Shape = tuple[int, int]


def find_driver() -> str | None:
    """``$ROCM_PATH/bin/migraphx-driver`` when ROCM_PATH is set, else ``migraphx-driver`` on PATH."""
    rocm = os.environ.get("ROCM_PATH")
    if rocm and Path(rocm, "bin", "migraphx-driver").is_file():
        return str(Path(rocm, "bin", "migraphx-driver"))
    return shutil.which("migraphx-driver")


def require_driver() -> str:
    """``find_driver()``, or a MissingProgramError that says it is a ROCm program and how to get it."""
    driver = find_driver()
    if driver is not None:
        return driver
    rocm = os.environ.get("ROCM_PATH")
    where = f"ROCM_PATH={rocm!r} has no bin/migraphx-driver" if rocm else "ROCM_PATH is not set"
    raise MissingProgramError(
        "migraphx-driver",
        "compiling a MIGX program",
        "it is a ROCm program, not a Python module: install ROCm's MIGraphX (AMD's 'migraphx' package) or set "
        f"ROCM_PATH to the ROCm folder that holds bin/migraphx-driver ({where}, and it is not on PATH)",
    )


def _plugin_version() -> str:
    from ...plugins import plugin_info

    info = plugin_info("migx")
    if info is None:  # a missing plugin: programs are then keyed to "unknown"
        return "unknown"
    return ",".join(f"{k}={v}" for k, v in sorted(info.items()) if k != "path")


class ProgramBuilder:
    """Compiles and caches MIGraphX programs for one MIGX description."""

    def __init__(
        self, backend: MIGXSettings, *, cache_dir: str | os.PathLike[str] | None = None,
        device: DeviceInfo | None = None,
    ):
        """Build for ``backend``; ``device`` overrides what the plugin reports."""
        self.backend = backend
        """The description whose fields configure the compile."""
        self.store = Store(cache_dir)
        """Where programs live."""
        self._device = device

    def shape(self, tilesize: Shape) -> Shape:
        """The (w, h) the program is compiled for: ``opt_shapes`` or the tile size; they must agree."""
        shape = self.backend.opt_shapes or tilesize
        if shape != tilesize:
            raise TilingError(
                "tilesize", tilesize, f"{shape}, the opt_shapes the MIGraphX program is compiled for", where="MIGX"
            )
        return shape

    def get_identity(self, model: ModelInfo, channels: int, tilesize: Shape, input_name: str | None) -> dict[str, Any]:
        """The identity record of the program for these inputs."""
        device = self._device or plugin_device("migx", first_device(self.backend.device_id))
        return {
            "version": IDENTITY_VERSION,
            "backend": "MIGX",
            "runtime_version": _plugin_version(),
            "device": {"name": device.name, "compute_capability": device.compute_capability},
            "model_crc32": model.checksum,
            "input": model.input(input_name).name,
            "channels": channels,
            "shape": list(self.shape(tilesize)),
            "fields": build_fields(self.backend),
        }

    def command(
        self, driver: str, onnx_path: str, output: Path, input_name: str, channels: int, shape: Shape
    ) -> list[str]:
        """The ``migraphx-driver compile`` command line."""
        b = self.backend
        cmd = [
            driver,
            "compile",
            "--onnx",
            onnx_path,
            "--gpu",
            "--optimize",
            "--binary",
            "--output",
            str(output),
            "--input-dim",
            f"@{input_name}",
            "1",
            str(channels),
            str(shape[1]),
            str(shape[0]),
        ]
        if b.fp16:
            cmd.append("--fp16")
        if b.bf16:
            cmd.append("--bf16")
        if not b.fast_math:
            cmd.append("--disable-fast-math")
        if b.exhaustive_tune:
            cmd.append("--exhaustive-tune")
        cmd.extend(b.custom_args)
        return cmd

    def environment(self) -> dict[str, str]:
        """The compile's environment: ``custom_env``, and the program's device as the driver's only GPU.

        ``migraphx-driver compile --gpu`` compiles on HIP device 0; ``HIP_VISIBLE_DEVICES`` set to the entry for
        ``device_id`` makes that the device the program is for (an entry of the process's own
        ``HIP_VISIBLE_DEVICES`` / ``CUDA_VISIBLE_DEVICES`` list where it has one). A ``custom_env`` that sets
        ``HIP_VISIBLE_DEVICES`` itself is left alone.
        """
        env = os.environ | dict(self.backend.custom_env)
        if "HIP_VISIBLE_DEVICES" in self.backend.custom_env:
            return env
        device_id = first_device(self.backend.device_id)
        listed = os.environ.get("HIP_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES"))
        entries = [e.strip() for e in listed.split(",")] if listed is not None else None
        if entries is not None and device_id >= len(entries):
            raise DeviceError("device_id", device_id, f"0 .. {len(entries) - 1}: HIP_VISIBLE_DEVICES / "
                              f"CUDA_VISIBLE_DEVICES={listed!r} leaves {len(entries)} device(s)", where="MIGX")
        env["HIP_VISIBLE_DEVICES"] = entries[device_id] if entries is not None else str(device_id)
        env.pop("CUDA_VISIBLE_DEVICES", None)  # HIP reads it too; the one list above decides
        return env

    def build_program(self, model: ModelInfo, channels: int, tilesize: Shape, input_name: str | None) -> Path:
        """The program for these inputs from the store, compiled under its lock when missing.

        The driver is looked up before any lock or temp file exists, so a missing ROCm leaves nothing behind;
        a cached program needs no driver.
        """
        tensor = model.input_for(channels, input_name)
        identity = self.get_identity(model, channels, tilesize, input_name)
        force = bool(self.backend.force_rebuild)
        if not force:
            cached = self.store.lookup("migx", ".mxr", identity)
            if cached is not None:
                return cached
        driver = require_driver()
        shape = self.shape(tilesize)

        def create(tmp: Path) -> None:
            cmd = self.command(driver, model.path, tmp, tensor.name, channels, shape)
            logger.info("compiling MIGraphX program: %s", " ".join(cmd))
            # Output is captured, never written to a sys.stderr that may have no file descriptor (vspipe, GUIs).
            result = subprocess.run(cmd, env=self.environment(), capture_output=True, text=True, check=False)
            for line in (result.stdout + result.stderr).splitlines():
                logger.debug("migraphx-driver: %s", line)
            if result.returncode != 0:
                tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-20:])
                raise BuildError(f"migraphx-driver failed with exit code {result.returncode} for {model.path}:\n{tail}")
            if tmp.stat().st_size == 0:  # the driver reports an argument error on stdout and exits 0
                tail = "\n".join(result.stdout.strip().splitlines()[-20:])
                raise BuildError(f"migraphx-driver wrote no program for {model.path} (exit code 0; an argument it "
                                 f"refused?):\n{tail}")

        b = self.backend
        meta = {"model": Path(model.path).name, "precision": "bf16" if b.bf16 else "fp16" if b.fp16 else "fp32",
                "shapes": {"min": list(shape), "opt": list(shape), "max": list(shape)},
                "runtime": f"MIGraphX ({identity['runtime_version']})", "device": identity["device"]["name"]}
        return self.store.get_or_create("migx", ".mxr", identity, create, force=force, meta=meta)
