"""Hostile manifests: every field deleted, retyped, made huge, NaN or deeply nested, and counts that lie.

Each mutated manifest.json is given to `info`, `verify` and `export`: each must exit 0 or
print one line (exit 1 or 2), never a traceback; and `export` may exit 0 only with the
whole, right array (a manifest that claims more or fewer sequences than the shards hold is
refused, never exported short or padded).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from movmnist.builder import build
from movmnist.config import Config
from movmnist.store import manifest
from tests import faults
from tests.reliability.conftest import Case

Path_ = tuple[str | int, ...]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("manifests")
    data = faults.tiny_config(faults.tiny_npz(root / "digits.npz"))
    data["splits"]["train"]["sequences"], data["splits"]["test"]["sequences"] = 20, 20
    built = root / "built"
    build(Config.from_data(data), built, workers=1)
    clean = root / "clean.npy"
    assert faults.invoke(["export", str(built), "-o", str(clean)]).code == 0
    return {"built": built, "manifest": json.loads((built / manifest.MANIFEST).read_text()), "clean": np.load(clean)}


def _paths(node: Any, at: Path_ = ()) -> list[Path_]:
    found = [at] if at else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*at, i))
    return found


DEEP = "(nested 3000 deep)"
VALUES: list[Any] = [None, "x", "", -1, 0, 10**30, 1.5, math.nan, math.inf, [], {}, True, "../../etc/passwd"]


def _mutate(data: dict[str, Any], at: Path_, how: Any) -> None:
    node: Any = data
    for step in at[:-1]:
        node = node[step]
    if how == "delete":
        del node[at[-1]]
    elif how == "deep":
        node[at[-1]] = DEEP
    else:
        node[at[-1]] = how


def _lies(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Manifests whose counts disagree with the shards, each consistent in itself or not."""
    out = []
    for label, split_n, shard_n in (("more", 21, 3), ("fewer", 19, 1), ("split only", 25, 0), ("shard only", 0, 5)):
        lie = json.loads(json.dumps(data))
        split = lie["splits"]["test"]
        split["sequences"] += split_n - 20 if split_n else 0
        if shard_n:
            last = split["shards"][-1]
            last["sequences"] += shard_n if label != "fewer" else -shard_n
        out.append((f"test count {label}", lie))
    return out


def _cases(data: dict[str, Any], rng: random.Random) -> list[tuple[str, str]]:
    """(label, manifest text) of every case."""
    texts: list[tuple[str, str]] = []
    paths = _paths(data)
    for at in rng.sample(paths, min(len(paths), 40)):
        for how in ["delete", "deep", *rng.sample(VALUES, 3)]:
            mutated = json.loads(json.dumps(data))
            _mutate(mutated, at, how)
            text = json.dumps(mutated).replace(json.dumps(DEEP), "[" * 3000 + "]" * 3000)
            texts.append((f"{'.'.join(map(str, at))} -> {how!r}"[:120], text))
    for key in ("splits", "sequence_shape", "config", "source"):
        for value in ([], {}, "x", None):
            texts.append((f"{key} = {value!r}", json.dumps({**data, key: value})))
    texts += [(label, json.dumps(lie)) for label, lie in _lies(data)]
    texts += [
        ("empty", ""),
        ("not JSON", "{"),
        ("a list", "[]"),
        ("nested 100000 deep", "[" * 100_000 + "]" * 100_000),
        ("binary", "\x00\xff" * 100),
        ("NaN token", json.dumps(data).replace('"build_seconds": ', '"build_seconds": NaN, "x": ', 1)),
    ]
    return texts


def _report(command: str, result: faults.Outcome) -> bool:
    """verify's report of damaged shards: one line a shard, then the verdict."""
    lines = result.output.strip().splitlines()
    return command == "verify" and result.code == 1 and not result.traceback and lines[-1].startswith("FAILED: ")


def test_hostile_manifests_are_refused_in_one_line(tiny: dict[str, Any], tmp_path: Path, case: Case) -> None:
    rng = random.Random(18)
    root = tmp_path / "ds"
    import shutil

    shutil.copytree(tiny["built"], root)
    failures = []
    for label, text in _cases(tiny["manifest"], rng):
        (root / manifest.MANIFEST).write_text(text, encoding="utf-8", errors="surrogateescape")
        target = tmp_path / "out.npy"
        target.unlink(missing_ok=True)
        results = {
            "info": faults.invoke(["info", str(root)]),
            "verify": faults.invoke(["verify", str(root)]),
            "export": faults.invoke(["export", str(root), "-o", str(target)]),
        }
        wrong = False
        if results["export"].code == 0:
            try:
                wrong = not np.array_equal(np.load(target), tiny["clean"])
            except Exception:
                wrong = True
        tb = any(r.traceback for r in results.values())
        shapeless = [n for n, r in results.items() if r.code != 0 and not (r.one_line or _report(n, r))]
        ok = not tb and not wrong and not shapeless
        case("manifests", ok, traceback=tb, wrong=wrong)
        if not ok:
            failures.append(f"{label}: " + "; ".join(f"{n} {r.code} {r.output[-300:]!r}" for n, r in results.items()))
    assert not failures, f"{len(failures)} cases:\n" + "\n".join(failures[:20])
