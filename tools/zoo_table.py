"""Print the zoo table of docs/models.md: every zoo model on every CPU backend, against onnxruntime float32.

Each cell runs in its own process (``python -m tests.zoo.cells MODEL BACKEND``, as ``tests/zoo/test_zoo.py`` runs
the NCNN cells), with one cache folder for the run; the cell is its largest difference from onnxruntime float32,
or the vsinfer error that refused it (its type and the first words of its message).

    .venv/bin/python tools/zoo_table.py [--models span,drunet] [--backends ORT_CPU,NCNN]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from vsinfer.device import cpu

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("ORT_CPU", "ORT_CPU_fp16", "OV_CPU", "OV_CPU_fp32", "NCNN", "NCNN_fp32")
HEADERS = {"ORT_CPU": "ORT_CPU", "ORT_CPU_fp16": "ORT_CPU(fp16=True)", "OV_CPU": "OV_CPU",
           "OV_CPU_fp32": "OV_CPU(fp16=False)", "NCNN": "NCNN", "NCNN_fp32": "NCNN(fp16=False)"}


def cell(name: str, backend: str, env: dict[str, str]) -> str:
    """One cell's text: the error, or the refusal."""
    done = subprocess.run([sys.executable, "-m", "tests.zoo.cells", name, backend], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    if done.returncode != 0 or not lines:
        return f"process died ({done.returncode})"
    outcome = json.loads(lines[-1])
    if outcome["kind"] == "picture":
        return f"{outcome['max_error']:.1e}" if outcome["max_error"] else "0"
    return f"{outcome['kind']}: {outcome['error_type']}"


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    opts = parser.parse_args()
    manifest = json.loads((ROOT / "tests" / "data" / "zoo" / "manifest.json").read_text())
    models = [m for m in sorted(manifest) if not opts.models or m in opts.models.split(",")]
    backends = [b for b in opts.backends.split(",") if b]
    machine = cpu()
    print(f"CPU: {machine.model}, {machine.cores} cores{', bf16' if machine.native_bf16 else ''}")
    print("| model | " + " | ".join(HEADERS[b] for b in backends) + " |")
    print("|---|" + "---|" * len(backends))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "VSINFER_CACHE_DIR": cache}
        for name in models:
            print(f"| {name} | " + " | ".join(cell(name, b, env) for b in backends) + " |", flush=True)


if __name__ == "__main__":
    main()
