"""Build the model zoo: small, structurally faithful ONNX exports of the architectures people run.

The zoo is what ``tests/zoo/test_zoo.py`` runs on every backend. The files are checked in under
``tests/data/zoo/`` with ``manifest.json``; nothing in ``make test`` needs this script or its environment.

Environment (an environment of its own, PyPI only; torch brings its CUDA wheels, several GB)::

    $(pyenv root)/versions/3.12.*/bin/python3.12 -m venv /work/zoo-venv
    /work/zoo-venv/bin/pip install torch spandrel spandrel-extra-arches onnx onnxscript onnxruntime

Run (from the repository root)::

    /work/zoo-venv/bin/python tools/make_zoo.py            # every model
    /work/zoo-venv/bin/python tools/make_zoo.py swinir hat  # some of them

Each model is the architecture code of ``spandrel`` (or ``spandrel-extra-arches``) with random weights (seeded)
and fewer blocks and channels than the published models, exported the way community ONNX files are:
``torch.onnx.export`` (TorchScript exporter), opset 17, dynamic height and width, input ``input``, output
``output``. Two models take the other roads users meet: one exported with torch's newer exporter (torch.export,
``dynamo=True``) and one INT8 Q/DQ model (opset 13, ``onnxruntime.quantization.quantize_static``). One is saved
with external data (the ``.data`` file beside it).

The manifest records, per model: architecture, exporter, opset, scale, the size multiple, the sizes onnxruntime
float32 takes (found by running it, not assumed: a TorchScript export freezes shape arithmetic the Python code did
in ints), inputs, outputs and the op types.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "tests" / "data" / "zoo"
EXPORT_SIZE = 64
"""Height and width of the sample the exporters trace with."""
PROBE_SIZES = ((32, 32), (40, 48), (48, 40), (56, 64), (64, 64), (33, 35), (36, 44), (60, 52))
"""Sizes tried with onnxruntime to find what a model takes."""


@dataclass
class Spec:
    """One zoo model: how to build it and how to export it."""

    name: str
    architecture: str
    build: Callable[[], Any]
    scale: int
    in_channels: int = 3
    out_channels: int = 3
    exporter: str = "torchscript"  # "torchscript", "dynamo", "torchscript+qdq"
    opset: int = 17
    outputs: tuple[str, ...] = ("output",)
    external_data: bool = False
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _specs() -> list[Spec]:
    import torch
    from spandrel.architectures.Compact.__arch.SRVGG import SRVGGNetCompact
    from spandrel.architectures.DAT.__arch.DAT import DAT
    from spandrel.architectures.DRUNet.__arch.network_unet import DRUNet
    from spandrel.architectures.ESRGAN.__arch.RRDB import RRDBNet
    from spandrel.architectures.FBCNN.__arch.FBCNN import FBCNN
    from spandrel.architectures.HAT.__arch.HAT import HAT
    from spandrel.architectures.NAFNet.__arch.NAFNet_arch import NAFNet
    from spandrel.architectures.OmniSR.__arch.OmniSR import OmniSR
    from spandrel.architectures.RealCUGAN.__arch.upcunet_v3 import UpCunet2x
    from spandrel.architectures.SCUNet.__arch.SCUNet import SCUNet
    from spandrel.architectures.SPAN.__arch.span import SPAN
    from spandrel.architectures.SwinIR.__arch.SwinIR import SwinIR

    class ArtCNNLike(torch.nn.Module):
        """ArtCNN's shape (a plain conv stack on luma, a residual, depth-to-space 2x): GRAY in, GRAY out."""

        def __init__(self, features: int = 16, blocks: int = 6) -> None:
            super().__init__()
            self.head = torch.nn.Conv2d(1, features, 3, padding=1)
            self.body = torch.nn.Sequential(*(m for _ in range(blocks) for m in (
                torch.nn.Conv2d(features, features, 3, padding=1), torch.nn.ReLU())))
            self.tail = torch.nn.Conv2d(features, 4, 3, padding=1)
            self.shuffle = torch.nn.PixelShuffle(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.head(x)
            return self.shuffle(self.tail(self.body(h) + h))

    class AlphaOne(torch.nn.Module):
        """Real-CUGAN's forward takes ``alpha`` too: community exports fix it at 1 (one image input)."""

        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    def narrow(build: Callable[[], Any], factor: int = 2, above: int = 8) -> Any:
        """Build with every conv / linear channel count above ``above`` divided by ``factor``: the same graph,
        fewer weights (for networks whose widths are written into the code)."""
        nn = torch.nn
        real = nn.Conv2d, nn.ConvTranspose2d, nn.Linear
        f = lambda c: c // factor if c > above else c  # noqa: E731

        def conv(cls: Any) -> Any:
            first, second = ("in_features", "out_features") if cls is nn.Linear else ("in_channels", "out_channels")

            class Narrow(cls):  # type: ignore[misc, valid-type]
                def __init__(self, *args: Any, **kwargs: Any) -> None:
                    values = list(args[:2]) + [kwargs.pop(k) for k in (first, second)[len(args[:2]):]]
                    super().__init__(f(values[0]), f(values[1]), *args[2:], **kwargs)

            return Narrow

        nn.Conv2d, nn.ConvTranspose2d, nn.Linear = conv(real[0]), conv(real[1]), conv(real[2])
        try:
            return build()
        finally:
            nn.Conv2d, nn.ConvTranspose2d, nn.Linear = real

    def scunet() -> Any:
        """SCUNet with 8-wide attention heads (its 32 is written into the code), so that dim=16 has heads."""
        from spandrel.architectures.SCUNet import __arch

        module = __arch.SCUNet

        real = module.ConvTransBlock
        module.ConvTransBlock = lambda conv, trans, head, *rest: real(conv, trans, 8, *rest)
        try:
            return SCUNet(config=[2, 1, 1, 1, 1, 1, 2], dim=16)
        finally:
            module.ConvTransBlock = real

    def restormer() -> Any:
        """Restormer is in spandrel-extra-arches: imported when built, so that the other specs need spandrel only."""
        from spandrel_extra_arches.architectures.Restormer.__arch.restormer_arch import Restormer

        return Restormer(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1, heads=[1, 1, 2, 2])

    def compact(feat: int = 48, conv: int = 16) -> Any:
        return SRVGGNetCompact(num_feat=feat, num_conv=conv, upscale=4, act_type="prelu")

    return [
        Spec("esrgan_4x", "ESRGAN (RRDBNet)", lambda: RRDBNet(num_filters=16, num_blocks=1, scale=4), 4),
        Spec("esrgan_2x", "ESRGAN (RRDBNet, 2x pixel-unshuffle)",
             lambda: RRDBNet(in_nc=12, out_nc=3, num_filters=16, num_blocks=1, scale=4, shuffle_factor=2), 2),
        Spec("compact", "Real-ESRGAN compact (SRVGGNetCompact)", compact, 4,
             notes="realesr-animevideov3's layout (16 convs, PReLU, 4x) with 48 features instead of 64"),
        Spec("compact_dynamo", "Real-ESRGAN compact (SRVGGNetCompact)", lambda: compact(16, 8), 4, exporter="dynamo",
             opset=18, notes="torch.export (dynamo=True) exporter"),
        Spec("compact_extdata", "Real-ESRGAN compact (SRVGGNetCompact)", lambda: compact(16, 8), 4,
             external_data=True, notes="weights in compact_extdata.onnx.data beside the model"),
        Spec("compact_int8", "Real-ESRGAN compact (SRVGGNetCompact), INT8 Q/DQ", lambda: compact(16, 8), 4,
             exporter="torchscript+qdq", opset=13,
             notes="quantize_static (onnxruntime), QDQ, symmetric int8 (what TensorRT takes)"),
        Spec("span", "SPAN", lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=2), 2),
        Spec("swinir", "SwinIR", lambda: SwinIR(img_size=32, embed_dim=16, depths=[2, 2], num_heads=[2, 2],
                                               window_size=8, mlp_ratio=2.0, upscale=2, img_range=1.0,
                                               upsampler="pixelshuffle"), 2),
        Spec("hat", "HAT", lambda: HAT(img_size=32, embed_dim=24, depths=(2,), num_heads=(2,), window_size=8,
                                       compress_ratio=3, squeeze_factor=4, mlp_ratio=2.0, upscale=2, num_feat=16), 2),
        Spec("dat", "DAT", lambda: DAT(img_size=32, embed_dim=48, split_size=[8, 16], depth=[2], num_heads=[4],
                                       expansion_factor=2.0, upscale=2), 2),
        Spec("omnisr", "OmniSR", lambda: OmniSR(num_feat=16, block_num=1, window_size=8, res_num=1, up_scale=2), 2),
        Spec("realcugan", "Real-CUGAN (UpCunet2x)", lambda: AlphaOne(narrow(UpCunet2x)), 2,
             notes="the 2x network with its conv widths halved (written into its code); alpha fixed at 1"),
        Spec("scunet", "SCUNet", scunet, 1,
             notes="dim 16, W and SW windows outside, one block inside, 8-wide heads; pads to 64"),
        Spec("drunet", "DRUNet (DPIR)", lambda: DRUNet(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=1), 1,
             in_channels=4, notes="DPIR's input: RGB and a noise-level plane (4 channels)"),
        Spec("nafnet", "NAFNet", lambda: NAFNet(width=16, middle_blk_num=1, enc_blk_nums=[1, 1],
                                                dec_blk_nums=[1, 1]), 1),
        Spec("restormer", "Restormer", restormer, 1),
        Spec("fbcnn", "FBCNN (two outputs)", lambda: narrow(lambda: FBCNN(nc=[64, 128, 256, 512], nb=1), 8, 4), 1,
             outputs=("output", "qf"), notes="widths / 8 (FBCNN's quality-factor head has 512 written in)"),
        Spec("artcnn_gray", "ArtCNN-like (conv stack, GRAY)", ArtCNNLike, 2, in_channels=1, out_channels=1),
    ]


EXPORTED = ("esrgan_4x", "esrgan_2x", "compact", "span", "swinir", "hat", "dat", "omnisr", "nafnet", "dncnn",
            "plksr", "realplksr", "swiftsrgan", "swin2sr", "drunet_nb4", "realcugan_full")
"""The state dicts ``vsinfer export`` must export and match torch on (``tests/test_export.py``): the zoo's
models that spandrel recognises, and more of spandrel's architectures."""

REFUSED = {
    "safmn": "adaptive pooling",  # the TorchScript exporter cannot export a size-dependent adaptive pooling
    "ditn": "at the traced size only",  # its shape arithmetic in ints freezes the trace size into the graph
    "artcnn_gray": "recognises none",  # not a spandrel architecture
}
"""State dicts ``vsinfer export`` refuses, with a phrase of the reason it gives."""


def export_specs() -> list[Spec]:
    """The models of ``EXPORTED`` and ``REFUSED``: state dicts, as people download them (nothing is written here)."""
    from spandrel.architectures.DITN.__arch.DITN_Real import DITN_Real
    from spandrel.architectures.DnCNN.__arch.network_dncnn import DnCNN
    from spandrel.architectures.DRUNet.__arch.network_unet import DRUNet
    from spandrel.architectures.PLKSR.__arch.PLKSR import PLKSR
    from spandrel.architectures.PLKSR.__arch.RealPLKSR import RealPLKSR
    from spandrel.architectures.RealCUGAN.__arch.upcunet_v3 import UpCunet2x
    from spandrel.architectures.SAFMN.__arch.safmn import SAFMN
    from spandrel.architectures.SwiftSRGAN.__arch.SwiftSRGAN import Generator
    from spandrel.architectures.Swin2SR.__arch.Swin2SR import Swin2SR

    zoo = {s.name: s for s in _specs()}
    more = [
        Spec("dncnn", "DnCNN", lambda: DnCNN(in_nc=3, out_nc=3, nc=16, nb=5), 1),
        Spec("plksr", "PLKSR", lambda: PLKSR(dim=16, n_blocks=2, upscaling_factor=2), 2),
        Spec("realplksr", "RealPLKSR", lambda: RealPLKSR(dim=16, n_blocks=2, upscaling_factor=2), 2),
        Spec("swiftsrgan", "Swift-SRGAN", lambda: Generator(num_channels=16, num_blocks=2, upscale_factor=2), 2),
        Spec("swin2sr", "Swin2SR", lambda: Swin2SR(img_size=32, embed_dim=16, depths=[2], num_heads=[2],
                                                   window_size=8, upscale=2, upsampler="pixelshuffle"), 2),
        Spec("drunet_nb4", "DRUNet (DPIR)", lambda: DRUNet(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=4), 1,
             in_channels=4, notes="spandrel reads nb=4 (DPIR's) only; RGB and a noise-level plane"),
        Spec("realcugan_full", "Real-CUGAN (UpCunet2x)", lambda: UpCunet2x(), 2,
             notes="the published 2x network's widths (5 MB): the zoo's narrowed one is not what spandrel reads"),
        Spec("safmn", "SAFMN", lambda: SAFMN(dim=16, n_blocks=2, upscaling_factor=2), 2),
        Spec("ditn", "DITN", lambda: DITN_Real(dim=16, ITL_blocks=1, SAL_blocks=1, upscale=2), 2),
    ]
    specs = {**zoo, **{s.name: s for s in more}}
    return [specs[name] for name in (*EXPORTED, *REFUSED)]


def _export(spec: Spec, path: Path) -> None:
    import onnx
    import torch

    torch.manual_seed(0)
    model = spec.build().eval()
    x = torch.rand(1, spec.in_channels, EXPORT_SIZE, EXPORT_SIZE)
    axes = {"input": {2: "height", 3: "width"}}
    axes.update({name: {2: "height_out", 3: "width_out"} for name in spec.outputs[:1]})
    with torch.no_grad():
        if spec.exporter == "dynamo":
            h, w = torch.export.Dim("h", min=8, max=4096), torch.export.Dim("w", min=8, max=4096)
            program = torch.onnx.export(model, (x,), dynamo=True, opset_version=spec.opset,
                                        input_names=["input"], output_names=list(spec.outputs),
                                        dynamic_shapes=({2: h, 3: w},))
            program.save(str(path))
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=spec.opset,
                              input_names=["input"], output_names=list(spec.outputs), dynamic_axes=axes,
                              do_constant_folding=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    if spec.exporter == "torchscript+qdq":
        _quantize(path, spec)
    if spec.external_data:
        proto = onnx.load(str(path))
        data = path.name + ".data"
        (path.parent / data).unlink(missing_ok=True)
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data, size_threshold=0)


def _quantize(path: Path, spec: Spec) -> None:
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.samples = iter([{"input": rng.random((1, spec.in_channels, 32, 32), dtype=np.float32)}
                                 for _ in range(4)])

        def get_next(self) -> dict[str, Any] | None:
            return next(self.samples, None)

    source = path.with_suffix(".f32.onnx")
    path.replace(source)
    quantize_static(str(source), str(path), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})  # TensorRT: symmetric only
    source.unlink()


def _facts(spec: Spec, path: Path) -> dict[str, Any]:
    import numpy as np
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(path), load_external_data=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    sizes = []
    rng = np.random.default_rng(0)
    for h, w in PROBE_SIZES:
        x = rng.random((1, spec.in_channels, h, w), dtype=np.float32)
        try:
            out = session.run(None, {"input": x})[0]
        except Exception:
            continue
        if out.shape == (1, spec.out_channels, h * spec.scale, w * spec.scale) and np.isfinite(out).all():
            sizes.append([h, w])
    if not sizes:
        raise RuntimeError(f"{spec.name}: onnxruntime takes none of {PROBE_SIZES}")
    multiple = math.gcd(*(v for s in sizes for v in s))
    fixed = len(sizes) == 1
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    return {
        "file": path.name,
        "architecture": spec.architecture,
        "exporter": spec.exporter,
        "opset": opsets.get("ai.onnx", spec.opset),
        "scale": spec.scale,
        "multiple": multiple,
        "fixed_size": fixed,
        "sizes": sizes,
        "inputs": [{"name": v.name, "shape": dims(v), "elem_type": v.type.tensor_type.elem_type}
                   for v in proto.graph.input],
        "outputs": [{"name": v.name, "shape": dims(v), "elem_type": v.type.tensor_type.elem_type}
                    for v in proto.graph.output],
        "ops": sorted({n.op_type for n in proto.graph.node}),
        "external_data": spec.external_data,
        "bytes": path.stat().st_size + sum(p.stat().st_size for p in path.parent.glob(path.name + ".data")),
        "notes": spec.notes,
    }


def main(argv: list[str]) -> int:
    """Export the models named in ``argv`` (all when empty) and rewrite the manifest."""
    ZOO.mkdir(parents=True, exist_ok=True)
    manifest_path = ZOO / "manifest.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    specs = _specs()
    wanted = set(argv) or {s.name for s in specs}
    unknown = wanted - {s.name for s in specs}
    if unknown:
        print(f"unknown models {sorted(unknown)}; known: {[s.name for s in specs]}", file=sys.stderr)
        return 2
    for spec in specs:
        if spec.name not in wanted:
            continue
        path = ZOO / f"{spec.name}.onnx"
        try:
            _export(spec, path)
            manifest[spec.name] = _facts(spec, path)
        except Exception as exc:
            print(f"{spec.name}: FAILED {type(exc).__name__}: {str(exc)[:2000]}", file=sys.stderr)
            continue
        facts = manifest[spec.name]
        print(f"{spec.name}: {facts['bytes'] / 1e6:.2f} MB, opset {facts['opset']}, multiple {facts['multiple']}, "
              f"sizes {facts['sizes']}", file=sys.stderr)
    manifest = {k: manifest[k] for k in sorted(manifest)}
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(v["bytes"] for v in manifest.values())
    print(f"{len(manifest)} models, {total / 1e6:.2f} MB in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
