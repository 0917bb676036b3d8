"""Colour: grey digits tinted, and render.colour's per-digit palette draw (Coloured-MNIST style).

Pure numpy. `tint` is the one rule for colouring grey ink (the synthetic source's
`source.colour` uses it too): each channel is grey x colour / 255, rounded, so ink 255 is
the colour itself and a fainter pixel a darker shade of the same hue.

render.colour gives each digit slot a palette index: with probability `label_correlation`
the label's own colour (palette[label]), else one of the other nine, uniformly. The digits
are then drawn as tinted sprites, and render.combine acts on each channel (max: per-channel
max; sum: per-channel sum clipped at 255; over: a pixel with ink in any channel hides what
is below).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from movmnist.core import rng

ABSENT = -1  # the `colours` value of an empty digit slot


def tint(images: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Grey [n, h, w] uint8 times a colour [n, 3] uint8 -> [n, h, w, 3] uint8 (ink 255 -> the colour)."""
    product = images[..., None].astype(np.uint16) * colours[:, None, None, :].astype(np.uint16)
    return ((product + 127) // 255).astype(np.uint8)


def draw_colours(
    draw: Callable[[int, int], np.ndarray],
    labels: np.ndarray,
    present: np.ndarray,
    label_correlation: float,
    colours: int,
) -> np.ndarray:
    """Each digit slot's palette index: [n, K] int8, ABSENT (-1) where the slot is empty.

    draw: the chunk's keyed uniforms (stream, count) -> [n, count]; stream rng.COLOUR, 2K
    draws a sequence: K coins (u < label_correlation: the label's colour, so p = 1 always
    and p = 0 never) then K picks among the other colours - 1. labels: [n, K] in
    0..colours-1 where present; colours: the palette's size (10).
    """
    k = labels.shape[1]
    u = draw(rng.COLOUR, 2 * k)
    own = u[:, :k] < label_correlation
    other = np.minimum((u[:, k:] * (colours - 1)).astype(np.int64), colours - 2)
    label = np.where(present, labels, 0).astype(np.int64)
    index = np.where(own, label, (label + 1 + other) % colours)
    return np.where(present, index, ABSENT).astype(np.int8)


def tinted_ink(images: np.ndarray, choice: np.ndarray, colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """The grey sprites [n, K, h, w] uint8 of `tinted_sprites`, zero where their tint has no ink.

    A tinted channel is non-zero where grey x channel >= 128 (`tint` rounds), so a pixel has
    ink in some channel where grey x the colour's largest channel >= 128: the same ink boxes
    and counts as the tinted sprites, from a third of the bytes.
    """
    brightest = palette.max(axis=1).astype(np.uint16)[np.maximum(colours, 0)]  # [n, K]
    grey = images[choice]
    return np.where(grey.astype(np.uint16) * brightest[..., None, None] >= 128, grey, 0).astype(np.uint8)


def tinted_sprites(
    images: np.ndarray, choice: np.ndarray, colours: np.ndarray, palette: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every digit slot's sprite in its colour, as a pool of its own.

    images: the grey pool [M, h, w] uint8; choice, colours: [n, K]; palette: [10, 3] uint8
    (render.colour.palette).
    Returns (sprites [n * K, h, w, 3] uint8, choice [n, K] into them): slot (i, k) is sprite
    i * K + k (an empty slot's is black, and never drawn).
    """
    n, k = choice.shape
    # `tint` of every grey level in every colour (and black last, for empty slots), looked up:
    # a gather a pixel instead of a 16-bit multiply and divide per channel, the same bytes. One
    # flat index and `take` rows of 3 bytes: ~6x faster than indexing the table by two arrays.
    shades = np.broadcast_to(np.arange(256, dtype=np.uint8), (len(palette) + 1, 256))[:, :, None]
    table = tint(shades, np.concatenate([palette, np.zeros((1, 3), np.uint8)]))[:, :, 0]  # [colours + 1, 256, 3]
    which = np.where(colours < 0, len(palette), colours).reshape(-1, 1, 1).astype(np.intp)
    rows = which * 256 + images[choice.reshape(-1)]  # [n * K, h, w]: row of the table
    return np.take(table.reshape(-1, 3), rows, axis=0), np.arange(n * k, dtype=np.int64).reshape(n, k)
