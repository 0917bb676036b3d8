"""config: the vocabulary of a build. The frozen, validated `Config` every other layer reads.

Lives here: `schema` (`Config`, the whole), `sections` (its section models, one per
top-level key), `fields` (the field types they share: ranges, pool slices, sequence counts),
`presets`, `codecs` and `source_kinds` (the catalogues of the names a config may use, as data), `messages`
(the one-line wording of validation errors) and `load` (YAML files, stdin and `--set`
overrides; the only module that imports yaml, so importing the schema, as the core does,
loads no I/O library).

May import: pydantic, `errors`, `files`, `text`; yaml only in `load`. Must not import any other
movmnist layer: everything else imports the config.
"""

from movmnist.config.fields import ALL, PoolSpec
from movmnist.config.schema import Config
from movmnist.config.sections import SPLITS, Annotations, Engine, Source

__all__ = ["ALL", "SPLITS", "Annotations", "Config", "Engine", "PoolSpec", "Source"]
