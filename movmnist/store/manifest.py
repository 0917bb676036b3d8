"""The manifest: the dataset's source of truth, written last and atomically.

If `manifest.json` exists, the build finished. Readers find shards only through it,
never by globbing, and never open a path outside the dataset directory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from movmnist.errors import DatasetError

MANIFEST = "manifest.json"
BUILDING = ".movmnist-building.json"
LOCK = ".movmnist-lock"  # held while a builder runs: its pid and host
FORMAT = "movmnist"
FORMAT_VERSION = 1
SHARD_NAME = re.compile(r"^(train|val|test)-\d{5}-of-\d{5}\.h5$")
CARD_FILES = ("README.md", "preview.gif")  # the dataset card (movmnist.card): its text and the GIF it shows
RECORD_NAME = re.compile(r"^(train|val|test)-\d{5}-of-\d{5}\.h5\.sha256$")  # written after each shard
TEMP_NAME = re.compile(r"^\..+\.tmp-\d+$")


def is_ours(name: str) -> bool:
    """Whether a file name in a dataset directory is one that a build writes."""
    return name in (MANIFEST, BUILDING, LOCK, *CARD_FILES) or bool(
        SHARD_NAME.match(name) or RECORD_NAME.match(name) or TEMP_NAME.match(name)
    )


def read_manifest(root: Path) -> dict[str, Any]:
    """Load and sanity-check a dataset's manifest; raise DatasetError with the fix."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a directory; give the --out directory of a build")
    path = root / MANIFEST
    if not path.exists():
        if (root / BUILDING).exists():
            raise DatasetError(f"{root}: build in progress or interrupted (no {MANIFEST} yet); wait for it or rebuild")
        raise DatasetError(f"{root} has no {MANIFEST}: not a movmnist dataset; build one with movmnist build")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path} is not readable JSON ({exc}); rebuild the dataset") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DatasetError(f"{path} is not a movmnist manifest")
    if data.get("format_version") != FORMAT_VERSION:
        raise DatasetError(
            f"{path} has format version {data.get('format_version')}, this movmnist reads {FORMAT_VERSION}; "
            "rebuild the dataset or use a matching movmnist"
        )
    for split, info in data.get("splits", {}).items():
        for shard in info.get("shards", []):
            name = shard.get("file", "")
            if not isinstance(name, str) or not SHARD_NAME.match(name) or not name.startswith(f"{split}-"):
                raise DatasetError(f"{path} names shard {name!r}, which is not a shard file name; refusing to open it")
    return data
