"""`stormpack coverage`: pack techniques against campaign techniques, and the Navigator layer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli_support import run
from stormpack.coverage import compute_coverage, default_campaign_path, load_campaign
from stormpack.navigator import Layer, LayerTechnique, check_layer
from stormpack.validate.attack import load_attack

REPO = Path(__file__).resolve().parent.parent
PACK_RULES = Path(__file__).parent / "data" / "validate" / "pack" / "rules"

CAMPAIGN = """\
source: test campaign
attack_version: "18.1"
techniques:
  - {id: T1114.002, attribution: observed-2023, tenant_logs: true, source: t, behaviour: read mail}
  - {id: T1550, attribution: observed-2023, tenant_logs: true, source: t, behaviour: alternate material}
  - {id: T1090.002, attribution: observed-2023, tenant_logs: true, source: t, behaviour: proxies}
  - {id: T1606, attribution: observed-2023, tenant_logs: false, source: t, behaviour: forge}
  - {id: T1564.008, attribution: generic, tenant_logs: true, source: t, behaviour: hiding rules}
"""


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    p = tmp_path / "campaign.yml"
    p.write_text(CAMPAIGN, encoding="utf-8")
    return p


def test_coverage_of_the_test_pack(campaign: Path) -> None:
    report = compute_coverage([PACK_RULES], campaign)
    by_id = {t.id: t for t in report.techniques}
    assert by_id["T1114.002"].status == "covered"
    assert sorted(by_id["T1114.002"].rules) == [
        "Test Mailbox Read By REST Client",
        "Test Repeated REST Mailbox Reads",
    ]
    assert by_id["T1550"].status == "related"  # the pack tags the sub-technique T1550.001
    assert by_id["T1550"].rules == ("Test Sign-In With Anomalous Token Risk",)
    assert by_id["T1090.002"].status == "not-covered"
    assert by_id["T1606"].status == "not-covered"
    assert [t.id for t in report.campaign()] == ["T1114.002", "T1550", "T1090.002", "T1606"]
    # T1550.001 is tagged but attributed to nothing: reported as beyond the campaign
    assert [t.id for t in report.outside_campaign()] == ["T1550.001"]
    assert "T1564.008" not in {t["techniqueID"] for t in _layer_techniques(campaign)}


def _layer_techniques(campaign: Path) -> list[dict[str, object]]:
    from stormpack.coverage import coverage_layer

    techniques: list[dict[str, object]] = coverage_layer(compute_coverage([PACK_RULES], campaign)).to_json()[
        "techniques"
    ]
    return techniques


def test_cli_prints_coverage_and_writes_a_valid_layer(
    tmp_path: Path, campaign: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer_path = tmp_path / "out" / "layer.json"
    code = run(
        "coverage", "--rules", str(PACK_RULES), "--campaign", str(campaign), "--layer", str(layer_path)
    )
    assert code == 0
    out = capsys.readouterr().out
    assert re.search(r"T1114\.002 .*covered by 2 rule\(s\)", out)
    assert re.search(r"T1090\.002 .*NOT covered", out)
    assert re.search(r"T1606 .*not visible in tenant logs", out)
    layer = json.loads(layer_path.read_text(encoding="utf-8"))
    # the layer format 4.5's required keys, checked here independently of check_layer
    assert isinstance(layer["name"], str) and layer["name"]
    assert layer["versions"] == {"attack": "18", "navigator": layer["versions"]["navigator"], "layer": "4.5"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", layer["versions"]["navigator"])
    assert layer["domain"] == "enterprise-attack"
    ids = {t["techniqueID"]: t for t in layer["techniques"]}
    assert set(ids) == {"T1114.002", "T1550", "T1090.002", "T1606", "T1550.001"}
    assert (
        ids["T1114.002"]["score"] == 2 and "Test Mailbox Read By REST Client" in ids["T1114.002"]["comment"]
    )
    assert all(re.fullmatch(r"#[0-9a-f]{6}", t["color"]) for t in layer["techniques"])
    assert ids["T1090.002"]["color"] != ids["T1114.002"]["color"]
    assert check_layer(layer) == []


def test_coverage_of_the_real_pack_and_its_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layer_path = tmp_path / "layer.json"
    assert run("coverage", "--rules", str(REPO / "rules"), "--layer", str(layer_path)) == 0
    assert "Summary:" in capsys.readouterr().out
    layer = json.loads(layer_path.read_text(encoding="utf-8"))
    assert check_layer(layer) == []
    assert {"name", "versions", "domain", "techniques"} <= set(layer)


def test_packaged_campaign_list_uses_the_pinned_attack_version() -> None:
    attack = load_attack()
    source, techniques = load_campaign(default_campaign_path(), attack)
    assert source
    ids = [t.id for t in techniques]
    assert len(ids) == len(set(ids))
    assert {"T1606", "T1550.001", "T1114.002", "T1078.004"} <= set(ids)


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (("T1606,", "T9999,"), "'T9999' is not an ATT&CK v18.1 technique"),
        (('"18.1"', '"17.0"'), "is not the pinned ATT&CK 18.1"),
        (("attribution: generic", "attribution: rumoured"), "attribution must be one of"),
    ],
)
def test_bad_campaign_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], replace: tuple[str, str], message: str
) -> None:
    p = tmp_path / "campaign.yml"
    p.write_text(CAMPAIGN.replace(*replace), encoding="utf-8")
    assert run("coverage", "--rules", str(PACK_RULES), "--campaign", str(p)) == 2
    err = capsys.readouterr().err
    assert message in err and str(p) in err


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d.pop("versions"), "missing required key 'versions'"),
        (lambda d: d.pop("techniques"), "missing required key 'techniques'"),
        (lambda d: d["versions"].update(layer="4.2"), "versions.layer must be 4.5"),
        (lambda d: d.update(domain="enterprise"), "domain must be one of"),
        (lambda d: d["techniques"].append({"techniqueID": "1114"}), "needs a techniqueID"),
        (lambda d: d["techniques"][0].update(color="green"), "color must be #rrggbb"),
    ],
)
def test_check_layer_finds_format_problems(mutate: object, problem: str) -> None:
    layer = Layer(
        name="n",
        description="d",
        attack_version="18.1",
        techniques=[LayerTechnique("T1114.002", score=1, color="#112233")],
    ).to_json()
    assert check_layer(layer) == []
    mutate(layer)  # type: ignore[operator]
    assert any(problem in p for p in check_layer(layer))
