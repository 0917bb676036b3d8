"""Config fuzzing: hundreds of generated configs, each refused with one line and exit 2, or planned.

Each example mutates a tiny valid config (wrong types, missing and unknown keys, negative,
zero, huge and NaN values, unicode, deep nesting, a non-mapping top level) and runs
`movmnist plan` on it through the CLI: it must exit 0 (valid) or 2 with a one-line
message, and never print a traceback. A few valid ones are then built. Hand-written YAML
texts cover what generated data cannot: alias bombs, binary files, huge files, deep nesting.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from movmnist.cli import cli
from tests import faults

FIELDS = [
    "seed",
    "canvas.height",
    "canvas.width",
    "sequence.length",
    "digits.count",
    "digits.size",
    "digits.assign",
    "motion.preset",
    "motion.speed",
    "render.combine",
    "source.kind",
    "source.path",
    "source.seed",
    "splits.train.sequences",
    "splits.train.pool",
    "splits.val.sequences",
    "splits.test.sequences",
    "splits.test.pool",
    "output.shard_size",
    "output.compression",
    "output.compression_level",
    "build.chunk_size",
    "engine.kind",
    "engine.address",
]
SECTIONS = sorted({f.split(".")[0] for f in FIELDS} | {"splits.train", "splits.val", "splits.test"})

# Values: wrong types, negative, zero, huge, NaN and infinities, unicode, nested garbage. Sizes
# stay either small or far past their bounds, so that a valid config is always cheap to plan.
scalars = st.one_of(
    st.sampled_from([-(10**30), -1, 0, 1, 2, 3, 7, 16, 10**9, 10**30, 2**63, True, False, None]),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.5, 1e-300, 1e300, 0.1]),
    st.sampled_from(["", "0", "all", "train", "train[:10]", "test[5:1]", "x[::]", "../../etc", "tcp://h:1"]),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12,
)


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    node: Any = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(part, {})
    if isinstance(node, dict):
        node[parts[-1]] = value


def _delete(data: dict[str, Any], dotted: str) -> None:
    node: Any = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(parts[-1], None)


mutation = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(FIELDS), values),
    st.tuples(st.just("set"), st.sampled_from(SECTIONS), values),
    st.tuples(st.just("delete"), st.sampled_from(FIELDS + SECTIONS), st.none()),
    st.tuples(st.just("unknown"), st.sampled_from(["", *SECTIONS]), st.text(min_size=1, max_size=8)),
)
configs = st.one_of(
    st.lists(mutation, min_size=1, max_size=3).map(lambda ms: ("mutations", ms)),
    values.map(lambda v: ("top", v)),  # a top level that may be anything at all
)


def _materialise(base: dict[str, Any], spec: tuple[str, Any]) -> Any:
    kind, payload = spec
    if kind == "top":
        data = payload
    else:
        data = json.loads(json.dumps(base))
        for op, where, value in payload:
            if op == "set":
                _set(data, where, value)
            elif op == "delete":
                _delete(data, where)
            else:
                _set(data, f"{where}.{value}" if where else value, 1)
    # Never the default source: tfds would download, and tests never touch the network.
    # An empty file (`null`) is an empty config, which means every default, so it too.
    if data is None:
        data = {}
    if isinstance(data, dict):
        source = data.get("source")
        if not isinstance(source, dict):
            data["source"] = dict(base["source"])
        elif source.get("kind") in (None, "tfds"):
            source["kind"] = "npz"
    return data


def _check(result: Any) -> tuple[bool, str]:
    """exit 0, or exit 2 with exactly one line; never a traceback."""
    out = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return False, f"raised {type(result.exception).__name__}: {result.exception}"
    if "Traceback" in out:
        return False, "printed a traceback"
    if result.exit_code == 0:
        return True, "valid"
    if result.exit_code != 2:
        return False, f"exit {result.exit_code}: {out!r}"
    if out.count("\n") != 1 or not out.startswith("Error: "):
        return False, f"not one line: {out!r}"
    return True, out


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fuzz")
    return faults.tiny_config(faults.tiny_npz(root / "digits.npz"))


def test_generated_configs_are_planned_or_refused_in_one_line(
    base: dict[str, Any], tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    path = tmp_path / "config.yaml"
    runner = CliRunner()
    valid: list[str] = []

    @settings(max_examples=520, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(configs)
    def one(spec: tuple[str, Any]) -> None:
        data = _materialise(base, spec)
        try:
            text = yaml.safe_dump(data, allow_unicode=True)
        except yaml.YAMLError:  # not representable as YAML: nothing a user could write
            return
        path.write_text(text, encoding="utf-8")
        ok, why = _check(runner.invoke(cli, ["plan", str(path)]))
        case("config", ok)
        assert ok, f"{why}\nconfig:\n{text}"
        if why == "valid" and len(valid) < 3 and text not in valid:
            valid.append(text)

    one()
    for i, text in enumerate(valid):  # a few of the valid ones, built for real
        path.write_text(text, encoding="utf-8")
        result = runner.invoke(cli, ["build", str(path), "-o", str(tmp_path / f"b{i}"), "-q", "-j", "1"])
        ok, why = _check(result)
        case("config", ok and (result.exit_code == 0 or "Error" in result.output))
        assert ok, f"{why}\nconfig:\n{text}"


BOMB = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("alias bomb, unknown keys", BOMB, "a is not a known field"),
        ("alias bomb in a field", BOMB + "seed: *i\n", "seed must be an integer"),
        ("alias bomb in a section", BOMB + "canvas: *i\n", "canvas must be a mapping"),
        ("binary", bytes(range(256)) * 4, "is not UTF-8 text"),
        ("huge", b"seed: 1\n" + b"# padding\n" * 200_000, "is larger than"),
        ("deep lists", "seed: " + "[" * 5000 + "]" * 5000 + "\n", "nests lists or mappings too deeply"),
        ("deep mappings", "seed: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "nests lists or mappings too deeply"),
        ("nested garbage", "seed: " + "{a: [" * 40 + "1" + "]}" * 40 + "\n", "seed must be an integer"),
        ("a list", "- 1\n- 2\n", "must be a mapping"),
        ("a string", "hello\n", "must be a mapping"),
        ("a number", "42\n", "must be a mapping"),
        ("bad yaml", "seed: [1, 2\n", "is not valid YAML"),
        ("tabs", "seed:\t1\ncanvas:\n\theight: 3\n", "is not valid YAML"),
        ("python tag", "seed: !!python/object/apply:os.system ['true']\n", "is not valid YAML"),
        ("empty", "", "Built"),
    ],
)
def test_hostile_yaml_files(
    name: str, content: str | bytes, message: str, tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    command = ["plan", str(path)] if name != "empty" else ["config", "show", str(path)]
    result = CliRunner().invoke(cli, command)
    ok, why = _check(result)
    expected = message in result.output if name != "empty" else result.exit_code == 0
    case("config", ok and expected)
    assert ok, f"{name}: {why}"
    assert expected, f"{name}: {result.output!r}"
