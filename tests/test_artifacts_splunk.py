"""The Splunk app: Splunk's own validator, a real .conf parser, filter macros, lookups, the .tgz."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import addonfactory_splunk_conf_parser_lib as conf
import pytest

from stormpack.artifacts import ArtifactOptions, settings
from stormpack.artifacts.build import collect_metas
from stormpack.artifacts.lists import LOOKUP_COLUMN, tenant_lists
from stormpack.artifacts.pack import build_pack
from stormpack.artifacts.splunk import SavedSearch, data_sources, problems
from stormpack.cli import main
from stormpack.compiler import compile_rules
from stormpack.errors import ArtifactError, Location
from stormpack.ruleset import load_ruleset, load_values

ROOT = Path(__file__).resolve().parents[1]
PACK_RULES = ROOT / "rules"
PACK_VALUES = ROOT / "values"
APP = settings.SPLUNK_APP_ID
APPINSPECT = Path(sys.executable).parent / "splunk-appinspect"


def _build(tmp: Path, es: bool) -> Path:
    build_pack([PACK_RULES], PACK_VALUES, tmp, options=ArtifactOptions(splunk_es=es))
    return tmp / "splunk"


@pytest.fixture(scope="module")
def splunk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("pack"), es=False)


@pytest.fixture(scope="module")
def splunk_es_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("pack_es"), es=True)


def _parse(path: Path) -> conf.TABConfigParser:
    parser = conf.TABConfigParser()
    parser.read(str(path))
    return parser


def _appinspect(tgz: Path, tmp: Path) -> dict[str, int]:
    report = tmp / "appinspect.json"
    proc = subprocess.run(
        [str(APPINSPECT), "inspect", str(tgz), "--skip-trusted-libraries-update",
         "--data-format", "json", "--output-file", str(report), "--max-messages", "all"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert report.exists(), proc.stdout + proc.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    bad = [
        (c["name"], c["result"], [m.get("message") for m in c["messages"]])
        for r in data["reports"] for g in r["groups"] for c in g["checks"]
        if c["result"] in ("error", "failure")
    ]
    assert bad == [], bad
    summary: dict[str, int] = data["summary"]
    return summary


@pytest.mark.parametrize("es", [False, True], ids=["plain", "enterprise-security"])
def test_splunk_appinspect_reports_no_errors_or_failures(
    es: bool, splunk_dir: Path, splunk_es_dir: Path, tmp_path: Path
) -> None:
    app = splunk_es_dir if es else splunk_dir
    summary = _appinspect(app / f"{APP}.tgz", tmp_path)
    assert summary["error"] == 0
    assert summary["failure"] == 0
    assert summary["success"] > 50  # the checks really ran on an app


def test_appinspect_does_catch_a_broken_app(splunk_dir: Path, tmp_path: Path) -> None:
    """The validator run is not vacuous: an app without [package] id / version fails."""
    broken = tmp_path / APP
    subprocess.run(["cp", "-r", str(splunk_dir / APP), str(broken)], check=True)
    (broken / "default" / "app.conf").write_text("[ui]\nis_visible = 0\n", encoding="utf-8")
    tgz = tmp_path / "broken.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(broken, arcname=APP)
    with pytest.raises(AssertionError):
        _appinspect(tgz, tmp_path)


def test_savedsearches_one_stanza_per_rule_each_ending_in_its_filter_macro(splunk_dir: Path) -> None:
    saved = _parse(splunk_dir / APP / "default" / "savedsearches.conf")
    macros = _parse(splunk_dir / APP / "default" / "macros.conf")
    metas = collect_metas(list(load_ruleset([PACK_RULES])))
    compiled = compile_rules([PACK_RULES], "splunk", load_values(PACK_VALUES))
    generated = {q.title for q in compiled.queries}
    assert len(generated) >= 30
    stanzas = saved.sections()
    titles = sorted(s.removeprefix("stormpack - ").removesuffix(" - Rule").removesuffix(" - Hunt")
                    for s in stanzas)
    assert titles == sorted(generated)
    by_title = {m.title: m for m in metas.values()}
    hunts = 0
    for name in stanzas:
        meta = by_title[name.removeprefix("stormpack - ").removesuffix(" - Rule").removesuffix(" - Hunt")]
        search = saved.get(name, "search")
        macro = f"{meta.stem}_filter"
        assert search.rstrip().endswith(f"| `{macro}`"), name
        assert macros.get(macro, "definition") == "search *"
        if meta.is_hunting:
            # a report over the rule's fixed range: no schedule, no alert keys
            hunts += meta.time_bound is not None
            assert name.endswith(" - Hunt") and saved.get(name, "enableSched") == "0"
            bounded = meta.time_bound is not None  # else hunting-only by the alert budget
            first, last = ("03/01/2023:00:00:00", "09/01/2023:00:00:00") if bounded else ("-30d@d", "now")
            assert saved.get(name, "dispatch.earliest_time") == first
            assert saved.get(name, "dispatch.latest_time") == last
            for key in ("cron_schedule", "counttype", "alert.track", "quantity"):
                assert not saved.has_option(name, key), (name, key)
            continue
        assert saved.get(name, "enableSched") == "1"
        assert saved.get(name, "counttype") == "number of events"
        assert saved.get(name, "relation") == "greater than"
        assert saved.get(name, "quantity") == "0"
        sched = settings.SCHEDULE_BY_LEVEL[meta.level]
        assert saved.get(name, "cron_schedule") == sched.splunk_cron
        assert not saved.has_option(name, "action.notable")  # ES keys only behind the flag
        # every search starts from a data-source macro the app defines, never a literal index
        used = [ds for ds in data_sources().values() if f"`{ds.macro}`" in search]
        assert used, name
        assert "index=" not in search
        for ds in used:
            assert macros.get(ds.macro, "definition") == ds.definition
    assert hunts == 4


def test_enterprise_security_keys_behind_the_flag(splunk_es_dir: Path) -> None:
    saved = _parse(splunk_es_dir / APP / "default" / "savedsearches.conf")
    metas = {m.title: m for m in collect_metas(list(load_ruleset([PACK_RULES]))).values()}
    for name in saved.sections():
        if name.endswith(" - Hunt"):  # a hunting report is no correlation search
            assert not saved.has_option(name, "action.notable"), name
            continue
        meta = metas[name.removeprefix("stormpack - ").removesuffix(" - Rule")]
        assert saved.get(name, "action.correlationsearch.enabled") == "1"
        assert saved.get(name, "action.notable") == "1"
        assert saved.get(name, "action.notable.param.severity") == \
            settings.SPLUNK_NOTABLE_SEVERITY_BY_LEVEL[meta.level]
        annotations = json.loads(saved.get(name, "action.correlationsearch.annotations"))
        assert annotations["mitre_attack"] == list(meta.attack.techniques)
        if saved.has_option(name, "action.risk.param._risk"):
            for risk in json.loads(saved.get(name, "action.risk.param._risk")):
                assert risk["risk_score"] == settings.SPLUNK_RISK_SCORE_BY_LEVEL[meta.level]
                assert risk["risk_object_type"] in ("user", "system")


def test_tenant_lists_ship_as_lookups_filled_from_values(splunk_dir: Path) -> None:
    rules = list(load_ruleset([PACK_RULES]))
    values = load_values(PACK_VALUES)
    lists = [tl for tl in tenant_lists(rules, values) if tl.is_list]
    assert lists, "the pack uses whole-value allow-lists"
    transforms = _parse(splunk_dir / APP / "default" / "transforms.conf")
    assert sorted(transforms.sections()) == sorted(tl.lookup for tl in lists)
    saved = _parse(splunk_dir / APP / "default" / "savedsearches.conf")
    searches = "\n".join(saved.get(s, "search") for s in saved.sections())
    for tl in lists:
        filename = transforms.get(tl.lookup, "filename")
        with (splunk_dir / APP / "lookups" / filename).open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == [LOOKUP_COLUMN]
        assert [r[0] for r in rows[1:]] == values[tl.name]
        assert f"inputlookup {tl.lookup} " in searches
        for v in values[tl.name]:
            assert v not in searches, f"{v} of list {tl.name} is inlined"


def test_tgz_holds_exactly_the_app_directory(splunk_dir: Path) -> None:
    app_dir = splunk_dir / APP
    on_disk = {f"{APP}/{p.relative_to(app_dir).as_posix()}" for p in app_dir.rglob("*")} | {APP}
    with tarfile.open(splunk_dir / f"{APP}.tgz", "r:gz") as tar:
        members = tar.getmembers()
        assert {m.name for m in members} == on_disk
        for m in members:
            assert not m.name.startswith("/") and ".." not in m.name
            assert m.mode == (0o755 if m.isdir() else 0o644)
            if m.isfile():
                fh = tar.extractfile(m)
                assert fh is not None
                assert fh.read() == (splunk_dir / m.name).read_bytes()


def _search(**over: object) -> SavedSearch:
    base = SavedSearch(
        stanza="stormpack - X - Rule", description="d", search="`stormpack_x` a=b\n| `x_filter`",
        filter_macro="x_filter", cron="5 * * * *", earliest="-70m@m", latest="-10m@m", severity="high",
        risk_score=75, risk_objects=(), techniques=(), tactics=(), source=Location("r.yml"),
    )
    from dataclasses import replace

    return replace(base, **over)  # type: ignore[arg-type]


@pytest.mark.parametrize("when", ["now", "-70m@m", "-1d@d", "@w1", "-24h", "+5m", "0"])
def test_relative_times_splunk_accepts(when: str) -> None:
    assert problems(_search(earliest=when, latest=when)) == []


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"cron": "every hour"}, "is not a 5-field cron expression"),
        ({"cron": "5 * * *"}, "is not a 5-field cron expression"),
        ({"earliest": "yesterday"}, "dispatch.earliest_time 'yesterday' is not a relative time"),
        ({"latest": "-10x@m"}, "dispatch.latest_time '-10x@m' is not a relative time"),
        ({"search": "`stormpack_x` a=b"}, "does not end in its filter macro `x_filter`"),
        ({"search": "`stormpack_x` a=b\\\n| `x_filter`"}, "ends in a backslash"),
    ],
)
def test_bad_saved_search_is_reported(over: dict[str, object], message: str) -> None:
    assert _search() and problems(_search()) == []
    found = problems(_search(**over))
    assert any(message in p for p in found), found


def test_bad_cron_override_fails_the_build(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    src = (PACK_RULES / "azure" / "signinlogs").glob("*.yml")
    # a scheduled rule (hunting-only rules, informational or time-bounded, have no cron to check)
    first = next(p for p in sorted(src) if "\nlevel: informational" not in p.read_text(encoding="utf-8")
                 and "during_campaign" not in p.name and not p.name.startswith("corr_"))
    (rules / first.name).write_text(first.read_text(encoding="utf-8") + "splunk_cron_schedule: hourly\n",
                                    encoding="utf-8")
    with pytest.raises(ArtifactError,
                       match=rf"{first.name}:\d+: custom attribute splunk_cron_schedule: 'hourly' is not"):
        build_pack([rules], PACK_VALUES, tmp_path / "build")


def test_build_command_flag_adds_enterprise_security_keys(tmp_path: Path) -> None:
    out = tmp_path / "build"
    main(["build", "-o", str(out), "--splunk-es", "--values", str(PACK_VALUES),
          str(PACK_RULES / "azure" / "signinlogs")])
    saved = _parse(out / "splunk" / APP / "default" / "savedsearches.conf")
    assert saved.sections()
    for name in saved.sections():
        if name.endswith(" - Hunt"):
            continue
        assert saved.get(name, "action.notable") == "1"
        assert saved.get(name, "action.correlationsearch.enabled") == "1"
