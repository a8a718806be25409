"""The pack ships inside the wheel: build it, install it into a fresh virtual environment, and
hunt outside the repository without --rules (the bundled pack). Takes ~30 s (pip installs the
pinned dependencies into the fresh venv, from pip's cache after the first run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "docs_example" / "events" / "purview_export.csv"
SOURCES = ("pyproject.toml", "README.md", "constraints.txt", "compiler", "rules", "values")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert out.returncode == 0, f"{cmd}: exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources (the build leaves nothing in the repository)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(p, src / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(dist), str(src)], cwd=src)
    (found,) = dist.glob("stormpack-*.whl")
    print(f"wheel: {found}")
    return found


def test_the_wheel_carries_the_pack_as_in_the_repository(wheel: Path) -> None:
    expected = {f"stormpack/pack/{p.relative_to(ROOT).as_posix()}": p.read_bytes()
                for p in [*(ROOT / "rules").rglob("*.yml"), *(ROOT / "values").glob("*.yml")]}
    with zipfile.ZipFile(wheel) as z:
        shipped = {n: z.read(n) for n in z.namelist()
                   if n.startswith("stormpack/pack/") and not n.endswith("/")}
    assert shipped.keys() == expected.keys()
    assert all(shipped[n] == expected[n] for n in expected)  # the same bytes: never out of sync


def _documented_titles() -> list[str]:
    """The rule titles README.md shows for `stormpack hunt ... purview_export.csv`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    command = "$ stormpack hunt --rules rules --events tests/data/docs_example/events/purview_export.csv\n"
    block = text.split(command, 1)[1]
    rows = block.split("\n\nsummary:", 1)[0].splitlines()[1:]
    return sorted(re.split(r"\s{2,}", r)[1] for r in rows)  # columns: time, rule, level, ...


def test_fresh_venv_with_only_the_wheel_hunts_with_the_bundled_pack(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    py = venv / "bin" / "python"
    constraints = str(ROOT / "constraints.txt")
    _run([str(py), "-m", "pip", "install", "-q", "-c", constraints, str(wheel)], cwd=tmp_path)
    work = tmp_path / "case"  # outside the repository, no rules/ or values/ beside it
    work.mkdir()
    shutil.copy2(SAMPLE, work / "export.csv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    got = _run([str(venv / "bin" / "stormpack"), "hunt", "--events", "export.csv", "--format", "jsonl"],
               cwd=work, env=env)
    hits = [json.loads(line) for line in got.stdout.splitlines()]
    where = _run([str(py), "-c", "import stormpack, sys; sys.stdout.write(stormpack.__file__)"],
                 cwd=work, env=env)
    assert str(venv) in where.stdout  # the installed package ran, not the repository's
    titles = sorted(h["rule_title"] for h in hits)
    assert titles and titles == _documented_titles()
    assert {h["source"] for h in hits} == {"export.csv"}
    assert "3 records read = 3 evaluated" in got.stderr
