"""The compiled kernels (movmnist/core/_kernel.c), or None where the install could not build them.

The install compiles them (pyproject.toml: an optional C extension, plain C, no numpy
headers). Each caller keeps its numpy path, which gives the same bytes (tests/core/test_kernel.py
and the golden digests check both), and takes this one when it is there. `NAME` says which
runs; tests set `kernel` to None to run the numpy paths.
"""

from __future__ import annotations

from types import ModuleType

kernel: ModuleType | None
try:
    from movmnist.core import _kernel as kernel
except ImportError:  # no C compiler at install time: the numpy paths
    kernel = None

NAME = "C" if kernel is not None else "numpy"
