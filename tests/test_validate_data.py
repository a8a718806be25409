"""The vendored validation data: ATT&CK v18.1 in sync with its pinned package, pySigma's and the
SigmaHQ validators reading it offline (a download attempt fails the test)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from sigma.collection import SigmaCollection

from stormpack.validate.attack import attack_data_path, build_bundle_from_package, load_attack, render_bundle
from stormpack.validate.pysigma_checks import DISABLED, all_validators, enabled_validators
from stormpack.validate.sigmahq_data import FILES, configure_offline, data_dir


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("validation tried to download data")

    import sigma.data.mitre_attack as ma
    import sigma.validators.sigmahq.data.base as sq

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(ma, "urlopen", refuse)
    monkeypatch.setattr(sq, "urlopen", refuse)


def test_vendored_attack_matches_pinned_package() -> None:
    expected = render_bundle(build_bundle_from_package())
    assert attack_data_path().read_text(encoding="utf-8") == expected, (
        "data/attack.json is out of date: python -m stormpack.validate.attack --write"
    )


def test_attack_version_and_campaign_techniques() -> None:
    attack = load_attack()
    assert attack.version == "18.1"
    t = attack.technique("t1550.001")
    assert t is not None and t.full_name == "Use Alternate Authentication Material: Application Access Token"
    assert set(t.tactics) == {"defense-evasion", "lateral-movement"}
    assert attack.technique("T1606") is not None
    assert attack.tactic("collection") is not None and attack.tactic("stealth") is None  # v19 name


def test_pysigma_reads_the_same_pinned_attack_data() -> None:
    configure_offline()
    from sigma.data import mitre_attack

    assert mitre_attack.mitre_attack_version == load_attack().version
    validator = all_validators()["attacktag"]()
    rule = SigmaCollection.from_yaml(
        "title: t\nlogsource: {product: m365, service: audit}\n"
        "detection: {sel: {Operation: x}, condition: sel}\n"
        "tags: [attack.t1114.002, attack.collection, attack.t1114.009, attack.stealth]\n"
    ).rules[0]
    bad = sorted(f"{i.tag.namespace}.{i.tag.name}" for i in validator.validate(rule))
    assert bad == ["attack.stealth", "attack.t1114.009"]


def test_sigmahq_loaders_read_vendored_files() -> None:
    configure_offline()
    from sigma.validators.sigmahq.data import data_filename, data_taxonomy

    taxonomy = json.loads((data_dir() / "sigmahq_taxonomy.json").read_text(encoding="utf-8"))
    assert data_taxonomy.sigmahq_taxonomy_version == taxonomy["version"]
    assert "m365_None_audit" in data_taxonomy.sigmahq_taxonomy_fieldsname
    names = json.loads((data_dir() / "sigmahq_filename.json").read_text(encoding="utf-8"))
    assert data_filename.sigmahq_filename_version == names["version"]
    assert data_filename.sigmahq_filename_pattern["azure_None_None"] == "azure_"
    assert sorted(p.name for p in data_dir().glob("*.json")) == sorted(FILES)


def test_disabled_validators_exist_and_are_off() -> None:
    assert set(DISABLED) <= set(all_validators())
    assert not set(DISABLED) & set(enabled_validators())
