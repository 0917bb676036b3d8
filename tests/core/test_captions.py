"""Captions (annotations.captions and event_captions): each parsed back by the README's grammar.

A caption names every digit present once (an ordinal where a label repeats) and no empty
slot; says every wall bounce and every collision stored in `events`, with its count; gives the
direction and speed of the stored velocities in pixels; the event captions say each frame's
bounces and collisions, in order, with the frames they lie between; the other arrays keep
their bytes with captions on or off; a build stores what the procedural dataset gives, with 1
worker or 2.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from movmnist.cli import cli
from movmnist.core import captions
from movmnist.core.annotate import WALLS
from movmnist.core.generate import Chunk, generate
from movmnist.errors import ConfigError
from movmnist.sources.pools import pool_for
from movmnist.tools.verify import verify
from tests.conftest import small_config
from tests.datasets import built_on_1_and_2_workers, stored_as_computed

CASES = {
    "srivastava": (),
    "1 to 3 digits, fast": ("digits.count=[1, 3]", "motion.speed=[0.02, 0.4]"),
    "elastic": ("motion.preset=elastic", "digits.count=[1, 3]", "motion.speed=0.3"),
    "open": ("motion.boundary=open",),
    "wrap": ("motion.boundary=wrap",),
}
FREE = 40 - 14  # SMALL's canvas minus its digits, per axis
SUBJECT = r"the (?:(?P<ord>\w+) )?(?P<label>-?\d+)"
TIMES = r"(?: (?P<n>twice|\d+ times))?"


def chunk(*overrides: str, n: int = 16) -> Chunk:
    cfg = small_config("annotations.captions=true", "annotations.event_captions=true", "sequence.length=12", *overrides)
    return generate(cfg, pool_for(cfg, "train"), "train", np.arange(n))


def count(word: str | None) -> int:
    return 1 if word is None else 2 if word == "twice" else int(word.split()[0])


def parse(text: str) -> list[dict]:
    """The clauses of a caption: subject, motion, {wall: count}, {subject: count}, by the grammar."""
    head, _, last = text.rpartition(" while ")
    out = []
    for clause in [*(head.split(", ") if head else []), last]:
        parts = clause.split(" and ")
        first = re.fullmatch(SUBJECT + r" (?P<motion>moves (?:(?:slowly|quickly) )?\S+|stays still)", parts[0])
        assert first, clause
        walls, others, now = {}, {}, None
        for part in parts[1:]:
            for lead in ("bounces off ", "collides with "):
                if part.startswith(lead):
                    now, part = lead, part[len(lead) :]
            wall = re.fullmatch(r"the (top|bottom|left|right) wall" + TIMES, part)
            other = re.fullmatch(SUBJECT + TIMES, part)
            if now == "bounces off ":
                assert wall and wall[1] not in walls, clause
                walls[wall[1]] = count(wall["n"])
            else:
                assert now == "collides with " and other, clause
                others[(other["ord"], int(other["label"]))] = count(other["n"])
        subject = (first["ord"], int(first["label"]))
        out.append({"subject": subject, "motion": first["motion"], "walls": walls, "others": others})
    return out


def parse_event(text: str) -> tuple[tuple[str | None, int], list[str], list[tuple[str | None, int]]]:
    """An event caption: subject, the walls and the digits it names, in order, by the grammar."""
    first = re.fullmatch(SUBJECT + r" (?P<rest>(?:bounces off|collides with) .+)", text)
    assert first, text
    walls, others, now = [], [], None
    for part in first["rest"].split(" and "):
        for lead in ("bounces off ", "collides with "):
            if part.startswith(lead):
                now, part = lead, part[len(lead) :]
        if now == "bounces off ":
            wall = re.fullmatch(r"the (top|bottom|left|right) wall", part)
            assert wall and not others, text  # walls first, each once
            walls.append(wall[1])
        else:
            other = re.fullmatch(SUBJECT, part)
            assert other, text
            others.append((other["ord"], int(other["label"])))
    return (first["ord"], int(first["label"])), walls, others


def names(labels: np.ndarray) -> dict[int, tuple[str | None, int]]:
    """slot -> (ordinal or None, label) for the present slots."""
    slots = [s for s in range(len(labels)) if labels[s] >= 0]
    out = {}
    for s in slots:
        same = [t for t in slots if labels[t] == labels[s]]
        out[s] = (captions.ordinal(same.index(s)) if len(same) > 1 else None, int(labels[s]))
    return out


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_a_caption_says_every_present_digit_and_every_stored_event_and_nothing_else(overrides: tuple[str, ...]) -> None:
    c = chunk(*overrides)
    assert c.captions is not None and c.events is not None and c.velocities is not None
    said = 0
    for i, text in enumerate(c.captions):
        clauses, who = parse(text.decode("ascii")), names(c.labels[i])
        assert [cl["subject"] for cl in clauses] == list(who.values())  # each present digit once, in slot order
        bits = c.events[i].astype(np.uint64)
        for cl, slot in zip(clauses, who, strict=True):
            on = (bits[:, slot, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
            total = on.sum(axis=0)
            assert cl["walls"] == {w: int(total[b]) for b, w in enumerate(WALLS) if total[b]}, text
            later = {who[j]: int(total[4 + j]) for j in who if j > slot and total[4 + j]}
            assert cl["others"] == later, text
            assert all(int(total[4 + j]) == 0 for j in range(len(who), 60) if 4 + j < 64)  # no empty slot hit
            said += sum(cl["walls"].values()) + sum(cl["others"].values())
            if overrides in ((), CASES["1 to 3 digits, fast"]):  # patch boxes: pixels = velocities x free range
                v = c.velocities[i, :, slot].astype(np.float64) * FREE
                way = int(captions.direction(v.mean(axis=0)))
                fast = str(captions.speed_word(np.hypot(v[:, 0], v[:, 1]).mean()))
                words = ["moves", *([fast] if fast else []), captions.DIRECTIONS[way]] if way >= 0 else ["stays still"]
                assert cl["motion"] == " ".join(words)
    assert said or any("boundary" in o for o in overrides)  # the others bounce (or collide)


def test_the_grammar_words_directions_speeds_repeats_and_counts() -> None:
    t = 4
    v = np.zeros((t, 3, 2))
    v[:, 0] = (-1.0, 0.0)  # row decreasing: up, 1 px a frame: slow
    v[:, 1] = (3.0, -3.0)  # down-left, 4.2 px: no speed word
    v[:, 2] = (0.0, 6.0)  # right, fast
    events = np.zeros((t, 3), np.uint8)
    events[1, 0] = 1 | 8 | (1 << (4 + 2))  # top and right walls, and slot 2
    events[3, 0] = 1 | (1 << (4 + 2))
    events[1, 2] = events[3, 2] = 1 << 4
    labels = np.array([7, 3, 7])
    text = captions.caption(labels, v, events)
    assert text == (
        "the first 7 moves slowly up and bounces off the top wall twice and the right wall"
        " and collides with the second 7 twice, the 3 moves down-left while the second 7 moves quickly right"
    )
    assert captions.caption(np.array([5, -1]), np.zeros((t, 2, 2)), np.zeros((t, 2), np.uint8)) == "the 5 stays still"
    compass = np.array([(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)], float)
    assert captions.direction(compass).tolist() == list(range(8))  # DIRECTIONS' order, from right counter-clockwise
    assert captions.direction(np.array([1e-4, 0.0])) == -1
    assert [captions.ordinal(i) for i in (0, 9, 10, 11, 20, 21)] == ["first", "tenth", "11th", "12th", "21st", "22nd"]


def test_the_width_bounds_the_longest_caption() -> None:
    k, t = 4, 7
    labels = np.full(k, -32768)
    v = np.zeros((t, k, 2))
    v[..., 0], v[..., 1] = 6.0, 6.0  # "moves quickly down-right"
    events = np.full((t, k), 2 ** (4 + k) - 1, np.uint16)  # every wall and every digit, every frame
    assert len(captions.caption(labels, v, events)) <= captions.width(k, t, collisions=True)


def test_the_other_arrays_are_the_same_bytes_with_captions_on_or_off() -> None:
    for preset in ("srivastava", "elastic"):
        on = chunk(f"motion.preset={preset}", n=6)
        cfg = small_config("sequence.length=12", f"motion.preset={preset}")
        off = generate(cfg, pool_for(cfg, "train"), "train", np.arange(6))
        for name in ("frames", "labels", "positions", "source_index", "trajectories", "velocities", "boxes", "events"):
            assert np.asarray(getattr(on, name)).tobytes() == np.asarray(getattr(off, name)).tobytes(), name
        assert off.captions is None and on.captions is not None


def test_the_sequence_captions_keep_their_bytes_beside_event_captions() -> None:
    for case, digest in (("srivastava", "2ca0e6e435799ce9"), ("elastic", "f5bf4a8441a4f030")):  # as at 6d86ab2
        c = chunk(*CASES[case])
        assert c.captions is not None and c.event_captions is not None
        assert hashlib.sha256(c.captions.tobytes()).hexdigest()[:16] == digest, case


def test_captions_are_off_by_default_and_refused_for_mmnistpp() -> None:
    assert small_config().annotations.captions is small_config().annotations.event_captions is False
    for name in ("captions", "event_captions"):
        with pytest.raises(ConfigError, match=rf"annotations\.{name} describe") as info:
            small_config(f"annotations.{name}=true", "motion.preset=mmnist++")
        assert "\n" not in str(info.value)
    result = CliRunner().invoke(
        cli, ["config", "show", "--set", "annotations.captions=true", "--set", "motion.preset=mmnist++"]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_build_stores_the_procedural_captions_with_the_same_bytes_on_1_or_2_workers(tmp_path: Path) -> None:
    cfg = small_config(
        "annotations.captions=true",
        "annotations.event_captions=true",
        "motion.preset=elastic",
        "digits.count=[1, 3]",
        "splits.val.sequences=0",
        "output.shard_size=5",  # test: 5, 5, 5, 1 (a shard of one caption)
    )
    built, fresh = built_on_1_and_2_workers(cfg, tmp_path)
    for split in ("train", "test"):
        stored = stored_as_computed(built, fresh, split)
        assert stored["captions"].dtype == np.dtype(f"S{captions.width(3, 6, True)}")
        assert built[split].with_annotations()[3]["captions"] == fresh[split].with_annotations()[3]["captions"]
        assert stored["event_captions"].dtype == np.dtype(f"S{captions.event_width(3, True)}")
        assert stored["event_captions"].shape == (len(built[split]), 6 * 3)
    plain: dict[str, list] = {"captions": [], "event_captions": [], "event_frames": []}
    for shard in sorted((tmp_path / "1").rglob("test*.h5")):
        with h5py.File(shard) as f:
            for name, rows in plain.items():
                rows += f[name][:].tolist()
    for name, rows in plain.items():
        assert rows == fresh["test"].with_annotations()[:][name].tolist(), name
    report = verify(tmp_path / "1", regenerate=6)
    assert report.ok and report.regenerated == 6, report  # the shards' dtypes, and captions made again


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_the_event_captions_say_each_frames_bounces_and_collisions_in_order(overrides: tuple[str, ...]) -> None:
    c = chunk(*overrides)
    assert c.event_captions is not None and c.event_frames is not None and c.events is not None
    k = c.labels.shape[1]
    assert c.event_captions.shape == (16, 12 * k) and c.event_frames.shape == (16, 12 * k, 2)
    assert c.event_frames.dtype == np.int32
    said = 0
    for i in range(16):
        who = names(c.labels[i])
        bits = c.events[i].astype(np.uint64)
        expected = []
        for t in range(12):
            for slot in who:
                walls = [w for b, w in enumerate(WALLS) if bits[t, slot] >> np.uint64(b) & np.uint64(1)]
                later = [who[j] for j in who if j > slot and bits[t, slot] >> np.uint64(4 + j) & np.uint64(1)]
                if walls or later:
                    expected.append(((max(t - 1, 0), t), who[slot], walls, later))
        rows = len(expected)
        got = [
            ((int(a), int(b)), *parse_event(text.decode("ascii")))
            for text, (a, b) in zip(c.event_captions[i, :rows], c.event_frames[i, :rows], strict=True)
        ]
        assert got == expected, c.event_captions[i]
        assert (c.event_captions[i, rows:] == b"").all() and (c.event_frames[i, rows:] == -1).all()
        said += rows
        collided = (bits[..., None] >> np.arange(4, 4 + k, dtype=np.uint64)) & np.uint64(1)  # [T, K, K]
        for t, slot, j in zip(*np.nonzero(collided), strict=True):  # said once, by the earlier slot, at that frame
            first, then = who[min(slot, j)], who[max(slot, j)]
            assert any(f == t and subject == first and then in others for (_, f), subject, _, others in got)
    assert said or any("boundary" in o for o in overrides)  # the others bounce (or collide)


def test_per_event_examples_and_the_width_bounds_every_event_caption() -> None:
    labels = np.array([[7, 3, 7]])
    events = np.zeros((1, 4, 3), np.uint8)
    events[0, 0, 1] = 2  # the bottom wall, right before frame 0
    events[0, 2, 0] = 1 | 8 | (1 << (4 + 2))  # the top and right walls, and slot 2
    events[0, 2, 2] = 1 << 4  # the same collision, held by slot 2 too: said once
    events[0, 3, 2] = 4 | (1 << 4)  # the left wall, and slot 0 (said by slot 0)
    events[0, 3, 0] = 1 << (4 + 2)
    texts, frames = captions.per_event(labels, events, captions.event_width(3, collisions=True))
    assert texts[0, :4].tolist() == [
        b"the 3 bounces off the bottom wall",
        b"the first 7 bounces off the top wall and the right wall and collides with the second 7",
        b"the first 7 collides with the second 7",
        b"the second 7 bounces off the left wall",
    ]
    assert frames[0, :4].tolist() == [[0, 0], [1, 2], [2, 3], [2, 3]]
    assert (texts[0, 4:] == b"").all() and (frames[0, 4:] == -1).all()
    k = 4
    every = np.full((1, 3, k), 2 ** (4 + k) - 1, np.uint16)  # every wall and every digit, every frame
    texts, _ = captions.per_event(np.full((1, k), -32768), every, size := captions.event_width(k, collisions=True))
    assert max(len(t) for t in texts[0]) <= size
