"""The taxonomy data loads, and its IP normalisation matches the documented rules."""

from __future__ import annotations

import ipaddress

import pytest
from sigma.rule import SigmaLogSource

from stormpack.errors import TaxonomyError
from stormpack.taxonomy import ip_in_network, load_taxonomy, normalise_ip


@pytest.mark.parametrize(
    ("raw", "addr"),
    [
        ("51.89.156.153", "51.89.156.153"),
        ("51.89.156.153:49322", "51.89.156.153"),
        ("[2001:db8::5]:443", "2001:db8::5"),
        ("[2001:db8::5]", "2001:db8::5"),
        ("2001:db8::5", "2001:db8::5"),
        ("::ffff:51.89.156.153", "51.89.156.153"),
        (" 10.1.2.3 ", "10.1.2.3"),
    ],
)
def test_normalise_ip(raw: str, addr: str) -> None:
    assert normalise_ip(raw) == addr


def test_cidr_is_address_arithmetic_not_text() -> None:
    net = ipaddress.ip_network("10.0.0.0/8")
    assert ip_in_network("10.200.1.1:5555", net)
    assert not ip_in_network("10.example.com", net)
    assert not ip_in_network("100.0.0.1", net)
    v6 = ipaddress.ip_network("2001:db8::/32")
    assert ip_in_network("[2001:db8::1]:443", v6)
    assert not ip_in_network("10.0.0.1", v6)


def test_logsources_and_fields() -> None:
    tax = load_taxonomy()
    ual = tax.logsource_for(SigmaLogSource(product="m365", service="audit"))
    assert ual.timestamp == "CreationTime"
    spec = ual.field("Parameters.ForwardTo")
    assert spec is not None and spec.name_value == "Parameters"
    assert ual.field("ModifiedProperties.ConsentContext.IsAdminConsent") is not None
    assert ual.field("NoSuchField") is None
    assert tax.name_value_root("Parameters.ForwardTo") == (tax.name_value_arrays["Parameters"], "ForwardTo")
    assert tax.name_value_root("Operation") is None
    with pytest.raises(TaxonomyError, match="not in the taxonomy"):
        tax.logsource_for(SigmaLogSource(product="windows", category="driver_load"))


def test_classify_records() -> None:
    tax = load_taxonomy()
    ual = {"Operation": "New-InboxRule", "RecordType": 1, "CreationTime": "2023-06-14T02:55:40"}
    assert tax.classify(ual) is tax.logsources["m365_audit"]
    signin = {"category": "SignInLogs", "properties": {}}
    assert tax.classify(signin) is tax.logsources["azure_signinlogs"]
    nonint = {"category": "NonInteractiveUserSignInLogs"}
    assert tax.classify(nonint) is tax.logsources["azure_noninteractivesigninlogs"]
    assert tax.classify({"category": "AuditLogs"}) is tax.logsources["azure_auditlogs"]
    assert tax.classify({"EventID": 4624}) is None
