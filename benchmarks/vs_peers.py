"""vsinfer against both peers on the CPU families in one run: fps, first frame, error vs float32, GFLOP/s.

For OV_CPU, ORT_CPU and NCNN (on a machine without a GPU, NCNN runs on lavapipe, Mesa's CPU Vulkan driver: it is
included, at a smaller frame size, and said so), each of these configurations runs through ``vspipe`` in its own
fresh process (no frame cache, session or compiled model carries over), once per round, rounds interleaved with
the order reversed every other round:

- vsinfer's default (``Backend.OV_CPU()``, ``Backend.ORT_CPU()``, ``Backend.NCNN()``);
- vsinfer's autotune pick (``vsinfer.tune.tune(MODEL, clip)``, whose 2x2 tiles with the model's measured context as
  overlap compete with the whole frame; tuned once before the rounds by ``vsinfer tune --tiles`` in a fresh
  process: its tuning time is printed; the scripts reuse the stored decision and run ``.inference(clip, MODEL)``,
  tiles included);
- vsinfer's autotune pick with a tolerance below OpenVINO's measured error of its default (the rejection path: it
  must pick OpenVINO in float32, not another family);
- vs-jetpack's defaults (``vsscale.mlrt.Backend.<family>()``, as ``benchmarks/vs_peer.py`` drives them);
- vs-mlrt's defaults reproduced as plain plugin calls (its vsmlrt.py does not run on VapourSynth R81): float32,
  ``num_streams=1``; OpenVINO with ``INFERENCE_PRECISION_HINT=f32``, one stream, pinning on, threads automatic.

Per configuration: steady fps (frames 1..N-1; frame 0 apart), graph construction + first frame, the largest
difference of frame 0 from the float32 output (vs-mlrt's ORT call), GFLOP/s (the model's convolution FLOPs per
frame x fps), and the share of this machine's measured peak: a compute-bound convolution stack (4 x 3x3 conv,
128 -> 128 channels) through the same runtime at each precision, in the same rounds (its best round counts).

With ``--no-bf16`` every process runs as on a CPU without bf16 or fp16 arithmetic (``benchmarks/no_bf16``: OpenVINO's
f16 and bf16 hints become f32, as OpenVINO does there, and vsinfer sees the CPU's flags without them); vs-jetpack's
OpenVINO default is then written as its f32 form ``OV_CPU(fp16=False)``, which is what its f16 hint computes there.

    .venv/bin/python benchmarks/vs_peers.py [--rounds 2] [--frames 10] [--size 1280x720] [--ncnn-size 320x180]
                                            [--model PATH] [--no-ncnn] [--no-bf16]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vsinfer.backends.ov.backend import cpu_reduced_precision
from vsinfer.device import cpu

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_peer import DEMO, OURS_IMPORT, PEER_IMPORT, vspipe_env, vulkan_device

PRECISION_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16", "amx_int8", "avx512_vnni",
                             "avx512f", "avx2"})
"""The CPU flags printed with the figures (what OpenVINO's kernels depend on)."""
NATIVE_HALF = frozenset({"avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16"})
"""The flags ``--no-bf16`` takes away (``benchmarks/no_bf16``)."""

SCRIPT = """
import json, resource, time
T0 = time.perf_counter()
import numpy as np
import vapoursynth as vs
{imports}
T1 = time.perf_counter()
core = vs.core

def structured(width, height, length):
    # smooth gradients and a little noise, every frame alike (as vsinfer.bench.synthetic_clip)
    blank = core.std.BlankClip(width=width, height=height, format=vs.RGBS, length=length)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = blank.get_frame(0).copy()
    for p in range(3):
        wave = 0.5 + 0.25 * np.sin(x / (17.0 + 5 * p)) * np.cos(y / (23.0 + 3 * p))
        np.copyto(np.asarray(frame[p]), np.clip(wave + rng.normal(0.0, 0.03, wave.shape), 0, 1).astype(np.float32))
    return core.std.ModifyFrame(blank, blank, lambda n, f: frame)

clip = structured({width}, {height}, {frames})
T1b = time.perf_counter()
out = {call}
T2 = time.perf_counter()
stamps = []
kept = []

def stamp(n, f):
    stamps.append(time.perf_counter())
    if n == 0:
        kept.append(np.stack([np.array(f[p], dtype=np.float32) for p in range(f.format.num_planes)]))
    if len(stamps) == {frames}:
        np.save({array!r}, kept[0])
        with open({result!r}, "w") as fh:
            json.dump({{"import": T1 - T0, "graph": T2 - T1b, "stamps": [s - T2 for s in stamps],
                       "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                       "size": [out.width, out.height]}}, fh)
    return f

core.std.ModifyFrame(out, out, stamp).set_output()
"""

TUNE_IMPORT = "from vsinfer.tune import tune"


@dataclass
class Config:
    """One configuration: what runs, at which size, and which peak its runtime is measured against."""

    family: str
    side: str
    imports: str
    call: str
    size: tuple[int, int]
    runtime: str
    """The peak it is measured against: "ov f16 hint", "ov f32", "ort f32", "ncnn f32"."""
    model: Path | None = None
    """None: the benchmarked model; the peak configurations run the convolution stack."""
    runs: list[dict[str, float]] = field(default_factory=list)
    error: float | None = None

    @property
    def name(self) -> str:
        return f"{self.family} {self.side}"


def model_gflop(model: Path, width: int, height: int) -> float:
    """Convolution FLOPs (2 x multiply-adds) of one frame of ``model`` at ``width`` x ``height``, in GFLOP."""
    import onnx

    m = onnx.load(str(model))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].ClearField("dim_param")
    dims[2].dim_value = height
    dims[3].ClearField("dim_param")
    dims[3].dim_value = width
    m = onnx.shape_inference.infer_shapes(m)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*m.graph.value_info, *m.graph.output, *m.graph.input]}
    weights = {i.name: list(i.dims) for i in m.graph.initializer}
    total = 0
    for node in m.graph.node:
        if node.op_type == "Conv":
            out = shapes[node.output[0]]
            w = weights[node.input[1]]  # (cout, cin / group, kh, kw)
            total += 2 * out[0] * out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
    return total / 1e9


def peak_model(path: Path, channels: int = 128, layers: int = 4) -> Path:
    """A compute-bound model: 1x1 conv 3 -> C, ``layers`` x 3x3 conv C -> C, 1x1 conv C -> 3."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits = [], []
    shapes = [(channels, 3, 1, 1)] + [(channels, channels, 3, 3)] * layers + [(3, channels, 1, 1)]
    prev = "input"
    for i, shape in enumerate(shapes):
        w = (rng.standard_normal(shape) / np.sqrt(shape[1] * shape[2] * shape[3])).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        name = "output" if i == len(shapes) - 1 else f"t{i}"
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [name], pads=[shape[2] // 2] * 4, name=f"conv{i}"))
        prev = name
    graph = helper.make_graph(nodes, "peak", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                             [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def mlrt_call(family: str) -> str:
    """vs-mlrt's default for ``family`` as the plain plugin call its vsmlrt.py would make (float32, one stream)."""
    if family == "OV_CPU":
        return ("core.ov.Model([clip], MODEL, (0, 0), (W, H), device='CPU', num_streams=1, fp16=False, "
                "config=lambda: {'NUM_STREAMS': 1, 'INFERENCE_NUM_THREADS': 0, 'ENABLE_CPU_PINNING': 'YES', "
                "'INFERENCE_PRECISION_HINT': 'f32'})")
    if family == "ORT_CPU":
        return "core.ort.Model([clip], MODEL, (0, 0), (W, H), provider='CPU', num_streams=1, fp16=False)"
    return "core.ncnn.Model([clip], MODEL, (0, 0), (W, H), device_id=0, num_streams=1, fp16=False)"


def run_vspipe(cfg_name: str, imports: str, model: Path, call: str, size: tuple[int, int], frames: int, tmp: Path,
               env: dict[str, str]) -> tuple[dict[str, float], np.ndarray]:
    """Render ``call`` once through a fresh vspipe process; its figures and its frame 0."""
    stem = "".join(c if c.isalnum() else "_" for c in cfg_name)
    result, array = tmp / f"{stem}.json", tmp / f"{stem}.npy"
    result.unlink(missing_ok=True)
    array.unlink(missing_ok=True)
    prelude = f"MODEL = {str(model)!r}\nW, H = {size[0]}, {size[1]}\n"
    script = tmp / f"{stem}.vpy"
    script.write_text(SCRIPT.format(imports=textwrap.dedent(imports) + "\n" + prelude, call=call, width=size[0],
                                    height=size[1], frames=frames, result=str(result), array=str(array)))
    vspipe = Path(sys.executable).parent / "vspipe"
    proc = subprocess.run([str(vspipe), str(script), "--"], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or not result.exists():
        raise RuntimeError(f"{cfg_name}: vspipe failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    data = json.loads(result.read_text())
    stamps = sorted(data["stamps"])
    fps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
    return {"fps": fps, "first": data["graph"] + stamps[0], "graph": data["graph"]}, np.load(array)


def tune(model: Path, size: tuple[int, int], env: dict[str, str], tolerance: float | None = None) -> dict:
    """``vsinfer tune`` in a fresh process (``--retune``); its JSON and the wall time of the whole process."""
    cli = [sys.executable, "-m", "vsinfer", "tune", str(model), "--size", f"{size[0]}x{size[1]}", "--json",
           "--retune", "--tiles"]
    if tolerance is not None:
        cli += ["--tolerance", repr(tolerance)]
    t0 = time.perf_counter()
    proc = subprocess.run(cli, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"vsinfer tune failed: {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout)
    data["wall_s"] = time.perf_counter() - t0
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=10, help="frames per run (frame 0 timed apart)")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--ncnn-size", default="320x180", help="NCNN's frame size when its device is a CPU driver")
    parser.add_argument("--ncnn-frames", type=int, default=6)
    parser.add_argument("--model", type=Path, default=DEMO)
    parser.add_argument("--no-ncnn", action="store_true")
    parser.add_argument("--no-bf16", action="store_true", help="emulate a CPU without bf16 or fp16 arithmetic")
    opts = parser.parse_args()
    size = tuple(int(v) for v in opts.size.lower().split("x"))
    assert len(size) == 2
    size2: tuple[int, int] = (size[0], size[1])
    env = vspipe_env()
    if opts.no_bf16:
        env["PYTHONPATH"] = os.pathsep.join((str(Path(__file__).resolve().parent / "no_bf16"), env["PYTHONPATH"]))
    vulkan = None if opts.no_ncnn else vulkan_device()
    ncnn_size = size2
    if vulkan is not None and vulkan[1]:
        w, h = (int(v) for v in opts.ncnn_size.lower().split("x"))
        ncnn_size = (w, h)
    load = os.getloadavg()
    emulated = " (emulated without bf16 / fp16: OpenVINO's f16 hint runs f32)" if opts.no_bf16 else ""
    machine = cpu() if not opts.no_bf16 else dataclasses.replace(cpu(), flags=cpu().flags - NATIVE_HALF)
    rule, why = cpu_reduced_precision(machine)
    print(f"CPU: {machine.model}{emulated}, {len(os.sched_getaffinity(0))} cores, load average {load[0]:.2f} at start; "
          f"model {opts.model.name} ({model_gflop(opts.model, *size2):.1f} GFLOP per {size2[0]}x{size2[1]} frame)")
    print(f"CPU flags that decide precision: {' '.join(sorted(machine.flags & PRECISION_FLAGS)) or 'none'}")
    print(f"OV_CPU() runs {rule} here: {why}")
    if vulkan is None:
        print("NCNN: no Vulkan device (or --no-ncnn): left out")
    elif vulkan[1]:
        print(f"NCNN: the Vulkan device is {vulkan[0]}, a CPU driver (lavapipe): NCNN runs on the CPU here, at "
              f"{ncnn_size[0]}x{ncnn_size[1]}, {opts.ncnn_frames} frames per run, its own interleaved rounds")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env["VSINFER_CACHE_DIR"] = str(tmp / "cache")
        # autotune, in fresh processes; the scripts below reuse the decisions
        tuned = tune(opts.model, size2, env)
        ov_default = next((t for t in tuned["timings"] if t["label"] == "OV_CPU()" and t["max_abs_diff"] is not None),
                          None)
        ov_err = ov_default["max_abs_diff"] if ov_default else None
        strict = (ov_err / 2) if ov_err else None
        print(f"autotune: pick {tuned['backend']} in {tuned['seconds']:.1f} s of tuning ({tuned['wall_s']:.1f} s for "
              f"the whole process); {tuned['reason']}")
        exact = None
        if strict:
            exact = tune(opts.model, size2, env, tolerance=strict)
            print(f"autotune, tolerance {strict:.3g} (half OpenVINO's measured error {ov_err:.3g} of OV_CPU()): pick "
                  f"{exact['backend']} in {exact['seconds']:.1f} s; {exact['reason']}")
        else:
            print("autotune with a tolerance below OpenVINO's error: OV_CPU() is exact here, no rejection path")
        peak = peak_model(tmp / "peak.onnx")
        configs: list[Config] = []
        families = ["OV_CPU", "ORT_CPU"] + (["NCNN"] if vulkan is not None else [])
        exact_peak = {"OV_CPU": "ov f32", "ORT_CPU": "ort f32", "NCNN": "ncnn f32"}
        rule_peak = "ov bf16 hint" if rule == "bf16" else "ov f32"
        jetpack_peak = "ov f32" if opts.no_bf16 else "ov f16 hint"
        default_peak = {"OV_CPU": rule_peak, "ORT_CPU": "ort f32",
                        "NCNN": "ncnn f32"}  # (ORT / NCNN fp16 against their float32 peak)
        for fam in families:
            at = ncnn_size if fam == "NCNN" else size2
            peer_fields = "fp16=False" if opts.no_bf16 and fam == "OV_CPU" else ""
            configs += [
                Config(fam, "vsinfer default", OURS_IMPORT, f"Backend.{fam}().inference(clip, MODEL)", at,
                       default_peak[fam]),
                Config(fam, "vs-jetpack default", PEER_IMPORT,
                       f"JB.{fam}({peer_fields}).inference(clip, MODEL, (0, 0), (W, H))", at,
                       jetpack_peak if fam == "OV_CPU" else default_peak[fam]),
                Config(fam, "vs-mlrt default", "", mlrt_call(fam), at, exact_peak[fam]),
            ]
            if fam == "OV_CPU" and rule != "fp32":  # exact float32, against vs-mlrt's float32 call
                configs.append(Config(fam, "vsinfer fp16=False", OURS_IMPORT,
                                      "Backend.OV_CPU(fp16=False).inference(clip, MODEL)", at, "ov f32"))

        def peak_of(pick: str) -> str:
            if pick.startswith("OV_CPU"):
                return "ov f32" if "fp16=False" in pick else "ov bf16 hint" if "bf16=True" in pick else rule_peak
            return "ort f32" if pick.startswith("ORT") else "?"

        pick_rt = peak_of(tuned["backend"])
        configs.append(Config("autotune", f"pick {tuned['backend']}", TUNE_IMPORT,
                              "tune(MODEL, clip).inference(clip, MODEL)", size2, pick_rt))
        if exact is not None:
            exact_rt = peak_of(exact["backend"])
            configs.append(Config("autotune", f"tol {strict:.2g}: {exact['backend']}", TUNE_IMPORT,
                                  f"tune(MODEL, clip, tolerance={strict!r}).inference(clip, MODEL)", size2,
                                  exact_rt))
        # peaks: a compute-bound convolution stack through each runtime, at each precision that runtime offers
        peak_cfgs = [] if opts.no_bf16 else [
            Config("peak", f"ov {hint} hint", "", "core.ov.Model([clip], MODEL, (0, 0), (W, H), device='CPU', "
                   f"num_streams=1, config=lambda: {{'INFERENCE_PRECISION_HINT': '{hint}'}})", (320, 180), "ov", peak)
            for hint in ("f16", "bf16")]
        peak_cfgs += [
            Config("peak", "ov f32", "", "core.ov.Model([clip], MODEL, (0, 0), (W, H), device='CPU', num_streams=1, "
                   "config=lambda: {'INFERENCE_PRECISION_HINT': 'f32'})", (320, 180), "ov", peak),
            Config("peak", "ort f32", "", mlrt_call("ORT_CPU"), (320, 180), "ort", peak),
        ]
        if vulkan is not None:
            peak_cfgs.append(Config("peak", "ncnn f32", "", mlrt_call("NCNN"), (160, 96), "ncnn", peak))
        refs: dict[tuple[int, int], np.ndarray] = {}
        main_cfgs = [c for c in configs if c.family != "NCNN"] + [c for c in peak_cfgs if c.runtime != "ncnn"]
        slow_cfgs = [c for c in configs if c.family == "NCNN"] + [c for c in peak_cfgs if c.runtime == "ncnn"]

        def run_rounds(group: list[Config], frames: int, peak_frames: int) -> None:
            """Each configuration of ``group`` once per round, the order reversed every other round."""
            for r in range(opts.rounds):
                for cfg in group if r % 2 == 0 else list(reversed(group)):
                    figures, frame0 = run_vspipe(cfg.name, cfg.imports, cfg.model or opts.model, cfg.call, cfg.size,
                                                 frames if cfg.model is None else peak_frames, tmp, env)
                    cfg.runs.append(figures)
                    if cfg.model is not None:
                        print(f"  round {r + 1} {cfg.name:44s} {figures['fps']:6.2f} fps: "
                              f"{model_gflop(cfg.model, *cfg.size) * figures['fps']:6.1f} GFLOP/s", flush=True)
                        continue
                    if cfg.family == "ORT_CPU" and cfg.side == "vs-mlrt default":
                        refs[cfg.size] = frame0
                    np.save(tmp / f"out-{id(cfg)}.npy", frame0)
                    print(f"  round {r + 1} {cfg.name:44s} {figures['fps']:6.2f} fps, graph + first frame "
                          f"{figures['first']:6.2f} s", flush=True)

        run_rounds(main_cfgs, opts.frames, 6)
        if slow_cfgs:
            ref = next(c for c in main_cfgs if c.family == "ORT_CPU" and c.side == "vs-mlrt default")
            _, refs[ncnn_size] = run_vspipe("ncnn reference", "", opts.model, ref.call, ncnn_size, 2, tmp, env)
            run_rounds(slow_cfgs, opts.ncnn_frames, opts.ncnn_frames)
        for cfg in configs:
            out = np.load(tmp / f"out-{id(cfg)}.npy")
            ref_frame = refs.get(cfg.size)
            if ref_frame is not None and ref_frame.shape == out.shape:
                cfg.error = float(np.max(np.abs(out.astype(np.float64) - ref_frame)))
        peaks = {cfg.side: model_gflop(peak, *cfg.size) * max(x["fps"] for x in cfg.runs) for cfg in peak_cfgs}
    print()
    print(f"{'configuration':60s} {'fps':>7s} {'x peer':>7s} {'1st (s)':>8s} {'err vs f32':>11s} {'GFLOP/s':>8s} "
          f"{'of peak':>8s}")
    peer_best: dict[str, Config] = {}
    for fam in families:
        peers = [c for c in configs if c.family == fam and c.side in ("vs-jetpack default", "vs-mlrt default")]
        peer_best[fam] = max(peers, key=lambda c: statistics.median(x["fps"] for x in c.runs))
    fastest_peer = max(peer_best.values(), key=lambda c: statistics.median(x["fps"] for x in c.runs)
                       if c.family != "NCNN" else 0.0)
    for cfg in configs:
        fps = statistics.median(x["fps"] for x in cfg.runs)
        first = statistics.median(x["first"] for x in cfg.runs)
        peer = peer_best.get(cfg.family, fastest_peer)
        ratio = statistics.median(a["fps"] / b["fps"] for a, b in zip(cfg.runs, peer.runs, strict=False))
        gflops = model_gflop(opts.model, *cfg.size) * fps
        top = peaks.get(cfg.runtime)
        share = f"{gflops / top:7.0%}" if top else "      ?"
        err = "?" if cfg.error is None else f"{cfg.error:.2g}"
        size_note = "" if cfg.size == size2 else f" @{cfg.size[0]}x{cfg.size[1]}"
        print(f"{cfg.name + size_note:60s} {fps:7.2f} {ratio:7.3f} {first:8.2f} {err:>11s} {gflops:8.1f} {share}")
    print()
    print("peaks (4 x 3x3 conv 128->128 + 1x1 in/out, one stream, best round): "
          + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peaks.items()))
    print(f"x peer: per-round ratio (median) against the faster peer default of the same family; autotune rows "
          f"against the fastest peer default overall ({fastest_peer.name}). err: max |frame 0 - float32| "
          f"(vs-mlrt's ORT_CPU call, float32). of peak: GFLOP/s over the peak of the same runtime "
          f"and precision (OpenVINO's f16 hint row for the f16-hint configurations; ORT / NCNN fp16 rows against "
          f"their float32 peak). "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    mlrt = {c.family: c for c in configs if c.side == "vs-mlrt default"}
    for cfg in configs:
        if cfg.side.startswith("vsinfer") and cfg.family in mlrt:
            ratio = statistics.median(a["fps"] / b["fps"] for a, b in zip(cfg.runs, mlrt[cfg.family].runs,
                                                                         strict=False))
            print(f"{cfg.name} / vs-mlrt's {cfg.family} call: {ratio:.3f} (error {cfg.error:.2g} vs "
                  f"{mlrt[cfg.family].error:.2g})" if cfg.error is not None and mlrt[cfg.family].error is not None
                  else f"{cfg.name} / vs-mlrt's {cfg.family} call: {ratio:.3f}")
    reduced = {k: v for k, v in peaks.items() if k in ("ov f16 hint", "ov bf16 hint", "ov f32")}
    if reduced:
        fastest = max(reduced, key=lambda k: reduced[k])
        chosen = "ov bf16 hint" if rule == "bf16" else "ov f32"
        verdict = ("the fastest" if chosen == fastest or reduced[chosen] >= 0.97 * reduced[fastest]
                   else f"NOT the fastest ({fastest} is)")
        print(f"precision rule: OV_CPU() runs {rule} on this CPU; measured OpenVINO peaks "
              + ", ".join(f"{k} {v:.1f}" for k, v in reduced.items()) + f" GFLOP/s: the rule's precision is {verdict}")
    if exact is not None:
        ok = exact["backend"].startswith("OV_CPU") and "fp16=False" in exact["backend"]
        print(f"rejection path: with tolerance {strict:.3g} < OpenVINO's error {ov_err:.3g}, autotune picked "
              f"{exact['backend']}: {'OpenVINO in float32, as required' if ok else 'NOT OpenVINO in float32'}")


if __name__ == "__main__":
    main()
