"""tools: look at, measure, check and convert a built dataset.

Lives here: `preview` (GIFs and contact sheets; the only owner of imageio), `stats` and
`plot` (statistics and their figure; matplotlib only in `plot`), `verify` (shards against
the manifest, and regeneration), `info` (the manifest's summary), `exports` (npy, PredRNN
npz, WebDataset: one registry, one module per format), `loader` (how fast a training
loop receives a procedural dataset) and `score` (predictions against an evaluation pack,
under OpenSTL's or PredRNN's metrics; the reader of a pack's pack.json).

May import every layer below: `errors`, `files`, `text`, `config`, `core`, `sources`,
`store`, `read`. Must not import: `builder`, `cli`.
"""
