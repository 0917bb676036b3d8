"""The reliability suite: every test tallies its cases by category; the run ends with one summary line.

Besides pass/fail, a case counts the three outcomes that must never happen, whatever the
input: a traceback shown to the user, wrong data returned without an error, and a byte
written outside the dataset (or export target) asked for. The summary line gives each total.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Protocol

import pytest

CATEGORIES = (
    "config",
    "sources",
    "faults",
    "corruption",
    "concurrency",
    "paths",
    "links",
    "resume",
    "manifests",
    "files",
    "bombs",
    "signals",
)
BAD = ("tracebacks", "silent wrong reads", "writes outside the dataset")
_tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
_bad: dict[str, int] = dict.fromkeys(BAD, 0)


class Case(Protocol):
    def __call__(
        self, category: str, ok: bool = True, *, traceback: bool = False, wrong: bool = False, outside: bool = False
    ) -> None: ...


def summary() -> str | None:
    if not _tally:
        return None
    tried = sum(t for t, _ in _tally.values())
    passed = sum(p for _, p in _tally.values())
    parts = ", ".join(f"{c} {_tally[c][1]}/{_tally[c][0]}" for c in CATEGORIES if c in _tally)
    bad = ", ".join(f"{name} {n}" for name, n in _bad.items())
    return f"reliability: {tried} cases tried, {passed} passed ({parts}); {bad}"


@pytest.fixture
def case() -> Case:
    """`case(category, ok, traceback=, wrong=, outside=)`: count one case; call it after the case's
    assertions (or with their outcome). Any of the three flags set makes the case fail too."""

    def count(
        category: str, ok: bool = True, *, traceback: bool = False, wrong: bool = False, outside: bool = False
    ) -> None:
        assert category in CATEGORIES, category
        for name, flag in zip(BAD, (traceback, wrong, outside), strict=True):
            _bad[name] += int(flag)
        _tally[category][0] += 1
        _tally[category][1] += int(ok and not (traceback or wrong or outside))

    return count


def pytest_terminal_summary(terminalreporter: Any) -> None:
    line = summary()
    if line is not None:
        terminalreporter.write_line(line)
