"""What the first-use probe costs once its verdict is stored (a hit), and what a call that needs no probe pays.

The probe itself (a child process rendering one crop) runs once per model, configuration, tile shape, plugin
version, device and CPU; every later call reads the stored verdict. This times, in one process:

- ``first_use.probe`` on a hit (the record read and its key compared), for NCNN on its first Vulkan device;
- ``first_use.checked`` for ``OV_CPU()``, whose default precision needs no probe (the hook answers None);

each as the median of ``--repeat`` calls, after the verdict was made once. The CPU is named.

    .venv/bin/python benchmarks/probe_hit.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from vsinfer import Backend
from vsinfer.backends import first_use
from vsinfer.device import cpu
from vsinfer.model import model_info

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cache_hit import timed

DEMO = Path(__file__).resolve().parents[1] / "src" / "vsinfer" / "models" / "demo_2x.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    opts = parser.parse_args()
    machine = cpu()
    print(f"CPU: {machine.model}, {machine.cores} cores; flags: "
          f"{' '.join(sorted(machine.flags & first_use.HALF_FLAGS)) or 'none of ' + ', '.join(first_use.HALF_FLAGS)}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VSINFER_CACHE_DIR"] = tmp
        model = model_info(DEMO)
        ncnn = Backend.NCNN(fp16=False)
        spec = ncnn.probe_spec(model)
        if spec is None:
            sys.exit("NCNN asks for no probe here")
        t0 = time.perf_counter()
        first_use.probe(model, "ncnn", "network_path", spec, 3, (64, 64), "NCNN")
        cold = time.perf_counter() - t0
        hit = timed(lambda: first_use.probe(model, "ncnn", "network_path", spec, 3, (64, 64), "NCNN"), opts.repeat)
        default = Backend.OV_CPU()
        none = timed(lambda: first_use.checked(default, model, 3, (64, 64), "OV_CPU"), opts.repeat)
    print(f"NCNN probe, first use (child process): {cold * 1e3:8.1f} ms")
    print(f"NCNN probe, a hit (stored verdict):     {hit * 1e3:8.3f} ms  ({'under' if hit < 1e-3 else 'OVER'} 1 ms)")
    print(f"OV_CPU() checked, no probe needed:      {none * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()
