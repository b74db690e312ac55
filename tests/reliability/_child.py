"""A child process of the reliability tests: builds one engine, with test-only hooks, and reports on stdout.

    python -m tests.reliability._child '<json spec>'

spec: ``model``, ``tile`` [w, h], ``backend`` (TRT_RTX keyword arguments), ``events`` (a file every child
appends "<id> <event> <monotonic ns>" lines to), ``id``, and optionally:
``barrier`` {"dir", "n"}: write ``ready-<id>`` there and wait for ``go`` before calling;
``wait_for`` ["<id> <event>", ...]: inside the build, first wait until the events file holds each of them;
``hang`` one of "build", "engine-in-temp", "engine-placed", "sidecar-in-temp", "committed": log the event
``hang-<point>`` and sleep at that point, for the parent to SIGKILL ("build": TensorRT goes on building in a thread
while the call waits for it and then sleeps, so the kill never races the build's end).

Everything here patches the library inside this child only; the library has no test hooks.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

TIMEOUT_S = 300.0


def main() -> None:
    spec = json.loads(sys.argv[1])
    events = Path(spec["events"])
    me = str(spec["id"])

    def log(event: str) -> None:
        with open(events, "a") as f:
            f.write(f"{me} {event} {time.monotonic_ns()}\n")

    def wait_until(check: Any, what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not check():
            if time.monotonic() > deadline:
                log("timeout-" + what.replace(" ", ":"))
                return
            time.sleep(0.01)

    def seen(entry: str) -> bool:  # entry: "<id> <event>"
        return any(" ".join(line.split()[:2]) == entry for line in events.read_text().splitlines())

    import tensorrt_rtx  # noqa: F401  (imported before the barrier so that the calls start together)

    import vsinfer.backends.trt.builder as trt_module
    import vsinfer.store.artifacts as store_module
    from vsinfer import Backend
    from vsinfer.identity import DeviceInfo

    trt_module.plugin_device = lambda namespace, device_id: DeviceInfo("Test RTX 4090", "8.9")  # type: ignore[assignment]
    hang = spec.get("hang")

    def stop(point: str) -> None:
        log(f"hang-{point}")
        time.sleep(3600)

    real_build = trt_module.EngineBuilder.build

    def build(self: Any, onnx_path: Path, *args: Any, **kwargs: Any) -> None:
        log("build-start")
        for event in spec.get("wait_for", []):
            wait_until(lambda e=event: seen(e), event)
        if hang == "build":  # TensorRT builds in a thread and this call never returns: the parent's SIGKILL lands
            # while TensorRT builds or after it wrote the temp file, never after a commit (no race with the build)
            worker = threading.Thread(target=real_build, args=(self, onnx_path, *args), kwargs=kwargs, daemon=True)
            worker.start()
            log("hang-build")
            worker.join()
            time.sleep(3600)
        real_build(self, onnx_path, *args, **kwargs)
        log("build-end")
        if hang == "engine-in-temp":
            stop(hang)

    trt_module.EngineBuilder.build = build  # type: ignore[method-assign]

    real_atomic_write = store_module.atomic_write
    real_replace = os.replace

    def atomic_write(path: Path, data: Any) -> None:
        if hang == "engine-placed" and path.parent.name == "trt" and path.suffix == ".json":
            stop(hang)  # the engine was moved into place, its sidecar not yet written
        real_atomic_write(path, data)

    def replace(src: Any, dst: Any) -> None:
        if hang == "sidecar-in-temp" and str(dst).endswith(".json") and Path(dst).parent.name == "trt":
            stop(hang)  # the sidecar's temp file is written, not yet moved into place
        real_replace(src, dst)

    real_commit = store_module.Store._commit

    def commit(self: Any, path: Path, *args: Any, **kwargs: Any) -> None:
        real_commit(self, path, *args, **kwargs)
        if hang == "committed" and path.suffix == ".engine":
            stop(hang)  # committed, the lock still held

    store_module.atomic_write = atomic_write  # type: ignore[assignment]
    os.replace = replace  # type: ignore[assignment]
    store_module.Store._commit = commit  # type: ignore[method-assign]

    barrier = spec.get("barrier")
    if barrier:
        Path(barrier["dir"], f"ready-{me}").touch()
        wait_until(lambda: Path(barrier["dir"], "go").exists(), "go")
    log("calling")
    engine = Backend.TRT_RTX(**spec.get("backend", {})).build_engine(spec["model"], 3, tuple(spec["tile"]))
    log("returned")
    print(json.dumps({"engine": str(engine), "crc32": zlib.crc32(engine.read_bytes())}))


if __name__ == "__main__":
    main()
