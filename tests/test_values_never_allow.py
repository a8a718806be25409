"""The shipped defaults never allow, on its own, a client that token-theft tooling abuses (issue #11.6).

tests/data/never_allow_mail_clients.yml is the copied evidence (public first-party clients whose
tokens AiTM and token-theft tools mint, resource ids, generic and exfiltration apps, and the
Storm-0558 client string). A rule's exclusion block (``filter*``) that tests an ``|expand`` list
without also testing ``ClientInfoString`` is a *plain* allow-list: no listed id may be in it. An
exclusion block that also tests ``ClientInfoString`` is a *paired* allowance (the reference's
"only with additional constraints"): its client-string prefixes must not admit the Storm-0558
string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stormpack.ruleset import load_values

ROOT = Path(__file__).resolve().parent.parent
NEVER = yaml.safe_load((ROOT / "tests" / "data" / "never_allow_mail_clients.yml").read_text(encoding="utf-8"))
NEVER_IDS = {str(e["id"]).lower(): str(e["name"]) for e in NEVER["ids"]}
NEVER_STRINGS = [str(e["value"]) for e in NEVER["client_strings"]]
PLACEHOLDER = re.compile(r"^%(\w+)%$")


@dataclass
class Usage:
    """How the rules use each placeholder inside exclusion blocks."""

    plain: dict[str, set[str]] = field(default_factory=dict)  # placeholder -> rule files
    paired: dict[str, set[str]] = field(default_factory=dict)
    prefixes: list[tuple[str, str]] = field(default_factory=list)  # (rule file, literal or %name%)


def _placeholders(block: dict[str, Any]) -> list[str]:
    out = []
    for key, value in block.items():
        if "|expand" not in str(key):
            continue
        for v in value if isinstance(value, list) else [value]:
            m = PLACEHOLDER.match(str(v))
            if m:
                out.append(m.group(1))
    return out


def usage_of(rules_dir: Path) -> Usage:
    use = Usage()
    for path in sorted(rules_dir.rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        detection = doc.get("detection") if isinstance(doc, dict) else None
        if not isinstance(detection, dict):
            continue
        for name, body in detection.items():
            if not str(name).startswith("filter"):
                continue
            for alt in body if isinstance(body, list) else [body]:
                if not isinstance(alt, dict):
                    continue
                cis = [k for k in alt if str(k).split("|")[0] == "ClientInfoString"]
                target = use.paired if cis else use.plain
                for ph in _placeholders(alt):
                    if cis and any(f"%{ph}%" in str(alt[k]) for k in cis):
                        continue  # the client-string list itself
                    target.setdefault(ph, set()).add(str(path.relative_to(rules_dir)))
                for k in cis:
                    for v in alt[k] if isinstance(alt[k], list) else [alt[k]]:
                        use.prefixes.append((str(path.relative_to(rules_dir)), str(v)))
    return use


def violations(rules_dir: Path, values_dir: Path) -> list[str]:
    """Every way the shipped values allow a never-allow value; empty when the pack is sound."""
    values = {k: [str(v) for v in vs] for k, vs in load_values(values_dir).items()}
    use = usage_of(rules_dir)
    out = []
    for ph, files in sorted(use.plain.items()):
        for v in values.get(ph, []):
            if v.lower() in NEVER_IDS:
                out.append(f"{ph} (plain allow-list in {', '.join(sorted(files))}) holds "
                           f"{v} ({NEVER_IDS[v.lower()]})")
    for rule, spec in use.prefixes:
        m = PLACEHOLDER.match(spec)
        prefixes = values.get(m.group(1), []) if m else [spec]
        for p in prefixes:
            for s in NEVER_STRINGS:
                if s.lower().startswith(p.lower()):
                    out.append(f"client-string prefix {p!r} in {rule} admits {s!r}")
    return out


def test_no_shipped_allow_list_allows_a_never_allow_value() -> None:
    assert violations(ROOT / "rules", ROOT / "values") == []


def test_the_classification_sees_the_pack_allow_lists() -> None:
    """The check is not vacuous: the allow-lists of the pack are found, each in its class."""
    use = usage_of(ROOT / "rules")
    assert {"mail_sanctioned_client_app_ids", "mail_sanctioned_rest_app_ids", "org_mail_client_app_ids",
            "org_sanctioned_mail_app_ids"} <= set(use.plain)
    assert {"mail_owa_client_app_ids", "mail_owa_app_ids", "mail_outlook_desktop_client_app_ids",
            "mail_outlook_mobile_client_app_ids"} <= set(use.paired)
    assert not set(use.plain) & {"mail_owa_client_app_ids", "mail_outlook_desktop_client_app_ids",
                                 "mail_outlook_mobile_client_app_ids", "mail_owa_app_ids"}
    # the public clients the pack still knows are there, but only in paired lists
    values = load_values(ROOT / "values")
    paired_ids = {v.lower() for ph in use.paired for v in values.get(ph, [])}
    assert {"9199bf20-a13f-4107-85dc-02114787ef48", "27922004-5251-4030-b22d-91ecd9a37ea4",
            "d3590ed6-52b3-4102-aeff-aad2292ab01c"} <= paired_ids


def _mini_pack(tmp: Path, filter_block: str, values: str) -> tuple[Path, Path]:
    rules = tmp / "rules"
    rules.mkdir()
    (rules / "r.yml").write_text(
        "title: T\nlogsource: {product: m365, service: audit}\ndetection:\n"
        "  selection: {Operation: MailItemsAccessed}\n" + filter_block +
        "  condition: selection and not 1 of filter_*\n", encoding="utf-8")
    vals = tmp / "values"
    vals.mkdir()
    (vals / "v.yml").write_text(values, encoding="utf-8")
    return rules, vals


def test_a_public_client_in_a_plain_allow_list_is_reported(tmp_path: Path) -> None:
    rules, vals = _mini_pack(tmp_path, "  filter_ok:\n    ClientAppId|expand: '%apps%'\n",
                             "apps:\n  - 9199bf20-a13f-4107-85dc-02114787ef48\n")
    assert violations(rules, vals) == [
        "apps (plain allow-list in r.yml) holds 9199bf20-a13f-4107-85dc-02114787ef48 "
        "(One Outlook Web / Outlook Web App Office 365)"]


def test_a_resource_id_as_fallback_app_id_is_reported(tmp_path: Path) -> None:
    rules, vals = _mini_pack(
        tmp_path, "  filter_no_client:\n    ClientAppId: ''\n    AppId|expand: '%apps%'\n",
        "apps:\n  - 00000003-0000-0000-C000-000000000000\n")
    assert len(violations(rules, vals)) == 1


def test_a_paired_public_client_passes_unless_its_prefix_admits_the_campaign_string(tmp_path: Path) -> None:
    block = ("  filter_pair:\n    ClientAppId|expand: '%apps%'\n"
             "    ClientInfoString|expand|startswith: '%prefixes%'\n")
    rules, vals = _mini_pack(tmp_path, block, "apps:\n  - 9199bf20-a13f-4107-85dc-02114787ef48\n"
                                              "prefixes:\n  - 'Client=OWA;'\n")
    assert violations(rules, vals) == []
    (vals / "v.yml").write_text("apps:\n  - 9199bf20-a13f-4107-85dc-02114787ef48\n"
                                "prefixes:\n  - 'Client=REST'\n", encoding="utf-8")
    assert violations(rules, vals) == [
        "client-string prefix 'Client=REST' in r.yml admits 'Client=REST;Client=RESTSystem;;'"]


def test_the_evidence_file_is_complete() -> None:
    """Every entry carries its reason and evidence class; the ids are well-formed GUIDs."""
    for e in NEVER["ids"]:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", e["id"]), e
        assert e["kind"] in ("public_client", "resource", "generic", "exfiltration", "unverifiable"), e
        assert e["class"] in ("SEEN", "MS-DOC", "3RD", "UNVERIFIED") and e["why"], e
