"""INT8 (``vsinfer.quantize``) against float32 and bf16 on the CPU, per zoo model: fps, first frame, error vs float32.

For each zoo model given (``tests/data/zoo``; default compact, esrgan_4x, span, realcugan, drunet):

1. ``vsinfer.quantize.quantize(model, clip)`` once, in a private store (a temporary folder, so nothing is read back
   from an earlier run), on frames of a clip of real-looking content built with numpy (gradients, hard edges of
   moving shapes, a rotating grating, blocky foliage-like texture, thin lines, grain: every frame different).
   Printed: the PSNR and largest difference it measured on its held-out crops, the nodes it kept in float, and
   the time it took (its own figure and the wall time of the call, frame reading included).
2. On the CPU, through the OpenVINO plugin, in interleaved rounds (the order reversed every other round), each run
   a fresh node (the plugin loads and compiles the network again) rendering frames 0..N-1 once:

   - ``Backend.OV_CPU(fp16=False)`` on the float model: float32, the reference;
   - ``Backend.OV_CPU()`` on the float model: its default (bf16 where the CPU has AVX512-BF16 / AMX-BF16, else
     float32: ``effective_precision()`` is printed);
   - ``Backend.OV_CPU()`` on the quantized model (INT8; the layers kept in float run in the default precision);
   - unless ``--no-ort``: ``Backend.ORT_CPU(fp16=False)`` on the float model and ``Backend.ORT_CPU()`` on the
     quantized one (onnxruntime's CPU provider, one stream).

   Frame 0 (node construction, network compilation and the first inference) is timed apart from the steady
   frames (``vsinfer.timing.render``). All configurations get the same clip: frames the quantization never saw
   (the frames after the ones it was calibrated and judged on, same generator). Ratios are taken per round (both
   sides measured in that round) and their median printed.

Before the rounds, each configuration renders the compared frames once, untimed, on a fresh node of its own: this
pays for vsinfer's first use of a configuration (the fp16 guard's analysis of bf16, stored in the private store)
so that no timed run does, and gives the error: PSNR (over the 0..1 range) and largest difference of its output
against ``OV_CPU(fp16=False)``'s, over the same frames, measured on the plugins' outputs. Every timed run's frame 0
is compared with that run's and a difference is reported.

DRUNet takes 4 channels (RGB and DPIR's noise-level plane): it gets the RGB clip and a GRAY clip of 15/255. Sizes
are rounded down to the model's multiple (Real-CUGAN 4, DRUNet 8). A model that ``quantize`` refuses (below
``--min-psnr``) or fails on is still timed in float; its INT8 rows say why they are missing.

The zoo models are stand-ins for the architectures (narrower than the real networks, untrained weights: SPAN's
output spans about -28..28, ESRGAN's stays near 0): their speeds show how each layer mix runs in INT8, their PSNRs
only how the toolchain behaves. The float32 output range is printed beside them. For quality figures to quote, give
a trained model's path in ``--models``.

    .venv/bin/python benchmarks/int8.py [--models compact,span,PATH.onnx] [--size WxH] [--frames N] [--rounds 2]
                                        [--requests N] [--error-frames 4] [--calibration 16] [--min-psnr 40]
                                        [--no-ort] [--quick]

Default sizes: 960x540 for compact, 480x270 for the heavier models (``--size`` sets one size for all). Default
frames: 8, or 1 + 3 x the VapourSynth threads where that is more (``vsinfer.timing.render`` leaves the first round
of requests untimed). ``--quick``: compact at 128x72, 2 frames, 1 round, 4 calibration frames: a check that the
script works (in about 10 s), no figure to quote.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "tests" / "data" / "zoo"
sys.path.insert(0, str(ROOT / "src"))

if TYPE_CHECKING:
    import numpy.typing as npt
    import vapoursynth as vs

    from vsinfer.backends.base import Backend as BackendT
    from vsinfer.quantize import Quantized

    Array = npt.NDArray[np.float32]

DEFAULT_MODELS = ("compact", "esrgan_4x", "span", "realcugan", "drunet")
LIGHT = {"compact": (960, 540)}
"""Default sizes of the light models; the others get HEAVY."""
HEAVY = (480, 270)
NOISE_LEVEL = 15 / 255
"""DRUNet's noise-level plane (DPIR's strength / 255)."""
FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16", "avx512f",
         "avx2")
"""The CPU flags INT8 and the reduced float precisions depend on (VNNI / AMX-INT8: int8 dot products)."""
REFERENCE = "OV float32"


# -- content --------------------------------------------------------------------------------------------------------
def scene(width: int, height: int, n: int) -> Array:
    """Frame ``n`` of a synthetic scene (3, height, width) in 0..1: every frame differs, nothing repeats exactly.

    A colour gradient (sky), a rotating sine grating (fabric), a blocky random texture (foliage), discs and
    rectangles with hard edges that move, thin dark lines (text / wires), and grain.
    """
    rng = np.random.default_rng(1000 + n)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / width, y / height
    t = n / 24.0
    img = np.empty((3, height, width), np.float32)
    for c, (a, b, off) in enumerate(((0.35, 0.25, 0.15), (0.25, 0.45, 0.1), (-0.2, 0.5, 0.35))):
        img[c] = off + a * u + b * v + 0.08 * math.sin(t + c)
    theta = 0.4 + 0.15 * n
    freq = 30.0 + 8.0 * math.sin(0.7 * n)
    grating = 0.5 + 0.4 * np.sin(2 * np.pi * freq * (u * math.cos(theta) + v * math.sin(theta)) + t)
    region = (u < 0.45) & (v > 0.5)
    for c in range(3):
        img[c][region] = (0.3 + 0.2 * c) * grating[region] + 0.1
    block = 4
    coarse = rng.random((3, height // block + 1, width // block + 1), dtype=np.float32)
    foliage = np.repeat(np.repeat(coarse, block, axis=1), block, axis=2)[:, :height, :width]
    region = (u > 0.55) & (v > 0.55)
    img[:, region] = 0.15 + 0.5 * foliage[:, region] * np.array([0.5, 1.0, 0.4], np.float32)[:, None]
    for i in range(5):
        cx = (0.15 + 0.18 * i + 0.013 * n * (1 + i % 2)) % 1.0
        cy = 0.25 + 0.12 * math.sin(0.3 * n + i)
        radius = 0.05 + 0.02 * i
        colour = np.array([(0.9 * i % 1.0), 0.8 - 0.15 * i, 0.2 + 0.15 * i], np.float32)
        if i % 2:
            inside = (np.abs(u - cx) < radius) & (np.abs(v - cy) < radius * 0.6)
        else:
            inside = (u - cx) ** 2 + ((v - cy) * height / width) ** 2 < radius**2
        img[:, inside] = colour[:, None]
    for k in range(6):
        row = int((0.05 + 0.07 * k + 0.002 * n) * height) % height
        img[:, row:row + 1 + k % 2, int(0.5 * width):int(0.95 * width)] = 0.05
    img += rng.normal(0.0, 0.02, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0)


def lazy_clip(width: int, height: int, length: int) -> vs.VideoNode:
    """RGBS frames 0..length-1 of ``scene``, made when requested (for the quantization: not timed)."""
    import vapoursynth as vs

    blank = vs.core.std.BlankClip(width=width, height=height, format=vs.RGBS, length=length, keep=True)

    def make(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        picture = scene(width, height, n)
        for p in range(3):
            np.copyto(np.asarray(out[p]), picture[p])
        return out

    return vs.core.std.ModifyFrame(blank, blank, make)


def stored_clip(width: int, height: int, first: int, length: int) -> vs.VideoNode:
    """RGBS frames first..first+length-1 of ``scene``, made now and served as they are (the timed runs' clip)."""
    import vapoursynth as vs

    blank = vs.core.std.BlankClip(width=width, height=height, format=vs.RGBS, length=length, keep=True)
    frames = []
    for n in range(length):
        frame = blank.get_frame(n).copy()
        picture = scene(width, height, first + n)
        for p in range(3):
            np.copyto(np.asarray(frame[p]), picture[p])
        frames.append(frame)

    def serve(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        return frames[n]

    return vs.core.std.ModifyFrame(blank, blank, serve)


def with_noise_plane(rgb: vs.VideoNode, channels: int) -> list[vs.VideoNode]:
    """The clips the model reads: the RGB clip, and for 4 channels (DRUNet) a GRAY clip of ``NOISE_LEVEL``."""
    import vapoursynth as vs

    if channels == 3:
        return [rgb]
    if channels == 4:
        return [rgb, vs.core.std.BlankClip(rgb, format=vs.GRAYS, color=NOISE_LEVEL, keep=True)]
    raise SystemExit(f"a model with {channels} input channels: this benchmark feeds RGB (+ a noise plane) only")


# -- runs -----------------------------------------------------------------------------------------------------------
@dataclass
class Config:
    """One configuration: a backend on the float or the quantized model."""

    name: str
    backend: BackendT
    int8: bool
    computes: str
    fps: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    psnr_db: float | None = None
    max_error: float | None = None
    frame0: Array | None = None
    drift: float = 0.0
    """Largest difference of a timed run's frame 0 from the untimed run's."""


def output_of(backend: BackendT, clips: Sequence[vs.VideoNode], model: Path, frames: int) -> list[Array]:
    """Frames 0..frames-1 of a fresh node, rendered one after another (untimed)."""
    from vsinfer.timing import planes

    node = backend.inference(list(clips), model)
    return [planes(node.get_frame(n)) for n in range(frames)]


def compare(out: Sequence[Array], ref: Sequence[Array]) -> tuple[float, float]:
    """PSNR (dB, 0..1 range) and largest difference of ``out`` against ``ref`` over all frames."""
    se, count, worst = 0.0, 0, 0.0
    for a, b in zip(out, ref, strict=True):
        if a.shape != b.shape:
            raise RuntimeError(f"output shape {a.shape} differs from the reference's {b.shape}")
        diff = a.astype(np.float64) - b
        se += float(np.sum(diff * diff))
        count += diff.size
        worst = max(worst, float(np.max(np.abs(diff))))
    mse = se / count
    return (math.inf if mse == 0 else 10 * math.log10(1.0 / mse)), worst


def timed_run(cfg: Config, clips: Sequence[vs.VideoNode], model: Path, frames: int, requests: int | None) -> None:
    """One timed run on a fresh node: steady fps and graph + first frame, frame 0 checked against the untimed run."""
    from vsinfer.timing import render

    def make() -> vs.VideoNode:
        return cfg.backend.inference(list(clips), model)

    done = render(make, frames, keep=(0,), requests=requests)
    cfg.fps.append(done.frames / done.steady_s if done.frames else math.nan)
    cfg.first.append(done.first_frame_s)
    if cfg.frame0 is not None and 0 in done.outputs:
        cfg.drift = max(cfg.drift, float(np.max(np.abs(done.outputs[0] - cfg.frame0))))


def per_round(a: Config, b: Config, what: Callable[[Config], list[float]]) -> float:
    """Median over rounds of a's figure over b's (both measured in the same round)."""
    return statistics.median(x / y for x, y in zip(what(a), what(b), strict=True))


@dataclass(frozen=True)
class Subject:
    """A model to benchmark: a zoo model (facts from its manifest) or an ONNX file given by path."""

    name: str
    path: Path
    channels: int
    multiple: int
    static: tuple[int, int] | None
    about: str


def subject(name: str) -> Subject:
    """``name`` as a zoo model, or as a path to an ONNX file (its facts read from the model)."""
    manifest = json.loads((ZOO / "manifest.json").read_text())
    if name in manifest:
        facts = manifest[name]
        static = tuple(facts["sizes"][0]) if facts["fixed_size"] else None  # (SCUNet: 64x64, square)
        return Subject(name, ZOO / facts["file"], int(facts["inputs"][0]["shape"][1]), int(facts["multiple"]),
                       (static[0], static[1]) if static else None,
                       f"{facts['architecture']}, {facts['scale']}x, zoo stand-in")
    path = Path(name)
    if not path.is_file():
        raise SystemExit(f"{name}: neither a zoo model ({', '.join(manifest)}) nor an ONNX file")
    from vsinfer.model import model_info
    from vsinfer.sizes import model_multiple

    info = model_info(path)
    tensor = info.input()
    w, h = tensor.spatial
    return Subject(path.stem, path, tensor.channels or 3, model_multiple(info).multiple or 1,
                   (w, h) if w and h else None, str(path))


@dataclass
class ModelResult:
    """What one model measured."""

    name: str
    size: tuple[int, int]
    quant: Quantized | None
    quant_wall_s: float
    refused: str | None
    configs: list[Config]


def bench_model(subj: Subject, size: tuple[int, int], opts: argparse.Namespace, cache: Path) -> ModelResult:
    """Quantize the model, then time every configuration on it."""
    from vsinfer import Backend
    from vsinfer.errors import QualityError
    from vsinfer.model import model_info
    from vsinfer.quantize import quantize
    from vsinfer.quantize.pictures import held_out_count

    name, model, channels = subj.name, subj.path, subj.channels
    width, height = size
    print(f"\n## {name} ({subj.about}) at {width}x{height}", flush=True)

    calibration = opts.calibration
    judged = held_out_count(calibration)
    length = 2 * (calibration + judged)  # quantize spreads its frames over the clip
    cal_clips = with_noise_plane(lazy_clip(width, height, length), channels)
    start = time.perf_counter()
    quant: Quantized | None = None
    refused = None
    try:
        quant = quantize(model, cal_clips, frames=calibration, min_psnr=opts.min_psnr, cache_dir=cache,
                         progress=lambda line: print(f"    quantize: {line}", flush=True))
    except QualityError as exc:
        refused = f"refused: {exc.psnr_db:.1f} dB < {opts.min_psnr:g}"
        print(f"  quantize {refused} ({exc})")
    except Exception as exc:  # a failure of the quantizer on this model: the float runs are still timed
        refused = f"failed: {type(exc).__name__}"
        print(f"  quantize {refused}: {str(exc)[-1500:]}")
    wall = time.perf_counter() - start
    if quant is not None:
        print(f"  quantize: {quant.psnr_db:.2f} dB PSNR, max error {quant.max_error:.3g} vs float32 on "
              f"{len(quant.held_out_frames)} held-out crops; {len(quant.excluded)} nodes kept in float"
              f"{': ' + ', '.join(quant.excluded) if quant.excluded else ''}; {quant.seconds:.1f} s "
              f"({wall:.1f} s with reading {calibration + judged} frames); calibrated on frames "
              f"{list(quant.calibration_frames)} of 0..{length - 1}; {quant.path.stat().st_size / 1e6:.2f} MB "
              f"(float {model.stat().st_size / 1e6:.2f} MB)", flush=True)
    del cal_clips
    gc.collect()

    clips = with_noise_plane(stored_clip(width, height, length, opts.frames), channels)
    default = Backend.OV_CPU()
    computes = default.effective_precision()[0]
    configs = [Config(REFERENCE, Backend.OV_CPU(fp16=False), False, "fp32"),
               Config(f"OV {computes} (OV_CPU())", default, False, computes)]
    if quant is not None:
        plugin_backend = default.plugin_model(model_info(quant.path), 32)[0]
        rest = plugin_backend.effective_precision()[0]
        configs.append(Config("OV INT8 (OV_CPU())", default, True, f"int8 + {rest}"))
    if not opts.no_ort:
        configs.append(Config("ORT float32", Backend.ORT_CPU(fp16=False), False, "fp32"))
        if quant is not None:
            ort = Backend.ORT_CPU()
            configs.append(Config("ORT INT8 (ORT_CPU())", ort, True, f"int8 + {ort.effective_precision()[0]}"))

    def path_of(cfg: Config) -> Path:
        return quant.path if cfg.int8 and quant is not None else model

    compared = min(opts.frames, opts.error_frames)
    reference: list[Array] = []
    for cfg in configs:  # untimed first use: the guard's analysis, the error; a fresh node each
        t0 = time.perf_counter()
        out = output_of(cfg.backend, clips, path_of(cfg), compared)
        if not reference:
            reference = out
            low = min(float(a.min()) for a in out)
            high = max(float(a.max()) for a in out)
            print(f"  float32 output range [{low:.3g}, {high:.3g}] (PSNR is over 0..1: a model whose output goes "
                  f"far past it shows a low PSNR for a small relative error)" if high - low > 1.5 else
                  f"  float32 output range [{low:.3g}, {high:.3g}]", flush=True)
        cfg.psnr_db, cfg.max_error = compare(out, reference)
        cfg.frame0 = out[0]
        print(f"  first use  {cfg.name:28s} {time.perf_counter() - t0:7.2f} s for {compared} frames; vs float32 "
              f"{cfg.psnr_db:6.2f} dB, max {cfg.max_error:.3g}", flush=True)
        del out
    gc.collect()
    for r in range(opts.rounds):
        for cfg in configs if r % 2 == 0 else list(reversed(configs)):
            timed_run(cfg, clips, path_of(cfg), opts.frames, opts.requests)
            gc.collect()
            print(f"  round {r + 1} {cfg.name:28s} {cfg.fps[-1]:8.3f} fps, graph + first frame {cfg.first[-1]:7.2f} s",
                  flush=True)
    for cfg in configs:
        if cfg.drift > 0:
            print(f"  note: {cfg.name}: a timed run's frame 0 differs from its untimed run's by up to {cfg.drift:.3g}")
        cfg.frame0 = None
    return ModelResult(name, size, quant, wall, refused, configs)


# -- report ---------------------------------------------------------------------------------------------------------
def versions() -> str:
    """vsinfer, VapourSynth, the plugins and the runtimes they bundle, onnxruntime (the quantizer), onnx."""
    from importlib.metadata import PackageNotFoundError, version

    import onnx
    import onnxruntime
    import vapoursynth as vs

    from vsinfer.plugins import plugin_info

    try:
        ours = version("vsinfer")
    except PackageNotFoundError:
        ours = "?"
    ov = plugin_info("ov") or {}
    ort = plugin_info("ort") or {}
    return (f"vsinfer {ours}; VapourSynth {vs.__version__}; core.ov {ov.get('version', '?')} (OpenVINO "
            f"{ov.get('openvino_version_build', '?')}); core.ort {ort.get('version', '?')} (onnxruntime "
            f"{ort.get('onnxruntime_version', '?')}); quantizer onnxruntime {onnxruntime.__version__}; onnx "
            f"{onnx.__version__}; numpy {np.__version__}")


def fmt(value: float | None, spec: str) -> str:
    """``value`` formatted, or "-"."""
    if value is None or math.isnan(value):
        return "-"
    return "inf" if math.isinf(value) else format(value, spec)


def report(results: Sequence[ModelResult], opts: argparse.Namespace) -> None:
    """Medians, ratios and the markdown tables."""
    print("\n# Summary (medians over rounds; ratios per round, then their median)")
    rows: list[list[str]] = []
    for res in results:
        by = {c.name: c for c in res.configs}
        ref = by[REFERENCE]
        default = res.configs[1]
        int8 = next((c for c in res.configs if c.int8 and c.name.startswith("OV")), None)
        ort32 = by.get("ORT float32")
        ort8 = next((c for c in res.configs if c.int8 and c.name.startswith("ORT")), None)
        print(f"\n{res.name} {res.size[0]}x{res.size[1]}:")
        for cfg in res.configs:
            fps, first = statistics.median(cfg.fps), statistics.median(cfg.first)
            x32 = per_round(cfg, ref, lambda c: c.fps)
            xdef = per_round(cfg, default, lambda c: c.fps)
            print(f"  {cfg.name:28s} {cfg.computes:12s} {fps:8.3f} fps  first {first:7.2f} s  x float32 {x32:6.3f}  "
                  f"x OV_CPU() {xdef:6.3f}  vs float32 {fmt(cfg.psnr_db, '.2f')} dB, max {fmt(cfg.max_error, '.3g')}")
            rows.append([res.name, f"{res.size[0]}x{res.size[1]}", cfg.name, cfg.computes, f"{fps:.3f}",
                         f"{first:.2f}", f"{x32:.2f}", f"{xdef:.2f}", fmt(cfg.psnr_db, ".1f"),
                         fmt(cfg.max_error, ".2g")])
        if int8 is not None:
            print(f"  INT8 / {default.computes} (OV_CPU()): steady fps {per_round(int8, default, lambda c: c.fps):.3f}"
                  f", first frame {per_round(int8, default, lambda c: c.first):.3f}")
            print(f"  INT8 / float32 (OV):          steady fps {per_round(int8, ref, lambda c: c.fps):.3f}, first "
                  f"frame {per_round(int8, ref, lambda c: c.first):.3f}")
        if ort8 is not None and ort32 is not None:
            print(f"  INT8 / float32 (ORT):         steady fps {per_round(ort8, ort32, lambda c: c.fps):.3f}, first "
                  f"frame {per_round(ort8, ort32, lambda c: c.first):.3f}")
        if res.refused:
            print(f"  INT8: quantize {res.refused}: no INT8 run")
            rows.append([res.name, f"{res.size[0]}x{res.size[1]}", "INT8", f"quantize {res.refused}", *["-"] * 6])
    print(f"\nerror: PSNR (0..1 range) and max |difference| against OV_CPU(fp16=False) on the same "
          f"{min(opts.frames, opts.error_frames)} frames (frames the quantization never saw), from the plugins' "
          f"outputs. x float32 / x OV_CPU(): steady fps over OV float32's / OV_CPU()'s on the float model, same "
          f"round. load average at the end {os.getloadavg()[0]:.2f}")

    print("\n## Markdown\n")
    head = ["model", "size", "run", "computes", "fps", "first frame (s)", "x OV float32", "x OV_CPU()",
            "PSNR vs float32 (dB)", "max error vs float32"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i < 4 else "---:" for i in range(len(head))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    qhead = ["model", "calibration frames", "PSNR (held out, dB)", "max error", "kept in float", "quantize time (s)"]
    print("| " + " | ".join(qhead) + " |")
    print("|---|" + "---:|" * (len(qhead) - 1))
    for res in results:
        q = res.quant
        if q is None:
            print(f"| {res.name} | {opts.calibration} | {res.refused} | - | - | {res.quant_wall_s:.1f} |")
        else:
            print(f"| {res.name} | {len(q.calibration_frames)} | {q.psnr_db:.1f} | {q.max_error:.2g} | "
                  f"{len(q.excluded)} | {res.quant_wall_s:.1f} |")


# -- main -----------------------------------------------------------------------------------------------------------
def size_for(subj: Subject, override: tuple[int, int] | None) -> tuple[int, int]:
    """The frame size for ``subj``: its static size, else the size asked rounded down to its multiple."""
    if subj.static is not None:
        return subj.static
    width, height = override or LIGHT.get(subj.name, HEAVY)
    step = max(1, subj.multiple)
    return width - width % step, height - height % step


def parse_size(text: str) -> tuple[int, int]:
    """"WxH" as (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: a size WxH such as 960x540") from exc
    return w, h


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="zoo model names or paths to ONNX files (a trained model), comma-separated")
    parser.add_argument("--size", type=parse_size, default=None,
                        help=f"WxH for every model (default {LIGHT['compact'][0]}x{LIGHT['compact'][1]} for compact, "
                             f"{HEAVY[0]}x{HEAVY[1]} for the others)")
    parser.add_argument("--frames", type=int, default=None,
                        help="frames per run, frame 0 timed apart (default: 8, or 1 + 3 x the VapourSynth threads "
                             "where that is more: the frames past the first round of requests are timed)")
    parser.add_argument("--requests", type=int, default=None,
                        help="frames requested at once (default: the VapourSynth threads, as vspipe does)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--error-frames", type=int, default=4,
                        help="frames compared with float32 (the first ones of the run; default 4)")
    parser.add_argument("--calibration", type=int, default=16, help="quantize's calibration frames (default 16)")
    parser.add_argument("--min-psnr", type=float, default=40.0, help="quantize's bound in dB (default 40)")
    parser.add_argument("--no-ort", action="store_true", help="leave out the ORT_CPU runs")
    parser.add_argument("--quick", action="store_true",
                        help="compact, 128x72, 2 frames, 1 round, 4 calibration frames: checks the script")
    opts = parser.parse_args()
    if opts.quick:
        opts.models, opts.size, opts.frames, opts.rounds, opts.calibration = "compact", (128, 72), 2, 1, 4
        opts.error_frames = 2
    if opts.frames is None:
        import vapoursynth as vs

        opts.frames = max(8, 1 + 3 * (opts.requests or vs.core.num_threads))
    if opts.frames < 2 or opts.rounds < 1 or opts.error_frames < 1:
        parser.error("--frames must be >= 2 (frame 0 is timed apart), --rounds and --error-frames >= 1")
    names = [n.strip() for n in opts.models.split(",") if n.strip()]

    with tempfile.TemporaryDirectory(prefix="vsinfer-int8-") as tmp:
        cache = Path(tmp) / "cache"
        os.environ["VSINFER_CACHE_DIR"] = str(cache)  # before vsinfer reads it: guard decisions go there too
        import vapoursynth as vs

        from vsinfer import Backend
        from vsinfer.device import cpu

        machine = cpu()
        present = [f for f in FLAGS if f in machine.flags]
        absent = [f for f in FLAGS if f not in machine.flags]
        computes, why = Backend.OV_CPU().effective_precision()
        print(f"CPU: {machine.model}, {machine.cores} cores available, load average {os.getloadavg()[0]:.2f} at start; "
              f"{vs.core.num_threads} VapourSynth threads")
        print(f"CPU flags: {' '.join(present) or 'none'} (absent: {' '.join(absent) or 'none'})")
        print(f"OV_CPU() computes {computes} here{': ' + why if why else ''}")
        print(versions())
        rounds = f"{opts.rounds} round{'s' if opts.rounds != 1 else ''}"
        requests = opts.requests or vs.core.num_threads
        print(f"{opts.frames} frames per run ({requests} requested at once), {rounds}, a fresh node per run; "
              f"quantize: {opts.calibration} "
              f"calibration frames, bound {opts.min_psnr:g} dB; private store {cache}")
        subjects = [subject(n) for n in names]
        results = [bench_model(s, size_for(s, opts.size), opts, cache) for s in subjects]
        report(results, opts)


if __name__ == "__main__":
    main()
