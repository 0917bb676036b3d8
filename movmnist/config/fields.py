"""The config's reusable field types: the strict frozen base model, [min, max] ranges, pool
slices (`PoolSpec`) and sequence counts, each with the validator that reads it.

The section models (`sections`) and `Config` (`schema`) are built from these. A validator
raises PydanticCustomError; `messages` puts the field's dotted name in front of its text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _as_range(value: Any) -> Any:
    """Accept a scalar (a fixed value) or a two-item [min, max] list; return a (min, max) pair."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "range", "must be a number or a [min, max] pair (got {value})", {"value": repr(value)}
        )
    if isinstance(value, int | float):
        return (value, value)
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise PydanticCustomError(
                "range", "must be a number or a [min, max] pair (got {n} items)", {"n": len(value)}
            )
        lo, hi = value
        if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
            raise PydanticCustomError("range", "must have min <= max (got [{lo}, {hi}])", {"lo": lo, "hi": hi})
        return tuple(value)
    raise PydanticCustomError("range", "must be a number or a [min, max] pair (got {value})", {"value": repr(value)})


IntRange = Annotated[tuple[int, int], BeforeValidator(_as_range)]
FloatRange = Annotated[tuple[float, float], BeforeValidator(_as_range)]


def _compact(pair: Sequence[Any]) -> Any:
    """A (min, max) pair as a config writes it: the scalar when min == max (`_as_range` reversed)."""
    lo, hi = pair
    return lo if lo == hi else [lo, hi]


_POOL_RE = re.compile(r"^(?P<split>[A-Za-z_][\w/-]*)(\[(?P<start>-?\d+)?:(?P<stop>-?\d+)?\])?$")
_HUGE = 1 << 62


class PoolSpec(_Model):
    """A slice of one of the source's own splits, written like a Python slice: `train[:50000]`,
    `train[-10000:]` (negative bounds count from the split's end)."""

    split: str
    start: int = 0
    stop: int | None = None

    @classmethod
    def parse(cls, text: str) -> PoolSpec:
        m = _POOL_RE.match(text.strip())
        if not m:
            raise PydanticCustomError(
                "pool",
                "must look like 'train', 'train[:50000]' or 'train[-10000:]' (got {v})",
                {"v": repr(text)},
            )
        start, stop = m.group("start"), m.group("stop")
        return cls(split=m.group("split"), start=int(start) if start else 0, stop=int(stop) if stop else None)

    def bounds(self, count: int) -> tuple[int, int]:
        """(start, stop) in a split of `count` images, negative bounds counting from its end (unclipped)."""
        start = self.start + count if self.start < 0 else self.start
        stop = count if self.stop is None else self.stop + count if self.stop < 0 else self.stop
        return start, stop

    def overlaps(self, other: PoolSpec) -> bool:
        """Whether the slices share images in a split of any size so large that every bound is
        inside it. The build checks again with the split's real size (`overlap_at`), which
        decides slices that count from different ends, such as train[:50000] and train[-10000:]."""
        return self.overlap_at(other, _HUGE)

    def overlap_at(self, other: PoolSpec, count: int) -> bool:
        """Whether the two slices share an image of a split of `count` images."""
        if self.split != other.split:
            return False
        (a0, a1), (b0, b1) = self.bounds(count), other.bounds(count)
        a0, a1, b0, b1 = (min(max(v, 0), count) for v in (a0, a1, b0, b1))
        return max(a0, b0) < min(a1, b1) and a0 < a1 and b0 < b1

    def __str__(self) -> str:
        if self.start == 0 and self.stop is None:
            return self.split
        return f"{self.split}[{self.start or ''}:{'' if self.stop is None else self.stop}]"


def _as_pool(value: Any) -> Any:
    if isinstance(value, str):
        return PoolSpec.parse(value)
    return value


ALL = -1  # `sequences: all`: one sequence per pool image (digits.assign: each), resolved by `resolve_counts`
MAX_SEQUENCES = 10**10


def _as_count(value: Any) -> Any:
    """A sequence count: an integer in [0, 10**10], or 'all' (stored as ALL until resolved)."""
    if value == "all":
        return ALL
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("range", "must be an integer or 'all' (got {v})", {"v": repr(value)})
    if value < 0:
        raise PydanticCustomError("range", "must be >= 0 (got {v})", {"v": value})
    if value > MAX_SEQUENCES:
        raise PydanticCustomError("range", "must be <= {hi} (got {v})", {"hi": MAX_SEQUENCES, "v": value})
    return value
