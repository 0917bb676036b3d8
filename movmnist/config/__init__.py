"""config: the vocabulary of a build. The frozen, validated `Config` every other layer reads.

Lives here: `schema` (the pydantic models), `presets` and `codecs` (the catalogues of the
names a config may use, as data), `messages` (the one-line wording of validation errors)
and `load` (YAML files, stdin and `--set` overrides; the only module that imports yaml,
so importing the schema, as the core does, loads no I/O library).

May import: pydantic, `errors`, `text`; yaml only in `load`. Must not import any other
movmnist layer: everything else imports the config.
"""

from movmnist.config.sections import ALL, SPLITS, Annotations, Config, Engine, PoolSpec, Source

__all__ = ["ALL", "SPLITS", "Annotations", "Config", "Engine", "PoolSpec", "Source"]
