"""Corruptions (corruptions.*, OpenSTL's noisy Moving MNIST): invariants, not golden arrays.

Only input frames change, and only as the record says: inside the blacked-out square, on
missing frames, or where `dynamic` drew the digits; the target frames and every other array
are the noise-free scene's bytes; each kind's parameters are honoured (the square's size and
range, the missing rate, the velocity noise's sd); bad values are one line, exit 2; a build
stores what the procedural dataset gives, with 1 worker or 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from movmnist.cli import cli
from movmnist.config import Config
from movmnist.config.sections import DYNAMIC_PRESETS
from movmnist.core import motion, rng
from movmnist.core.generate import Chunk, generate
from movmnist.core.motion import presets
from movmnist.errors import ConfigError
from movmnist.sources.pools import pool_for
from tests.conftest import small_config
from tests.datasets import built_on_1_and_2_workers, stored_as_computed

BASE = ("sequence.length=8", "corruptions.input_frames=5")
INPUTS = 5
ALL_KINDS = ("corruptions.perceptual.size=12", "corruptions.missing.probability=0.4", "corruptions.dynamic.sigma=0.5")
CASES = {
    "max": (),
    "over, 1 to 3 digits": ("render.combine=over", "digits.count=[1, 3]"),
    "sum, rgb, bounce on ink": ("render.combine=sum", "source.colour=true", "render.bounce_on=ink"),
    "tutorial": ("motion.preset=tutorial", "motion.acceleration=0.01"),
}
CLEAN = ("labels", "positions", "source_index", "trajectories", "velocities", "boxes", "amodal_boxes", "masks")
CLEAN += ("visibility", "events", "z_order")


def pair(*overrides: str, n: int = 16) -> tuple[Chunk, Chunk]:
    """(corrupted, clean): the same sequences with the overrides, and without the corruptions."""
    chunks = []
    for cfg in (small_config(*BASE, *overrides), small_config(*BASE, *(o for o in overrides if "corrupt" not in o))):
        chunks.append(generate(cfg, pool_for(cfg, "train"), "train", np.arange(n)))
    return chunks[0], chunks[1]


def frames(c: Chunk) -> np.ndarray:
    return np.asarray(c.frames)


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_only_input_frames_change_and_every_clean_array_keeps_its_bytes(overrides: tuple[str, ...]) -> None:
    bad, good = pair(*ALL_KINDS, *overrides)
    assert frames(bad)[:, INPUTS:].tobytes() == frames(good)[:, INPUTS:].tobytes()
    assert (frames(bad)[:, :INPUTS] != frames(good)[:, :INPUTS]).any()
    for name in CLEAN:
        a, b = getattr(bad, name), getattr(good, name)
        assert (a is None) == (b is None), name
        assert a is None or a.tobytes() == b.tobytes(), name


@pytest.mark.parametrize("preset", ["srivastava", "mmnist++"])
def test_blackouts_are_the_only_change_each_a_square_inside_the_canvas(preset: str) -> None:
    size = 12
    bad, good = pair(f"corruptions.perceptual.size={size}", f"motion.preset={preset}", n=64)
    box = bad.corrupt_blackout
    assert box is not None and box.dtype == np.int16 and box.shape == (64, INPUTS, 4)
    x0, y0, x1, y1 = box.transpose(2, 0, 1).astype(np.int64)
    assert (x1 - x0 == size).all() and (y1 - y0 == size).all()
    # OpenSTL's randint(0, side - size): the top-left covers [0, side - size), never the last row or column.
    side = 40
    assert x0.min() == 0 and y0.min() == 0 and x0.max() == side - size - 1 and y0.max() == side - size - 1
    rows, cols = np.arange(side)[None, None, :, None], np.arange(side)[None, None, None, :]
    inside = (rows >= y0[..., None, None]) & (rows < y1[..., None, None])
    inside = inside & (cols >= x0[..., None, None]) & (cols < x1[..., None, None])
    inputs, clean = frames(bad)[:, :INPUTS], frames(good)[:, :INPUTS]
    assert (inputs[inside] == 0).all() and (inputs[~inside] == clean[~inside]).all()
    assert (clean[inside] > 0).any()  # the squares did cover ink
    assert bad.corrupt_missing is None and bad.corrupt_positions is None


def test_missing_frames_are_zero_the_others_clean_at_rate_p() -> None:
    p = 0.3
    bad, good = pair(f"corruptions.missing.probability={p}", n=600)
    gone = bad.corrupt_missing
    assert gone is not None and gone.dtype == np.bool_ and gone.shape == (600, INPUTS)
    inputs, clean = frames(bad)[:, :INPUTS], frames(good)[:, :INPUTS]
    assert (inputs[gone] == 0).all() and (inputs[~gone] == clean[~gone]).all()
    # 3,000 Bernoulli(p) frames: the rate within 4 standard deviations of p.
    assert abs(gone.mean() - p) < 4 * np.sqrt(p * (1 - p) / gone.size)
    for never_or_always in (0, 1):
        c, _ = pair(f"corruptions.missing.probability={never_or_always}")
        assert c.corrupt_missing is not None and (c.corrupt_missing == bool(never_or_always)).all()


def test_dynamic_draws_each_digit_where_its_record_says() -> None:
    bad, good = pair("corruptions.dynamic.sigma=0.5", "digits.count=1", n=32)
    at = bad.corrupt_positions
    assert at is not None and at.dtype == np.int16 and at.shape == (32, INPUTS, 1, 2)
    assert (at != good.positions[:, :INPUTS]).any()
    # One digit, kept inside by the bounce: the input frame is the clean frame's sprite moved to the record.
    h = w = 14
    for i, t in np.ndindex(32, INPUTS):
        (r, c), (r0, c0) = at[i, t, 0], good.positions[i, t, 0]
        sprite = frames(good)[i, t, r0 : r0 + h, c0 : c0 + w]
        drawn = frames(bad)[i, t]
        assert (drawn[r : r + h, c : c + w] == sprite).all()
        assert int(drawn.sum()) == int(frames(good)[i, t].sum())


def test_dynamic_with_sigma_0_is_the_clean_motion() -> None:
    bad, good = pair("corruptions.dynamic.sigma=0", "digits.count=[1, 3]")
    assert frames(bad).tobytes() == frames(good).tobytes()
    assert bad.corrupt_positions is not None
    assert bad.corrupt_positions.tobytes() == good.positions[:, :INPUTS].tobytes()  # -1 for absent digits too
    assert (good.labels < 0).any()


def test_dynamic_noise_is_openstls_gaussian_of_sd_sigma_times_the_speed_on_the_input_steps() -> None:
    sigma, speed, n, k, frames_in = 0.3, 0.02, 2000, 2, 6
    keyed = rng.Keyed(seed=1, split="train")
    idx = np.arange(n)

    def draw(stream: int, count: int) -> np.ndarray:
        return keyed.uniform(idx, stream, count)

    spec = motion.Spec(length=10, speed=(speed, speed), free=np.full((n * k, 2), 30), canvas=(44, 44), sprite=(14, 14))
    clean = motion.move("srivastava", draw, n, k, spec)
    noisy = motion.input_jitter("srivastava", draw, n, k, spec, frames_in, sigma)
    assert noisy.position.shape == (frames_in, n * k, 2)
    # Sprites that touch no wall in the input steps: each step is the velocity plus the noise.
    calm = ~(noisy.hits != 0).any(axis=(0, 2)) & ~(clean.hits[:frames_in] != 0).any(axis=(0, 2))
    start = clean.position[0] - clean.velocity[0]  # frame 0 is after the first step
    steps = np.diff(np.concatenate([start[None], noisy.position]), axis=0)[:, calm]
    noise = (steps - clean.velocity[0][calm]) / speed
    assert calm.sum() > 1000
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - sigma) < 0.02
    assert abs(np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]) < 0.05


def test_dynamic_covers_the_presets_config_allows() -> None:
    assert set(DYNAMIC_PRESETS) == set(presets.CLAMPED)


def test_corruptions_are_off_by_default_and_bad_values_are_one_line() -> None:
    cfg = small_config()
    assert not cfg.corruptions.active and cfg.corruptions.input_frames == 10
    assert Config.from_data(cfg.to_data()) == cfg
    on = small_config(*BASE, *ALL_KINDS)
    assert Config.from_data(on.to_data()) == on
    bad = {
        "corruptions.perceptual.size=0": r"^corruptions\.perceptual\.size must be >= 1",
        "corruptions.perceptual.size=40": r"^corruptions\.perceptual\.size must be < the canvas's shorter side \(40\)",
        "corruptions.missing.probability=1.5": r"^corruptions\.missing\.probability must be <= 1",
        "corruptions.dynamic.sigma=-1": r"^corruptions\.dynamic\.sigma must be >= 0",
        "corruptions.missing.probabilty=0": r"^corruptions\.missing\.probabilty .*; did you mean .*\.probability\?",
        "corruptions.missing=0.2": r"^corruptions\.missing must be a mapping",
    }
    for override, message in bad.items():
        with pytest.raises(ConfigError, match=message) as info:
            small_config(*BASE, override)
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^corruptions\.input_frames must be < sequence\.length \(8\)"):
        small_config("sequence.length=8", "corruptions.missing.probability=0.2")
    small_config("sequence.length=8")  # input_frames is only checked when a kind is on
    with pytest.raises(ConfigError, match=r"^corruptions\.dynamic perturbs .* \(got tfds, bounce\)"):
        small_config(*BASE, "corruptions.dynamic.sigma=0.2", "motion.preset=tfds")
    with pytest.raises(ConfigError, match=r"\(got srivastava, wrap\)"):
        small_config(*BASE, "corruptions.dynamic.sigma=0.2", "motion.boundary=wrap")
    result = CliRunner().invoke(cli, ["config", "show", "--set", "corruptions.missing.probability=2"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.count("\n") == 1


def test_a_build_stores_the_procedural_corruptions_with_the_same_bytes_on_1_or_2_workers(tmp_path: Path) -> None:
    cfg = small_config(*BASE, *ALL_KINDS, "splits.val.sequences=0")
    built, fresh = built_on_1_and_2_workers(cfg, tmp_path)
    for split in ("train", "test"):
        stored = stored_as_computed(built, fresh, split)
        assert {"corrupt_blackout", "corrupt_missing", "corrupt_positions"} <= set(stored)
        # An item alone comes from the frames-only path, drawn lazily as the kernel draws them (`_spoiling`).
        assert fresh[split][3].tobytes() == stored["frames"][3].tobytes()
