"""The pack shipped inside the package: ``stormpack/pack/rules`` and ``stormpack/pack/values``.

In the repository both are symbolic links to the top-level ``rules/`` and ``values/`` (the
source of truth); the wheel carries copies of the files (pyproject.toml package-data), so an
installed ``stormpack hunt`` has the pack without the repository.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .errors import StormpackError


def _bundled(name: str) -> Path:
    path = Path(str(files("stormpack") / "pack" / name))
    if not path.is_dir():
        raise StormpackError(f"the bundled pack has no {name}/ directory ({path}): reinstall stormpack "
                             "or pass --rules/--values")
    return path


def bundled_rules() -> Path:
    """The directory of the bundled rules."""
    return _bundled("rules")


def bundled_values() -> Path:
    """The directory of the bundled placeholder values."""
    return _bundled("values")
