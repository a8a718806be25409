"""docs/compiler.md's architecture map stays true: every module it names imports, and every module of
the package is named in it (helpers add modules in parallel; the failure says which to add)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from package_support import package_sources

DOC = Path(__file__).resolve().parents[1] / "docs" / "compiler.md"
SECTION = "## Architecture map"


def map_modules() -> dict[str, str]:
    """Module (``stormpack.<name>``) -> its area, from the modules column of the map's table."""
    text = DOC.read_text(encoding="utf-8")
    assert SECTION in text, f"{DOC}: no '{SECTION}' section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    out: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("area", "---"):
            continue
        for name in re.findall(r"`([^`]+)`", cells[1]):
            out[f"stormpack.{name}"] = cells[0]
    assert len(out) > 100, "the map's table was not found or not parsed"
    return out


def test_every_module_named_in_the_map_imports() -> None:
    missing = []
    for name in map_modules():
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                missing.append(name)
            else:
                raise
    assert not missing, (
        f"{DOC} ('{SECTION}') names modules that do not exist; remove or rename them: "
        + ", ".join(m.removeprefix("stormpack.") for m in missing)
    )


def test_every_package_module_is_in_the_map() -> None:
    named = map_modules()
    absent = [m for m in package_sources() if m != "stormpack" and m not in named]
    assert not absent, "\n".join(
        f"add `{m.removeprefix('stormpack.')}` to the modules column of its area in the '{SECTION}' "
        f"table of {DOC} ({package_sources()[m]})"
        for m in absent
    )
