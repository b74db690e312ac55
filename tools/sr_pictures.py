"""The pictures the demo model is trained and evaluated on: scikit-image's bundled sample data.

Every picture below ships inside the scikit-image wheel (``skimage/data/*``, no download) and its licence is
the one scikit-image's docstring states. The held-out pictures are never used for training; the demo photo
(``examples/data/chelsea.png``) is a crop of one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Picture:
    """One skimage.data picture and what it may be used for."""

    name: str
    """The skimage.data function that returns it."""
    licence: str
    """The licence or copyright note from scikit-image's docstring."""


TRAIN: tuple[Picture, ...] = (
    Picture("rocket", "public domain (SpaceX launch photo of DSCOVR)"),
    Picture("hubble_deep_field", "public domain (NASA, Hubble eXtreme Deep Field)"),
    Picture("immunohistochemistry", "no known copyright restrictions (CMMI microscopy)"),
    Picture("retina", "CC0 1.0 (Wikimedia Commons, M. Haggstrom)"),
    Picture("camera", "CC0 (photographer Lav Varshney)"),
    Picture("coins", "no known copyright restrictions (Brooklyn Museum)"),
    Picture("brick", "CC0 (CC0Textures Bricks25)"),
    Picture("clock", "public domain (photographer Stefan van der Walt)"),
)
"""Training pictures (greyscale ones are used as three equal channels).

Left out on purpose: ``grass`` and ``gravel`` (CC0, noise-like textures) and ``text`` (a binary drawing), which
are unlike the photos the demo is for.
"""

HELD_OUT: tuple[Picture, ...] = (
    Picture("astronaut", "public domain (NASA, Eileen Collins)"),
    Picture("chelsea", "CC0 (photographer Stefan van der Walt)"),
    Picture("coffee", "CC0 (photographer Rachel Michetti)"),
)
"""Evaluation pictures, never seen in training."""


def load(name: str) -> np.ndarray:
    """The picture as float32 RGB planes (3, H, W) in [0, 1], cropped to even H and W."""
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3]
    h, w = img.shape[:2]
    planes = img[: h - h % 2, : w - w % 2].transpose(2, 0, 1).astype(np.float32) / 255.0
    return np.ascontiguousarray(planes)


def export_png(pictures: tuple[Picture, ...], folder: Path) -> list[Path]:
    """Write the pictures as 8-bit RGB PNGs (even sizes) into ``folder``, for tools/evaluate_sr.py."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for pic in pictures:
        rgb = np.round(load(pic.name).transpose(1, 2, 0) * 255.0).astype(np.uint8)
        path = folder / f"{pic.name}.png"
        Image.fromarray(rgb).save(path)
        paths.append(path)
    return paths
