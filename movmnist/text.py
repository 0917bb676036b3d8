"""Text for people: sizes in units, and values cut short for one-line messages."""

from __future__ import annotations

import reprlib
from pathlib import PurePath
from typing import Any


def human_bytes(n: float) -> str:
    """1234567 -> '1.2 MB' (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class _Short(reprlib.Repr):
    """reprlib's cut-short repr, also for integers too long for `str` (a hex literal in YAML)."""

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 256:
            return f"<an integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_SHORT = _Short()  # values in messages: short, one line, however big or deep the input
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6
_SHORT.maxlevel = 3


def short(value: Any) -> str:
    """`repr(value)`, cut to about 60 characters and a few items, for a one-line message."""
    return " ".join(_SHORT.repr(value).split("\n"))


def cut(text: str, limit: int = 200) -> str:
    """`text` on one line, cut to `limit` characters (with an ellipsis): an echoed input never floods a message."""
    text = " ".join(str(text).splitlines())
    return text if len(text) <= limit else text[: limit - 1] + "…"


WORD_LIMIT, LINE_LIMIT = 200, 1000


def brief(message: str) -> str:
    """A message for a person, on one line and of bounded length, whatever it echoes: a word
    (a path, a value) past WORD_LIMIT characters, then the line past LINE_LIMIT, lose their
    middle, so that both the start (the problem) and the end (the fix) stay."""
    words = [_middle(w, WORD_LIMIT) for w in " ".join(str(message).splitlines()).split(" ")]
    return _middle(" ".join(words), LINE_LIMIT)


def _middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def local_name(path: str) -> str:
    """The last component of a local path ('/home/me/data/mnist.npz' -> 'mnist.npz'): what a dataset
    built from it may record, so that no folder of the builder's machine leaves it."""
    return PurePath(path).name or str(path)


def markdown_text(text: str) -> str:
    """`text` on one line with Markdown's and HTML's special characters escaped."""
    flat = " ".join(text.split())
    return "".join(f"\\{c}" if c in "\\`*_{}[]()<>#+-.!|~&" else c for c in flat)
