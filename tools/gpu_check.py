"""The GPU check: what vsinfer's GPU paths do on a real GPU, one line per check, for the first GPU machine.

Run with the project's venv: ``.venv/bin/python tools/gpu_check.py`` (``--help`` for the options). On a machine with
one NVIDIA GPU and ``vsinfer[trt,trt-rtx,ort-cuda,ncnn]`` installed it should take a few minutes (not yet timed on
one): it builds about 17 engines, the correctness matrix's small ones at optimization level 1. Each line is
``PASS``, ``FAIL`` or ``SKIP`` with the check's name and what it found (or why it was skipped); the last line
counts them, and the exit status is 1 when any check failed.

Checks:

- the environment: the NVIDIA driver and the devices CUDA sees, the GPU probe (which must agree with CUDA), the
  plugins' and builders' versions (a builder that is not the plugin's TensorRT fails), autoselect's explanation;
- TRT fp16 and fp32, static and dynamic engines, on a one-convolution model and the demo model, with RGBH and RGBS
  clips, each compared with onnxruntime's float32 output;
- the second build of an engine is a cache hit; ``TRT(device_id=<one past the last GPU>)`` is refused with a
  DeviceError before the plugin; ``autoselect(devices="all")`` gives every CUDA device (one on a one-GPU machine);
- TRT_RTX where TensorRT-RTX supports the GPU; ORT_CUDA and NCNN on the GPU where installed;
- frames per second of the demo model at 1920x1080 per GPU backend, with its error against onnxruntime float32.

Without a GPU (this project's CI machines) every GPU check says SKIP and why, and nothing fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEMO_MODEL = ROOT / "src" / "vsinfer" / "models" / "demo_2x.onnx"
TOLERANCE = {"fp32": 2e-3, "fp16": 2e-2}
"""Largest absolute error against onnxruntime float32 (content in [0, 1]): fp32 engines run TF32 off."""
CHECK_SIZE = (256, 192)
"""Frame size (w, h) of the correctness checks."""


class Skip(Exception):  # noqa: N818 (a verdict, not an error)
    """The check cannot run here; the message says why."""


@dataclass
class Report:
    """The lines printed so far, by verdict."""

    counts: dict[str, int]

    def line(self, verdict: str, name: str, detail: str) -> None:
        """Print one check's line at once (a long run shows its progress)."""
        self.counts[verdict] += 1
        print(f"{verdict:4s}  {name}: {' '.join(detail.split())}", flush=True)

    def run(self, name: str, check: Callable[[], str]) -> None:
        """Run ``check``: its return value is a PASS, Skip a SKIP, any other exception a FAIL."""
        try:
            detail = check()
        except Skip as skip:
            self.line("SKIP", name, str(skip))
        except Exception as exc:  # the check failed: say how, and go on with the others
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.line("FAIL", name, f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})")
        else:
            self.line("PASS", name, detail)


# -- models and clips ---------------------------------------------------------------------------------------------
def one_conv_model(folder: Path) -> Path:
    """A 3 -> 3 channel 3x3 convolution with fixed weights, dynamic height and width."""
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(7)
    weight = (rng.standard_normal((3, 3, 3, 3)) * 0.2).astype(np.float32)
    bias = np.array([0.1, -0.1, 0.05], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["output"], pads=[1, 1, 1, 1], name="/conv")], "one_conv",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [onnx.numpy_helper.from_array(weight, "w"), onnx.numpy_helper.from_array(bias, "b")])
    path = folder / "one_conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def content(width: int, height: int) -> np.ndarray:
    """Picture-like float32 planes (3, h, w) in [0, 1]: gradients and edges, a little noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(3)
    planes = np.stack([x / width, y / height, ((x // 16 + y // 16) % 2) * 0.8 + 0.1])
    return np.clip(planes + rng.normal(0, 0.02, planes.shape), 0, 1).astype(np.float32)


def clip_of(planes: np.ndarray, fmt: int, length: int = 1) -> Any:
    """A clip whose frames hold ``planes`` in format ``fmt`` (RGBS or RGBH)."""
    import vapoursynth as vs

    _, h, w = planes.shape
    blank = vs.core.std.BlankClip(width=w, height=h, format=fmt, length=length, keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.asarray(out[p])[:] = planes[p]
        return out

    return vs.core.std.ModifyFrame(blank, blank, fill)


def planes_of(clip: Any, n: int = 0) -> np.ndarray:
    """Frame ``n`` of ``clip`` as float32 planes."""
    frame = clip.get_frame(n)
    return np.stack([np.asarray(frame[p]).astype(np.float32) for p in range(frame.format.num_planes)])


class Reference:
    """onnxruntime float32 (CPU) outputs, computed once per model and size."""

    def __init__(self) -> None:
        """An empty memo."""
        self._memo: dict[tuple[Path, int, int], np.ndarray] = {}

    def __call__(self, model: Path, planes: np.ndarray) -> np.ndarray:
        """The model's float32 output for ``planes``."""
        key = (model, planes.shape[1], planes.shape[2])
        if key not in self._memo:
            import onnxruntime as ort

            session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
            self._memo[key] = session.run(None, {session.get_inputs()[0].name: planes[None]})[0][0]
        return self._memo[key]


# -- the machine --------------------------------------------------------------------------------------------------
@dataclass
class Machine:
    """What the checks need to know about this machine, read once."""

    driver_version: int | None
    cuda_names: tuple[str, ...]
    driver_note: str

    @classmethod
    def read(cls) -> Machine:
        """The CUDA driver and its devices."""
        from vsinfer import device

        driver = device.cuda_driver()
        if driver is None:
            return cls(None, (), "no CUDA driver: libcuda does not load")
        try:
            version = driver.version
        except device.CudaError as exc:
            return cls(None, (), f"the CUDA driver does not answer: {exc}")
        return cls(version, device.cuda_devices(), "")

    def need_gpu(self) -> None:
        """Skip unless CUDA sees a device."""
        if self.driver_version is None:
            raise Skip(self.driver_note + "; no NVIDIA GPU here")
        if not self.cuda_names:
            raise Skip("the CUDA driver sees no device")


def need_plugin(namespace: str) -> dict[str, str]:
    """The plugin's Version() info, or Skip naming why it is not loaded."""
    from vsinfer.plugins import plugin_info, plugin_status

    status = plugin_status(namespace)
    if not status.loaded:
        raise Skip(f"core.{namespace} is not loaded: {status.error}")
    return dict(plugin_info(namespace) or {})


def need_module(name: str) -> Any:
    """The imported module, or Skip naming the extra."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        extra = "trt-rtx" if name == "tensorrt_rtx" else "trt"
        raise Skip(f"the {name} module is not installed (pip install 'vsinfer[{extra}]'): {exc}") from exc


def short(version: str) -> str:
    """major.minor.patch."""
    return ".".join(version.split(".")[:3])


def trt_version(raw: str | None) -> str | None:
    """A plugin's tensorrt_version ("110400") as "11.4.0"."""
    if not raw or not raw.isdigit():
        return None
    n = int(raw)
    return f"{n // 10000}.{n // 100 % 100}.{n % 100}"


# -- the checks ---------------------------------------------------------------------------------------------------
def environment_checks(report: Report, machine: Machine) -> None:
    """Driver, probe, plugins, builders, autoselect."""
    from vsinfer import device

    def driver() -> str:
        machine.need_gpu()
        version = machine.driver_version or 0
        names = ", ".join(f"{i}: {n}" for i, n in enumerate(machine.cuda_names))
        for namespace in ("trt", "trt_rtx"):
            try:
                info = need_plugin(namespace)
            except Skip:
                continue
            runtime = info.get("cuda_runtime_version", "")
            problem = device.cuda_driver_problem(int(runtime) if runtime.isdigit() else None, f"core.{namespace}")
            if problem:
                raise RuntimeError(problem)
        return f"driver for CUDA {version // 1000}.{version % 1000 // 10}; CUDA sees {names}"

    def probe() -> str:
        gpu = device.probe_gpu(0, refresh=True)
        found = f"{gpu.vendor or 'no GPU'}, {gpu.count} GPU(s), device 0: {gpu.model} [{gpu.detail}]"
        if machine.cuda_names and (gpu.vendor != "nvidia" or gpu.count != len(machine.cuda_names)):
            raise RuntimeError(f"the probe says {found}, CUDA sees {len(machine.cuda_names)} device(s)")
        if not machine.cuda_names and gpu.vendor is None:
            raise Skip(f"no GPU found ({gpu.detail}); CUDA: {machine.driver_note or 'no device'}")
        return found

    def plugins() -> str:
        from vsinfer.plugins import EXTRAS, plugin_status

        said = []
        for namespace in EXTRAS:
            status = plugin_status(namespace)
            if status.loaded:
                keys = ("tensorrt_version", "cuda_runtime_version", "onnxruntime_version", "providers")
                extra = ", ".join(f"{k}={status.info[k]}" for k in keys if k in status.info)
                said.append(f"{namespace} {status.version}" + (f" ({extra})" if extra else ""))
        return "; ".join(said) or "none loaded"

    def builders() -> str:
        said, mismatched = [], []
        for module, namespace in (("tensorrt", "trt"), ("tensorrt_rtx", "trt_rtx")):
            try:
                version = short(str(need_module(module).__version__))
            except Skip:
                continue
            try:
                linked = trt_version(need_plugin(namespace).get("tensorrt_version"))
            except Skip:
                linked = None
            said.append(f"{module} {version}" + (f" for core.{namespace} {linked}" if linked else ""))
            if linked and linked != version:
                mismatched.append(f"{module} {version} != core.{namespace}'s {linked}")
        if mismatched:
            raise RuntimeError("; ".join(mismatched) + " (a build would be refused)")
        if not said:
            raise Skip("neither tensorrt nor tensorrt_rtx is installed")
        return "; ".join(said)

    def autoselect() -> str:
        from vsinfer.select import explain_autoselect

        decision = explain_autoselect(0)
        steps = (line.strip() for line in str(decision).splitlines()[1:])
        return f"{decision.cls.__name__} ({'; '.join(s for s in steps if s)})"

    report.run("environment: NVIDIA driver and CUDA devices", driver)
    report.run("environment: GPU probe agrees with CUDA", probe)
    report.run("environment: plugins", plugins)
    report.run("environment: builders", builders)
    report.run("environment: autoselect", autoselect)


def compare(backend: Any, model: Path, fmt_name: str, reference: Reference, size: tuple[int, int],
            precision: str) -> str:
    """Run ``backend`` on a clip of ``size``; the error against onnxruntime float32 must be within tolerance."""
    import vapoursynth as vs

    planes = content(*size)
    fmt = vs.RGBH if fmt_name == "RGBH" else vs.RGBS
    out = backend.inference(clip_of(planes, fmt), model)
    if out.format.id != fmt:  # the output's precision follows the clip's
        raise RuntimeError(f"output format {out.format.name}, expected {vs.core.get_video_format(fmt).name}")
    source = planes_of(clip_of(planes, fmt))  # the input as the clip holds it (half floats round)
    error = float(np.max(np.abs(planes_of(out) - reference(model, source))))
    limit = TOLERANCE["fp16" if precision == "fp16" or fmt_name == "RGBH" else "fp32"]
    if not error <= limit:
        raise RuntimeError(f"max error {error:.3g} against onnxruntime float32, above {limit:g}")
    return f"max error {error:.2g} against onnxruntime float32 (limit {limit:g})"


def trt_checks(report: Report, machine: Machine, models: dict[str, Path], reference: Reference, *,
               quick: bool) -> None:
    """TRT precision x shape x clip format x model; the cache hit; a device id too far."""
    from vsinfer import Backend

    def ready() -> None:
        machine.need_gpu()
        need_plugin("trt")
        need_module("tensorrt")

    level = {"builder_optimization_level": 1} if quick else {}
    w, h = CHECK_SIZE
    for model_name, model in models.items():
        for precision in ("fp16", "fp32"):
            for shape in ("static", "dynamic"):
                for fmt_name in ("RGBH", "RGBS"):
                    fields: dict[str, Any] = {"fp16": precision == "fp16", **level}
                    if shape == "dynamic":
                        fields |= {"static_shape": False, "max_shapes": (w, h), "opt_shapes": (w, h)}

                    def check(fields: dict[str, Any] = fields, model: Path = model, fmt_name: str = fmt_name,
                              precision: str = precision) -> str:
                        ready()
                        return compare(Backend.TRT(**fields), model, fmt_name, reference, (w, h), precision)

                    report.run(f"TRT {precision} {shape} {model_name} {fmt_name}", check)

    def cache_hit() -> str:
        ready()
        import vsinfer.backends.trt.builder as builder_module

        builds: list[Path] = []
        real = builder_module.EngineBuilder.build

        def counted(self: Any, onnx_path: Path, *args: Any, **kwargs: Any) -> None:
            builds.append(onnx_path)
            real(self, onnx_path, *args, **kwargs)

        builder_module.EngineBuilder.build = counted  # type: ignore[method-assign]
        try:
            backend = Backend.TRT(fp16=False, builder_optimization_level=0)
            first = backend.build_engine(models["one-conv"], 3, (64, 64))
            start = time.perf_counter()
            second = backend.build_engine(models["one-conv"], 3, (64, 64))
            took = time.perf_counter() - start
        finally:
            builder_module.EngineBuilder.build = real  # type: ignore[method-assign]
        if first != second or len(builds) != 1:
            raise RuntimeError(f"{len(builds)} builds for two identical requests ({first}, {second})")
        return f"one build, the second call found {second.name} in {took * 1000:.0f} ms"

    def device_too_far() -> str:
        ready()
        import vapoursynth as vs

        from vsinfer.errors import DeviceError

        beyond = len(machine.cuda_names)
        try:
            Backend.TRT(device_id=beyond).inference(clip_of(content(64, 64), vs.RGBS), models["one-conv"])
        except DeviceError as exc:
            return f"refused before the plugin: {exc}"
        raise RuntimeError(f"TRT(device_id={beyond}) was accepted with {beyond} GPU(s)")

    def all_devices() -> str:
        machine.need_gpu()
        from vsinfer.select import all_devices as every

        chosen = Backend.autoselect(devices="all")
        expected: int | tuple[int, ...] = tuple(range(len(machine.cuda_names))) if len(machine.cuda_names) > 1 else 0
        got = getattr(chosen, "device_id", None)
        ort_cuda = every(Backend.ORT_CUDA)
        if got != expected or ort_cuda != expected:
            raise RuntimeError(f"autoselect chose {type(chosen).__name__}(device_id={got!r}), ORT_CUDA all devices "
                               f"{ort_cuda!r}; CUDA sees {len(machine.cuda_names)} device(s)")
        return f"{type(chosen).__name__}(device_id={got!r}); ORT_CUDA: {ort_cuda!r}"

    report.run("TRT second build of an engine is a cache hit", cache_hit)
    report.run(f"TRT(device_id={len(machine.cuda_names) or 1}) refused cleanly", device_too_far)
    report.run('autoselect(devices="all") gives every CUDA device', all_devices)


def other_gpu_checks(report: Report, machine: Machine, models: dict[str, Path], reference: Reference) -> None:
    """TRT_RTX where supported, ORT_CUDA and NCNN on the GPU where installed."""
    from vsinfer import Backend

    def rtx_ready() -> None:
        machine.need_gpu()
        need_plugin("trt_rtx")
        rtx = need_module("tensorrt_rtx")
        from vsinfer.plugins import device_properties

        props = device_properties("trt_rtx", 0) or {}
        target = f"SM{props.get('major', '')}{props.get('minor', '')}"
        if not hasattr(rtx.ComputeCapability, target):
            supported = sorted(n for n in dir(rtx.ComputeCapability) if n.startswith("SM"))
            raise Skip(f"TensorRT-RTX {rtx.__version__} does not support this GPU ({target}; it builds for "
                       f"{', '.join(supported)})")

    for precision in ("fp16", "fp32"):
        def rtx(precision: str = precision) -> str:
            rtx_ready()
            return compare(Backend.TRT_RTX(fp16=precision == "fp16"), models["one-conv"], "RGBS", reference,
                           CHECK_SIZE, precision)

        report.run(f"TRT_RTX {precision} static one-conv RGBS", rtx)

    def ort_cuda() -> str:
        machine.need_gpu()
        need_plugin("ort")
        from vsinfer.backends.ort.checks import providers as ort_providers

        if "CUDA" not in ort_providers():
            raise Skip(f"core.ort has no CUDA provider ({', '.join(ort_providers())}): pip install "
                       "'vsinfer[ort-cuda]'")
        return compare(Backend.ORT_CUDA(fp16=False), models["demo"], "RGBS", reference, CHECK_SIZE, "fp32")

    def ncnn() -> str:
        need_plugin("ncnn")
        skip = Backend.NCNN.tuning_skip(0)
        if skip is not None:
            raise Skip(f"not on a GPU: {skip}")
        return compare(Backend.NCNN(fp16=False), models["demo"], "RGBS", reference, CHECK_SIZE, "fp32")

    report.run("ORT_CUDA fp32 demo RGBS", ort_cuda)
    report.run("NCNN fp32 demo RGBS (on the GPU)", ncnn)


def fps(backend: Any, precision: str, reference: Reference, frames: int, size: tuple[int, int]) -> str:
    """Frames per second of ``backend`` on the demo model (after the first frame, which builds and warms up), and
    the first frame's error against onnxruntime float32."""
    import vapoursynth as vs

    planes = content(*size)
    out = backend.inference(clip_of(planes, vs.RGBS, length=frames + 1), DEMO_MODEL)
    first = planes_of(out, 0)
    start = time.perf_counter()
    for _ in out.frames(close=True):
        pass
    took = time.perf_counter() - start
    error = float(np.max(np.abs(first - reference(DEMO_MODEL, planes))))
    limit = TOLERANCE[precision]
    text = (f"{(frames + 1) / took:.1f} fps over {frames + 1} frames ({out.width}x{out.height} out); max error "
            f"{error:.2g} against onnxruntime float32")
    if not error <= limit:
        raise RuntimeError(text + f", above {limit:g}")
    return text


def fps_checks(report: Report, machine: Machine, reference: Reference, frames: int, size: tuple[int, int]) -> None:
    """Frames per second of the demo model per GPU backend, with the error against onnxruntime float32."""
    from vsinfer import Backend

    def ready(namespace: str, module: str | None = None) -> None:
        machine.need_gpu()
        need_plugin(namespace)
        if module:
            need_module(module)

    candidates: list[tuple[str, Callable[[], Any], str, str, str | None]] = [
        ("TRT fp16", lambda: Backend.TRT(fp16=True), "fp16", "trt", "tensorrt"),
        ("TRT fp32", lambda: Backend.TRT(fp16=False), "fp32", "trt", "tensorrt"),
        ("TRT_RTX fp16", lambda: Backend.TRT_RTX(fp16=True), "fp16", "trt_rtx", "tensorrt_rtx"),
        ("ORT_CUDA fp16", lambda: Backend.ORT_CUDA(fp16=True), "fp16", "ort", None),
        ("NCNN fp16", lambda: Backend.NCNN(fp16=True), "fp16", "ncnn", None),
    ]
    for name, make, precision, namespace, module in candidates:
        def check(make: Callable[[], Any] = make, precision: str = precision, namespace: str = namespace,
                  module: str | None = module, name: str = name) -> str:
            ready(namespace, module)
            if name.startswith("ORT_CUDA"):
                from vsinfer.backends.ort.checks import providers as ort_providers

                if "CUDA" not in ort_providers():
                    raise Skip("core.ort has no CUDA provider")
            if name.startswith("NCNN") and (why := Backend.NCNN.tuning_skip(0)) is not None:
                raise Skip(f"not on a GPU: {why}")
            if name.startswith("TRT_RTX"):
                from vsinfer.plugins import device_properties

                import_rtx = need_module("tensorrt_rtx")
                props = device_properties("trt_rtx", 0) or {}
                if not hasattr(import_rtx.ComputeCapability, f"SM{props.get('major', '')}{props.get('minor', '')}"):
                    raise Skip("TensorRT-RTX does not support this GPU")
            return fps(make(), precision, reference, frames, size)

        report.run(f"fps demo {size[0]}x{size[1]} {name}", check)


def main(argv: list[str] | None = None) -> int:
    """Run every check; 1 when any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="frames timed per backend (default 30)")
    parser.add_argument("--size", default="1920x1080", help="frame size of the fps checks (default 1920x1080)")
    parser.add_argument("--full-builds", action="store_true",
                        help="the TRT matrix at TensorRT's default optimization level (default: level 1, quicker "
                             "builds; the fps checks always use the defaults)")
    parser.add_argument("--cache", type=Path, help="engine cache (default: a new temporary folder)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="vsinfer-gpu-check-") as tmp:
        os.environ["VSINFER_CACHE_DIR"] = str(args.cache or Path(tmp) / "cache")
        report = Report({"PASS": 0, "FAIL": 0, "SKIP": 0})
        machine = Machine.read()
        models = {"one-conv": one_conv_model(Path(tmp)), "demo": DEMO_MODEL}
        reference = Reference()
        environment_checks(report, machine)
        trt_checks(report, machine, models, reference, quick=not args.full_builds)
        other_gpu_checks(report, machine, models, reference)
        fps_checks(report, machine, reference, args.frames, (width, height))
    c = report.counts
    print(f"{c['PASS']} passed, {c['FAIL']} failed, {c['SKIP']} skipped", flush=True)
    return 1 if c["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
