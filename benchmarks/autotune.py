"""Autotune on this machine: tuning time, the pick against the peer's default and against every candidate.

1. ``vsinfer tune MODEL --size 1280x720 --retune`` in a fresh process: the tuning time and the pick.
2. vspipe, interleaved rounds, each run a fresh process rendering its node once: vs-jetpack's ``OV_CPU()``
   (the peer's CPU default), vsinfer's ``OV_CPU()``, the pick (through ``Backend.autotune`` in the script, which
   reuses the decision of step 1: the same model, frame size and format) and the fastest other candidates the
   tuning measured. Printed: steady fps per run, medians, pick / peer and pick / best candidate.
3. The reuse: the script's graph construction, ``Backend.autotune`` included, against the plain default's.

    .venv/bin/python benchmarks/autotune.py [--rounds 3] [--frames 48] [--candidates 3] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_peer import DEMO, OURS_IMPORT, PEER_IMPORT, Run, run_vspipe, vspipe_env


def spec_expression(spec: dict) -> str:
    """``Backend.OV_CPU(num_streams=2)`` from a backend spec."""
    fields = ", ".join(f"{k}={v!r}" for k, v in spec["fields"].items())
    return f"Backend.{spec['class']}({fields})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--candidates", type=int, default=3, help="other candidates re-measured through vspipe")
    parser.add_argument("--model", type=Path, default=DEMO)
    opts = parser.parse_args()
    width, height = (int(v) for v in opts.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = vspipe_env()
        env["VSINFER_CACHE_DIR"] = str(tmp / "cache")
        cli = [sys.executable, "-m", "vsinfer", "tune", str(opts.model), "--size", opts.size, "--json"]
        t0 = time.perf_counter()
        proc = subprocess.run([*cli, "--retune"], capture_output=True, text=True, env=env, check=True)
        wall = time.perf_counter() - t0
        tuned = json.loads(proc.stdout)
        print(f"model {opts.model.name}, {width}x{height} RGBS; tuning: {tuned['seconds']:.1f} s inside autotune "
              f"({wall:.1f} s for the whole `vsinfer tune` process), {len(tuned['timings'])} trials")
        for t in tuned["timings"]:
            note = t["error"] or ("stopped early" if t["stopped_early"] else "")
            print(f"  {t.get('status', ''):8s} {t['label']:48s} {t['fps']:7.2f} fps  first frame "
                  f"{t['first_frame_s']:6.3f} s  {t.get('note', '')}  {note}")
        for i, r in enumerate(tuned.get("ranking", []), 1):
            print(f"  {i}. {r['label']:48s} median {r['median_fps']:6.2f} +- {r['noise_fps']:5.2f} fps, "
                  f"{r['runs']} run(s)")
        print(f"  pick: {tuned['backend']} ({tuned['fps']:.2f} fps median while tuning): {tuned.get('reason', '')}")
        t0 = time.perf_counter()
        again = json.loads(subprocess.run(cli, capture_output=True, text=True, env=env, check=True).stdout)
        print(f"second `vsinfer tune` process: reused={again['reused']}, same pick: "
              f"{again['backend'] == tuned['backend']}, {time.perf_counter() - t0:.2f} s for the whole process")

        pick_spec = next(t["backend"] for t in tuned["timings"] if t["label"] == tuned["backend"])
        others: list[tuple[str, str]] = []
        seen = {json.dumps(pick_spec, sort_keys=True)}
        for t in sorted((t for t in tuned["timings"] if t["error"] is None), key=lambda t: -t["fps"]):
            key = json.dumps(t["backend"], sort_keys=True)
            if key not in seen and t["tilesize"] is None and len(others) < opts.candidates:
                seen.add(key)
                others.append((t["label"], spec_expression(t["backend"]) + ".inference(clip, MODEL)"))
        prelude = f"MODEL = {str(opts.model)!r}\nW, H = {width}, {height}\n"
        configs: list[tuple[str, str, str]] = [
            ("peer OV_CPU()", PEER_IMPORT, "JB.OV_CPU().inference(clip, MODEL, (0, 0), (W, H))"),
            ("ours OV_CPU()", OURS_IMPORT, "Backend.OV_CPU().inference(clip, MODEL)"),
            ("pick (autotune)", OURS_IMPORT, "Backend.autotune(MODEL, clip).inference(clip, MODEL)"),
            *((f"cand {label}", OURS_IMPORT, call) for label, call in others),
        ]
        runs: dict[str, list[Run]] = {label: [] for label, _, _ in configs}
        for r in range(opts.rounds):
            order = configs if r % 2 == 0 else list(reversed(configs))
            for label, imports, call in order:
                run = run_vspipe(label, imports + "\n" + prelude, call, width, height, opts.frames, tmp,
                                 env=env)
                runs[label].append(run)
                print(f"  round {r + 1} {label:48s} {run.fps:6.2f} fps, graph + first frame {run.to_first_s:6.3f} s "
                      f"(graph {run.graph_s * 1e3:7.1f} ms)", flush=True)
    med = {label: statistics.median(x.fps for x in rs) for label, rs in runs.items()}
    graph = {label: statistics.median(x.graph_s for x in rs) for label, rs in runs.items()}
    print()
    for label in runs:
        print(f"{label:52s} {med[label]:7.2f} fps (median)   graph {graph[label] * 1e3:7.1f} ms")

    def ratio(a: str, b: str) -> float:
        return statistics.median(x.fps / y.fps for x, y in zip(runs[a], runs[b], strict=True))

    candidates = [label for label in runs if label.startswith(("cand", "ours"))]
    best = max(candidates, key=lambda label: med[label]) if candidates else None
    print(f"pick / peer OV_CPU(): {ratio('pick (autotune)', 'peer OV_CPU()'):.3f}")
    print(f"pick / ours OV_CPU(): {ratio('pick (autotune)', 'ours OV_CPU()'):.3f}")
    if best is not None:
        print(f"pick / best other candidate ({best}): {ratio('pick (autotune)', best):.3f}")
    print(f"reuse in the vspipe script: graph construction with Backend.autotune {graph['pick (autotune)'] * 1e3:.1f} "
          f"ms vs {graph['ours OV_CPU()'] * 1e3:.1f} ms for OV_CPU() (tuning took {tuned['seconds']:.1f} s)")
    print("(ratios: median over rounds of the per-round ratio of steady fps; vspipe, fresh process per run)")


if __name__ == "__main__":
    main()
