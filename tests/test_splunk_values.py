"""Splunk searches carry only ASCII literals (issue 10 point 12).

Splunk matches a field value against the event's raw text first (fields.conf ``INDEXED_VALUE``,
default true: "the value is in the raw text of the event",
https://docs.splunk.com/Documentation/Splunk/latest/Admin/Fieldsconf), and a JSON event may carry
a non-ASCII character escaped (``\\u2013``, RFC 8259 section 7), so a literal en dash in a search
value can miss events whose field value holds it. Entra's "Update application – Certificates and
secrets management " (en dash, trailing space: the real records in the rule's fixtures) is matched
without the dash.
"""

from __future__ import annotations

from pathlib import Path

from stormpack.compiler import compile_rules
from stormpack.fixtures import load_fixture_dir

ROOT = Path(__file__).resolve().parents[1]
RULE = ROOT / "rules/azure/auditlogs/azure_audit_credential_added_to_application_or_service_principal.yml"


def test_every_compiled_splunk_search_is_ascii() -> None:
    files = sorted((ROOT / "tests/golden/splunk").glob("*.spl"))
    assert files
    for f in files:
        text = f.read_text(encoding="utf-8")
        bad = sorted({c for c in text if ord(c) > 127})
        assert not bad, f"{f.name}: non-ASCII {bad}"


def test_credential_rule_matches_the_real_activity_name_without_its_dash() -> None:
    (q,) = compile_rules([RULE], "splunk", {}).queries
    assert "Certificates and secrets management" in q.query and q.query.isascii()
    names = [
        e.record["operationName"]
        for case in load_fixture_dir(ROOT / "fixtures" / RULE.stem)
        if case.expect == "match"
        for e in case.events
    ]
    assert "Update application \u2013 Certificates and secrets management " in names
