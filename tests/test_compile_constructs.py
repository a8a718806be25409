"""Construct tests in pySigma's style: one small inline rule per modifier / condition shape, and the
exact KQL (Sentinel) and SPL (Splunk) it must compile to."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from stormpack.compiler import compile_rules

M365 = "product: m365\n  service: audit"
SIGNIN = "product: azure\n  service: signinlogs"
NONINT = "product: azure\n  service: noninteractivesigninlogs"
AUDIT = "product: azure\n  service: auditlogs"

OA = "OfficeActivity\n"
# an element name that is not an identifier gets a short hash of the name in its alias
H = hashlib.sha1(b"ConsentContext.IsAdminConsent").hexdigest()[:6]
SPL_O365 = 'index="*" sourcetype="o365:management:activity"'
SPL_SIGNIN = 'index="*" sourcetype="azure:monitor:aad" category="SignInLogs"'
IP_KQL = (
    '| extend {a} = trim(@"\\s+", tostring({c}))\n'
    '| extend {a} = case({a} startswith "[", extract(@"^\\[([^\\]]*)", 1, {a}), countof({a}, ":") == 1 '
    'and {a} contains ".", tostring(split({a}, ":")[0]), {a} startswith "::ffff:" and {a} contains ".", '
    "substring({a}, 7), {a})\n"
)
IP_SPL = (
    "| eval {a}=trim({c})\n"
    '| eval {a}=case(like({a}, "[%"), replace({a}, "^[[]([^]]*).*$", "\\1"), mvcount(split({a}, ":"))==2 '
    'AND like({a}, "%.%"), mvindex(split({a}, ":"), 0), like(lower({a}), "::ffff:%") AND like({a}, "%.%"), '
    "substr({a}, 8), true(), {a})\n"
)


def rule_text(logsource: str, detection: str, title: str = "Construct") -> str:
    return (
        f"title: {title}\nid: 6f0c6c39-0000-4000-8000-000000000001\nstatus: test\n"
        f"logsource:\n  {logsource}\ndetection:\n"
        + textwrap.indent(textwrap.dedent(detection).strip("\n"), "  ")
        + "\nlevel: low\n"
    )


def compile_inline(
    logsource: str, detection: str, target: str, tmp: Path, values: dict[str, list[str]] | None = None
) -> str:
    path = tmp / "rule.yml"
    path.write_text(rule_text(logsource, detection), encoding="utf-8")
    res = compile_rules([path], target, values or {})
    if res.errors:
        raise res.errors[0]
    assert len(res.queries) == 1
    return res.queries[0].query


# (name, logsource, detection, {target: expected query})
CASES: list[tuple[str, str, str, dict[str, str]]] = [
    (
        "equality",
        M365,
        """
        sel:
          Operation: New-InboxRule
        condition: sel
     """,
        {
            "sentinel": OA + '| where Operation =~ "New-InboxRule"',
            "splunk": SPL_O365 + ' Operation="New-InboxRule"',
        },
    ),
    (
        "list",
        M365,
        """
        sel:
          Operation: [New-InboxRule, Set-InboxRule]
        condition: sel
     """,
        {
            "sentinel": OA + '| where Operation in~ ("New-InboxRule", "Set-InboxRule")',
            "splunk": SPL_O365 + ' Operation IN ("New-InboxRule", "Set-InboxRule")',
        },
    ),
    (
        "contains_startswith_endswith",
        M365,
        """
        sel:
          ClientInfoString|contains: REST
          UserId|startswith: admin
          MailboxOwnerUPN|endswith: '@contoso.com'
        condition: sel
     """,
        {
            "sentinel": OA + '| where ClientInfoString contains "REST" and UserId startswith "admin" '
            'and MailboxOwnerUPN endswith "@contoso.com"',
            "splunk": SPL_O365 + ' ClientInfoString="*REST*" UserId="admin*" MailboxOwnerUPN="*@contoso.com"',
        },
    ),
    (
        "contains_all",
        M365,
        """
        sel:
          ClientInfoString|contains|all: [Client=REST, RESTSystem]
        condition: sel
     """,
        {
            "sentinel": OA
            + '| where ClientInfoString contains "Client=REST" and ClientInfoString contains "RESTSystem"',
            "splunk": SPL_O365 + ' ClientInfoString="*Client=REST*" ClientInfoString="*RESTSystem*"',
        },
    ),
    (
        "all_plain_values_stay_equality",
        M365,
        """
        sel:
          UserId|all: [a@x.com, b@x.com]
        condition: sel
     """,
        {
            "sentinel": OA + '| where UserId =~ "a@x.com" and UserId =~ "b@x.com"',
            "splunk": SPL_O365 + ' UserId="a@x.com" UserId="b@x.com"',
        },
    ),
    (
        "mid_value_wildcard_is_case_insensitive_regex",
        M365,
        """
        sel:
          ClientInfoString: 'Client=REST*python*'
        condition: sel
     """,
        {
            "sentinel": OA + '| where ClientInfoString matches regex "(?i)^Client=REST.*python.*$"',
            "splunk": SPL_O365 + ' ClientInfoString="Client=REST*python*"',
        },
    ),
    (
        "wildcard_in_list_keeps_order",
        M365,
        """
        sel:
          ClientInfoString: ['Client=OWA', 'Client=REST*python*']
        condition: sel
     """,
        {
            "sentinel": OA + '| where (ClientInfoString =~ "Client=OWA" or ClientInfoString matches regex '
            '"(?i)^Client=REST.*python.*$")',
            "splunk": SPL_O365 + ' ClientInfoString IN ("Client=OWA", "Client=REST*python*")',
        },
    ),
    (
        "regex",
        M365,
        """
        sel:
          ClientAppId|re: '^[0-9a-f]{8}-'
          UserId|re|i: 'svc_\\d+'
        condition: sel
     """,
        {
            "sentinel": OA
            + '| where ClientAppId matches regex "^[0-9a-f]{8}-" and UserId matches regex "(?i)svc_\\\\d+"',
            "splunk": SPL_O365 + ' *\n| regex ClientAppId="^[0-9a-f]{8}-"\n| regex UserId="(?i)svc_\\\\d+"',
        },
    ),
    (
        "cidr_v4_v6_on_addresses_with_ports",
        M365,
        """
        sel:
          ClientIP|cidr: [51.89.156.0/24, '2001:db8::/32']
        condition: sel
     """,
        {
            "sentinel": OA
            + IP_KQL.format(a="ClientIP_addr", c="ClientIP")
            + '| where ipv4_is_in_range(ClientIP_addr, "51.89.156.0/24") or '
            'ipv6_is_in_range(ClientIP_addr, "2001:db8::/32")',
            "splunk": SPL_O365
            + "\n"
            + IP_SPL.format(a="ClientIP_addr", c="ClientIP")
            + '| search ClientIP_addr="51.89.156.0/24" OR ClientIP_addr="2001:db8::/32"',
        },
    ),
    (
        "ip_equality_on_normalised_address",
        M365,
        """
        sel:
          ClientIPAddress: 51.89.156.153
        condition: sel
     """,
        {
            # the prefilter: the address is a whole term of the raw column (a port or brackets
            # around it are separators); SPL reads it from the raw JSON: an inner term only
            "sentinel": OA
            + '| where Client_IPAddress has "51.89.156.153"\n'
            + IP_KQL.format(a="ClientIPAddress_addr", c="Client_IPAddress")
            + '| where ClientIPAddress_addr =~ "51.89.156.153"',
            "splunk": SPL_O365
            + " 156\n"
            + IP_SPL.format(a="ClientIPAddress_addr", c="ClientIPAddress")
            + '| search ClientIPAddress_addr="51.89.156.153"',
        },
    ),
    (
        "null_on_string_is_isempty",
        M365,
        """
        sel:
          Operation: MailItemsAccessed
          ClientAppId: null
        condition: sel
     """,
        {
            "sentinel": OA + '| where Operation =~ "MailItemsAccessed" and isempty(ClientAppId)',
            "splunk": SPL_O365 + ' Operation="MailItemsAccessed" NOT ClientAppId=*',
        },
    ),
    (
        "null_on_int_column_is_isnull",
        M365,
        """
        sel:
          InternalLogonType: null
        condition: sel
     """,
        {
            "sentinel": OA + "| where isnull(InternalLogonType)",
            "splunk": SPL_O365 + " NOT InternalLogonType=*",
        },
    ),
    (
        "exists",
        M365,
        """
        sel:
          Operation: MailItemsAccessed
          ClientAppId|exists: true
        filter:
          AppId|exists: false
        condition: sel and not filter
     """,
        {
            "sentinel": OA + '| where (Operation =~ "MailItemsAccessed" and isnotempty(ClientAppId)) and '
            "(not(isempty(AppId)))",
            "splunk": SPL_O365 + ' Operation="MailItemsAccessed" ClientAppId=* NOT NOT AppId=*',
        },
    ),
    (
        "keywords",
        M365,
        """
        keywords:
          - Set-Mailbox
          - Add-MailboxPermission
        condition: keywords
     """,
        {
            "sentinel": OA + '| where * has "Set-Mailbox" or * has "Add-MailboxPermission"',
            "splunk": SPL_O365 + ' "Set-Mailbox" OR "Add-MailboxPermission"',
        },
    ),
    (
        "dotted_field_never_a_string_literal",
        SIGNIN,
        """
        sel:
          properties.deviceDetail.operatingSystem: Linux
        condition: sel
     """,
        {
            "sentinel": "SigninLogs\n| extend properties_deviceDetail_operatingSystem = "
            "tostring(DeviceDetail.operatingSystem)\n"
            '| where properties_deviceDetail_operatingSystem =~ "Linux"',
            "splunk": SPL_SIGNIN + ' properties.deviceDetail.operatingSystem="Linux"',
        },
    ),
    (
        "name_value_parameters",
        M365,
        """
        sel:
          Operation: New-InboxRule
          Parameters.ForwardTo|contains: '@'
        condition: sel
     """,
        {
            # conjuncts on plain columns filter first, before the mv-apply / eval steps
            "sentinel": OA + '| where Operation =~ "New-InboxRule"\n'
            "| mv-apply __nv = parse_json(Parameters) on (summarize Parameters_bag = "
            "make_bag(bag_pack(tostring(__nv.Name), __nv.Value)))\n"
            '| extend Parameters_ForwardTo = tostring(Parameters_bag["ForwardTo"])\n'
            '| where Parameters_ForwardTo contains "@"',
            "splunk": SPL_O365
            + ' Operation="New-InboxRule"'
            + "\n| eval Parameters_ForwardTo=mvindex('Parameters{}.Value', "
            "mvfind('Parameters{}.Name', \"^ForwardTo$\"))\n"
            '| search Parameters_ForwardTo="*@*"',
        },
    ),
    (
        "prefilter_takes_plain_conjuncts_only",
        M365,
        """
        sel:
          Operation: [New-InboxRule, Set-InboxRule]
        fwd:
          Parameters.ForwardTo|contains: '@'
        other:
          Parameters.RedirectTo|contains: '@'
          UserId: x@y.z
        filter:
          ResultStatus: 'False'
        condition: sel and (fwd or other) and not filter
     """,
        {
            "sentinel": OA + '| where (Operation in~ ("New-InboxRule", "Set-InboxRule")) and '
            '(not(ResultStatus =~ "False"))\n'
            "| mv-apply __nv = parse_json(Parameters) on (summarize Parameters_bag = "
            "make_bag(bag_pack(tostring(__nv.Name), __nv.Value)))\n"
            '| extend Parameters_ForwardTo = tostring(Parameters_bag["ForwardTo"])\n'
            '| extend Parameters_RedirectTo = tostring(Parameters_bag["RedirectTo"])\n'
            '| where (Parameters_ForwardTo contains "@" or '
            '(Parameters_RedirectTo contains "@" and UserId =~ "x@y.z"))',
            "splunk": SPL_O365
            + ' Operation IN ("New-InboxRule", "Set-InboxRule") NOT ResultStatus="False"'
            + "\n| eval Parameters_ForwardTo=mvindex('Parameters{}.Value', "
            "mvfind('Parameters{}.Name', \"^ForwardTo$\"))"
            + "\n| eval Parameters_RedirectTo=mvindex('Parameters{}.Value', "
            "mvfind('Parameters{}.Name', \"^RedirectTo$\"))"
            '\n| search Parameters_ForwardTo="*@*" OR (Parameters_RedirectTo="*@*" UserId="x@y.z")',
        },
    ),
    (
        "name_value_element_with_dots_and_old_value",
        M365,
        """
        sel:
          ModifiedPropertiesOld.ConsentContext.IsAdminConsent: 'False'
        condition: sel
     """,
        {
            "sentinel": OA
            + '| where ModifiedProperties has "False"\n'
            + "| mv-apply __nv = parse_json(ModifiedProperties) on (summarize ModifiedPropertiesOld_bag = "
            "make_bag(bag_pack(tostring(__nv.Name), __nv.OldValue)))\n"
            "| extend ModifiedPropertiesOld_ConsentContext_IsAdminConsent_" + H + " = "
            'tostring(ModifiedPropertiesOld_bag["ConsentContext.IsAdminConsent"])\n'
            "| where ModifiedPropertiesOld_ConsentContext_IsAdminConsent_" + H + ' =~ "False"',
            "splunk": SPL_O365 + " False"
            + "\n| eval ModifiedPropertiesOld_ConsentContext_IsAdminConsent_" + H + "="
            "mvindex('ModifiedProperties{}.OldValue', mvfind('ModifiedProperties{}.Name', "
            '"^ConsentContext\\\\.IsAdminConsent$"))\n'
            "| search ModifiedPropertiesOld_ConsentContext_IsAdminConsent_" + H + '="False"',
        },
    ),
    (
        "one_of_and_not",
        M365,
        """
        sel_rule:
          Operation: New-InboxRule
        sel_fwd:
          Operation: Set-Mailbox
        filter:
          ResultStatus: 'False'
        condition: 1 of sel_* and not filter
     """,
        {
            "sentinel": OA + '| where (Operation in~ ("New-InboxRule", "Set-Mailbox")) and '
            '(not(ResultStatus =~ "False"))',
            "splunk": SPL_O365 + ' Operation IN ("New-InboxRule", "Set-Mailbox") NOT ResultStatus="False"',
        },
    ),
    (
        "all_of",
        M365,
        """
        sel_op:
          Operation: MailItemsAccessed
        sel_client:
          ClientInfoString|startswith: Client=REST
        condition: all of sel_*
     """,
        {
            "sentinel": OA
            + '| where Operation =~ "MailItemsAccessed" and ClientInfoString startswith "Client=REST"',
            "splunk": SPL_O365 + ' Operation="MailItemsAccessed" ClientInfoString="Client=REST*"',
        },
    ),
    (
        "int_names_on_sentinel",
        M365,
        """
        sel:
          RecordType: 50
          LogonType: 0
          UserType: [0, 2]
        condition: sel
     """,
        {
            "sentinel": OA + '| where (RecordType in~ ("ExchangeItemAggregated", "50")) and '
            '(Logon_Type in~ ("Owner", "0")) and (UserType in~ ("Regular", "0", "Admin", "2"))',
            "splunk": SPL_O365 + " RecordType=50 LogonType=0 UserType IN (0, 2)",
        },
    ),
    (
        "bool_on_text_column",
        M365,
        """
        sel:
          ExternalAccess: true
        condition: sel
     """,
        {
            "sentinel": OA + '| where ExternalAccess =~ "true"',
            "splunk": SPL_O365 + " ExternalAccess=true",
        },
    ),
    (
        "bool_on_bool_column_and_number_as_text",
        SIGNIN,
        """
        sel:
          properties.isInteractive: false
          properties.status.errorCode: 0
        condition: sel
     """,
        {
            "sentinel": 'SigninLogs\n| where IsInteractive == false and ResultType =~ "0"',
            "splunk": SPL_SIGNIN + " properties.isInteractive=false properties.status.errorCode=0",
        },
    ),
    (
        "array_any_element",
        M365,
        """
        sel:
          Folders.Path: '\\Inbox'
          Folders.FolderItems.InternetMessageId|startswith: '<abc'
        condition: sel
     """,
        {
            "sentinel": OA + "| mv-apply __e0 = parse_json(Folders) on (summarize Folders_Path_list = "
            "make_list(tostring(__e0.Path)))\n"
            '| extend Folders_Path = strcat("\\n", strcat_array(Folders_Path_list, "\\n"), "\\n")\n'
            "| mv-apply __e0 = parse_json(Folders) on (mv-expand __e1 = __e0.FolderItems | "
            "summarize Folders_FolderItems_InternetMessageId_list = "
            "make_list(tostring(__e1.InternetMessageId)))\n"
            '| extend Folders_FolderItems_InternetMessageId = strcat("\\n", '
            'strcat_array(Folders_FolderItems_InternetMessageId_list, "\\n"), "\\n")\n'
            '| where Folders_Path contains "\\n\\\\Inbox\\n" and '
            'Folders_FolderItems_InternetMessageId contains "\\n<abc"',
            "splunk": SPL_O365
            + ' Folders{}.Path="\\\\Inbox" Folders{}.FolderItems{}.InternetMessageId="<abc*"',
        },
    ),
    (
        "noninteractive_string_device_detail",
        NONINT,
        """
        sel:
          properties.deviceDetail.isCompliant: 'false'
        condition: sel
     """,
        {
            "sentinel": 'AADNonInteractiveUserSignInLogs\n| where DeviceDetail has "false"\n'
            "| extend properties_deviceDetail_isCompliant = "
            "tostring(parse_json(DeviceDetail).isCompliant)\n"
            '| where properties_deviceDetail_isCompliant =~ "false"',
            "splunk": 'index="*" sourcetype="azure:monitor:aad" category="NonInteractiveUserSignInLogs" '
            'properties.deviceDetail.isCompliant="false"',
        },
    ),
]


@pytest.mark.parametrize("target", ["sentinel", "splunk"])
@pytest.mark.parametrize(("name", "logsource", "detection", "expected"), CASES, ids=[c[0] for c in CASES])
def test_construct(
    name: str, logsource: str, detection: str, expected: dict[str, str], target: str, tmp_path: Path
) -> None:
    assert compile_inline(logsource, detection, target, tmp_path) == expected[target]


def test_defender_reads_the_raw_record_and_filters_interactive_sign_ins(tmp_path: Path) -> None:
    q = compile_inline(
        M365,
        """
        sel:
          Operation: MailItemsAccessed
          AppId: 00000002-0000-0ff1-ce00-000000000000
          RecordType: 50
        condition: sel
    """,
        "defender",
        tmp_path,
    )
    assert q == (
        'CloudAppEvents\n| where ActionType =~ "MailItemsAccessed"\n'
        "| extend AppId = tostring(RawEventData.AppId)\n"
        "| extend RecordType = toint(RawEventData.RecordType)\n"
        '| where AppId =~ "00000002-0000-0ff1-ce00-000000000000" and RecordType == 50'
    )
    q = compile_inline(
        SIGNIN,
        """
        sel:
          properties.userPrincipalName|endswith: '@contoso.com'
        condition: sel
    """,
        "defender",
        tmp_path,
    )
    assert q == (
        'EntraIdSignInEvents\n| where LogonType has "interactiveUser"\n'
        '| where AccountUpn endswith "@contoso.com"'
    )


def test_null_on_a_number_is_isnull(tmp_path: Path) -> None:
    q = compile_inline(
        M365,
        """
        sel:
          Operation: MailItemsAccessed
          OperationCount: null
        condition: sel
    """,
        "defender",
        tmp_path,
    )
    assert q == (
        'CloudAppEvents\n| where ActionType =~ "MailItemsAccessed"\n'
        "| extend OperationCount = toint(RawEventData.OperationCount)\n"
        "| where isnull(OperationCount)"
    )


def test_defender_alias_never_overwrites_a_real_column(tmp_path: Path) -> None:
    # CloudAppEvents has its own UserAgent column; the raw record's one gets its own name
    q = compile_inline(
        M365,
        """
        sel:
          UserAgent|contains: python
        condition: sel
    """,
        "defender",
        tmp_path,
    )
    assert q == (
        "CloudAppEvents\n| extend UserAgent_value = tostring(RawEventData.UserAgent)\n"
        '| where UserAgent_value contains "python"'
    )


def test_placeholders_expand_from_values(tmp_path: Path) -> None:
    q = compile_inline(
        M365,
        """
        sel:
          UserId|expand: '%soc_accounts%'
        condition: sel
    """,
        "sentinel",
        tmp_path,
        values={"soc_accounts": ["a@x.com", "b@x.com"]},
    )
    assert q == OA + '| where UserId in~ ("a@x.com", "b@x.com")'
