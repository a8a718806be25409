"""Issue 10 point 6: a built rule is enabled only when the tenant lists it reads are filled (or
the admin builds with ``--enable-all``), read back from the built files of every product."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stormpack.artifacts import build_pack
from stormpack.artifacts.build import ArtifactOptions
from stormpack.artifacts.lists import is_placeholder
from stormpack.cli import main
from stormpack.execute.spl import parse_conf
from stormpack.ruleset import load_ruleset, load_values

ROOT = Path(__file__).resolve().parents[1]
PACK_RULES = ROOT / "rules"
PACK_VALUES = ROOT / "values"
NIL = "00000000-0000-0000-0000-000000000000"


def _enabled(out: Path) -> dict[str, dict[str, bool]]:
    """target -> rule title -> enabled, from the built files."""
    arm = json.loads((out / "sentinel" / "azuredeploy.json").read_text(encoding="utf-8"))
    sentinel = {r["properties"]["displayName"]: r["properties"]["enabled"] for r in arm["resources"]}
    defender = {}
    for p in (out / "defender").glob("*.json"):
        d = json.loads(p.read_text(encoding="utf-8"))
        defender[d["displayName"]] = d["isEnabled"]
    saved = out / "splunk" / "stormpack" / "default" / "savedsearches.conf"
    conf = parse_conf(saved.read_text(encoding="utf-8"))
    splunk = {name.removeprefix("stormpack - ").removesuffix(" - Rule").removesuffix(" - Hunt"):
              kv["disabled"] == "0" for name, kv in conf.items() if "search" in kv}
    return {"sentinel": sentinel, "defender": defender, "splunk": splunk}


#: two-column list -> the derived field that reads it (data/derived_fields.yml), named in the
#: aliases of the correlations that read the list
TWO_COLUMN_READERS = {"org_app_ids_by_object_id": "stormpack.appId"}


def _stand_in_rules(values: dict[str, list[str]]) -> set[str]:
    """Titles of the rules reading a list whose values hold a .invalid address or the nil GUID,
    and of the correlations over such rules (read from the correlation's ``rules:`` names)."""
    stand_ins = {k for k, vs in values.items()
                 if any(str(v).endswith(".invalid") or NIL in str(v).split() for v in vs)}
    rules = load_ruleset([PACK_RULES]).rules
    out = {lr.title for lr in rules
           if any(f"%{name}%" in lr.text
                  or (name in TWO_COLUMN_READERS and TWO_COLUMN_READERS[name] in lr.text)
                  for name in stand_ins)}
    names = {lr.title: {lr.id, str(getattr(lr.rule, "name", None))} for lr in rules}
    grown = True
    while grown:  # a correlation over a correlation over such a rule too
        grown = False
        for lr in rules:
            refs = getattr(lr.rule, "rules", None) or []
            wanted = {getattr(r, "reference", None) for r in refs}
            if lr.title not in out and any(names[t] & wanted for t in out):
                out.add(lr.title)
                grown = True
    return out


@pytest.mark.parametrize("value", ["soc@accepted-domain.invalid", "@accepted-domain.invalid", NIL,
                                   "00000000-0000-0000-0000-000000000000 ",
                                   f"{NIL} {NIL}", f"11b49e19-2326-4be6-93cb-7f37439bbd81 {NIL}"])
def test_shipped_stand_ins_are_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["soc@contoso.com", "@contoso.com", "5d661950-3475-41cd-a2c3-d671a3162bc1",
                                   "invalid.example.com",
                                   "11b49e19-2326-4be6-93cb-7f37439bbd81 "
                                   "5a95e683-08ad-424e-a441-1d1aec52c02c"])
def test_tenant_values_are_not(value: str) -> None:
    assert not is_placeholder(value)


def test_rules_with_placeholder_lists_are_built_disabled(tmp_path: Path) -> None:
    out = tmp_path / "build"
    build_pack([PACK_RULES], PACK_VALUES, out)
    disabled = _stand_in_rules(load_values(PACK_VALUES))
    assert disabled
    # a correlation whose base rule reads a placeholder list is disabled with it
    assert "One App Reads Many Mailboxes Through An API" in disabled
    # and one whose group key reads a two-column list of placeholders (stormpack/derived.py)
    assert "App Credential Added Then Unknown App Reads Mail" in disabled
    for target, rules in _enabled(out).items():
        assert rules, target
        for title, on in rules.items():
            assert on is (title not in disabled), (target, title)
    md = (out / "catalogue.md").read_text(encoding="utf-8")
    assert md.count("built, disabled until org_") >= len(disabled)


def test_filled_lists_or_enable_all_enable_everything(tmp_path: Path) -> None:
    values = load_values(PACK_VALUES)
    other = "11111111-2222-3333-4444-555555555555"
    filled = {k: [v.replace("accepted-domain.invalid", "contoso.com").replace(NIL, other) for v in vs]
              for k, vs in values.items()}
    assert not _stand_in_rules(filled)
    build_pack([PACK_RULES], filled, tmp_path / "filled")
    build_pack([PACK_RULES], PACK_VALUES, tmp_path / "all", options=ArtifactOptions(enable_all=True))
    for name in ("filled", "all"):
        for target, rules in _enabled(tmp_path / name).items():
            assert rules and all(rules.values()), (name, target, [t for t, on in rules.items() if not on])


def test_build_command_names_the_disabled_rules_and_the_flag(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    main(["build", "-o", str(tmp_path / "b1"), "--values", str(PACK_VALUES), str(PACK_RULES)])
    out = capsys.readouterr().out
    assert "still hold placeholders (fill them in values/, or --enable-all)" in out
    assert "org_soc_mail_reviewers" in out
    main(["build", "-o", str(tmp_path / "b2"), "--enable-all", "--values", str(PACK_VALUES), str(PACK_RULES)])
    assert "still hold placeholders" not in capsys.readouterr().out
    arm = json.loads((tmp_path / "b2" / "sentinel" / "azuredeploy.json").read_text(encoding="utf-8"))
    assert all(r["properties"]["enabled"] for r in arm["resources"])
