"""Every tenant list the pack's rules read has a learner, and each learner names every field the
rules compare its list with (data/baseline_learners.yml; issue #11.1): a new list, or a new use of
a list, without a matching learner entry fails here."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stormpack.baseline.knowledge import campaign_iocs, first_party_apps, never_allow
from stormpack.baseline.spec import load_learners
from stormpack.errors import BaselineError

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%(\w+)%")


def _uses(node: Any) -> Iterator[tuple[str, str]]:
    """(placeholder, field) of every |expand item in a detection (nested lists and mappings)."""
    if isinstance(node, list):
        for item in node:
            yield from _uses(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            field, _, mods = str(key).partition("|")
            if "expand" in mods.split("|"):
                for v in value if isinstance(value, list) else [value]:
                    for name in PLACEHOLDER.findall(str(v)):
                        yield name, field
            elif isinstance(value, (dict, list)):
                yield from _uses(value)


def rule_uses(rules_dir: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in sorted(rules_dir.rglob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and isinstance(doc.get("detection"), dict):
                for name, field in _uses(doc["detection"]):
                    out.setdefault(name, set()).add(field)
    return out


def test_every_list_the_rules_read_has_a_learner_naming_every_field_it_is_compared_with() -> None:
    uses = rule_uses(ROOT / "rules")
    learners = load_learners()
    assert len(uses) >= 14  # the parse sees the pack's lists
    assert sorted(uses) == sorted(learners), "lists without a learner / learners of no list"
    for name, fields in uses.items():
        assert set(learners[name].used_as) == fields, name


def test_every_list_the_shipped_values_define_has_a_learner() -> None:
    shipped = {}
    for f in (ROOT / "values").glob("*.yml"):
        shipped.update(yaml.safe_load(f.read_text(encoding="utf-8")))
    # two-column lists (object id -> appId, stormpack/derived.py) come from Microsoft Graph, not
    # from the logs: no learner; a written values directory without them maps nothing
    two_column = {"org_app_ids_by_object_id"}
    assert set(shipped) - two_column == set(load_learners())


def test_a_new_use_of_a_list_is_caught(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "title: T\nlogsource: {product: m365, service: audit}\ndetection:\n"
        "  selection: {Operation: MailItemsAccessed}\n"
        "  filter: {ActorInfoString|expand|startswith: '%mail_owa_client_info_prefixes%'}\n"
        "  condition: selection and not filter\n",
        encoding="utf-8",
    )
    assert rule_uses(tmp_path) == {"mail_owa_client_info_prefixes": {"ActorInfoString"}}
    assert "ActorInfoString" not in load_learners()["mail_owa_client_info_prefixes"].used_as


def test_a_malformed_learner_names_its_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "learners.yml"
    bad.write_text("lists:\n  some_list:\n    kind: colour\n    policy: plain\n", encoding="utf-8")
    with pytest.raises(BaselineError) as exc:
        load_learners(bad)
    assert str(exc.value) == f"{bad}:2: learner 'some_list': kind must be one of app_id, prefix, domain, upn"


def test_the_product_never_allow_list_is_the_tested_evidence() -> None:
    """data/never_allow_mail_clients.yml (read by the product) is the same list as the evidence
    tests/test_values_never_allow.py checks the shipped values against."""
    evidence = yaml.safe_load(
        (ROOT / "tests" / "data" / "never_allow_mail_clients.yml").read_text(encoding="utf-8")
    )
    product = never_allow()
    assert set(product.ids) == {str(e["id"]).lower() for e in evidence["ids"]}
    assert list(product.client_strings) == [str(e["value"]) for e in evidence["client_strings"]]


def test_the_vendored_first_party_list_is_read_whole() -> None:
    apps = first_party_apps()
    assert len(apps) >= 4000  # 4,428 rows at merill/microsoft-info 43b8a5d9
    assert apps["13937bba-652e-4c46-b222-3003f4d1ff97"] == "Substrate Context Service"
    assert apps["00000002-0000-0ff1-ce00-000000000000"] == "Office 365 Exchange Online"
    assert "420c7602-7f70-4895-9394-d3d679ea36fb" in apps  # its cell has a stray encoded no-break space
    # real Microsoft services seen reading mail that the list lacks (reference S2)
    assert "8a18aa92-0a1e-4e06-abd0-e118fa4787b1" not in apps
    licence = (ROOT / "compiler/stormpack/data/firstparty/LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License")


def test_campaign_iocs_come_from_the_pack_ioc_rules() -> None:
    iocs = campaign_iocs(ROOT / "rules")
    assert iocs.ip_matches("51.89.156.153") and iocs.ip_matches("51.89.156.153:49322")
    assert not iocs.ip_matches("198.51.100.24")
    assert (
        iocs.string_in(
            "Client=OWA;Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/92.0.4515.159 Safari/537.36;"
        )
        is not None
    )
    assert len(iocs.networks) >= 30


def test_a_missing_ioc_rule_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="IOC rule"):
        campaign_iocs(tmp_path)


def test_the_refresh_tool_accepts_the_vendored_list_and_finds_its_commit_line() -> None:
    spec = importlib.util.spec_from_file_location(
        "refresh_firstparty_apps", ROOT / "tools" / "refresh_firstparty_apps.py"
    )
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    data = ROOT / "compiler/stormpack/data/firstparty"
    assert tool.check((data / "MicrosoftApps.csv").read_text(encoding="utf-8")) == 4428
    assert len(tool.COMMIT_LINE.findall((data / "SOURCE.md").read_text(encoding="utf-8"))) == 1
    with pytest.raises(SystemExit, match="not GUIDs"):
        tool.check('"AppId","AppDisplayName"\n"not-a-guid","X"\n')
