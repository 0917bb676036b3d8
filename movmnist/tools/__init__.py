"""tools: look at, measure, check and convert a built dataset.

Lives here: `preview` (GIFs and contact sheets; the only owner of imageio), `stats` and
`plot` (statistics and their figure; matplotlib only in `plot`), `verify` (shards against
the manifest, and regeneration), `info` (the manifest's summary) and `export` (npy and
PredRNN npz).

May import every layer below: `errors`, `files`, `text`, `config`, `core`, `sources`,
`store`, `read`. Must not import: `builder`, `cli`.
"""
