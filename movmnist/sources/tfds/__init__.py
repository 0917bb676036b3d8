"""TensorFlow Datasets image sets by name: `open_tfds`, `fetch` and `status`.

The module became this package; `download` holds it whole until the split.
"""

from movmnist.sources.tfds.download import (
    CACHE_DIR,
    CACHE_FILE,
    CACHE_FORMAT,
    IDX_SETS,
    INSTALL_TENSORFLOW,
    PROBE_SECONDS,
    WAYS_OUT,
    TfdsSource,
    cache_path,
    data_root,
    default_data_dir,
    fetch,
    open_tfds,
    read_cache,
    status,
    unreachable,
)

__all__ = [
    "CACHE_DIR",
    "CACHE_FILE",
    "CACHE_FORMAT",
    "IDX_SETS",
    "INSTALL_TENSORFLOW",
    "PROBE_SECONDS",
    "WAYS_OUT",
    "TfdsSource",
    "cache_path",
    "data_root",
    "default_data_dir",
    "fetch",
    "open_tfds",
    "read_cache",
    "status",
    "unreachable",
]
