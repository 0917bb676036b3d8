# Types of the compiled kernel (movmnist/_kernel.c): it takes any C-contiguous buffer; we pass arrays.
import numpy as np

def render_max(
    frames: np.ndarray,
    images: np.ndarray,
    sprite: np.ndarray,
    pixels: np.ndarray,
    top: np.ndarray,
    left: np.ndarray,
    n: int,
    t: int,
    height: int,
    width: int,
    pixel: int,
    k: int,
    m: int,
    h: int,
    w: int,
    rows: int,
    cols: int,
    clip: bool,
    /,
) -> None: ...
