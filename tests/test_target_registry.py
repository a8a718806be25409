"""The list of targets exists once: the registry reads data/targets/*.yml, and every module that
lists targets (or a subset: the KQL targets, the products with artifacts) derives it from there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
import yaml

from stormpack.compiler import EXTENSIONS, TARGETS
from stormpack.compiler import registry as reg
from stormpack.errors import StormpackError, TaxonomyError

DATA = Path(reg.__file__).parent.parent / "data" / "targets"


def _files() -> dict[str, dict[str, object]]:
    return {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(DATA.glob("*.yml"))}


def test_registry_is_the_data_files() -> None:
    files = _files()
    assert set(TARGETS) == set(files) and len(TARGETS) == len(files)
    assert list(TARGETS) == sorted(files, key=lambda t: int(str(files[t]["order"])))
    for name, data in files.items():
        info = reg.target_info(name)
        assert (info.title, info.language) == (data["title"], data["language"])
        assert info.extension == data["extension"]
        assert info.capabilities == frozenset(data.get("capabilities") or ())  # type: ignore[arg-type]
    assert dict(EXTENSIONS) == {t: files[t]["extension"] for t in TARGETS}


def test_every_module_lists_the_registry_targets() -> None:
    from stormpack.compiler.targets import TARGETS as TARGET_DATA_TARGETS
    from stormpack.execute.registry import EXECUTORS
    from stormpack.querycheck.schema import TARGETS as KQL_CHECKED

    assert TARGET_DATA_TARGETS == TARGETS
    assert tuple(EXECUTORS) == TARGETS
    assert {t: s.shape for t, s in EXECUTORS.items()} == {t: reg.target_info(t).language for t in TARGETS}
    assert KQL_CHECKED == reg.targets_in("kql") == tuple(t for t in TARGETS if EXTENSIONS[t] == "kql")


def test_artifact_products_are_the_registry_capability() -> None:
    """The products with deployable artifacts (catalogue columns, schedule plans) are the targets
    with the ``artifacts`` capability; adx is a compile target without product artifacts."""
    from stormpack.artifacts import catalogue, pack, schedule

    files = _files()
    with_artifacts = tuple(t for t in TARGETS if "artifacts" in (files[t].get("capabilities") or []))  # type: ignore[operator]
    assert reg.ARTIFACT_TARGETS == with_artifacts == catalogue.TARGETS == pack.ARTIFACT_TARGETS
    assert get_args(schedule.Target) == with_artifacts
    assert "adx" in TARGETS and "adx" not in with_artifacts
    from stormpack.shapes.inverse import export_shapes

    exported = {s.target for s in export_shapes()}
    assert exported == set(reg.targets_with("exports")) <= set(reg.targets_in("kql"))
    for target in TARGETS:  # only the products with lists deploy them
        info = reg.target_info(target)
        assert not (info.can("watchlists") or info.can("lookups")) or info.can("artifacts")


def test_cli_target_choices_are_the_registry() -> None:
    from stormpack.cli.compile_cmd import compile_cmd
    from stormpack.cli.test_cmd import test_cmd

    for cmd in (compile_cmd, test_cmd):
        (opt,) = [p for p in cmd.params if p.name == "target"]
        assert list(opt.type.choices) == list(TARGETS)  # type: ignore[attr-defined]


def test_bad_target_header_names_the_file() -> None:
    good = dict(reg.target_data("defender"))
    with pytest.raises(TaxonomyError, match=r"defender\.yml: capabilities must be a list of .*'dashboards'"):
        reg._info("defender", {**good, "capabilities": ["artifacts", "dashboards"]})
    with pytest.raises(TaxonomyError, match=r"defender\.yml: language must be one of"):
        reg._info("defender", {**good, "language": "sql"})
    with pytest.raises(TaxonomyError, match=r"defender\.yml: 'target: sentinel' differs from the file name"):
        reg._info("defender", {**good, "target": "sentinel"})


def test_unknown_target_names_the_known_ones() -> None:
    known = ", ".join(TARGETS)
    with pytest.raises(StormpackError, match=re.escape(f"unknown target 'elastic' (known: {known})")):
        reg.target_info("elastic")
