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


_SHORT = reprlib.Repr()  # values in messages: short, one line, however big or deep the input
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


def local_name(path: str) -> str:
    """The last component of a local path ('/home/me/data/mnist.npz' -> 'mnist.npz'): what a dataset
    built from it may record, so that no folder of the builder's machine leaves it."""
    return PurePath(path).name or str(path)


def markdown_text(text: str) -> str:
    """`text` on one line with Markdown's and HTML's special characters escaped."""
    flat = " ".join(text.split())
    return "".join(f"\\{c}" if c in "\\`*_{}[]()<>#+-.!|~&" else c for c in flat)
