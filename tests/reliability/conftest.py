"""The reliability suite: every test tallies its cases by category; the run ends with one summary line."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

CATEGORIES = ("config", "sources", "faults", "corruption", "concurrency", "paths")
_tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])


def summary() -> str | None:
    if not _tally:
        return None
    tried = sum(t for t, _ in _tally.values())
    passed = sum(p for _, p in _tally.values())
    parts = ", ".join(f"{c} {_tally[c][1]}/{_tally[c][0]}" for c in CATEGORIES if c in _tally)
    return f"reliability: {tried} cases tried, {passed} passed ({parts})"


@pytest.fixture
def case() -> Callable[[str, bool], None]:
    """`case(category, ok)`: count one case; call it after the case's assertions (or with their outcome)."""

    def count(category: str, ok: bool = True) -> None:
        assert category in CATEGORIES, category
        _tally[category][0] += 1
        _tally[category][1] += int(ok)

    return count


def pytest_terminal_summary(terminalreporter: Any) -> None:
    line = summary()
    if line is not None:
        terminalreporter.write_line(line)
