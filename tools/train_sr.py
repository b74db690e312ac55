"""Train the demo model (src/vsinfer/models/demo_2x.onnx): a tiny 2x super-resolution net, on a 2-core CPU.

Reproduce (Python 3.11 or newer with PyTorch; VapourSynth is not needed here):

    python3 -m venv .venv-train
    .venv-train/bin/pip install torch numpy scikit-image onnx pillow
    .venv-train/bin/python tools/train_sr.py                 # 8-17 min on 2 cores; writes the model
    .venv/bin/python tools/evaluate_sr.py                    # the PSNR table, through VapourSynth and vsinfer

Data: the scikit-image sample pictures listed in tools/sr_pictures.py (public domain / CC0, bundled in the
scikit-image wheel). Training pictures are split from held-out ones; the held-out ones are written as PNGs to
``--heldout-dir`` for tools/evaluate_sr.py. Degradation: 2x downscale with Catmull-Rom, computed by
tools/sr_resample.py, which reproduces ``core.resize.Bicubic(filter_param_a=0, filter_param_b=0.5)`` (checked
by tools/check_resample.py). Everything is seeded: the same command gives the same model on the same machine.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sr_pictures
from sr_net import PAD, make_net, to_onnx
from sr_resample import catmull_rom_down2, resize

log = logging.getLogger("train_sr")
ROOT = Path(__file__).resolve().parent.parent
HR_SCALES = (1.0, 0.75, 0.5)
"""Each training picture is also used shrunk (Catmull-Rom), so the net sees detail at several sizes."""


@dataclass(frozen=True)
class Pair:
    """A high-resolution picture and its 2x Catmull-Rom downscale, float32 (3, H, W)."""

    hr: np.ndarray
    lr: np.ndarray


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.709 Y of (3, H, W) RGB planes."""
    return np.asarray(0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2])


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """Luma PSNR in dB of two RGB pictures in [0, 1] (both clipped to [0, 1] first)."""
    err = luma(np.clip(a, 0, 1)) - luma(np.clip(b, 0, 1))
    return float(10 * math.log10(1.0 / float(np.mean(err.astype(np.float64) ** 2))))


def training_pairs() -> list[Pair]:
    """The training pictures at each of HR_SCALES, with their low-resolution inputs."""
    pairs = []
    for pic in sr_pictures.TRAIN:
        full = sr_pictures.load(pic.name)
        for s in HR_SCALES:
            h, w = full.shape[1:]
            hr = full if s == 1.0 else resize(full, round(w * s / 2) * 2, round(h * s / 2) * 2)
            pairs.append(Pair(hr, catmull_rom_down2(hr)))
    return pairs


class Sampler:
    """Random aligned patches (LR ``patch``, HR ``2 * patch``), area-weighted, flipped/rotated/channel-shuffled."""

    def __init__(self, pairs: list[Pair], patch: int, seed: int) -> None:
        self.pairs = [p for p in pairs if min(p.lr.shape[1:]) >= patch]
        self.patch = patch
        self.rng = np.random.default_rng(seed)
        area = np.array([p.lr.shape[1] * p.lr.shape[2] for p in self.pairs], dtype=np.float64)
        self.weights = area / area.sum()

    def one(self) -> tuple[np.ndarray, np.ndarray]:
        """One (lr, hr) patch; nearly flat patches (sky, black borders) are mostly skipped."""
        ps = self.patch
        for _ in range(8):
            pair = self.pairs[self.rng.choice(len(self.pairs), p=self.weights)]
            y = int(self.rng.integers(0, pair.lr.shape[1] - ps + 1))
            x = int(self.rng.integers(0, pair.lr.shape[2] - ps + 1))
            lr = pair.lr[:, y : y + ps, x : x + ps]
            if lr.std() > 0.02:
                break
        hr = pair.hr[:, 2 * y : 2 * (y + ps), 2 * x : 2 * (x + ps)]
        k = int(self.rng.integers(4))
        lr, hr = np.rot90(lr, k, axes=(1, 2)), np.rot90(hr, k, axes=(1, 2))
        if self.rng.integers(2):
            lr, hr = lr[:, :, ::-1], hr[:, :, ::-1]
        order = self.rng.permutation(3)
        return np.ascontiguousarray(lr[order]), np.ascontiguousarray(hr[order])

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` patches stacked: (n, 3, patch, patch) and (n, 3, 2 patch, 2 patch)."""
        lrs, hrs = zip(*(self.one() for _ in range(n)), strict=True)
        return np.stack(lrs), np.stack(hrs)


def linear_filters(pairs: list[Pair]) -> np.ndarray:
    """The least-squares best linear 2x upscale of the pairs: (4, 7, 7) phase filters shared by R, G and B.

    Solved in closed form (normal equations over every LR pixel's 7x7 neighbourhood, edge-padded as the
    ONNX graph pads); it starts the net's linear path where gradient descent would take long to get.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    k = 2 * PAD + 1
    gram = np.zeros((k * k, k * k))
    cross = np.zeros((k * k, 4))
    for pair in pairs:
        padded = np.pad(pair.lr, ((0, 0), (PAD, PAD), (PAD, PAD)), mode="edge")
        windows = sliding_window_view(padded, (k, k), axis=(1, 2)).reshape(-1, k * k).astype(np.float64)
        c, h, w = pair.hr.shape
        # HR pixel (2y + py, 2x + px) is phase py * 2 + px of LR pixel (y, x), as DepthToSpace lays them out.
        phases = pair.hr.reshape(c, h // 2, 2, w // 2, 2).transpose(0, 1, 3, 2, 4).reshape(-1, 4)
        gram += windows.T @ windows
        cross += windows.T @ phases.astype(np.float64)
    solution = np.linalg.solve(gram + 1e-6 * np.eye(k * k), cross)
    return np.ascontiguousarray(solution.T.reshape(4, k, k).astype(np.float32))


def upscale(net: object, lr: np.ndarray) -> np.ndarray:
    """Run the PyTorch net on one (3, H, W) picture."""
    import torch

    with torch.no_grad():
        return np.asarray(net(torch.from_numpy(lr[None])).numpy()[0])  # type: ignore[operator]


def held_out_table(net: object) -> list[tuple[str, float, float, float]]:
    """(name, Catmull-Rom, Mitchell, trained) luma PSNR on each held-out picture (numpy resampling)."""
    rows = []
    for pic in sr_pictures.HELD_OUT:
        hr = sr_pictures.load(pic.name)
        lr = catmull_rom_down2(hr)
        h, w = hr.shape[1:]
        rows.append((
            pic.name,
            psnr_y(resize(lr, w, h, 0.0, 0.5), hr),
            psnr_y(resize(lr, w, h, 1 / 3, 1 / 3), hr),
            psnr_y(upscale(net, lr), hr),
        ))
    return rows


def check_onnx(model_bytes: bytes, net: object) -> float:
    """Largest difference between the ONNX graph (onnx's reference evaluator) and the PyTorch net."""
    from onnx.reference import ReferenceEvaluator

    lr = catmull_rom_down2(sr_pictures.load(sr_pictures.HELD_OUT[0].name))[:, :40, :56]
    onnx_out = ReferenceEvaluator(model_bytes).run(None, {"input": lr[None]})[0][0]
    return float(np.abs(onnx_out - upscale(net, lr)).max())


def train(args: argparse.Namespace) -> None:
    """Train, log progress, write the ONNX model and the held-out PNGs."""
    import torch
    from torch.nn import functional as F  # noqa: N812

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    pairs = training_pairs()
    log.info("%d training pairs from %d pictures (%.1f s)", len(pairs), len(sr_pictures.TRAIN),
             time.perf_counter() - start)
    sampler = Sampler(pairs, args.patch, args.seed)
    skip = linear_filters(pairs)
    log.info("least-squares linear path solved (%.1f s)", time.perf_counter() - start)
    net = make_net(args.feats, args.blocks, skip)
    params = sum(p.numel() for p in net.parameters())
    log.info("net: feats=%d blocks=%d, %d parameters", args.feats, args.blocks, params)
    # The linear path starts at its least-squares optimum: it only needs fine steps.
    linear = [net.skip.weight]
    rest = [p for p in net.parameters() if p is not net.skip.weight]
    opt = torch.optim.Adam([{"params": rest}, {"params": linear}], lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[args.lr, args.lr * args.linear_lr_ratio],
                                                total_steps=args.steps, pct_start=0.05)
    running = 0.0
    for step in range(1, args.steps + 1):
        lr_np, hr_np = sampler.batch(args.batch)
        out = net(torch.from_numpy(lr_np))
        loss = F.mse_loss(out, torch.from_numpy(hr_np))  # PSNR is what we are judged on
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach())
        if step % args.log_every == 0:
            log.info("step %d/%d  mse %.6f  %.0f s", step, args.steps, running / args.log_every,
                     time.perf_counter() - start)
            running = 0.0
    train_s = time.perf_counter() - start
    net.eval()
    model = to_onnx(net)
    diff = check_onnx(model.SerializeToString(), net)
    if diff > 1e-4:
        raise SystemExit(f"the ONNX graph differs from the PyTorch net by {diff}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(model.SerializeToString())
    log.info("wrote %s (%d bytes); ONNX vs PyTorch max diff %.2e", args.out, args.out.stat().st_size, diff)
    log.info("training wall time: %.1f s (%.1f min) with %d threads", train_s, train_s / 60, args.threads)
    rows = held_out_table(net)
    for name, cr, mitchell, ours in rows:
        log.info("%-12s catmull-rom %.2f  mitchell %.2f  trained %.2f  (+%.2f dB)", name, cr, mitchell, ours, ours - cr)
    gain = float(np.mean([r[3] - r[1] for r in rows]))
    log.info("held-out mean gain over Catmull-Rom: %+.2f dB", gain)
    for path in sr_pictures.export_png(sr_pictures.HELD_OUT, args.heldout_dir):
        log.info("held-out picture: %s", path)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "vsinfer" / "models" / "demo_2x.onnx")
    parser.add_argument("--heldout-dir", type=Path, default=ROOT / "build" / "sr" / "heldout")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=32, help="low-resolution patch side")
    parser.add_argument("--feats", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--linear-lr-ratio", type=float, default=0.05, help="learning rate of the linear path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=500)
    parser.add_argument("--export-heldout", action="store_true",
                        help="only write the held-out PNGs (for tools/evaluate_sr.py), do not train")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parser.parse_args()
    if args.export_heldout:
        for path in sr_pictures.export_png(sr_pictures.HELD_OUT, args.heldout_dir):
            log.info("held-out picture: %s", path)
        return
    train(args)


if __name__ == "__main__":
    main()
