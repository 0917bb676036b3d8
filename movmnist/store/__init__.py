"""store: the on-disk format of a dataset directory. The only layer that talks to h5py.

Lives here: `schema` (every dataset a shard can hold), `shards` (writing HDF5 shard
files), `reader` (reading them, a bounded set open per process), `records` (sealing a
shard and its sha256 record), `manifest` (the dataset's source of truth, written last,
parsed into one typed model) and `outdir` (the directory: its lock, what an earlier build
left, temporaries).

May import: h5py, hdf5plugin, numpy, pydantic, `errors`, `files`, `text`, `config`, `core`
(the arrays it stores). Must not import: `sources`, `read`, `tools`, `builder`, `cli`.
"""
