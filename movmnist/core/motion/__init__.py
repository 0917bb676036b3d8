"""Motion presets: pure, vectorised functions from a start state to per-frame positions.

Positions are normalised: 0 is the top/left of the free range, 1 its bottom/right, where
the free range is `canvas - digit` pixels on each axis (with `render.bounce_on: ink`, the
canvas minus the digit's ink box). A speed of 0.1 therefore moves a 28 px digit on a
64 px canvas 3.6 px per frame.

`dynamics` holds the rules of each preset as pure functions of explicit start states;
`presets` draws those start states from the keyed random streams and dispatches by name
through `PRESETS`.
"""

from movmnist.core.motion.dynamics import (
    Trajectory,
    direction,
    open_path,
    srivastava,
    svg,
    tfds,
    to_pixels,
    tutorial,
)
from movmnist.core.motion.presets import PRESETS, Draw, Spec, input_jitter, move

__all__ = [
    "PRESETS",
    "Draw",
    "Spec",
    "Trajectory",
    "direction",
    "input_jitter",
    "move",
    "open_path",
    "srivastava",
    "svg",
    "tfds",
    "to_pixels",
    "tutorial",
]
