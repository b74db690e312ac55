"""A stand-in ``migraphx-driver`` (no ROCm here) that takes its arguments and reads the model like the real one.

Facts of the real driver (AMDMIGraphX src/driver: main.cpp, argument_parser.hpp; onnx/onnx_parser.cpp):

* ``migraphx-driver <command> ...``; an unknown command prints "error: ... is not a valid command" and exits 0.
* Options are keywords with a number of values: switches take none (``--onnx`` is a switch: the model is the
  positional ``<input file>``), ``--output`` one, ``--input-dim`` every value up to the next keyword. A word that is
  no keyword (a misspelt option too) joins the values of the keyword before it, or the positional arguments.
* Argument errors (a missing or non-existing ``<input file>``, a stray word) print "error: ..." on stdout, write
  nothing and exit 0.
* The model is parsed when compiling: a file that is not ONNX, an unknown operator or a shape the graph cannot take
  throws, and the uncaught exception aborts the process (SIGABRT). ``--input-dim @name d1 d2 ...`` sets the shape
  of the input ``name``; a name the graph has no input for is ignored.
* ``--output`` with ``--binary`` writes the compiled program and exits 0.

The program written here is JSON after a magic line: the shapes and settings it was compiled with, for the tests.
Every call appends its arguments, ``MY_FLAG`` (a custom_env value) and the HIP device lists it sees to the file
named by ``FAKE_DRIVER_LOG``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

MAGIC = b"fake MIGraphX program\n"

VALUES: dict[str, int] = {
    **dict.fromkeys(["--test", "--onnx", "--tf", "--migraphx", "--migraphx-json", "--nhwc", "--nchw",
                     "--skip-unknown-operators", "--optimize", "-O", "--mlir", "--graphviz", "-g", "--brief", "--cpp",
                     "--python", "--py", "--json", "--text", "--binary", "--netron", "--gpu", "--cpu", "--ref",
                     "--enable-offload-copy", "--disable-fast-math", "--exhaustive-tune", "--fp16", "--bf16",
                     "--int8", "--fp8", "--int4-weights"], 0),
    **dict.fromkeys(["--batch", "--trim", "-t", "--trim-size", "-s", "--default-dyn-dim", "--output", "-o"], 1),
    **dict.fromkeys(["--input-dim", "--dim-param", "--dyn-input-dim", "--output-names", "--apply-pass", "-p",
                     "--fill0", "--fill1", "--load-arg"], 2),
}
"""The compile command's keywords and how many values each takes (2: every value up to the next keyword)."""

COMMANDS = ("compile", "read", "params", "run", "perf", "verify", "roctx", "time", "op", "onnx", "tf")


def refuse(message: str) -> NoReturn:
    """An argument error: "error: ..." on stdout, nothing written, exit status 0 (the real driver's behaviour)."""
    print(f"error: {message}")
    sys.exit(0)


def abort(message: str) -> NoReturn:
    """An exception while compiling: the terminate handler's message on stderr, then SIGABRT."""
    print(f"terminate called after throwing an instance of 'migraphx::exception'\n  what():  {message}",
          file=sys.stderr, flush=True)
    os.abort()


def parse(words: list[str]) -> dict[str, list[str]]:
    """The driver's keyword parse: keyword -> its values; "" -> the positional arguments."""
    found: dict[str, list[str]] = {}
    current, one_value = "", False
    for word in words:
        if word in VALUES:
            found.setdefault(word, [])
            count = VALUES[word]
            current = word if count else ""
            one_value = count == 1
            continue
        found.setdefault(current, []).append(word)
        if one_value:
            current, one_value = "", False
    return found


def input_dims(values: list[str]) -> dict[str, list[int]]:
    """``@name d1 d2 ...`` groups; a dimension that is not an unsigned integer throws (an abort)."""
    dims: dict[str, list[int]] = {}
    name = ""
    for value in values:
        if value.startswith("@"):
            name = value[1:]
            dims[name] = []
        elif value.isdigit():
            dims.setdefault(name, []).append(int(value))
        else:
            abort(f"Failed to parse '{value}' as unsigned long")
    return dims


def compile_model(path: str, dims: dict[str, list[int]]) -> dict[str, list[int]]:
    """Read the model as the ONNX parser does; the shape of each graph input the program is compiled for."""
    import onnx
    from onnx import shape_inference

    try:
        model = onnx.load(path)
    except Exception:
        abort(f"PARSE_FROM: Failed reading onnx file: {path}")
    graph = model.graph
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or not onnx.defs.has(node.op_type):
            abort(f"Unknown operator: {node.op_type}")
    weights = {t.name for t in graph.initializer}
    shapes: dict[str, list[int]] = {}
    for tensor in graph.input:
        if tensor.name in weights:
            continue
        wanted = dims.get(tensor.name)
        model_dims = tensor.type.tensor_type.shape.dim
        if wanted is None:  # the model's own dims; a symbolic one is dynamic
            shapes[tensor.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in model_dims]
            continue
        shapes[tensor.name] = wanted
        del model_dims[:]
        for size in wanted:
            model_dims.add().dim_value = size
    try:
        shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as exc:
        abort(f"compute_shape: {str(exc).strip().splitlines()[-1]}")
    weights_dims = {t.name: list(t.dims) for t in graph.initializer}
    for node in graph.node:  # ONNX's shape inference leaves this to the runtime; MIGraphX's convolution checks it
        if node.op_type == "Conv" and node.input[0] in shapes and node.input[1] in weights_dims:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            dims, kernel = shapes[node.input[0]], weights_dims[node.input[1]]
            if len(dims) != len(kernel) or (dims[1] >= 0 and dims[1] != kernel[1] * group):
                abort(f"{node.name or 'Conv'}: CONVOLUTION: compute_shape: mismatched channel numbers: input {dims}, "
                      f"weights {kernel}")
    return shapes


def main(argv: list[str]) -> int:
    log = os.environ.get("FAKE_DRIVER_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(" ".join(argv) + "\n" + f"MY_FLAG={os.environ.get('MY_FLAG', '')}\n"
                    f"HIP_VISIBLE_DEVICES={os.environ.get('HIP_VISIBLE_DEVICES', '')} "
                    f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')}\n")
    if not argv or argv[0] not in COMMANDS:
        refuse(f"'{argv[0] if argv else ''}' is not a valid command.")
    if argv[0] != "compile":
        refuse(f"the stand-in knows compile only, not {argv[0]}")
    found = parse(argv[1:])
    positional = found.get("", [])
    if not positional:
        refuse("The following required arguments were not provided:\n       <input file>")
    source = positional[-1]
    if source.startswith("-"):
        refuse(f"Found argument '{source}' which wasn't expected, or isn't valid in this context")
    if not Path(source).exists():
        refuse(f"Invalid input to '<input file>'\n       Path does not exist: {source}")
    print("Compiling ... ", flush=True)
    shapes = compile_model(source, input_dims(found.get("--input-dim", [])))
    program: dict[str, Any] = {
        "inputs": shapes, "target": "cpu" if "--cpu" in found else "ref" if "--ref" in found else "gpu",
        "fp16": "--fp16" in found, "bf16": "--bf16" in found, "fast_math": "--disable-fast-math" not in found,
        "exhaustive_tune": "--exhaustive-tune" in found, "offload_copy": "--enable-offload-copy" in found,
    }
    output = (found.get("--output") or found.get("-o") or [""])[-1]
    if not output:
        print(json.dumps(program))
        return 0
    with open(output, "wb") as f:
        f.write(MAGIC + json.dumps(program).encode())  # binary: --binary, or the default with --output
    return 0


def read_program(path: Path) -> dict[str, Any]:
    """What a program written by the stand-in was compiled for."""
    data = path.read_bytes()
    assert data.startswith(MAGIC), data[:40]
    program: dict[str, Any] = json.loads(data[len(MAGIC):])
    return program


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
