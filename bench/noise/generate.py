"""A benign month of a small Microsoft 365 tenant, with two labelled intrusions (not a test).

    python bench/noise/generate.py --out bench/data/noise [--users 60] [--days 30] [--seed 558]

Deterministic: the same arguments write the same bytes. Standard library only. Writes

* ``first/`` and ``second/``: the two halves of the month (days ``[0, days//2)`` and the rest),
  each as ``ual.jsonl`` (unified audit log ``AuditData`` objects, one per line, as the
  Management Activity API and ``Search-UnifiedAuditLog`` return them), ``signins.jsonl``
  (Entra sign-ins, interactive and non-interactive, in the diagnostic-settings shape) and
  ``entra_audit.jsonl`` (Entra audit logs, diagnostic-settings shape), each sorted by time;
* ``labels.jsonl``: one line per malicious record ``{"file", "index", "id", "scenario", "step"}``
  (``index`` = 0-based line of the record in ``file``). Labels never appear in the records;
* ``tenant.json``: the tenant (users and their profiles, apps, address pools) and record counts.

The record shapes are copied from real records and Microsoft's documentation (see README.md
"Record shapes"); the people, addresses and GUIDs are made up. Addresses are from the
documentation ranges (RFC 5737, RFC 3849) except Microsoft's service ranges (2603:10b6::/32,
40.126.0.0/18) and, for the forged-token campaign, two addresses Microsoft published for
Storm-0558.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

Record = dict[str, Any]

TENANT_ID = "7c1e3a52-93d4-4f0b-8a6e-0d5b2f61c9a4"
ORG = "tailspintoys.onmicrosoft.com"
DOMAIN = "tailspin-toys.example"
EXO = "00000002-0000-0ff1-ce00-000000000000"  # Office 365 Exchange Online (resource)
GRAPH = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph (resource)
AAD_GRAPH = "00000002-0000-0000-c000-000000000000"
OFFICE = "d3590ed6-52b3-4102-aeff-aad2292ab01c"  # Microsoft Office (classic Outlook, Office apps)
NEW_OUTLOOK = "5d661950-3475-41cd-a2c3-d671a3162bc1"  # Microsoft Outlook (new Outlook for Windows)
OWA = "9199bf20-a13f-4107-85dc-02114787ef48"  # One Outlook Web
OUTLOOK_MOBILE = "27922004-5251-4030-b22d-91ecd9a37ea4"
APPLE_ACCOUNTS = "f8d98a96-0999-43f5-8af3-69971c7bb423"  # iOS Accounts (native Exchange ActiveSync)
SUBSTRATE = "13937bba-652e-4c46-b222-3003f4d1ff97"  # Substrate Context Service (S1)
MS_REST_APP, MS_REST_CLIENT = (
    "8a18aa92-0a1e-4e06-abd0-e118fa4787b1",
    "3c8e478f-21ca-493a-b87c-c7366d664d54",
)  # S2 (Sentinel lab)
EXO_POWERSHELL = "fb78d390-0c51-40cd-8e17-fdbfab77341b"  # Exchange REST API Based PowerShell
AZ_POWERSHELL = "1950a258-227b-4e31-a9cf-717495945fc2"
# the tenant's own sanctioned third-party apps (made-up ids)
CRM_APP = "4f6d2c1e-8b3a-4e57-9c0d-71a2b5e9f3c8"  # delegated Graph mail add-in ("CRM Mail Sync")
BACKUP_APP = "b7e41a90-2d5c-4c63-8f1e-93a6d0c25e17"  # app-only Graph backup ("Mailbox Backup")
# the takeover's malicious app (made up)
EVIL_APP = "e1c0f7d3-6a8b-4d2e-b5f4-0a9c3e7d1b62"
FORGED_CLIENT = "c6a1e2f0-3b9d-4e7a-8f15-2d4b6c8e0a93"  # the "unexpected ClientAppId" of AA23-193A

CLASSIC_UA = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)"
EDGE_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
)
SAFARI_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
# Storm-0558 user agents published by Microsoft (2023-07-14)
STORM_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/92.0.4515.159 Safari/537.36"
)
STORM_IPS = ("146.70.157.45", "185.195.200.39")  # published SoftEther proxies (2023)
REST_SYSTEM = "Client=REST;Client=RESTSystem;;"

FOLDERS = ("\\Inbox", "\\Sent Items", "\\Drafts", "\\Archive", "\\Inbox\\Projects", "\\Deleted Items")


class DesktopReads(NamedTuple):
    """How a desktop mail client's reads of the own mailbox are audited (MailItemsAccessed)."""

    app: str | None
    client: str | None
    cis: str  # the ClientInfoString; {ua}: the browser's user agent
    sync_share: float | None  # the share of Sync reads (else Bind); None: Bind, nothing drawn
    most: int  # the item count is drawn from 1 to most - 1
    legacy: bool = False  # a basic-auth protocol: from home, no token, no session


DESKTOP_MAIL_READS = {
    "classic": DesktopReads(OFFICE, OFFICE, "Client=MSExchangeRPC", 0.35, 12),
    # UNVERIFIED shape (reference C5): Mac Outlook syncs folders with a REST-type client string
    "mac": DesktopReads(OFFICE, OFFICE, "Client=REST;Client=MacOutlook/16.91.24111020;", 0.5, 10),
    "new_outlook": DesktopReads(NEW_OUTLOOK, NEW_OUTLOOK, "Client=OWA;Action=ViaProxy", None, 9),
    "owa": DesktopReads(EXO, OWA, "Client=OWA;{ua};", None, 9),
    "imap": DesktopReads(None, None, "Client=POP3/IMAP4;Protocol=IMAP4", None, 30, legacy=True),
}


# ----------------------------------------------------------------------------- tenant model
@dataclass
class User:
    upn: str
    name: str
    object_id: str
    puid: str
    sid: str
    mailbox_guid: str
    desktop: str  # classic | mac | new_outlook | owa | imap
    phone: str  # outlook_mobile | activesync | none
    home_ip: str
    country: str = "GB"
    admin: bool = False
    roles: set[str] = field(default_factory=set)
    delegate_of: list[str] = field(default_factory=list)  # mailboxes this user reads as delegate
    travel: tuple[int, int] | None = None  # days abroad [start, end)
    vpn: bool = False
    new_phone_day: int | None = None  # the day a new phone syncs the whole mailbox


@dataclass
class Labelled:
    record: Record
    kind: str  # ual | signins | entra_audit
    scenario: str | None = None
    step: str | None = None


class Gen:
    def __init__(self, users: int, days: int, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.start = start
        self.out: list[Labelled] = []
        self.users = self._make_users(users)
        self.by_upn = {u.upn: u for u in self.users}
        self.shared = [self._mailbox(n) for n in ("info", "support", "accounts-payable", "hr-team")]
        self.office_ips = ("198.51.100.10", "198.51.100.11")
        self.vpn_ips = ("192.0.2.40", "192.0.2.41")  # the company's VPN concentrators
        self.carrier_prefixes = ("2001:db8:4a1", "2001:db8:7c3", "2001:db8:91e")

    # ------------------------------------------------------------------ helpers
    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def token_id(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "".join(self.rng.choice(alphabet) for _ in range(20)) + "AA"

    def ts(self, day: int, seconds: float) -> datetime:
        return self.start + timedelta(days=day, seconds=seconds)

    def work_time(self, day: int) -> datetime:
        return self.ts(day, self.rng.uniform(7.5 * 3600, 18.5 * 3600))

    def mobile_ip(self) -> str:
        p = self.rng.choice(self.carrier_prefixes)
        a, b, c = self.rng.randrange(0x10000), self.rng.randrange(0x10000), self.rng.randrange(1, 0xFFFF)
        return f"{p}:{a:x}:{b:x}::{c:x}"

    def ms_ipv6(self) -> str:
        r = self.rng
        a, b, c = r.randrange(0x100, 0xFFF), r.randrange(0x10, 0x3FF), r.randrange(1, 0x30)
        return f"2603:10b6:{a:x}:{b:x}::{c:x}"

    def server(self) -> str:
        r = self.rng
        return (
            f"LO{r.choice('2346')}P{r.randrange(100, 300)}MB{r.randrange(1000, 9999)} "
            f"(15.20.8207.0{r.randrange(10, 40)})"
        )

    def _mailbox(self, alias: str) -> User:
        return User(
            f"{alias}@{DOMAIN}",
            alias,
            self.uid(),
            f"1003{self.rng.getrandbits(48):012X}",
            f"S-1-5-21-{self.rng.randrange(10**9)}-{self.rng.randrange(10**9)}-{self.rng.randrange(10**9)}"
            f"-{self.rng.randrange(10**6)}",
            self.uid(),
            "none",
            "none",
            "",
        )

    def _make_users(self, n: int) -> list[User]:
        first = (
            "ana",
            "ben",
            "chloe",
            "dev",
            "elif",
            "finn",
            "greta",
            "hugo",
            "isla",
            "jonas",
            "kemal",
            "lena",
            "maya",
            "niko",
            "olga",
            "priya",
            "quinn",
            "rafa",
            "sara",
            "tomas",
            "uma",
            "vik",
            "wen",
            "xavi",
            "yara",
            "zoe",
        )
        last = (
            "ahn",
            "berg",
            "costa",
            "diaz",
            "ek",
            "fox",
            "gray",
            "hale",
            "ito",
            "jain",
            "koch",
            "lund",
            "moss",
            "nair",
            "orr",
            "park",
            "quist",
            "rossi",
            "shaw",
            "tan",
            "ueda",
            "voss",
            "ward",
            "yilmaz",
            "zeller",
        )
        desktops = ["classic"] * 35 + ["mac"] * 10 + ["new_outlook"] * 15 + ["owa"] * 33 + ["imap"] * 7
        users: list[User] = []
        seen: set[str] = set()
        for i in range(n):
            while True:
                f, la = self.rng.choice(first), self.rng.choice(last)
                if f"{f}.{la}" not in seen:
                    seen.add(f"{f}.{la}")
                    break
            desktop = self.rng.choice(desktops)
            phone = self.rng.choices(("outlook_mobile", "activesync", "none"), (55, 12, 33))[0]
            home = (
                f"203.0.113.{self.rng.randrange(1, 255)}"
                if i % 2
                else f"198.51.100.{self.rng.randrange(20, 255)}"
            )
            u = self._mailbox(f"{f}.{la}")
            users.append(
                User(
                    u.upn,
                    f"{f.title()} {la.title()}",
                    u.object_id,
                    u.puid,
                    u.sid,
                    u.mailbox_guid,
                    desktop,
                    phone,
                    home,
                )
            )
        roles = [
            "admin",
            "admin",
            "ediscovery",
            "soc",
            "soc",
            "exec",
            "exec",
            "exec",
            "assistant",
            "assistant",
            "traveller",
            "traveller",
            "traveller",
            "traveller",
            "vpn",
            "vpn",
            "vpn",
            "scanner_owner",
        ]
        for u, r in zip(users, roles, strict=False):
            u.roles.add(r)
            if r in ("admin", "soc", "ediscovery"):
                u.admin = r == "admin"
                u.desktop = "classic"
            if r == "traveller":  # trips spread over the month: each half has some
                k = sum(1 for x in users if x.travel)
                s = 2 + k * (self.days - 8) // 4 + self.rng.randrange(0, 3)
                u.travel = (s, s + self.rng.randrange(3, 6))
                u.roles.add("risky_trip" if k % 2 else "trip")
            if r == "vpn":
                u.vpn = True
        mobile = [u for u in users if u.phone == "outlook_mobile"]
        phones = max(2, n // 15)
        for k, u in enumerate(self.rng.sample(mobile, min(len(mobile), phones))):
            u.new_phone_day = (k * self.days) // phones + self.rng.randrange(0, 3)
        execs = [u.upn for u in users if "exec" in u.roles]
        for a, e in zip((u for u in users if "assistant" in u.roles), execs, strict=False):
            a.delegate_of.append(e)
        return users

    def emit(
        self, rec: Record, kind: str = "ual", scenario: str | None = None, step: str | None = None
    ) -> None:
        self.out.append(Labelled(rec, kind, scenario, step))

    # ------------------------------------------------------------------ UAL records
    def ual_common(
        self,
        t: datetime,
        op: str,
        rt: int,
        user: str,
        workload: str = "Exchange",
        user_type: int = 0,
        result: str = "Succeeded",
        user_key: str | None = None,
    ) -> Record:
        return {
            "CreationTime": t.strftime("%Y-%m-%dT%H:%M:%S"),
            "Id": self.uid(),
            "Operation": op,
            "OrganizationId": TENANT_ID,
            "RecordType": rt,
            "ResultStatus": result,
            "UserKey": user_key or (self.by_upn[user].puid if user in self.by_upn else user),
            "UserType": user_type,
            "Version": 1,
            "Workload": workload,
            "UserId": user,
        }

    def mail_read(
        self,
        t: datetime,
        reader: User,
        owner: User,
        *,
        app: str | None,
        client: str | None,
        cis: str,
        ip: str,
        access: str = "Bind",
        logon: int = 0,
        user_type: int = 0,
        count: int = 1,
        token: bool = True,
        session: bool = True,
        folder: str | None = None,
        api: str | None = None,
    ) -> Record:
        r = self.ual_common(
            t,
            "MailItemsAccessed",
            50,
            owner.upn if user_type == 5 else reader.upn,
            user_type=user_type,
            user_key=(client if user_type == 5 else None),
        )
        if app is not None:
            r["AppId"] = app
        if client is not None:
            r["ClientAppId"] = client
        r.update(
            {
                "ClientIPAddress": ip,
                "ClientInfoString": cis,
                "ExternalAccess": False,
                "InternalLogonType": 0,
                "LogonType": logon,
                "LogonUserSid": reader.sid if user_type != 5 else owner.sid,
                "MailboxGuid": owner.mailbox_guid,
                "MailboxOwnerSid": owner.sid,
                "MailboxOwnerUPN": owner.upn,
                "OperationProperties": [
                    {"Name": "MailAccessType", "Value": access},
                    {"Name": "IsThrottled", "Value": "False"},
                ],
                "OrganizationName": ORG,
                "OriginatingServer": self.server() + "\r\n",
            }
        )
        if session:
            r["SessionId"] = self.uid()
        ctx: Record = {}
        if token:
            ctx["UniqueTokenId"] = self.token_id()
            ctx["IssuedAtTime"] = (t - timedelta(minutes=self.rng.randrange(1, 50))).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
            if user_type != 5:
                ctx["AADSessionId"] = self.uid()
            if client:
                ctx["ClientAppId"] = client
            if api:
                ctx["APIId"] = api
        if ctx:
            r["AppAccessContext"] = ctx
        path = folder or self.rng.choice(FOLDERS[:5])
        if access == "Sync":
            r["Item"] = {
                "ParentFolder": {
                    "Id": "LgAAAA" + self.token_id(),
                    "Path": path,
                    "Name": path.rsplit("\\", 1)[-1],
                }
            }
        else:
            r["Folders"] = [
                {
                    "FolderItems": [
                        {
                            "InternetMessageId": f"<{self.token_id()}@{DOMAIN}>",
                            "SizeInBytes": self.rng.randrange(4000, 900000),
                        }
                        for _ in range(min(count, 5))
                    ],
                    "Id": "LgAAAA" + self.token_id(),
                    "Path": path,
                }
            ]
        r["OperationCount"] = count
        return r

    def sts_logon(
        self, t: datetime, user: User, ip: str, ok: bool, request: str, ua: str, app: str, error: int = 0
    ) -> Record:
        r = self.ual_common(
            t,
            "UserLoggedIn" if ok else "UserLoginFailed",
            15,
            user.upn,
            workload="AzureActiveDirectory",
            result="Success" if ok else "Failed",
            user_key=user.object_id,
        )
        r.update(
            {
                "ClientIP": ip,
                "ObjectId": EXO,
                "AzureActiveDirectoryEventType": 1,
                "ExtendedProperties": [
                    {"Name": "ResultStatusDetail", "Value": "Success" if ok else "UserError"},
                    {"Name": "UserAgent", "Value": ua},
                    {"Name": "RequestType", "Value": request},
                ],
                "ModifiedProperties": [],
                "Actor": [{"ID": user.object_id, "Type": 0}, {"ID": user.upn, "Type": 5}],
                "ActorContextId": TENANT_ID,
                "ActorIpAddress": ip,
                "InterSystemsId": self.uid(),
                "IntraSystemId": self.uid(),
                "SupportTicketId": "",
                "Target": [{"ID": EXO, "Type": 0}],
                "TargetContextId": TENANT_ID,
                "ApplicationId": app,
                "ErrorNumber": str(error),
            }
        )
        if not ok:
            r["LogonError"] = "InvalidUserNameOrPassword" if error == 50126 else "IdsLocked"
        return r

    def cmdlet(
        self,
        t: datetime,
        actor: User | str,
        op: str,
        params: dict[str, str],
        ip: str,
        app: str = EXO_POWERSHELL,
        result: str = "True",
        object_id: str = "",
    ) -> Record:
        upn = actor.upn if isinstance(actor, User) else actor
        r = self.ual_common(
            t, op, 1, upn, user_type=2 if isinstance(actor, User) and actor.admin else 0, result=result
        )
        r.update(
            {
                "ClientIP": f"{ip}:{self.rng.randrange(1024, 65535)}" if ":" not in ip else f"[{ip}]:443",
                "ObjectId": object_id or params.get("Identity", upn),
                "AppId": app,
                "ClientAppId": "",
                "ExternalAccess": False,
                "OrganizationName": ORG,
                "OriginatingServer": self.server(),
                "Parameters": [{"Name": k, "Value": v} for k, v in params.items()],
                "SessionId": self.uid(),
                "RequestId": self.uid(),
            }
        )
        return r

    def item_op(
        self,
        t: datetime,
        user: User,
        op: str,
        cis: str,
        ip: str,
        items: int,
        app: str | None,
        client: str | None = None,
        dest: str = "\\Deleted Items",
    ) -> Record:
        r = self.ual_common(t, op, 2 if op == "HardDelete" else 3, user.upn)
        if app:
            r["AppId"] = app
        if client:
            r["ClientAppId"] = client
        r.update(
            {
                "ClientIP": ip,
                "ClientIPAddress": ip,
                "ClientInfoString": cis,
                "ExternalAccess": False,
                "InternalLogonType": 0,
                "LogonType": 0,
                "LogonUserSid": user.sid,
                "MailboxGuid": user.mailbox_guid,
                "MailboxOwnerSid": user.sid,
                "MailboxOwnerUPN": user.upn,
                "OrganizationName": ORG,
                "OriginatingServer": self.server(),
                "Folder": {"Id": "LgAAAA" + self.token_id(), "Path": "\\Inbox"},
                "AffectedItems": [
                    {
                        "Id": "RgAAAA" + self.token_id(),
                        "InternetMessageId": f"<{self.token_id()}@{DOMAIN}>",
                        "ParentFolder": {"Path": "\\Inbox"},
                        "Subject": "(subject)",
                    }
                    for _ in range(items)
                ],
            }
        )
        if op != "HardDelete":
            r["DestFolder"] = {"Id": "LgAAAA" + self.token_id(), "Path": dest}
        return r

    # ------------------------------------------------------------------ Entra records
    def signin(
        self,
        t: datetime,
        user: User,
        *,
        ip: str,
        app: str,
        app_name: str,
        ua: str,
        interactive: bool,
        error: int = 0,
        protocol: str = "",
        client_app: str = "Browser",
        resource: str = EXO,
        country: str = "GB",
        risk: list[str] | None = None,
    ) -> Record:
        rid = self.uid()
        props: Record = {
            "id": rid,
            "createdDateTime": t.strftime("%Y-%m-%dT%H:%M:%S.0000000+00:00"),
            "userDisplayName": user.name,
            "userPrincipalName": user.upn,
            "userId": user.object_id,
            "userType": "Member",
            "appId": app,
            "appDisplayName": app_name,
            "ipAddress": ip,
            "status": {"errorCode": error}
            | (
                {"failureReason": "Error validating credentials due to invalid username or password."}
                if error
                else {}
            ),
            "clientAppUsed": client_app,
            "userAgent": ua,
            "conditionalAccessStatus": "success" if not error else "notApplied",
            "originalRequestId": rid,
            "isInteractive": interactive,
            "tokenIssuerType": "AzureAD",
            "authenticationRequirement": "multiFactorAuthentication"
            if interactive and not protocol
            else "singleFactorAuthentication",
            "riskDetail": "none",
            "riskLevelAggregated": "none",
            "riskLevelDuringSignIn": "none",
            "riskState": "none",
            "riskEventTypes": list(risk or []),
            "riskEventTypes_v2": list(risk or []),
            "resourceDisplayName": {EXO: "Office 365 Exchange Online", GRAPH: "Microsoft Graph"}.get(
                resource, "Windows Azure Active Directory"
            ),
            "resourceId": resource,
            "resourceTenantId": TENANT_ID,
            "homeTenantId": TENANT_ID,
            "deviceDetail": {
                "deviceId": "",
                "operatingSystem": "Windows10" if "Windows" in ua else "Ios" if "iOS" in ua else "MacOs",
                "browser": "",
            },
            "location": {"city": "", "state": "", "countryOrRegion": country},
            "networkLocationDetails": [],
            "uniqueTokenIdentifier": self.token_id(),
            "sessionId": self.uid(),
            "correlationId": self.uid(),
        }
        if protocol:
            props["authenticationProtocol"] = protocol
        return {
            "time": t.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "resourceId": f"/tenants/{TENANT_ID}/providers/Microsoft.aadiam",
            "operationName": "Sign-in activity",
            "operationVersion": "1.0",
            "category": "SignInLogs" if interactive else "NonInteractiveUserSignInLogs",
            "tenantId": TENANT_ID,
            "resultType": str(error),
            "resultSignature": "None",
            "resultDescription": props["status"].get("failureReason", ""),
            "durationMs": 0,
            "callerIpAddress": ip,
            "correlationId": props["correlationId"],
            "identity": user.name,
            "Level": 4,
            "location": country,
            "properties": props,
        }

    def entra_audit(
        self,
        t: datetime,
        actor: User,
        op: str,
        category: str,
        op_type: str,
        target: tuple[str, str, str],
        modified: list[tuple[str, str | None, str]],
        details: list[tuple[str, str]] | None = None,
    ) -> Record:
        cid = self.uid()
        return {
            "time": t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "resourceId": f"/tenants/{TENANT_ID}/providers/Microsoft.aadiam",
            "operationName": op,
            "operationVersion": "1.0",
            "category": "AuditLogs",
            "tenantId": TENANT_ID,
            "resultSignature": "None",
            "durationMs": 0,
            "correlationId": cid,
            "Level": 4,
            "properties": {
                "id": f"Directory_{cid}_{self.token_id()[:5].upper()}_{self.rng.randrange(10**8)}",
                "category": category,
                "correlationId": cid,
                "result": "success",
                "resultReason": "",
                "activityDisplayName": op,
                "activityDateTime": t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "loggedByService": "Core Directory",
                "operationType": op_type,
                "initiatedBy": {
                    "user": {
                        "id": actor.object_id,
                        "displayName": None,
                        "userPrincipalName": actor.upn,
                        "ipAddress": None,
                        "roles": [],
                    }
                },
                "targetResources": [
                    {
                        "id": target[0],
                        "displayName": target[1],
                        "type": target[2],
                        "modifiedProperties": [
                            {"displayName": n, "oldValue": o, "newValue": v} for n, o, v in modified
                        ],
                    }
                ],
                "additionalDetails": [{"key": k, "value": v} for k, v in (details or [])],
            },
        }

    # ------------------------------------------------------------------ the benign month
    def day_is_workday(self, day: int) -> bool:
        return (self.start + timedelta(days=day)).weekday() < 5

    def user_ip(self, u: User, day: int, t: datetime) -> tuple[str, str]:
        """(address, country) of a user's computer at time t."""
        if u.travel and u.travel[0] <= day < u.travel[1]:
            return (
                f"192.0.2.{100 + (sum(map(ord, u.upn)) + day) % 50}"
                if not u.vpn
                else self.rng.choice(self.vpn_ips),
                self.rng.choice(("US", "SG", "DE")) if not u.vpn else "GB",
            )
        if u.vpn and self.rng.random() < 0.5:
            return self.rng.choice(self.vpn_ips), "GB"
        if self.day_is_workday(day) and 8 <= t.hour < 17 and self.rng.random() < 0.7:
            return self.rng.choice(self.office_ips), "GB"
        return u.home_ip, "GB"

    def desktop_reads(self, u: User, day: int) -> None:
        n = self.rng.randrange(6, 16) if self.day_is_workday(day) else self.rng.randrange(0, 3)
        t0 = self.work_time(day)
        ip, country = self.user_ip(u, day, t0)
        if u.desktop in ("owa", "new_outlook", "classic", "mac"):
            app_name = {
                "classic": "Microsoft Office",
                "mac": "Microsoft Office",
                "new_outlook": "Microsoft Outlook",
                "owa": "One Outlook Web",
            }[u.desktop]
            app = {"classic": OFFICE, "mac": OFFICE, "new_outlook": NEW_OUTLOOK, "owa": OWA}[u.desktop]
            ua = {
                "classic": CLASSIC_UA,
                "mac": "Microsoft Outlook/16.91 (Macintosh; Mac OS X 15.1)",
                "new_outlook": EDGE_UA,
                "owa": EDGE_UA if u.upn < "m" else SAFARI_UA,
            }[u.desktop]
            if n:
                self.emit(
                    self.signin(
                        t0,
                        u,
                        ip=ip,
                        app=app,
                        app_name=app_name,
                        ua=ua,
                        interactive=True,
                        client_app="Browser" if u.desktop == "owa" else "Mobile Apps and Desktop clients",
                        country=country,
                    ),
                    "signins",
                )
                self.emit(
                    self.sts_logon(
                        t0, u, ip, True, "OAuth2:Authorize" if u.desktop == "owa" else "OAuth2:Token", ua, app
                    )
                )
                for k in range(self.rng.randrange(2, 8)):
                    self.emit(
                        self.signin(
                            t0 + timedelta(minutes=50 * (k + 1)),
                            u,
                            ip=ip,
                            app=app,
                            app_name=app_name,
                            ua=ua,
                            interactive=False,
                            client_app="Mobile Apps and Desktop clients",
                            country=country,
                        ),
                        "signins",
                    )
        reads = DESKTOP_MAIL_READS.get(u.desktop)
        for _ in range(n):
            t = t0 + timedelta(seconds=self.rng.uniform(0, 8 * 3600))
            if reads is None:
                continue
            access = "Bind"
            if reads.sync_share is not None:
                access = "Sync" if self.rng.random() < reads.sync_share else "Bind"
            self.emit(
                self.mail_read(
                    t,
                    u,
                    u,
                    app=reads.app,
                    client=reads.client,
                    cis=reads.cis.format(ua=EDGE_UA if u.upn < "m" else SAFARI_UA),
                    ip=u.home_ip if reads.legacy else ip,
                    access=access,
                    token=not reads.legacy,
                    session=not reads.legacy,
                    count=self.rng.randrange(1, reads.most),
                )
            )
        if u.desktop == "imap" and n:
            self.emit(
                self.signin(
                    t0,
                    u,
                    ip=u.home_ip,
                    app="00000002-0000-0ff1-ce00-000000000000",
                    app_name="Office 365 Exchange Online",
                    ua="Thunderbird/128.5",
                    interactive=False,
                    client_app="IMAP4",
                ),
                "signins",
            )

    def phone_reads(self, u: User, day: int) -> None:
        if u.phone == "none":
            return
        n = self.rng.randrange(4, 14)
        for _ in range(n):
            t = self.ts(day, self.rng.uniform(6.5 * 3600, 23 * 3600))
            ip = self.mobile_ip() if self.rng.random() < 0.8 else u.home_ip  # carrier churn / home wifi
            if u.travel and u.travel[0] <= day < u.travel[1]:
                ip = f"192.0.2.{150 + self.rng.randrange(60)}"
            if u.phone == "outlook_mobile":
                os_ = "iOS" if self.rng.random() < 0.6 else "Android"
                self.emit(
                    self.mail_read(
                        t,
                        u,
                        u,
                        app=None,
                        client=OUTLOOK_MOBILE,
                        cis=f"Client=OutlookService;Outlook-{os_}/2.0;",
                        ip=ip,
                        count=self.rng.randrange(1, 6),
                    )
                )
                if self.rng.random() < 0.3:
                    self.emit(
                        self.signin(
                            t,
                            u,
                            ip=ip,
                            app=OUTLOOK_MOBILE,
                            app_name="Microsoft Outlook",
                            ua=f"Outlook-{os_}/2.0",
                            interactive=False,
                            client_app="Mobile Apps and Desktop clients",
                        ),
                        "signins",
                    )
            else:
                self.emit(
                    self.mail_read(
                        t,
                        u,
                        u,
                        app=None,
                        client=APPLE_ACCOUNTS,
                        cis="Client=ActiveSync;UserAgent=Apple-iPhone15C2/2201.305;Version=160;"
                        "Action=/Microsoft-Server-ActiveSync/Proxy/default.eas?Cmd=Sync",
                        ip=ip,
                        count=self.rng.randrange(1, 6),
                    )
                )
                if self.rng.random() < 0.25:
                    self.emit(
                        self.signin(
                            t,
                            u,
                            ip=ip,
                            app=APPLE_ACCOUNTS,
                            app_name="iOS Accounts",
                            ua="Apple-iPhone15C2/2201.305",
                            interactive=False,
                            client_app="Exchange ActiveSync",
                        ),
                        "signins",
                    )

    def services(self, u: User, day: int) -> None:
        """Microsoft background services and the sanctioned apps reading a mailbox."""
        for _ in range(self.rng.randrange(1, 5)):  # Substrate after sends (S1)
            self.emit(
                self.mail_read(
                    self.work_time(day),
                    u,
                    u,
                    app=SUBSTRATE,
                    client=SUBSTRATE,
                    cis=REST_SYSTEM,
                    ip=self.ms_ipv6(),
                    token=False,
                    session=False,
                    folder="\\Sent Items",
                )
            )
        if self.rng.random() < 0.35:  # the unidentified Microsoft REST system service (S2)
            self.emit(
                self.mail_read(
                    self.work_time(day),
                    u,
                    u,
                    app=MS_REST_APP,
                    client=MS_REST_CLIENT,
                    cis=REST_SYSTEM,
                    ip=self.ms_ipv6(),
                    token=False,
                    session=False,
                )
            )
        if "crm" in u.roles and self.day_is_workday(day):  # delegated Graph add-in
            for _ in range(self.rng.randrange(2, 6)):
                self.emit(
                    self.mail_read(
                        self.work_time(day),
                        u,
                        u,
                        app=GRAPH,
                        client=CRM_APP,
                        cis="Client=REST;;",
                        ip=f"40.126.{self.rng.randrange(0, 63)}.{self.rng.randrange(1, 255)}",
                        api=GRAPH,
                    )
                )
        # nightly app-only backup of every mailbox, 01:00-03:00
        t = self.ts(day, 3600 + self.rng.uniform(0, 7200))
        self.emit(
            self.mail_read(
                t,
                u,
                u,
                app=BACKUP_APP,
                client=BACKUP_APP,
                cis=REST_SYSTEM,
                ip=f"40.126.{self.rng.randrange(0, 63)}.{self.rng.randrange(1, 255)}",
                user_type=5,
                session=False,
                api=GRAPH,
                count=self.rng.randrange(5, 60),
            )
        )

    def user_housekeeping(self, u: User, day: int) -> None:
        """Deleting and moving mail, occasional wrong passwords, own inbox rules."""
        if not self.day_is_workday(day):
            return
        cis = {
            "classic": "Client=MSExchangeRPC",
            "owa": f"Client=OWA;{EDGE_UA};",
            "new_outlook": "Client=OWA;Action=ViaProxy",
        }.get(u.desktop)
        app = {"classic": OFFICE, "owa": EXO, "new_outlook": NEW_OUTLOOK}.get(u.desktop)
        ip, _ = self.user_ip(u, day, self.work_time(day))
        if cis:
            for _ in range(self.rng.randrange(0, 6)):
                self.emit(
                    self.item_op(
                        self.work_time(day),
                        u,
                        self.rng.choice(("MoveToDeletedItems", "SoftDelete", "Move")),
                        cis,
                        ip,
                        self.rng.randrange(1, 8),
                        app,
                        dest=self.rng.choice(("\\Deleted Items", "\\Archive")),
                    )
                )
            if self.rng.random() < 0.02:  # a clean-up: a burst of deletions in a few minutes
                t = self.work_time(day)
                for k in range(self.rng.randrange(15, 45)):
                    self.emit(
                        self.item_op(
                            t + timedelta(seconds=9 * k),
                            u,
                            "MoveToDeletedItems",
                            cis,
                            ip,
                            self.rng.randrange(1, 25),
                            app,
                        )
                    )
        if self.rng.random() < 0.012:  # mistyped password, then success
            t = self.work_time(day)
            for k in range(self.rng.randrange(1, 3)):
                self.emit(
                    self.signin(
                        t + timedelta(seconds=20 * k),
                        u,
                        ip=ip,
                        app=OFFICE,
                        app_name="Microsoft Office",
                        ua=CLASSIC_UA,
                        interactive=True,
                        error=50126,
                        client_app="Mobile Apps and Desktop clients",
                    ),
                    "signins",
                )
                self.emit(
                    self.sts_logon(
                        t + timedelta(seconds=20 * k),
                        u,
                        ip,
                        False,
                        "Login:login",
                        EDGE_UA,
                        OFFICE,
                        error=50126,
                    )
                )
        if self.rng.random() < 0.004:  # a user's own filing rule
            t = self.work_time(day)
            name = self.rng.choice(("Newsletters", "Jira notifications", "Receipts"))
            params = {
                "Name": name,
                "From": f"noreply@{self.rng.choice(('vendor-news.example', 'jira.example'))}",
                "MoveToFolder": f"{u.upn}\\Archive" if name != "Receipts" else f"{u.upn}\\Receipts",
                "StopProcessingRules": "False",
            }
            if name == "Newsletters":
                params["SubjectContainsWords"] = "newsletter"
            self.emit(self.cmdlet(t, u, "New-InboxRule", params, ip, app=EXO, object_id=f"{u.upn}\\{name}"))

    def delegates(self, day: int) -> None:
        if not self.day_is_workday(day):
            return
        members = [u for u in self.users if "soc" not in u.roles][: max(8, len(self.users) // 5)]
        for i, box in enumerate(self.shared):
            for u in members[i :: len(self.shared)]:
                for _ in range(self.rng.randrange(1, 5)):
                    t = self.work_time(day)
                    ip, _ = self.user_ip(u, day, t)
                    self.emit(
                        self.mail_read(
                            t,
                            u,
                            box,
                            app=OFFICE,
                            client=OFFICE,
                            cis="Client=MSExchangeRPC",
                            ip=ip,
                            logon=2,
                            count=self.rng.randrange(1, 6),
                        )
                    )
        for a in self.users:
            for e in a.delegate_of:
                for _ in range(self.rng.randrange(2, 8)):
                    t = self.work_time(day)
                    ip, _ = self.user_ip(a, day, t)
                    self.emit(
                        self.mail_read(
                            t,
                            a,
                            self.by_upn[e],
                            app=OFFICE,
                            client=OFFICE,
                            cis="Client=MSExchangeRPC",
                            ip=ip,
                            logon=2,
                            count=self.rng.randrange(1, 4),
                        )
                    )

    def admin_work(self, day: int) -> None:
        admins = [u for u in self.users if "admin" in u.roles]
        soc = [u for u in self.users if "soc" in u.roles]
        edisc = [u for u in self.users if "ediscovery" in u.roles]
        if not self.day_is_workday(day) or not admins:
            return
        a = self.rng.choice(admins)
        ip = self.office_ips[0]
        t = self.work_time(day)
        r = self.rng.random()
        target = self.rng.choice(self.users)
        if r < 0.25:  # new starter / shared mailbox permission
            box = self.rng.choice(self.shared)
            self.emit(
                self.cmdlet(
                    t,
                    a,
                    "Add-MailboxPermission",
                    {
                        "Identity": box.upn,
                        "User": target.upn,
                        "AccessRights": "FullAccess",
                        "InheritanceType": "All",
                    },
                    ip,
                )
            )
        elif r < 0.35:  # leaver: forward to the manager (internal)
            boss = self.rng.choice(self.users)
            self.emit(
                self.cmdlet(
                    t,
                    a,
                    "Set-Mailbox",
                    {
                        "Identity": target.upn,
                        # by UPN from a script, by display name from the admin center (the real
                        # blueteam0ps record carries "Henrietta Mueller")
                        "ForwardingAddress": self.rng.choice([boss.upn, boss.name]),
                        "DeliverToMailboxAndForward": "True",
                    },
                    ip,
                )
            )
        elif r < 0.45:  # out-of-office cover rule to a colleague (internal)
            self.emit(
                self.cmdlet(
                    t,
                    a,
                    "New-InboxRule",
                    {
                        "Mailbox": target.upn,
                        "Name": "Cover while away",
                        "ForwardTo": self.rng.choice(self.users).upn,
                        "StopProcessingRules": "False",
                    },
                    ip,
                    object_id=f"{target.upn}\\Cover while away",
                )
            )
        elif r < 0.55:  # calendar sharing for an assistant
            self.emit(
                self.cmdlet(
                    t,
                    a,
                    "Add-MailboxFolderPermission",
                    {
                        "Identity": f"{target.upn}:\\Calendar",
                        "User": self.rng.choice(self.users).upn,
                        "AccessRights": "Editor",
                    },
                    ip,
                )
            )
        elif r < 0.6:  # the IMAP user's mailbox
            imap = [u for u in self.users if u.desktop == "imap"] or [target]
            self.emit(
                self.cmdlet(
                    t, a, "Set-CASMailbox", {"Identity": self.rng.choice(imap).upn, "ImapEnabled": "True"}, ip
                )
            )
        elif r < 0.7:  # send on behalf for a shared mailbox
            box = self.rng.choice(self.shared)
            self.emit(
                self.cmdlet(t, a, "Set-Mailbox", {"Identity": box.upn, "GrantSendOnBehalfTo": target.upn}, ip)
            )
        elif r < 0.75:  # rotate the backup app's secret (routine, every few weeks)
            self.emit(
                self.entra_audit(
                    t,
                    a,
                    "Update application – Certificates and secrets management ",
                    "ApplicationManagement",
                    "Update",
                    (self.uid(), "Mailbox Backup", "Application"),
                    [
                        (
                            "KeyDescription",
                            "[]",
                            '["[KeyIdentifier='
                            + self.uid()
                            + ',KeyType=Password,KeyUsage=Verify,DisplayName=rotation]"]',
                        )
                    ],
                    [("AppId", BACKUP_APP)],
                ),
                "entra_audit",
            )
        if soc and self.rng.random() < 0.3:  # SOC reviews a reported phish, then purges it
            s = self.rng.choice(soc)
            t2 = self.work_time(day)
            self.emit(
                self.cmdlet(t2, s, "AdminMailAccess", {"Identity": target.upn}, self.office_ips[1], app=EXO)
            )
            if edisc:
                e = self.rng.choice(edisc)
                rec = self.ual_common(
                    t2 + timedelta(minutes=10),
                    "SearchCreated",
                    18,
                    e.upn,
                    workload="SecurityComplianceCenter",
                    result="Succeeded",
                )
                rec.update(
                    {"ClientIP": self.office_ips[1], "ObjectId": f"Phish-{day}", "Query": 'subject:"Invoice"'}
                )
                self.emit(rec)
        if soc and self.rng.random() < 0.08:  # incident-response clean-up of a user's mailbox
            s = self.rng.choice(soc)
            t3 = self.work_time(day)
            self.emit(
                self.cmdlet(
                    t3,
                    s,
                    "Set-Mailbox",
                    {"Identity": target.upn, "ForwardingSmtpAddress": ""},
                    self.office_ips[1],
                )
            )
            self.emit(
                self.cmdlet(
                    t3 + timedelta(seconds=40),
                    s,
                    "Remove-InboxRule",
                    {"Identity": f"{target.upn}\\fwd", "Confirm": "False"},
                    self.office_ips[1],
                )
            )
            self.emit(
                self.cmdlet(
                    t3 + timedelta(seconds=90),
                    s,
                    "Set-Mailbox",
                    {"Identity": target.upn, "AuditEnabled": "True", "AuditLogAgeLimit": "180.00:00:00"},
                    self.office_ips[1],
                )
            )

    def scanner(self, day: int) -> None:
        """The office scanner's scan-to-mail account (ROPC); after the quarterly password change
        it fails until an admin updates it."""
        owner = next((u for u in self.users if "scanner_owner" in u.roles), None)
        if owner is None or not self.day_is_workday(day):
            return
        acct = self.by_upn.setdefault("scanner@" + DOMAIN, self._mailbox("scanner"))
        for k in range(self.rng.randrange(2, 6)):
            t = self.work_time(day) + timedelta(seconds=k)
            fail = day == self.days // 2 + 3 and t.hour < 12
            self.emit(
                self.signin(
                    t,
                    acct,
                    ip=self.office_ips[0],
                    app=EXO,
                    app_name="Office 365 Exchange Online",
                    ua="",
                    interactive=True,
                    error=50126 if fail else 0,
                    protocol="ropc",
                    client_app="Authenticated SMTP",
                ),
                "signins",
            )

    def life_events(self, u: User, day: int) -> None:
        """A new phone's first sync (large Bind aggregates, reference F6: binds of 2 minutes are
        aggregated into OperationCount), and Entra ID Protection detections on a traveller's
        first day abroad (unfamiliar sign-in properties; now and then an anomalous token)."""
        if u.phone == "outlook_mobile" and day == u.new_phone_day:
            t = self.ts(day, self.rng.uniform(8 * 3600, 21 * 3600))
            ip = self.mobile_ip()
            self.emit(
                self.signin(
                    t,
                    u,
                    ip=ip,
                    app=OUTLOOK_MOBILE,
                    app_name="Microsoft Outlook",
                    ua="Outlook-iOS/2.0",
                    interactive=True,
                    client_app="Mobile Apps and Desktop clients",
                ),
                "signins",
            )
            for k in range(self.rng.randrange(6, 15)):
                self.emit(
                    self.mail_read(
                        t + timedelta(minutes=2 * k + 1),
                        u,
                        u,
                        app=None,
                        client=OUTLOOK_MOBILE,
                        cis="Client=OutlookService;Outlook-iOS/2.0;",
                        ip=ip,
                        count=self.rng.randrange(100, 400),
                        folder="\\Inbox",
                    )
                )
        if u.travel and day == u.travel[0]:
            t = self.ts(day, self.rng.uniform(7 * 3600, 10 * 3600))
            ip = f"192.0.2.{100 + (sum(map(ord, u.upn)) + day) % 50}"
            self.emit(
                self.signin(
                    t,
                    u,
                    ip=ip,
                    app=OFFICE,
                    app_name="Microsoft Office",
                    ua=CLASSIC_UA,
                    interactive=True,
                    client_app="Mobile Apps and Desktop clients",
                    country="US",
                    risk=["unfamiliarFeatures"],
                ),
                "signins",
            )
            if "risky_trip" in u.roles:
                self.emit(
                    self.signin(
                        t + timedelta(hours=3),
                        u,
                        ip=ip,
                        app=OFFICE,
                        app_name="Microsoft Office",
                        ua=CLASSIC_UA,
                        interactive=False,
                        client_app="Mobile Apps and Desktop clients",
                        country="US",
                        risk=["anomalousToken"],
                    ),
                    "signins",
                )

    def benign_month(self) -> None:
        for u in self.users[:4]:
            u.roles.add("crm")
        for day in range(self.days):
            for u in self.users:
                self.desktop_reads(u, day)
                self.phone_reads(u, day)
                self.services(u, day)
                self.user_housekeeping(u, day)
                self.life_events(u, day)
            self.delegates(day)
            self.admin_work(day)
            self.scanner(day)

    # ------------------------------------------------------------------ the intrusions
    def forged_token_campaign(self, first_day: int) -> None:
        """Storm-0558 style: forged tokens presented as OWA, Exchange Store reads over REST from
        rented infrastructure, no sign-in, no Entra token id; a few OWA token requests."""
        s = "forged_token"
        execs = [u for u in self.users if "exec" in u.roles] or self.users[:3]
        infra = [*STORM_IPS, "192.0.2.201", "192.0.2.202", "192.0.2.203"]
        for d in range(first_day, min(first_day + 6, self.days)):
            for u in execs:
                ip = self.rng.choice(infra)
                t = self.ts(d, self.rng.uniform(0, 6 * 3600))  # night-time in the tenant
                for k in range(self.rng.randrange(2, 5)):
                    rec = self.ual_common(
                        t + timedelta(seconds=k * 30), "OwaGetAccessTokenForResource", 275, u.upn
                    )
                    rec.update(
                        {
                            "ClientIP": ip,
                            "ObjectId": u.upn,
                            "UniqueTokenIdentifier": self.token_id(),
                            "ResourceURL": "https://outlook.office.com",
                        }
                    )
                    self.emit(rec, scenario=s, step="owa_token_requests")
                for k in range(self.rng.randrange(4, 12)):
                    tk = t + timedelta(minutes=2 + 3 * k)
                    variant = self.rng.random()
                    if variant < 0.5:  # the campaign's REST system string under the OWA resource
                        rec = self.mail_read(
                            tk,
                            u,
                            u,
                            app=EXO,
                            client=OWA,
                            cis=REST_SYSTEM,
                            ip=ip,
                            token=False,
                            count=self.rng.randrange(5, 40),
                        )
                        step = "forged_owa_read_rest_system"
                    elif variant < 0.8:  # an unexpected ClientAppId (CISA AA23-193A)
                        rec = self.mail_read(
                            tk,
                            u,
                            u,
                            app=FORGED_CLIENT,
                            client=FORGED_CLIENT,
                            cis=f"Client=OWA;{STORM_UA};",
                            ip=ip,
                            token=False,
                            count=self.rng.randrange(5, 40),
                        )
                        step = "forged_read_unexpected_appid"
                    else:  # published user agent in the client string
                        rec = self.mail_read(
                            tk,
                            u,
                            u,
                            app=EXO,
                            client=None,
                            cis=f"Client=OWA;{STORM_UA};",
                            ip=ip,
                            token=False,
                            count=self.rng.randrange(5, 40),
                        )
                        step = "forged_owa_read_campaign_user_agent"
                    self.emit(rec, scenario=s, step=step)

    def account_takeover(self, day: int) -> None:
        """Generic takeover: spray, success, attacker reads, malicious app consent and app-only
        reads across mailboxes, forwarding and hiding rules, bulk deletion."""
        s = "account_takeover"
        ip = "192.0.2.66"
        ua = "python-requests/2.32.3"
        t = self.ts(day, 2 * 3600 + 600)
        victims = self.rng.sample(self.users, min(30, len(self.users)))
        admin = next(u for u in self.users if "admin" in u.roles)
        if admin not in victims:
            victims[-1] = admin
        for k, v in enumerate(victims):
            tk = t + timedelta(seconds=37 * k)
            self.emit(
                self.signin(
                    tk,
                    v,
                    ip=ip,
                    app=OFFICE,
                    app_name="Microsoft Office",
                    ua=ua,
                    interactive=True,
                    error=50126,
                    protocol="ropc",
                    client_app="Mobile Apps and Desktop clients",
                    resource=AAD_GRAPH,
                    country="NL",
                ),
                "signins",
                s,
                "password_spray",
            )
            self.emit(
                self.sts_logon(tk, v, ip, False, "OAuth2:Token", ua, OFFICE, error=50126),
                "ual",
                s,
                "password_spray",
            )
        ts = t + timedelta(seconds=37 * len(victims) + 120)
        self.emit(
            self.signin(
                ts,
                admin,
                ip=ip,
                app=OFFICE,
                app_name="Microsoft Office",
                ua=ua,
                interactive=True,
                protocol="ropc",
                client_app="Mobile Apps and Desktop clients",
                resource=AAD_GRAPH,
                country="NL",
            ),
            "signins",
            s,
            "spray_success",
        )
        self.emit(self.sts_logon(ts, admin, ip, True, "OAuth2:Token", ua, OFFICE), "ual", s, "spray_success")
        # attacker reads the admin's mail with the Office token through Graph
        for k in range(12):
            self.emit(
                self.mail_read(
                    ts + timedelta(minutes=3 + k),
                    admin,
                    admin,
                    app=GRAPH,
                    client=OFFICE,
                    cis="Client=REST;;",
                    ip=ip,
                    count=self.rng.randrange(10, 60),
                    api=GRAPH,
                ),
                "ual",
                s,
                "attacker_mail_read",
            )
        # malicious app: registration, secret, admin consent to Mail.Read (application)
        tc = ts + timedelta(minutes=25)
        app_obj = self.uid()
        self.emit(
            self.entra_audit(
                tc,
                admin,
                "Update application – Certificates and secrets management ",
                "ApplicationManagement",
                "Update",
                (app_obj, "Mail Archiver", "Application"),
                [
                    (
                        "KeyDescription",
                        "[]",
                        '["[KeyIdentifier='
                        + self.uid()
                        + ',KeyType=Password,KeyUsage=Verify,DisplayName=key1]"]',
                    )
                ],
                [("AppId", EVIL_APP)],
            ),
            "entra_audit",
            s,
            "malicious_app_credential",
        )
        self.emit(
            self.entra_audit(
                tc + timedelta(minutes=2),
                admin,
                "Add app role assignment to service principal",
                "ApplicationManagement",
                "Assign",
                (self.uid(), "Microsoft Graph", "ServicePrincipal"),
                [("AppRole.Value", None, '"Mail.Read"'), ("ServicePrincipal.AppId", None, f'"{EVIL_APP}"')],
            ),
            "entra_audit",
            s,
            "malicious_app_consent",
        )
        consent = self.ual_common(
            tc + timedelta(minutes=2),
            "Add app role assignment to service principal.",
            8,
            admin.upn,
            workload="AzureActiveDirectory",
            result="Success",
            user_key=admin.object_id,
        )
        consent.update(
            {
                "ClientIP": ip,
                "ObjectId": EVIL_APP,
                "ModifiedProperties": [
                    {"Name": "AppRole.Value", "NewValue": "Mail.Read", "OldValue": ""},
                    {"Name": "ServicePrincipal.AppId", "NewValue": EVIL_APP, "OldValue": ""},
                ],
                "Target": [{"ID": EVIL_APP, "Type": 2}],
                "Actor": [{"ID": admin.upn, "Type": 5}],
            }
        )
        self.emit(consent, "ual", s, "malicious_app_consent")
        # app-only reads: a fan-out across many mailboxes within minutes, then the victim's box daily
        tf = tc + timedelta(minutes=30)
        for k, v in enumerate(self.rng.sample(self.users, min(20, len(self.users)))):
            self.emit(
                self.mail_read(
                    tf + timedelta(seconds=20 * k),
                    v,
                    v,
                    app=EVIL_APP,
                    client=EVIL_APP,
                    cis=REST_SYSTEM,
                    ip="192.0.2.67",
                    user_type=5,
                    session=False,
                    api=GRAPH,
                    count=self.rng.randrange(20, 200),
                ),
                "ual",
                s,
                "mailbox_fanout",
            )
        for d in range(day + 1, min(day + 5, self.days)):
            for k in range(3):
                self.emit(
                    self.mail_read(
                        self.ts(d, 3 * 3600 + 600 * k),
                        admin,
                        admin,
                        app=EVIL_APP,
                        client=EVIL_APP,
                        cis=REST_SYSTEM,
                        ip="192.0.2.67",
                        user_type=5,
                        session=False,
                        api=GRAPH,
                        count=self.rng.randrange(5, 50),
                    ),
                    "ual",
                    s,
                    "app_only_read",
                )
        # persistence and hiding in the admin's mailbox, and forwarding of two more mailboxes
        tr = tc + timedelta(minutes=50)
        self.emit(
            self.cmdlet(
                tr,
                admin,
                "New-InboxRule",
                {
                    "Name": "..",
                    "ForwardTo": "archive.tailspin@mailbox.example",
                    "StopProcessingRules": "True",
                },
                ip,
                app=EXO,
                object_id=f"{admin.upn}\\..",
            ),
            "ual",
            s,
            "forwarding_rule",
        )
        self.emit(
            self.cmdlet(
                tr + timedelta(minutes=1),
                admin,
                "New-InboxRule",
                {
                    "Name": ".",
                    "SubjectOrBodyContainsWords": "password;security;unusual sign-in",
                    "MoveToFolder": f"{admin.upn}\\RSS Feeds",
                    "MarkAsRead": "True",
                    "StopProcessingRules": "True",
                },
                ip,
                app=EXO,
                object_id=f"{admin.upn}\\.",
            ),
            "ual",
            s,
            "hiding_rule",
        )
        others = self.rng.sample([u for u in self.users if u is not admin], 2)
        for k, o in enumerate(others):
            self.emit(
                self.cmdlet(
                    tr + timedelta(minutes=3 + k),
                    admin,
                    "Set-Mailbox",
                    {
                        "Identity": o.upn,
                        "ForwardingSmtpAddress": "smtp:archive.tailspin@mailbox.example",
                        "DeliverToMailboxAndForward": "True",
                    },
                    ip,
                ),
                "ual",
                s,
                "mailbox_forwarding",
            )
            self.emit(
                self.cmdlet(
                    tr + timedelta(minutes=5 + k),
                    o,
                    "New-InboxRule",
                    {"Mailbox": o.upn, "Name": "sync", "ForwardTo": "archive.tailspin@mailbox.example"},
                    ip,
                    app=EXO,
                    object_id=f"{o.upn}\\sync",
                ),
                "ual",
                s,
                "forwarding_rule",
            )
        tb = tr + timedelta(hours=2)
        for k in range(80):
            self.emit(
                self.item_op(
                    tb + timedelta(seconds=4 * k),
                    admin,
                    "HardDelete",
                    "Client=REST;;",
                    ip,
                    1,
                    GRAPH,
                    client=OFFICE,
                ),
                "ual",
                s,
                "bulk_delete",
            )


# ----------------------------------------------------------------------------- writing
def _sort_key(item: Labelled) -> str:
    r = item.record
    return str(r.get("CreationTime") or r.get("time"))


def _record_id(item: Labelled) -> str:
    r = item.record
    return str(r.get("Id") or r.get("properties", {}).get("id"))


def write(gen: Gen, out: Path) -> dict[str, Any]:
    half = gen.start + timedelta(days=gen.days // 2)
    files: dict[tuple[str, str], list[Labelled]] = {}
    for item in gen.out:
        when = datetime.fromisoformat(_sort_key(item).replace("Z", "+00:00").split(".")[0]).replace(
            tzinfo=UTC
        )
        part = "first" if when < half else "second"
        files.setdefault((part, item.kind), []).append(item)
    counts: dict[str, int] = {}
    labels: list[Record] = []
    for (part, kind), items in sorted(files.items()):
        items.sort(key=_sort_key)
        rel = f"{part}/{kind}.jsonl"
        (out / part).mkdir(parents=True, exist_ok=True)
        with (out / rel).open("w", encoding="utf-8") as fh:
            for i, item in enumerate(items):
                fh.write(json.dumps(item.record, separators=(",", ":")) + "\n")
                if item.scenario:
                    labels.append(
                        {
                            "file": rel,
                            "index": i,
                            "id": _record_id(item),
                            "scenario": item.scenario,
                            "step": item.step,
                        }
                    )
        counts[rel] = len(items)
    with (out / "labels.jsonl").open("w", encoding="utf-8") as fh:
        for lab in labels:
            fh.write(json.dumps(lab) + "\n")
    return counts


def iter_steps(labels: list[Record]) -> Iterator[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    for lab in labels:
        key = (lab["scenario"], lab["step"])
        if key not in seen:
            seen.add(key)
            yield key


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--users", type=int, default=60)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=558)
    ap.add_argument("--start", default="2026-11-02", help="first day (UTC), ISO date")
    args = ap.parse_args(argv)
    if args.users < 20 or args.days < 10:
        ap.error(
            "--users must be at least 20 and --days at least 10 (the roles and the two halves need them)"
        )
    gen = Gen(args.users, args.days, args.seed, datetime.fromisoformat(args.start).replace(tzinfo=UTC))
    gen.benign_month()
    half = args.days // 2
    gen.forged_token_campaign(half + 2)
    gen.account_takeover(half + 5)
    counts = write(gen, args.out)
    summary = {
        "users": args.users,
        "days": args.days,
        "seed": args.seed,
        "start": args.start,
        "first_half_days": half,
        "second_half_days": args.days - half,
        "tenant_domain": DOMAIN,
        "profiles": [
            {
                "upn": u.upn,
                "desktop": u.desktop,
                "phone": u.phone,
                "roles": sorted(u.roles),
                "travel_days": list(u.travel) if u.travel else None,
                "vpn": u.vpn,
                "delegate_of": u.delegate_of,
            }
            for u in gen.users
        ],
        "shared_mailboxes": [b.upn for b in gen.shared],
        "records": counts,
    }
    (args.out / "tenant.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
