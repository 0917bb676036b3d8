"""Inputs past what Python, the file system or a terminal take (issue 18, item 11): one line, exit 2.

A path component over 255 bytes, an integer of 5,000 digits, a value nested 40,000 deep, an
echoed input of 100-200 kB, and a canvas smaller than the digits of a source not downloaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import faults
from tests.reliability.conftest import Case

LONG_NAME = "a" * 300  # a path component: most file systems take 255 bytes
MESSAGE_LIMIT = 1100  # text.LINE_LIMIT, plus click's "Error: " and its usage lines


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("hostile")
    data = faults.tiny_config(faults.tiny_npz(root / "digits.npz"))
    return {"root": root, "data": data, "config": faults.write_config(root / "tiny.yaml", data)}


def _config(tiny: dict[str, object], tmp_path: Path, name: str, **changes: object) -> Path:
    data = {**tiny["data"], **changes}  # type: ignore[dict-item]
    return faults.write_config(tmp_path / name, data)


def test_a_path_component_too_long_for_the_file_system(tiny: dict[str, object], tmp_path: Path, case: Case) -> None:
    config = str(tiny["config"])
    source = {"kind": "npz", "path": str(tmp_path / LONG_NAME)}
    commands = {
        "info": ["info", LONG_NAME],
        "verify": ["verify", LONG_NAME],
        "export": ["export", LONG_NAME, "-o", str(tmp_path / "x.npy")],
        "merge": ["merge", LONG_NAME],
        "build --out": ["build", config, "-q", "--out", str(tmp_path / LONG_NAME / "d")],
        "source.path": ["plan", str(_config(tiny, tmp_path, "long-source.yaml", source=source))],
    }
    outcomes = {name: faults.invoke(args) for name, args in commands.items()}
    phrase = "file name too long (the file system takes 255 bytes a name, 4,096 a path); give a shorter path"
    bad = {k: o for k, o in outcomes.items() if not faults.refused(o, phrase) or len(o.output) > MESSAGE_LIMIT}
    for name, outcome in outcomes.items():
        case("paths", name not in bad, traceback=outcome.traceback)
    assert not bad, bad


def test_integers_and_nesting_past_what_python_parses(tiny: dict[str, object], tmp_path: Path, case: Case) -> None:
    digits = "9" * 5000
    config = str(tiny["config"])
    in_file = tmp_path / "big-int.yaml"
    in_file.write_text(Path(config).read_text() + f"seed: {digits}\n")
    outcomes = {
        "in the file": (faults.invoke(["plan", str(in_file)]), "more than 4300 digits"),
        "--set": (
            faults.invoke(["plan", config, "--set", f"splits.train.sequences={digits}"]),
            "more than 4300 digits",
        ),
        "--set, in a list": (faults.invoke(["plan", config, "--set", f"seed=[{digits}]"]), "more than 4300 digits"),
        "--set, hex": (
            faults.invoke(["plan", config, "--set", f"seed=0x{digits}"]),
            "(got <an integer of 20000 bits>)",
        ),
        "--set, 40,000 deep": (
            faults.invoke(["plan", config, "--set", "seed=" + "[" * 40_000 + "]" * 40_000]),
            "--set seed nests lists or mappings too deeply",
        ),
    }
    bad = {k: o for k, (o, phrase) in outcomes.items() if not faults.refused(o, phrase)}
    for name, (outcome, _) in outcomes.items():
        case("config", name not in bad, traceback=outcome.traceback)
    assert not bad, bad


def test_echoed_inputs_are_cut(tiny: dict[str, object], tmp_path: Path, case: Case) -> None:
    big = "k" * 200_000
    data = tiny["data"]
    key = _config(tiny, tmp_path, "key.yaml", **{big: 1})
    pool = _config(tiny, tmp_path, "pool.yaml", splits={**data["splits"], "train": {"pool": big}})  # type: ignore[index]
    spaced = _config(tiny, tmp_path, "spaced.yaml", sequence={"length": 4, "x " * 100_000: 1})
    argument = "9" * 100_000  # one argument: Linux takes 128 kB
    outcomes = {
        "an unknown key": (faults.invoke(["plan", str(key)]), "is not a known field", 2),
        "a key with spaces": (faults.invoke(["plan", str(spaced)]), "is not a known field; known: length", 2),
        "a pool": (faults.invoke(["plan", str(pool)]), "but the npz source has only train, test", 2),
        "an option's value": (faults.invoke(["stats", "d", "--split", argument]), "is not one of", 2),
        "--set without =": (faults.invoke(["plan", "--set", argument]), "--set expects dotted.key=value", 2),
    }
    bad = {
        name: o.output[:300]
        for name, (o, phrase, code) in outcomes.items()
        if o.code != code or o.traceback or phrase not in o.output or len(o.output) > MESSAGE_LIMIT
    }
    for name, (outcome, _, _) in outcomes.items():
        case("config", name not in bad, traceback=outcome.traceback)
    assert not bad, bad


def test_a_canvas_smaller_than_the_digits_is_refused_before_the_source_is_opened(
    tiny: dict[str, object], tmp_path: Path, case: Case
) -> None:
    small = {"height": 10, "width": 64}  # the digits of these sources are 28x28
    sources = {
        "tfds, not downloaded": {
            "kind": "tfds",
            "name": "mnist",
            "data_dir": str(tmp_path / "empty"),
            "mirror": "http://127.0.0.1:9/",
        },
        "sample": {"kind": "sample"},
        "synthetic": {"kind": "synthetic"},
    }
    phrase = "digits are 28x28 but the canvas is 10x64; enlarge canvas.height/width or set digits.size"
    outcomes = {}
    for name, source in sources.items():
        data = faults.tiny_config(tmp_path / "unused.npz", canvas=small, source=source)
        del data["digits"]["size"]
        config = faults.write_config(tmp_path / f"{name}.yaml", data)
        outcomes[name] = faults.invoke(["build", str(config), "-q", "--out", str(tmp_path / "d")])
    bad = {k: o for k, o in outcomes.items() if not faults.refused(o, phrase)}
    for name, outcome in outcomes.items():
        case("config", name not in bad, traceback=outcome.traceback)
    assert not bad, bad
    assert not (tmp_path / "empty").exists() and not (tmp_path / "d").exists()
