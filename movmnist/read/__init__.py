"""read: a built dataset as Python objects (`movmnist.open`), for training loops and tools.

Lives here: `dataset` (the loader over the shards, through the manifest).

May import: `errors`, `files`, `text`, `config`, `core`, `sources`, `store`. Must not import:
`tools`, `builder`, `cli`.
"""
