# Types of the compiled kernels (movmnist/core/_kernel.c): it takes any C-contiguous buffer; we pass arrays.
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
    mask: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    counts: np.ndarray | None = None,
    /,
) -> None: ...
def bounce(
    positions: np.ndarray,
    velocities: np.ndarray,
    hits: np.ndarray,
    start: np.ndarray,
    velocity: np.ndarray,
    accel: np.ndarray | None,
    m: int,
    t: int,
    /,
) -> None: ...
def fletcher32(data: bytes | bytearray | memoryview | np.ndarray, /) -> int: ...
def zng_bind(addresses: list[int | None], /) -> None: ...
def deflate_many(rows: list[bytes | np.ndarray], level: int, /) -> list[bytes]: ...
def inflate_many(
    stored: bytes | memoryview | np.ndarray, places: np.ndarray, out: np.ndarray, checked: bool, /
) -> int: ...
