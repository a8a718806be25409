"""The modules of the ``stormpack`` package, found by walking its source tree (shared by the tests
that check every module: the error hierarchy, the architecture map of docs/compiler.md)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import stormpack

PACKAGE_DIR = Path(stormpack.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["stormpack", *parts])


def package_sources() -> dict[str, Path]:
    """Module name -> source file, for every module of the package except the ``__main__`` entry
    points (importing one would run the command line)."""
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if path.name != "__main__.py":
            out[module_name(path)] = path
    return out


def load(name: str) -> ModuleType:
    return importlib.import_module(name)
