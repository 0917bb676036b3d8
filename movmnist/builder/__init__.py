"""builder: a build, from a config to a finished dataset directory.

Lives here: `plan` (what a build writes, as frozen plain data), `driver` (`build`: runs the
plan on an engine and writes the manifest last), `parts` (`build_part`: one part of a build
split for a job array, and `merge`, which writes its manifest), `engines/` (where shard tasks run: local
processes or Dask) and `card` (the dataset card, README.md and preview.gif, that every
build writes). Named `builder` so that `movmnist.build`, the public function, is never
shadowed by a subpackage of the same name.

May import every layer below it: `errors`, `files`, `text`, `config`, `core`, `sources`,
`store`, `read` and `tools` (the card reads the shards back through the loader and draws
its GIF with `tools.preview`). Must not import: `cli`.
"""

from movmnist.builder.driver import build, default_workers, prepare

__all__ = ["build", "default_workers", "prepare"]
