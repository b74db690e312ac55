"""vsinfer's defaults against vs-jetpack's (the peer), side by side, through vspipe.

For every CPU backend family here (OV_CPU, ORT_CPU, and NCNN when a Vulkan device exists), the same model and
clip (1280x720 RGBS, 48 frames) run through ``vspipe`` once with vs-jetpack's class (``vsscale.mlrt.Backend``)
and once with vsinfer's, both with default fields, in interleaved rounds (who goes first alternates). Each run
is a fresh vspipe process, so no frame cache or session carries over. Printed per run: import time, graph
construction, first frame (session / compiled model creation included), steady fps over the remaining
frames, peak RSS; then medians and the ratio ours / peer.

    .venv/bin/python benchmarks/vs_peer.py [--rounds 3] [--frames 48] [--size 1280x720] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "src" / "vsinfer" / "models" / "demo_2x.onnx"

SCRIPT = """
import json, resource, time
T0 = time.perf_counter()
import vapoursynth as vs
{imports}
T1 = time.perf_counter()
core = vs.core
clip = core.std.BlankClip(width={width}, height={height}, format=vs.RGBS, length={frames},
                          color=[0.2, 0.4, 0.6], keep=False)
out = {call}
T2 = time.perf_counter()
stamps = []

def stamp(n, f):
    stamps.append(time.perf_counter())
    if len(stamps) == {frames}:
        with open({result!r}, "w") as fh:
            json.dump({{"import": T1 - T0, "graph": T2 - T1, "stamps": [s - T2 for s in stamps],
                       "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                       "format": str(out.format.name), "size": [out.width, out.height]}}, fh)
    return f

core.std.ModifyFrame(out, out, stamp).set_output()
"""


@dataclass(frozen=True)
class Run:
    """One vspipe run's figures."""

    label: str
    import_s: float
    graph_s: float
    first_frame_s: float
    fps: float
    """Steady frames per second: frames 2..N over the time from the first to the last finished frame."""
    total_s: float
    maxrss_mib: float
    out_format: str

    @property
    def to_first_s(self) -> float:
        """Graph construction plus first frame: vs-jetpack renders frame 0 while building the graph (its ``depth``
        reads frame properties), so its first frame alone looks instant."""
        return self.graph_s + self.first_frame_s


def vspipe_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return env


def run_vspipe(label: str, imports: str, call: str, width: int, height: int, frames: int, tmp: Path,
               env: dict[str, str] | None = None) -> Run:
    """Render ``call`` (an expression using ``clip``) once through vspipe and read its timestamps."""
    stem = "".join(c if c.isalnum() else "_" for c in label)
    result = tmp / f"{stem}.json"
    result.unlink(missing_ok=True)
    script = tmp / f"{stem}.vpy"
    script.write_text(SCRIPT.format(imports=textwrap.dedent(imports), call=call, width=width, height=height,
                                    frames=frames, result=str(result)))
    vspipe = Path(sys.executable).parent / "vspipe"
    proc = subprocess.run([str(vspipe), str(script), "--"], capture_output=True, text=True,
                          env=env or vspipe_env(), check=False)
    if proc.returncode != 0 or not result.exists():
        raise RuntimeError(f"{label}: vspipe failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    data = json.loads(result.read_text())
    stamps = sorted(data["stamps"])
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
    return Run(label, data["import"], data["graph"], stamps[0], steady, stamps[-1], data["maxrss_kib"] / 1024,
               data["format"])


PEER_IMPORT = "from vsscale.mlrt import Backend as JB"
OURS_IMPORT = "from vsinfer import Backend"


def families(with_ncnn: bool) -> list[tuple[str, str, str]]:
    """(family, peer expression, ours expression) with default fields on both sides (the peer needs a tilesize)."""
    names = ["OV_CPU", "ORT_CPU"] + (["NCNN"] if with_ncnn else [])
    return [(n, f"JB.{n}().inference(clip, MODEL, (0, 0), (W, H))", f"Backend.{n}().inference(clip, MODEL)")
            for n in names]


NCNN_CPU_DEVICE = 3
"""ncnn's device type of a CPU Vulkan driver (lavapipe): 0 discrete, 1 integrated, 2 virtual, 3 CPU."""


def vulkan_device() -> tuple[str, bool] | None:
    """(name, is a CPU device) of the Vulkan device core.ncnn sees, or None (asked in a child process)."""
    code = ("import vapoursynth as vs; p = vs.core.ncnn.DeviceProperties(device_id=0); "
            "print(p['type'], p['device_name'].decode() if isinstance(p['device_name'], bytes) else p['device_name'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    kind, _, name = proc.stdout.strip().splitlines()[-1].partition(" ")
    return name, kind == str(NCNN_CPU_DEVICE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--model", type=Path, default=DEMO)
    parser.add_argument("--families", default="", help="comma-separated subset of OV_CPU,ORT_CPU,NCNN")
    parser.add_argument("--slow-frames", type=int, default=3,
                        help="frames (and one round) for NCNN on a CPU Vulkan driver, which runs at ~0.03 fps here")
    opts = parser.parse_args()
    width, height = (int(v) for v in opts.size.lower().split("x"))
    vulkan = vulkan_device()
    rows = families(vulkan is not None)
    if opts.families:
        wanted = {f.strip().upper() for f in opts.families.split(",")}
        rows = [r for r in rows if r[0] in wanted]
    if vulkan is None:
        ncnn_note = "no Vulkan device, skipped"
    elif vulkan[1]:
        ncnn_note = f"Vulkan device {vulkan[0]} is a CPU driver: {opts.slow_frames} frames, 1 round"
    else:
        ncnn_note = f"Vulkan device {vulkan[0]}"
    print(f"model {opts.model.name}, clip {width}x{height} RGBS, {opts.frames} frames, vspipe, {opts.rounds} "
          f"rounds interleaved; NCNN: {ncnn_note}")
    print(f"cores: {len(os.sched_getaffinity(0))}; peer: vsjetpack {_version('vsjetpack')}; ours: vsinfer "
          f"{_version('vsinfer')}")
    prelude = f"MODEL = {str(opts.model)!r}\nW, H = {width}, {height}\n"
    summary = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for family, peer_call, ours_call in rows:
            runs: dict[str, list[Run]] = {"peer": [], "ours": []}
            slow = family == "NCNN" and vulkan is not None and vulkan[1]
            frames, rounds = (opts.slow_frames, 1) if slow else (opts.frames, opts.rounds)
            for r in range(rounds):
                order = ("peer", "ours") if r % 2 == 0 else ("ours", "peer")
                for side in order:
                    imports = (PEER_IMPORT if side == "peer" else OURS_IMPORT) + "\n" + prelude
                    call = peer_call if side == "peer" else ours_call
                    run = run_vspipe(f"{family} {side}", imports, call, width, height, frames, tmp)
                    runs[side].append(run)
                    print(f"  round {r + 1} {family:8s} {side:4s}: {run.fps:6.2f} fps steady, graph + first frame "
                          f"{run.to_first_s:6.3f} s (graph {run.graph_s * 1e3:6.1f} ms), import "
                          f"{run.import_s:5.2f} s, peak RSS {run.maxrss_mib:6.0f} MiB, out {run.out_format}",
                          flush=True)
            med = {side: statistics.median(x.fps for x in rs) for side, rs in runs.items()}
            first = {side: statistics.median(x.to_first_s for x in rs) for side, rs in runs.items()}
            rss = {side: statistics.median(x.maxrss_mib for x in rs) for side, rs in runs.items()}
            ratio = statistics.median(o.fps / p.fps for o, p in zip(runs["ours"], runs["peer"], strict=True))
            summary.append((family, med, first, rss, ratio))
    print()
    print(f"{'family':8s} {'peer fps':>9s} {'ours fps':>9s} {'ours/peer':>9s} {'to 1st peer':>12s} "
          f"{'to 1st ours':>12s} {'RSS peer':>9s} {'RSS ours':>9s}")
    for family, med, first, rss, ratio in summary:
        print(f"{family:8s} {med['peer']:9.2f} {med['ours']:9.2f} {ratio:9.3f} {first['peer']:11.3f}s "
              f"{first['ours']:11.3f}s {rss['peer']:8.0f}M {rss['ours']:8.0f}M")
    print("(ours/peer: median over rounds of the per-round ratio of steady fps; to 1st: graph construction + first "
          "frame, medians)")


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    main()
