"""DuckDB on the same single-event rules: hand-written SQL, ``read_json`` (newline-delimited),
one thread; writes one ``rule-stem<TAB>line-index`` per hit, to compare record by record with
stormpack's hits (bench/run_bench.py does).

    python bench/duckdb_pipeline.py VALUES.json EVENTS.jsonl OUT.tsv

Runs in bench/.venv-duckdb (bench/requirements-duckdb.txt). VALUES.json holds the placeholder
lists of values/ (run_bench.py writes it with stormpack's loader). The SQL follows the matcher's
semantics for what these rules test on these inputs: case-insensitive string comparison,
``ip`` fields normalised (port, brackets, ``::ffff:``), name/value arrays by ``Name``, a missing
field making a ``not`` filter true, each rule only on records of its log source (UAL: has
``Operation`` and one of ``RecordType``/``CreationTime``/``Workload``; sign-ins: ``category``).
It reads only the declared columns, which is what makes DuckDB fast here; a record whose column
has another JSON type than declared would stop it (the generated inputs have none).
"""

from __future__ import annotations

import json
import sys
import time

NV = "STRUCT(Name VARCHAR, Value VARCHAR)[]"
COLUMNS = {
    "Operation": "VARCHAR", "RecordType": "BIGINT", "CreationTime": "VARCHAR", "Workload": "VARCHAR",
    "ClientInfoString": "VARCHAR", "UserType": "BIGINT", "LogonType": "BIGINT", "AppId": "VARCHAR",
    "ClientIP": "VARCHAR", "ClientIPAddress": "VARCHAR", "ActorIpAddress": "VARCHAR",
    "UserAgent": "VARCHAR", "ResultStatus": "VARCHAR", "Parameters": NV, "ExtendedProperties": NV,
    "OperationProperties": NV, "category": "VARCHAR", "callerIpAddress": "VARCHAR",
    "properties": "STRUCT(ipAddress VARCHAR, authenticationProtocol VARCHAR, "
                  "status STRUCT(errorCode BIGINT), riskEventTypes_v2 VARCHAR[])",
}
STORM_IPS = [
    "195.26.87.219", "185.236.228.183", "85.239.63.160", "193.105.134.58", "146.0.74.16",
    "91.231.186.226", "91.222.174.41", "185.38.142.249", "51.89.156.153", "176.31.90.129",
    "137.74.181.100", "193.36.119.45", "185.158.248.159", "131.153.78.188", "37.143.130.146",
    "146.70.157.45", "185.195.200.39", "185.38.142.229", "146.70.121.44", "31.42.177.181",
    "185.51.134.52", "173.44.226.70", "45.14.227.233", "185.236.231.109", "178.73.220.149",
    "45.14.227.212", "91.222.173.225", "146.70.35.168", "146.70.157.213", "31.42.177.201",
    "5.252.176.8", "80.85.158.215", "193.149.129.88", "5.252.178.68", "116.202.251.8",
    "185.158.248.93", "20.108.240.252", "146.70.135.182",
]
STORM_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/92.0.4515.159 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/106.0.0.0 Safari/537.36 Edg/106.0.1370.52",
    '"Microsoft Edge";v="113", "Chromium";v="113", "Not-A.Brand";v="24"',
]
STORM_CLIENT_STRINGS = ["Chrome/92.0.4515.159 Safari/537.36;",
                        "Chrome/106.0.0.0 Safari/537.36 Edg/106.0.1370.52;",
                        '"Microsoft Edge";v="113", "Chromium";v="113", "Not-A.Brand";v="24"']
#: the rules this file implements (file stems); run_bench.py hunts with exactly these
RULES = [
    "m365_audit_mail_deleted_or_moved_by_a_client",
    "m365_audit_owa_resource_token_issued",
    "m365_audit_sign_in_succeeded_at_token_endpoint",
    "m365_audit_mail_items_access_throttled",
    "m365_audit_rest_system_client_string_under_delegated_owner_logon",
    "m365_audit_inbox_rule_forwards_to_outside_address",
    "m365_audit_mailbox_forwarding_to_external_smtp_address",
    "m365_audit_storm_0558_ip_in_m365_activity_any_time",
    "m365_audit_storm_0558_user_agent_in_m365_activity",
    "azure_signin_storm_0558_ip_in_interactive_sign_in_any_time",
    "azure_signin_ropc_sign_in_succeeded",
    "azure_signin_token_anomaly_risk_on_interactive_sign_in",
]


def q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def low_in(expr: str, values: list[str]) -> str:
    return f"lower({expr}) IN ({', '.join(q(v.lower()) for v in values)})"


def nv_any(array: str, name: str, test: str) -> str:
    """Some element of the name/value ``array`` named ``name`` whose value passes ``test`` (on v)."""
    cond = test.format(v="e.Value")
    return f"len(list_filter(coalesce({array}, []), lambda e: e.Name = {q(name)} AND ({cond}))) > 0"


def sql(values: dict[str, list[str]], path: str) -> str:
    domains = values["org_accepted_mail_domains"]
    rest_apps = values["mail_sanctioned_rest_app_ids"]
    ends_domain = " OR ".join(f"ends_with(lower({{v}}), {q(d.lower())})" for d in domains) or "false"
    ip_cols = ["ClientIP", "ClientIPAddress", "ActorIpAddress"]
    rules = {
        "m365_audit_mail_deleted_or_moved_by_a_client":
            f"{low_in('Operation', ['HardDelete', 'SoftDelete', 'MoveToDeletedItems', 'Move'])} AND NOT "
            "coalesce(starts_with(lower(ClientInfoString), 'client=tba') OR "
            "starts_with(lower(ClientInfoString), 'client=eba'), false)",
        "m365_audit_owa_resource_token_issued": "RecordType = 275",
        "m365_audit_sign_in_succeeded_at_token_endpoint":
            "lower(Operation) = 'userloggedin' AND "
            + nv_any("ExtendedProperties", "RequestType", "lower({v}) = 'oauth2:token'"),
        "m365_audit_mail_items_access_throttled":
            "lower(Operation) = 'mailitemsaccessed' AND "
            + nv_any("OperationProperties", "IsThrottled", "lower({v}) = 'true'"),
        "m365_audit_rest_system_client_string_under_delegated_owner_logon":
            "RecordType IN (2, 3, 50) AND lower(ClientInfoString) = 'client=rest;client=restsystem;;' "
            f"AND UserType = 0 AND LogonType = 0 AND NOT coalesce({low_in('AppId', rest_apps)}, false)",
        "m365_audit_inbox_rule_forwards_to_outside_address":
            f"{low_in('Operation', ['New-InboxRule', 'Set-InboxRule'])} AND "
            + nv_any("Parameters", "ForwardTo", "contains({v}, '@')")
            + " AND NOT " + nv_any("Parameters", "ForwardTo", ends_domain),
        "m365_audit_mailbox_forwarding_to_external_smtp_address":
            "RecordType = 1 AND lower(Operation) = 'set-mailbox' AND "
            + nv_any("Parameters", "ForwardingSmtpAddress", "contains({v}, '@')")
            + " AND NOT " + nv_any("Parameters", "ForwardingSmtpAddress", ends_domain)
            + " AND NOT coalesce(lower(ResultStatus) = 'false', false)",
        "m365_audit_storm_0558_ip_in_m365_activity_any_time":
            " OR ".join(f"coalesce({low_in(f'nip({c})', STORM_IPS)}, false)" for c in ip_cols),
        "m365_audit_storm_0558_user_agent_in_m365_activity":
            f"coalesce({low_in('UserAgent', STORM_AGENTS)}, false) OR "
            + nv_any("ExtendedProperties", "UserAgent", low_in("{v}", STORM_AGENTS))
            + " OR coalesce(" + " OR ".join(f"contains(lower(ClientInfoString), {q(s.lower())})"
                                            for s in STORM_CLIENT_STRINGS) + ", false)",
        "azure_signin_storm_0558_ip_in_interactive_sign_in_any_time":
            f"coalesce({low_in('nip(properties.ipAddress)', STORM_IPS)}, false) OR "
            f"coalesce({low_in('nip(callerIpAddress)', STORM_IPS)}, false)",
        "azure_signin_ropc_sign_in_succeeded":
            "properties.status.errorCode = 0 AND lower(properties.authenticationProtocol) = 'ropc'",
        "azure_signin_token_anomaly_risk_on_interactive_sign_in":
            "len(list_filter(coalesce(properties.riskEventTypes_v2, []), lambda x: lower(x) IN "
            "('anomaloustoken', 'tokenissueranomaly'))) > 0",
    }
    assert list(rules) == RULES
    m365 = ("Operation IS NOT NULL AND (RecordType IS NOT NULL OR CreationTime IS NOT NULL "
            "OR Workload IS NOT NULL)")
    signin = "category = 'SignInLogs'"
    cols = "{" + ", ".join(f"{q(k)}: {q(v)}" for k, v in COLUMNS.items()) + "}"
    parts = []
    for stem, cond in rules.items():
        source = signin if stem.startswith("azure_signin") else m365
        parts.append(f"SELECT {q(stem)} AS rule, idx FROM t WHERE ({source}) AND ({cond})")
    return (f"CREATE TEMP TABLE t AS SELECT row_number() OVER () - 1 AS idx, * FROM read_json({q(path)}, "
            f"format = 'newline_delimited', columns = {cols});\n"
            + "\nUNION ALL\n".join(parts))


NIP = """CREATE MACRO nip(v) AS CASE
  WHEN v IS NULL THEN NULL
  WHEN starts_with(trim(v), '[') THEN split_part(substr(trim(v), 2), ']', 1)
  WHEN length(trim(v)) - length(replace(trim(v), ':', '')) = 1 AND contains(trim(v), '.')
    THEN split_part(trim(v), ':', 1)
  WHEN starts_with(lower(trim(v)), '::ffff:') AND contains(trim(v), '.') THEN substr(trim(v), 8)
  ELSE trim(v) END"""


def main(argv: list[str]) -> int:
    # imported here: run_bench.py imports this module (for RULES) from stormpack's own venv, which
    # has no duckdb; the pipeline itself runs in bench/.venv-duckdb
    import duckdb

    values_path, events, out = argv[1:4]
    with open(values_path, encoding="utf-8") as fh:
        values = json.load(fh)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute(NIP)
    create, query = sql(values, events).split(";\n", 1)
    con.execute(create)
    rows = con.execute(query).fetchall()
    with open(out, "w", encoding="utf-8") as fh:
        for rule, idx in rows:
            fh.write(f"{rule}\t{idx}\n")
    print(f"duckdb {duckdb.__version__}: {len(rows):,} hits in {time.perf_counter() - t0:.2f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
