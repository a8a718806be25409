"""`stormpack baseline` end to end (a real process): on the real exports of fixtures/corpus and on
a small generated export whose expected lists are computed here from the generated records.

The generated tenant (one JSON Lines file, Management API shape): three users reading mail with
OWA, desktop Outlook and Outlook Mobile on three days; a backup app reading every mailbox
app-only; the Substrate Context Service and an unknown app reading with the REST system client
string under owner logon; a SOC reviewer and an eDiscovery operator; and the campaign's traces:
a forged-token read from a published Storm-0558 address, a read with the campaign's user agent
and the OWA client id presenting the REST system client string.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stormpack.ruleset import load_values

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "fixtures" / "corpus"

DOMAIN = "@fabrikam.example"
USERS = [f"user{i}{DOMAIN}" for i in range(3)]
DAYS = ["2026-11-02", "2026-11-03", "2026-11-04"]
OWA = "9199bf20-a13f-4107-85dc-02114787ef48"
EXO = "00000002-0000-0ff1-ce00-000000000000"
OFFICE = "d3590ed6-52b3-4102-aeff-aad2292ab01c"
MOBILE = "27922004-5251-4030-b22d-91ecd9a37ea4"
SUBSTRATE = "13937bba-652e-4c46-b222-3003f4d1ff97"
BACKUP_APP = "5f1c7a2e-0b8d-4e55-9d3a-6c2b1e4f7a90"
UNKNOWN_REST_APP = "c0ffee00-1111-4222-8333-944455556666"
FORGED_APP = "7d4a1f3b-2c6e-4a8d-b1f0-e2d3c4b5a697"
UA_APP = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
CAMPAIGN_IP = "51.89.156.153"
CAMPAIGN_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/92.0.4515.159 Safari/537.36"
)
REST = "Client=REST;Client=RESTSystem;;"
SOC = f"soc.lead{DOMAIN}"
EDISCOVERY = f"legal.hold{DOMAIN}"


def mail_read(day: str, user: str, hour: int, **fields: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "CreationTime": f"{day}T{hour:02d}:15:00",
        "Id": f"{day}-{user}-{hour}-{len(fields)}",
        "Operation": "MailItemsAccessed",
        "RecordType": 50,
        "ResultStatus": "Succeeded",
        "UserType": 0,
        "LogonType": 0,
        "UserId": user,
        "MailboxOwnerUPN": user,
        "Workload": "Exchange",
        "ClientIPAddress": "203.0.113.10",
        "OperationProperties": [{"Name": "MailAccessType", "Value": "Bind"}],
    }
    rec.update(fields)
    return rec


def generated_tenant() -> list[dict[str, Any]]:
    recs: list[dict[str, Any]] = []
    for day in DAYS:
        for u in USERS:
            recs.append(
                mail_read(
                    day,
                    u,
                    8,
                    ClientAppId=OWA,
                    AppId=EXO,
                    ClientInfoString="Client=OWA;Mozilla/5.0 (Windows NT 10.0) Edg/120.0",
                )
            )
            recs.append(
                mail_read(
                    day,
                    u,
                    9,
                    ClientAppId=OFFICE,
                    AppId=OFFICE,
                    ClientInfoString="Client=MSExchangeRPC",
                    OperationProperties=[{"Name": "MailAccessType", "Value": "Sync"}],
                )
            )
            recs.append(
                mail_read(
                    day,
                    u,
                    10,
                    ClientAppId=MOBILE,
                    AppId=MOBILE,
                    ClientInfoString="Client=OutlookService;Outlook-iOS/2.0;",
                )
            )
            recs.append(
                mail_read(
                    day,
                    u,
                    11,
                    UserType=5,
                    ClientAppId=BACKUP_APP,
                    AppId=BACKUP_APP,
                    ClientInfoString=REST,
                    AppAccessContext={"ClientAppId": BACKUP_APP},
                )
            )
            recs.append(
                mail_read(
                    day,
                    u,
                    12,
                    ClientAppId=SUBSTRATE,
                    AppId=SUBSTRATE,
                    ClientInfoString=REST,
                    ClientIPAddress="2603:10b6:930:3d::7",
                )
            )
            recs.append(
                mail_read(
                    day, u, 13, ClientAppId=UNKNOWN_REST_APP, AppId=UNKNOWN_REST_APP, ClientInfoString=REST
                )
            )
            # the campaign: a forged token from a published address, the campaign user agent, and
            # the OWA client id presenting the REST system client string
            recs.append(
                mail_read(
                    day,
                    u,
                    2,
                    ClientAppId=FORGED_APP,
                    AppId=FORGED_APP,
                    ClientInfoString="Client=OWA;Action=ViaProxy",
                    ClientIPAddress=CAMPAIGN_IP,
                )
            )
            recs.append(
                mail_read(
                    day,
                    u,
                    3,
                    ClientAppId=UA_APP,
                    AppId=UA_APP,
                    ClientInfoString=f"Client=WebServices;{CAMPAIGN_UA};",
                )
            )
            recs.append(mail_read(day, u, 4, ClientAppId=OWA, AppId=EXO, ClientInfoString=REST))
        recs.append(
            {
                "CreationTime": f"{day}T14:00:00",
                "Id": f"soc-{day}",
                "Operation": "AdminMailAccess",
                "RecordType": 28,
                "UserType": 0,
                "UserId": SOC,
                "Workload": "Exchange",
                "ClientIP": "203.0.113.20",
            }
        )
    recs.append(
        {
            "CreationTime": f"{DAYS[0]}T15:00:00",
            "Id": "ediscovery-1",
            "Operation": "SearchCreated",
            "RecordType": 24,
            "UserType": 0,
            "UserId": EDISCOVERY,
            "Workload": "SecurityComplianceCenter",
            "ClientIP": "203.0.113.30",
        }
    )
    return recs


def stormpack(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stormpack", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )


def write_jsonl(path: Path, records: list[dict[str, Any]], bad_line_after: int | None = None) -> Path:
    lines = [json.dumps(r) for r in records]
    if bad_line_after is not None:
        lines.insert(bad_line_after, '{"CreationTime": "2026-11-02T10:00:00", "Operation": ')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Any], subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("baseline-generated")
    events = write_jsonl(tmp / "tenant.jsonl", generated_tenant())
    out = tmp / "values"
    run = stormpack("baseline", "--events", events, "-o", out, "--report", tmp / "report.md")
    report = json.loads((tmp / "report.json").read_text(encoding="utf-8"))
    return out, report, run


def _value(report: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    got = [v for v in report["lists"][name]["values"] if v["value"] == value]
    assert len(got) == 1, (name, value, report["lists"][name]["values"])
    return got[0]


def test_generated_tenant_lists_are_learned(generated: tuple[Path, dict[str, Any], Any]) -> None:
    out, report, run = generated
    assert run.returncode == 0, run.stderr
    values = load_values(out)
    assert values["mail_owa_client_app_ids"] == [OWA]
    assert values["mail_owa_app_ids"] == [EXO]
    assert values["mail_owa_client_info_prefixes"] == ["Client=OWA;"]
    assert values["mail_outlook_desktop_client_app_ids"] == [OFFICE]
    assert values["mail_outlook_desktop_client_info_prefixes"] == ["Client=MSExchangeRPC"]
    assert values["mail_outlook_mobile_client_app_ids"] == [MOBILE]
    assert values["mail_outlook_mobile_client_info_prefixes"] == ["Client=OutlookService;"]
    assert values["org_sanctioned_mail_app_ids"] == [BACKUP_APP]
    assert values["mail_sanctioned_rest_app_ids"] == [SUBSTRATE]
    assert values["org_soc_mail_reviewers"] == [SOC]
    assert values["org_accepted_mail_domains"] == [DOMAIN]
    # the public clients are never in a plain allow-list; the services reading in user context are
    # (the backup app reads app-only, UserType 5: not a delegated reader)
    assert set(values["mail_sanctioned_client_app_ids"]) == {SUBSTRATE, UNKNOWN_REST_APP}
    assert set(values["org_mail_client_app_ids"]) == {BACKUP_APP, SUBSTRATE, UNKNOWN_REST_APP}
    # counts are the records' own
    owa = _value(report, "mail_owa_client_app_ids", OWA)
    assert (owa["records"], owa["users"], owa["days"]) == (9, 3, 3)
    assert (owa["first_seen"], owa["last_seen"]) == ("2026-11-02T08:15:00Z", "2026-11-04T08:15:00Z")
    assert _value(report, "org_sanctioned_mail_app_ids", BACKUP_APP)["users"] == 3


def test_campaign_values_are_never_auto_allowed(generated: tuple[Path, dict[str, Any], Any]) -> None:
    out, report, _ = generated
    written = {v for vs in load_values(out).values() for v in vs}
    for bad in (FORGED_APP, UA_APP, "Client=REST;Client=RESTSystem;"):
        assert bad not in written
    forged = _value(report, "mail_sanctioned_client_app_ids", FORGED_APP)
    assert forged["blocked"] == [f"9 record(s) from published campaign address(es) {CAMPAIGN_IP}"]
    assert forged["review"] == [] and (forged["users"], forged["days"]) == (3, 3)
    ua = _value(report, "mail_sanctioned_client_app_ids", UA_APP)
    assert ua["blocked"] and "Chrome/92.0.4515.159" in ua["blocked"][0]
    prefix = _value(report, "mail_owa_client_info_prefixes", "Client=REST;Client=RESTSystem;")
    assert prefix["blocked"] == [f"prefix admits the campaign client string {REST!r}"]
    owa_plain = _value(report, "mail_sanctioned_client_app_ids", OWA)
    assert owa_plain["blocked"] == [
        "on the never-allow list: One Outlook Web / Outlook Web App Office 365 (public_client); "
        "allowed only with its client-string family (the paired mail_* lists)"
    ]
    rest = _value(report, "mail_sanctioned_rest_app_ids", UNKNOWN_REST_APP)
    assert not rest["allowed"] and rest["blocked"] == []
    assert rest["review"] == ["not a Microsoft first-party app (this record shape is the campaign's own)"]
    assert (
        _value(report, "mail_sanctioned_rest_app_ids", SUBSTRATE)["first_party"]
        == "Substrate Context Service"
    )


def test_thresholds_are_options_and_cannot_allow_campaign_values(tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "tenant.jsonl", generated_tenant())
    run = stormpack(
        "baseline", "--events", events, "-o", tmp_path / "v", "--min-users", "1", "--min-days", "1"
    )
    assert run.returncode == 0, run.stderr
    values = load_values(tmp_path / "v")
    assert values["org_ediscovery_operators"] == [EDISCOVERY]  # one day: allowed with --min-days 1 only
    written = {v for vs in values.values() for v in vs}
    assert not written & {FORGED_APP, UA_APP, "Client=REST;Client=RESTSystem;"}
    assert OWA not in values["mail_sanctioned_client_app_ids"]
    report = (tmp_path / "v" / "baseline-report.md").read_text(encoding="utf-8")
    assert "--min-users 1, --min-days 1" in report


def test_an_account_seen_on_one_day_goes_to_review(generated: tuple[Path, dict[str, Any], Any]) -> None:
    out, report, _ = generated
    ed = _value(report, "org_ediscovery_operators", EDISCOVERY)
    assert ed["review"] == ["seen on 1 day(s) only (--min-days 2)"]
    assert load_values(out)["org_ediscovery_operators"] == ["ediscovery-operator@accepted-domain.invalid"]
    assert report["lists"]["org_ediscovery_operators"]["from_seed"] is True


VALUE_KEYS = {
    "value",
    "allowed",
    "blocked",
    "review",
    "notes",
    "records",
    "users",
    "days",
    "first_seen",
    "last_seen",
    "undated_records",
    "first_party",
    "taught_by_sources",
    "example",
}


def test_the_report_lists_every_learned_value_with_counts(
    generated: tuple[Path, dict[str, Any], Any],
) -> None:
    out, report, _ = generated
    md = (out.parent / "report.md").read_text(encoding="utf-8")
    n = 0
    for name, body in report["lists"].items():
        assert f"### {name}" in md
        for v in body["values"]:
            n += 1
            assert set(v) == VALUE_KEYS  # as docs/baseline.md lists them
            assert v["records"] > 0 and v["users"] >= 1 and v["days"] >= 1
            state = "yes" if v["allowed"] else ("**blocked**" if v["blocked"] else "review")
            row = (
                f"| `{v['value']}` | {state} | "
                f"{v['records']} | {v['users']} | {v['days']} | {v['first_seen']} | {v['last_seen']} |"
            )
            assert row in md, row
    assert n >= 25
    assert report["read"] == {**report["read"], "records": len(generated_tenant()), "rejected": 0}


def test_the_committed_example_export_is_the_generated_tenant() -> None:
    """tests/data/baseline/tenant.jsonl (the docs/baseline.md example) is this generator's output."""
    text = (REPO / "tests/data/baseline/tenant.jsonl").read_text(encoding="utf-8")
    assert [json.loads(line) for line in text.splitlines()] == generated_tenant()


def test_hunt_and_build_accept_the_written_values(
    generated: tuple[Path, dict[str, Any], Any], tmp_path: Path
) -> None:
    out, _, _ = generated
    events = write_jsonl(tmp_path / "tenant.jsonl", generated_tenant())
    hunt = stormpack("hunt", "--values", out, "--events", events, "--format", "jsonl")
    assert hunt.returncode == 0, hunt.stderr
    titles = {json.loads(line)["rule_title"] for line in hunt.stdout.splitlines()}
    # the learned lists keep the tenant's own clients quiet; the campaign traces still alert
    assert "Admin Mail Access By Non SOC Account" not in titles
    hits = [json.loads(line) for line in hunt.stdout.splitlines()]
    unsanctioned = {
        h["event"].get("ClientAppId")
        for h in hits
        if h["rule_title"] == "Mail Items Accessed By Unsanctioned Client App"
    }
    assert unsanctioned == {FORGED_APP, UA_APP, OWA}  # OWA: only its REST-string records
    rules = [
        REPO / "rules/m365/audit" / f
        for f in (
            "m365_audit_admin_mail_access_by_non_soc_account.yml",
            "m365_audit_ediscovery_search_or_export_by_unlisted_operator.yml",
            "m365_audit_mail_items_accessed_by_unsanctioned_client_app.yml",
        )
    ]
    build = stormpack("build", "-o", tmp_path / "build", "--values", out, *rules)
    assert build.returncode == 0, build.stdout + build.stderr
    disabled = [line for line in build.stdout.splitlines() if line.startswith("disabled")]
    # the eDiscovery list kept its stand-in (nothing passed review): that rule stays disabled
    assert disabled == [
        "disabled  'EDiscovery Search Or Export By Unlisted Operator': tenant list(s) "
        "org_ediscovery_operators still hold placeholders (fill them in values/, or --enable-all)"
    ]
    watchlist = (tmp_path / "build/sentinel/watchlists/org_soc_mail_reviewers.csv").read_text(
        encoding="utf-8"
    )
    assert SOC in watchlist


def test_bad_input_is_reported_with_file_and_line(tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "tenant.jsonl", generated_tenant(), bad_line_after=5)
    run = stormpack("baseline", "--events", events, "-o", tmp_path / "v")
    assert run.returncode == 1
    assert f"rejected: {events}:6: " in run.stderr
    report = json.loads((tmp_path / "v" / "baseline-report.json").read_text(encoding="utf-8"))
    assert report["read"]["rejected"] == 1
    assert (
        report["read"]["rejections"][0]["file"] == str(events)
        and report["read"]["rejections"][0]["line"] == 6
    )
    assert report["read"]["records"] == len(generated_tenant()) + 1
    assert f"{events}:6: " in (tmp_path / "v" / "baseline-report.md").read_text(encoding="utf-8")


def test_a_missing_events_path_is_an_error(tmp_path: Path) -> None:
    run = stormpack("baseline", "--events", tmp_path / "nope.jsonl", "-o", tmp_path / "v")
    assert run.returncode == 2
    assert run.stderr.strip() == f"error: {tmp_path / 'nope.jsonl'}: no such file or directory"


# ------------------------------------------------------------------------------ the real corpus


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Any], subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("baseline-corpus")
    run = stormpack("baseline", "--events", CORPUS, "-o", tmp / "values")
    return (
        tmp / "values",
        json.loads((tmp / "values" / "baseline-report.json").read_text(encoding="utf-8")),
        run,
    )


def test_corpus_every_record_is_learned_from_or_reported(corpus: tuple[Path, dict[str, Any], Any]) -> None:
    _, report, run = corpus
    r = report["read"]
    assert r["records"] == r["evaluated"] + r["unrecognised"] + r["rejected"]
    assert r["records"] >= 450 and r["rejected"] == 0
    # the PROVENANCE files are not exports: reported as unusable (exit 1), not skipped silently
    assert sorted(Path(u.split(":", 1)[0]).name for u in r["unusable"]) == [
        "PROVENANCE-shapes.md",
        "PROVENANCE.md",
    ]
    assert run.returncode == 1
    assert sum(r["unrecognised_by_file"].values()) == r["unrecognised"]


def test_corpus_lists(corpus: tuple[Path, dict[str, Any], Any]) -> None:
    out, report, _ = corpus
    values = load_values(out)
    # the Purview export's tenant: 14 users on 17 days
    assert values["org_accepted_mail_domains"] == ["@contoso.onmicrosoft.com"]
    dom = _value(report, "org_accepted_mail_domains", "@contoso.onmicrosoft.com")
    assert (dom["users"], dom["days"]) == (14, 17)
    # the SimuLand lab's Graph app (the attacker's app of that lab) is seen once: review, not allowed
    lab = _value(report, "mail_sanctioned_client_app_ids", "5a95e683-08ad-424e-a441-1d1aec52c02c")
    assert not lab["allowed"]
    exo = _value(report, "mail_sanctioned_client_app_ids", EXO)
    assert exo["blocked"] == [
        "on the never-allow list: Office 365 Exchange Online (resource); "
        "allowed only with its client-string family (the paired mail_* lists)"
    ]
    # the real Microsoft REST service of the Sentinel lab is not in the first-party list: review
    rest = _value(report, "mail_sanctioned_rest_app_ids", "8a18aa92-0a1e-4e06-abd0-e118fa4787b1")
    assert "not a Microsoft first-party app (this record shape is the campaign's own)" in rest["review"]
    # every list is in the values directory (learned or seed), so hunt and build take it
    assert set(values) == set(report["lists"])


def test_corpus_values_are_accepted_by_hunt(corpus: tuple[Path, dict[str, Any], Any]) -> None:
    out, _, _ = corpus
    hunt = stormpack(
        "hunt", "--values", out, "--events", CORPUS / "purview_export_combined.csv", "--format", "jsonl"
    )
    assert hunt.returncode == 0, hunt.stderr


# ------------------------------------------------------------------------------ sign-in exports

EXPORTS = REPO / "tests" / "data" / "exports"


def _domains(path: Path) -> dict[str, tuple[int, int, list[int]]]:
    from stormpack.baseline import Thresholds, run_baseline

    result = run_baseline([path], load_values(REPO / "values"), REPO / "rules", Thresholds(1, 1))
    assert result.hunt.rejected == 0 and result.hunt.read == result.hunt.evaluated
    return {
        d.value: (d.stats.records, len(d.stats.users), sorted(d.stats.sources))
        for d in result.lists["org_accepted_mail_domains"].decisions
    }


def test_sign_in_exports_teach_the_accepted_domains() -> None:
    # the Entra admin center download (real, MIT): member sign-ins of two domains
    portal = _domains(EXPORTS / "InteractiveSignIns_2025-03-11_2025-03-18.csv")
    assert portal == {"@m365x44824121.onmicrosoft.com": (194, 2, [1]), "@ithero.work.gd": (20, 1, [1])}
    # a Graph beta page carries userType (Member); the v1.0 object has none, so it teaches nothing
    # (a guest signs in with its home UPN: without userType a partner's domain would be learned)
    assert _domains(EXPORTS / "graph_signins_beta_page.json") == {"@contoso.com": (1, 1, [1])}
    assert _domains(EXPORTS / "graph_signins_v1_array_bom.json") == {}


# ------------------------------------------------------------------------------ paired lists

#: an invented client id: no public MailItemsAccessed record of Outlook for Mac is known
#: (reference C5); Microsoft documents Sync records for desktop Outlook for Windows and Mac
MAC_APP = "6a0b4c2d-8e1f-4a3b-9c5d-7e6f8a9b0c1d"
MAC_STRING = "Client=REST;MacOutlook/16.78.23102801;"


def mac_reads() -> list[dict[str, Any]]:
    return [
        mail_read(
            day,
            u,
            16,
            ClientAppId=MAC_APP,
            AppId=MAC_APP,
            ClientInfoString=MAC_STRING,
            OperationProperties=[{"Name": "MailAccessType", "Value": "Sync"}],
        )
        for day in DAYS
        for u in USERS
    ]


def test_paired_lists_learn_from_each_other(tmp_path: Path) -> None:
    """Sync records teach the Mac client string a desktop prefix (first read); the ids seen with
    that prefix are the desktop client ids (second read); a third read changes nothing."""
    events = write_jsonl(tmp_path / "tenant.jsonl", generated_tenant() + mac_reads())
    run = stormpack("baseline", "--events", events, "-o", tmp_path / "v")
    assert run.returncode == 0, run.stderr
    values = load_values(tmp_path / "v")
    assert values["mail_outlook_desktop_client_info_prefixes"] == [
        "Client=MSExchangeRPC",
        "Client=REST;MacOutlook/",
    ]
    assert values["mail_outlook_desktop_client_app_ids"] == [
        MAC_APP,
        OFFICE,
    ]  # most records first, then by value
    report = json.loads((tmp_path / "v" / "baseline-report.json").read_text(encoding="utf-8"))
    assert report["passes"] == 3
    hunt = stormpack("hunt", "--values", tmp_path / "v", "--events", events, "--format", "jsonl")
    assert hunt.returncode == 0, hunt.stderr
    mac_hits = [
        h["rule_title"]
        for h in map(json.loads, hunt.stdout.splitlines())
        if h["event"].get("ClientAppId") == MAC_APP
    ]
    # Mac Outlook's reads are the tenant's own: no mail-client rule fires on them
    assert not {
        "Mail Folder Sync By Unexpected Client",
        "Mail Items Accessed By Unsanctioned Client App",
        "Mail Read By App Outside Known Mail Clients",
    } & set(mac_hits), mac_hits


def test_a_time_window_learns_only_from_its_records(tmp_path: Path) -> None:
    """--since/--until: the first half of a month teaches, the rest is counted, not learned."""
    events = write_jsonl(tmp_path / "tenant.jsonl", generated_tenant())
    run = stormpack(
        "baseline",
        "--events",
        events,
        "-o",
        tmp_path / "v",
        "--since",
        DAYS[0],
        "--until",
        f"{DAYS[1]}T23:59:59",
    )
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "v" / "baseline-report.json").read_text(encoding="utf-8"))
    teaching_on_day_3 = sum(1 for r in generated_tenant() if r["CreationTime"].startswith(DAYS[2]))
    assert report["window"] == {
        "since": f"{DAYS[0]}T00:00:00Z",
        "until": f"{DAYS[1]}T23:59:59Z",
        "records_outside": teaching_on_day_3,
        "records_without_time": 0,
    }
    owa = _value(report, "mail_owa_client_app_ids", OWA)
    assert (owa["records"], owa["days"], owa["last_seen"]) == (6, 2, f"{DAYS[1]}T08:15:00Z")
    bad = stormpack("baseline", "--events", events, "-o", tmp_path / "w", "--since", "yesterday")
    assert bad.returncode == 2 and "--since: 'yesterday' is not an ISO-8601 date" in bad.stderr


def test_an_output_directory_with_other_values_files_is_refused(tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "tenant.jsonl", generated_tenant())
    out = tmp_path / "v"
    out.mkdir()
    (out / "mine.yml").write_text("org_soc_mail_reviewers: [a@b.example]\n", encoding="utf-8")
    run = stormpack("baseline", "--events", events, "-o", out)
    assert run.returncode == 2
    assert run.stderr.strip() == (
        f"error: {out}: holds other values files (mine.yml) that would be read together with the learned "
        "lists: choose an empty or new directory"
    )


def test_attacker_controlled_strings_cannot_break_the_report(tmp_path: Path) -> None:
    """A client string is whatever the client sends: a line break or pipe in it stays inside its
    Markdown cell, the JSON report keeps the exact text, and a string not of the form
    Client=<type> is no client family (review)."""
    hostile = "Evil|Client\n| injected | row |`"
    recs = [
        mail_read(day, u, 8, ClientAppId=OWA, AppId=EXO, ClientInfoString=hostile)
        for day in DAYS
        for u in USERS
    ]
    events = write_jsonl(tmp_path / "tenant.jsonl", recs)
    run = stormpack("baseline", "--events", events, "-o", tmp_path / "v")
    assert run.returncode == 0, run.stderr
    md = (tmp_path / "v" / "baseline-report.md").read_text(encoding="utf-8")
    assert "\n| injected | row |" not in md
    assert "| `Evil\\|Client \\| injected \\| row \\|'` |" in md
    report = json.loads((tmp_path / "v" / "baseline-report.json").read_text(encoding="utf-8"))
    assert _value(report, "mail_owa_client_info_prefixes", hostile)["review"] == [
        "not of the Exchange client-string form Client=<type>"
    ]
    assert load_values(tmp_path / "v")["mail_owa_client_info_prefixes"] == ["Client=OWA;"]  # the seed
