"""The wording of config errors: pydantic's validation errors as one line that names the
field, the rule and the value, e.g. `sequence.length must be >= 2 (got 0)`.

Values in messages are cut short, however big or deep the input.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from movmnist.text import short

_TYPE_NAMES = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "int_from_float": "an integer",
    "finite_number": "a finite number",
}
_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}


def _fields_at(root: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The known field names of the section that `loc` points into."""
    model: Any = root
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        # An optional section (`Missing | None`): the model among the union's members.
        model = next((a for a in get_args(field.annotation) if hasattr(a, "model_fields")), field.annotation)
    return list(getattr(model, "model_fields", {}))


def _name(part: str) -> str:
    """A config key as it goes into a message: quoted unless it is a plain word."""
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else repr(part)


def _one(err: Any, root: type[BaseModel]) -> str:
    loc = [_name(p) for p in err["loc"] if isinstance(p, str)]
    where = ".".join(loc) or "config"
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        known = _fields_at(root, loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f"did you mean {'.'.join([*loc[:-1], close[0]])}?" if close else f"known: {', '.join(known)}"
        return f"{where} is not a known field; {hint}"
    if kind == "missing":
        return f"{where} is required"
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        return f"{where} must be {_BOUNDS[kind]} {bound} (got {short(value)})"
    if kind == "literal_error":
        return f"{where} must be {ctx.get('expected')} (got {short(value)})"
    if kind in _TYPE_NAMES:
        return f"{where} must be {_TYPE_NAMES[kind]} (got {short(value)})"
    if kind in ("range", "pool"):  # field validators: the message follows the field name
        return f"{where} {err['msg']}"
    if kind in ("path", "bounds", "fit"):  # model validators: the message starts with a field name
        return f"{where}.{err['msg']}" if loc else str(err["msg"])
    if kind == "leak":
        return str(err["msg"])
    return f"{where}: {err['msg']} (got {short(value)})"


def format_errors(exc: ValidationError, root: type[BaseModel]) -> str:
    """pydantic's errors about a `root` model as one line: the first problem, and how many more."""
    errors = exc.errors()
    text = " ".join(_one(errors[0], root).split("\n"))  # one line, whatever a key or a value held
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return text
