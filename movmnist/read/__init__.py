"""read: datasets as Python objects, for training loops and tools: built (`movmnist.open`) or
generated on the fly (`movmnist.procedural`), behind one interface.

Lives here: `views` (the interface every split shares: views, indexing, iteration, chunks,
streams of batches), `dataset` (its items read from the shards, through the manifest),
`procedural` (its items generated from the config, the same bytes; training epochs) and
`torchdata` (the optional PyTorch adapter of a stream; the only module importing torch).

May import: `errors`, `files`, `text`, `config`, `core`, `sources`, `store`. Must not import:
`tools`, `builder`, `cli`.
"""
