"""Reading a config: YAML files (or stdin), `--set` overrides, and writing a config back as YAML.

The only module that imports yaml. `load_config` is what the CLI and `movmnist.load_config` call.
"""

from __future__ import annotations

import copy
import io
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from movmnist.config.schema import Config
from movmnist.errors import ConfigError
from movmnist.files import open_regular
from movmnist.text import cut

MAX_CONFIG_BYTES = 1 << 20


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file (or stdin for '-') with the safe loader and a size limit."""
    name = "stdin" if str(path) == "-" else str(path)
    try:
        if str(path) == "-":
            raw = sys.stdin.buffer.read(MAX_CONFIG_BYTES + 1)
        else:
            with open_regular(Path(path)) as f:  # a FIFO would block forever
                raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file {name} does not exist; check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"config {name} is a directory; give a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {cut(name)}: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {name} is larger than {MAX_CONFIG_BYTES} bytes; is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config {name} is not UTF-8 text; give a YAML file") from None
    if name == "stdin" and not text.strip():
        # `movmnist build -` with nothing piped in must not start the default 21,000-sequence build.
        raise ConfigError("stdin is empty; pipe a YAML config into it, or leave out '-' to build the defaults")
    try:
        return _parse(text, f"config {name}")
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config {name} is not valid YAML{at}: {problem}") from None


def _parse(text: str, what: str) -> Any:
    """YAML text with the safe loader; ConfigError (naming `what`) for what PyYAML cannot hold:
    nesting past Python's recursion limit, an integer past Python's 4,300 digits."""
    try:
        return yaml.safe_load(io.StringIO(text))
    except RecursionError:  # PyYAML composes nested nodes recursively
        raise ConfigError(f"{what} nests lists or mappings too deeply to read; is it the right file?") from None
    except ValueError as exc:  # int() of a literal past sys.get_int_max_str_digits()
        if "integer string conversion" not in str(exc):
            raise
        raise ConfigError(
            f"{what} holds an integer of more than {sys.get_int_max_str_digits()} digits; no config field takes one"
        ) from None


def apply_overrides(data: Any, overrides: Sequence[str]) -> dict[str, Any]:
    """Apply `dotted.key=value` overrides (values parsed as YAML) to a copy of the data."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"the config must be a mapping of sections (got {type(data).__name__})")
    result: dict[str, Any] = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set expects dotted.key=value (got {item!r}), e.g. --set sequence.length=30")
        try:
            value = _parse(text, f"--set {key}") if text.strip() else None
        except yaml.YAMLError:
            value = text
        node = result
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"--set {key}: {where} is not a section, it holds {child!r}")
            node = child
        node[parts[-1]] = value
    return result


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a config; `None` means the built-in defaults."""
    data = read_yaml(path) if path is not None else {}
    return Config.from_data(apply_overrides(data, overrides))


def to_yaml(cfg: Config) -> str:
    """The config as YAML that `load_config` reads back to an equal config."""
    return yaml.safe_dump(cfg.to_data(), sort_keys=False)


def dump_yaml(data: Any) -> str:
    """Plain data (dicts, lists, strings, numbers) as block-style YAML, keys in their order: a card's front matter."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
