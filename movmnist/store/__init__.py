"""store: the on-disk format of a dataset directory. The only layer that talks to h5py.

Lives here: `shards` (HDF5 shard files: write, seal, read), `manifest` (the dataset's
source of truth, written last) and `outdir` (the directory: its lock, what an earlier
build left, temporaries).

May import: h5py, hdf5plugin, numpy, `errors`, `files`, `text`, `config`, `core` (the
arrays it stores). Must not import: `sources`, `read`, `tools`, `builder`, `cli`.
"""
