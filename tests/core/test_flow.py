"""Optical flow (annotations.flow): invariants of the frames as drawn, not golden arrays.

Warping frame t by `flow` reproduces frame t + 1 on every valid pixel, exactly; the flow of a
pixel is its owner's displacement in `positions`; valid pixels are a large share of the ink
(all of it for one digit that never leaves the canvas); a build stores what the procedural
dataset gives, the same bytes with 1 worker or 2; warped presets are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from movmnist.cli import cli
from movmnist.core.generate import Chunk, generate
from movmnist.errors import ConfigError
from movmnist.sources.pools import pool_for
from tests.conftest import small_config
from tests.datasets import built_on_1_and_2_workers

CASES = {
    "max, bounce": ("render.combine=max", "motion.boundary=bounce"),
    "max, open": ("render.combine=max", "motion.boundary=open"),
    "sum, wrap": ("render.combine=sum", "motion.boundary=wrap"),
    "over, open": ("render.combine=over", "motion.boundary=open"),
    "over, wrap, 1 to 3 digits": ("render.combine=over", "motion.boundary=wrap", "digits.count=[1, 3]"),
    "max, bounce on ink, rgb": ("render.bounce_on=ink", "source.colour=true"),
    "sum, rgb, fast": ("render.combine=sum", "source.colour=true", "motion.speed=0.4"),
    "over, wrap, render.colour": ("render.combine=over", "motion.boundary=wrap", "render.colour.label_correlation=0.5"),
}


def chunk(*overrides: str, n: int = 16) -> Chunk:
    cfg = small_config("annotations.flow=true", "digits.count=3", *overrides)
    return generate(cfg, pool_for(cfg, "train"), "train", np.arange(n))


def warped_back(c: Chunk, wrap: bool) -> tuple[np.ndarray, np.ndarray]:
    """(frame t at each valid pixel, frame t + 1 at pixel + flow), over the whole chunk."""
    frames, flow, valid = np.asarray(c.frames), c.flow, c.flow_valid
    assert flow is not None and valid is not None
    i, t, r, col = np.nonzero(valid)
    dy, dx = flow[i, t, r, col, 0], flow[i, t, r, col, 1]
    assert np.array_equal(dy, np.round(dy)) and np.array_equal(dx, np.round(dx))  # whole pixels
    height, width = frames.shape[2:4]
    r2, c2 = r + dy.astype(np.int64), col + dx.astype(np.int64)
    if wrap:
        r2, c2 = r2 % height, c2 % width
    assert ((r2 >= 0) & (r2 < height) & (c2 >= 0) & (c2 < width)).all()
    return frames[i, t, r, col], frames[i, t + 1, r2, c2]


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_warping_frame_t_by_the_flow_gives_frame_t_plus_1_on_valid_pixels(overrides: tuple[str, ...]) -> None:
    c = chunk(*overrides)
    assert c.flow is not None and c.flow_valid is not None and c.masks is not None
    n, length, height, width = c.frames.shape[:4]
    assert c.flow.shape == (n, length - 1, height, width, 2) and c.flow.dtype == np.float16
    assert c.flow_valid.shape == (n, length - 1, height, width) and c.flow_valid.dtype == np.bool_
    before, after = warped_back(c, "motion.boundary=wrap" in overrides)
    assert len(before) > 0 and np.array_equal(before, after)
    lit = np.asarray(c.frames)[:, :-1] > 0
    ink = lit if lit.ndim == 4 else np.any(lit, axis=-1)
    assert not (c.flow_valid & ~ink).any()  # never on background ...
    assert (c.flow[~ink] == 0).all()  # ... where the flow is 0
    assert c.flow_valid.sum() > 0.7 * ink.sum()  # occlusion, blending and edges hide a minority


@pytest.mark.parametrize("combine", ["max", "over"])
def test_the_flow_is_the_displacement_of_the_digit_the_mask_names(combine: str) -> None:
    c = chunk(f"render.combine={combine}", "motion.boundary=open")
    assert c.flow is not None and c.masks is not None
    slot = c.masks[:, :-1].astype(np.int64) - 1  # [n, T-1, H, W]; for max and over the mask is the owner
    step = np.diff(c.positions.astype(np.int64), axis=1)  # [n, T-1, K, 2]
    i, t, r, col = np.nonzero(slot >= 0)
    np.testing.assert_array_equal(c.flow[i, t, r, col], step[i, t, slot[i, t, r, col]])


def test_one_digit_that_stays_on_the_canvas_is_valid_wherever_it_has_ink() -> None:
    c = chunk("digits.count=1", "motion.boundary=bounce")
    assert c.flow_valid is not None and c.masks is not None
    np.testing.assert_array_equal(c.flow_valid, c.masks[:, :-1] > 0)


def test_a_digit_leaving_the_canvas_is_not_valid_where_its_target_is_off_it() -> None:
    c = chunk("digits.count=1", "motion.boundary=open", "motion.speed=0.5", n=24)
    assert c.flow is not None and c.flow_valid is not None and c.masks is not None
    i, t, r, col = np.nonzero(c.masks[:, :-1] > 0)
    height, width = c.frames.shape[2:4]
    r2, c2 = r + c.flow[i, t, r, col, 0].astype(int), col + c.flow[i, t, r, col, 1].astype(int)
    off = (r2 < 0) | (r2 >= height) | (c2 < 0) | (c2 >= width)
    assert off.any()  # the case is exercised
    np.testing.assert_array_equal(c.flow_valid[i, t, r, col], ~off)


def test_flow_is_off_by_default_and_refused_for_warped_presets() -> None:
    assert not small_config().annotations.flow
    with pytest.raises(ConfigError, match=r"^annotations.flow is exact for digits that translate") as info:
        small_config("annotations.flow=true", "motion.preset=mmnist++")
    assert "\n" not in str(info.value)
    sets = ["--set", "motion.preset=mmnist++", "--set", "annotations.flow=true"]
    result = CliRunner().invoke(cli, ["config", "show", *sets])
    assert result.exit_code == 2 and "set annotations.flow: false" in result.output
    assert "Traceback" not in result.output


def test_a_build_stores_the_procedural_flow_with_the_same_bytes_on_1_or_2_workers(tmp_path: Path) -> None:
    cfg = small_config("annotations.flow=true", "render.combine=over", "splits.val.sequences=0")
    built, fresh = built_on_1_and_2_workers(cfg, tmp_path)
    for split in ("train", "test"):
        stored, generated = built[split].with_annotations()[:], fresh[split].with_annotations()[:]
        for name in ("flow", "flow_valid"):
            assert stored[name].dtype == generated[name].dtype
            assert stored[name].tobytes() == generated[name].tobytes(), f"{split} {name}"
