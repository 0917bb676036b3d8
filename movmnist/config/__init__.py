"""config: the vocabulary of a build. The frozen, validated `Config` every other layer reads.

Lives here: `schema` (the pydantic models). Reading YAML and `--set` overrides, and the
wording of validation errors, come next to it.

May import: pydantic, `errors`, `text`; yaml only in the module that reads files. Must not
import any other movmnist layer: everything else imports the config.
"""

from movmnist.config.schema import (
    ALL,
    Annotations,
    Config,
    Engine,
    PoolSpec,
    Source,
    apply_overrides,
    load_config,
    read_yaml,
)

__all__ = [
    "ALL",
    "Annotations",
    "Config",
    "Engine",
    "PoolSpec",
    "Source",
    "apply_overrides",
    "load_config",
    "read_yaml",
]
