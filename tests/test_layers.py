"""The package's layers, enforced: no module imports from a layer above its own, and the
pure core imports no I/O library.

Reads every module under movmnist/ with `ast` (every import statement, also those inside
functions and `TYPE_CHECKING` blocks: a type-only dependency is still a dependency), so it
needs no import-linter. The layers, bottom to top, are the ones each folder's
`__init__.py` docstring states.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "movmnist"

# Bottom to top: a module may import its own layer and the ones before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "files", "text"),
    ("config",),
    ("core",),
    ("sources",),
    ("store",),
    ("read",),
    ("tools",),
    ("builder",),
    ("cli",),
    ("__init__", "__main__"),  # the public API and `python -m movmnist`: the top
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# Libraries that do I/O or belong to one owning module; the core imports none of them.
IO_LIBRARIES = (
    "h5py",
    "hdf5plugin",
    "yaml",
    "imageio",
    "click",
    "tensorflow_datasets",
    "PIL",
    "matplotlib",
    "tqdm",
    "distributed",
)


def layer_of(module: str) -> str:
    """'movmnist.core.render' -> 'core'; 'movmnist' (the package itself) -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the tree, `from movmnist import x` as movmnist.x."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            if node.module == "movmnist":
                found += [(node.lineno, f"movmnist.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def violations(source: str, module: str) -> list[str]:
    """What breaks the layering in one module's source text (empty when it holds)."""
    own = layer_of(module)
    problems = []
    for line, target in imports(ast.parse(source), module):
        top = target.split(".")[0]
        if top == "movmnist":
            if target == "movmnist.__version__":  # the package's version: a constant, not a layer
                continue
            other = layer_of(target)
            if other not in RANK:
                problems.append(f"{module}:{line} imports {target}, which is in no known layer")
            elif RANK[other] > RANK[own]:
                problems.append(f"{module}:{line} imports {target}: {other} is a layer above {own}")
        elif own == "core" and top in IO_LIBRARIES:
            problems.append(f"{module}:{line} imports {target}: the core does no I/O")
    return problems


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        name = ".".join(parts)
        found.append((name if rel.name != "__init__" or len(parts) > 1 else "movmnist", path))
    return found


def test_every_module_is_in_a_layer() -> None:
    unknown = [name for name, _ in modules() if layer_of(name) not in RANK]
    assert unknown == [], f"modules outside every layer (add them to LAYERS and a folder's docstring): {unknown}"


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    problems = [p for name, path in modules() for p in violations(path.read_text(encoding="utf-8"), name)]
    assert problems == []


def test_the_check_catches_a_wrong_import() -> None:
    wrong = (
        "import numpy as np\n"
        "from movmnist.store import shards\n"  # the core reaching up into the on-disk format
        "def f():\n"
        "    import yaml\n"  # and doing I/O, inside a function
        "    from movmnist import cli\n"
    )
    found = violations(wrong, "movmnist.core.render")
    assert found == [
        "movmnist.core.render:2 imports movmnist.store: store is a layer above core",
        "movmnist.core.render:4 imports yaml: the core does no I/O",
        "movmnist.core.render:5 imports movmnist.cli: cli is a layer above core",
    ]
    assert violations("from movmnist.builder.plan import Plan\n", "movmnist.store.outdir") == [
        "movmnist.store.outdir:1 imports movmnist.builder.plan: builder is a layer above store"
    ]
    assert violations("from movmnist.core import render\nimport h5py\n", "movmnist.store.shards") == []


@pytest.mark.parametrize("module", ["movmnist.core.generate", "movmnist.config"])
def test_importing_the_core_loads_no_io_library(module: str) -> None:
    """At run time too: the core's imports (and the config's, which the core reads) load none of them."""
    code = f"import sys, {module}; print(' '.join(sorted(m for m in {IO_LIBRARIES!r} if m in sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [] if module.startswith("movmnist.core") else "h5py" not in loaded
