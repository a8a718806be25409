"""Write N deterministic, realistic unified-audit-log records (AuditData objects) as JSON Lines.

    python bench/gen_ual.py 1000000 bench/data/ual1m.jsonl
    python bench/gen_ual.py 1000000 bench/data/real1m.jsonl --profile realistic

Mix as in ../shared/reference/perf-anchors.md: 70 % MailItemsAccessed, the rest split evenly
across Send, MoveToDeletedItems, New-InboxRule, Set-Mailbox, UserLoggedIn and
Add-MailboxPermission. Records are about 1 KB, shaped like the Management Activity API schema
(Exchange mailbox, Exchange admin and Entra STS logon records), benign-looking, with a small
share of values that pack rules look at (REST client strings, unusual client app ids, external
forwarding, documentation-range addresses). The same N always gives the same bytes.

``--profile realistic``: a month where few records concern any rule, as a tenant's exports
mostly are: 30 % MailItemsAccessed by the owners' known clients (OWA, Outlook, mobile), 42 %
SharePoint / OneDrive file and page activity, 20 % Entra interactive and non-interactive
sign-ins (diagnostic-settings records, successful, browsers and Office clients), 8 % other
Exchange activity (Send, MoveToDeletedItems, UserLoggedIn); nothing an attacker did.
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 558
ORG_ID = "b201948d-8505-46e4-8b1f-6cef8ba3b8ea"
ORG = "contoso.onmicrosoft.com"
EXO_APP = "00000002-0000-0ff1-ce00-000000000000"
CLIENT_APPS = [
    "9199bf20-a13f-4107-85dc-02114787ef48",  # OWA
    "d3590ed6-52b3-4102-aeff-aad2292ab01c",  # Microsoft Office
    "5d661950-3475-41cd-a2c3-d671a3162bc1",  # Outlook for Windows
    "27922004-5251-4030-b22d-91ecd9a37ea4",  # Outlook mobile
    "00000003-0000-0000-c000-000000000000",  # Microsoft Graph
    "1fec8e78-bce4-4aaf-ab1b-5451cc387264",  # Teams
    "4b2c9b2e-1d55-4b8a-9b61-7a0e1f2f0c11",  # an unlisted line-of-business app
]
CLIENT_INFO = [
    "Client=OWA;Action=ViaProxy",
    "Client=OWA;Action=ViaProxy",
    "Client=Microsoft.Outlook.Mapi;Client=MSExchangeRPC",
    "Client=MSExchangeRPC",
    "Client=REST;Client=RESTSystem;;",
    "Client=REST;;",
    "Client=WebServices;ExchangeWebServices/15.20;Action=ViaProxy",
    "Client=POP3/IMAP4;Protocol=IMAP4",
]
SERVERS = [f"BN{n}PR11MB{1000 + n * 7} (15.20.6477.0{n % 10}{n % 7})\r\n" for n in range(12)]
USERS = [f"user{n:03d}@contoso.onmicrosoft.com" for n in range(300)]
FOLDERS = ["\\Inbox", "\\Sent Items", "\\Archive", "\\Inbox\\Projects", "\\Deleted Items", "\\Drafts"]
OPERATIONS = ["Send", "MoveToDeletedItems", "New-InboxRule", "Set-Mailbox", "UserLoggedIn",
              "Add-MailboxPermission"]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 "
    "Safari/537.36 Edg/114.0.1823.43",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.5 "
    "Safari/605.1.15",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.16529; Pro)",
    "python-requests/2.31.0",
]


class Gen:
    def __init__(self, seed: int = SEED) -> None:
        self.r = random.Random(seed)
        self.t = datetime(2023, 5, 15, 0, 0, 0)

    def guid(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def ip(self) -> str:
        r = self.r.random()
        if r < 0.6:
            return f"198.51.{100 + self.r.randrange(20)}.{self.r.randrange(1, 255)}"
        if r < 0.9:
            return f"203.0.113.{self.r.randrange(1, 255)}"
        if r < 0.97:
            return f"2001:db8:{self.r.randrange(65536):x}::{self.r.randrange(65536):x}"
        return f"192.0.2.{self.r.randrange(1, 255)}"

    def common(self, op: str, rtype: int, workload: str, user: str, user_type: int) -> dict[str, Any]:
        self.t += timedelta(milliseconds=self.r.randrange(1, 2600))
        return {
            "CreationTime": self.t.strftime("%Y-%m-%dT%H:%M:%S"),
            "Id": self.guid(),
            "Operation": op,
            "OrganizationId": ORG_ID,
            "RecordType": rtype,
            "ResultStatus": "Succeeded" if rtype != 1 else "True",
            "UserKey": f"10032002{self.r.randrange(16**8):08X}",
            "UserType": user_type,
            "Version": 1,
            "Workload": workload,
            "UserId": user,
        }

    def mailbox(self, rec: dict[str, Any], user: str) -> None:
        rec.update({
            "AppId": EXO_APP,
            "ClientAppId": self.r.choice(CLIENT_APPS),
            "ClientIPAddress": self.ip(),
            "ClientInfoString": self.r.choice(CLIENT_INFO),
            "ExternalAccess": False,
            "InternalLogonType": 0,
            "LogonType": self.r.choices([0, 1, 2], weights=[96, 2, 2])[0],
            "MailboxGuid": self.guid(),
            "MailboxOwnerUPN": user,
            "OrganizationName": ORG,
            "OriginatingServer": self.r.choice(SERVERS),
        })

    def mail_items_accessed(self, user: str) -> dict[str, Any]:
        rec = self.common("MailItemsAccessed", 50, "Exchange", user, 0)
        self.mailbox(rec, user)
        access = "Bind" if self.r.random() < 0.9 else "Sync"
        rec["OperationProperties"] = [
            {"Name": "MailAccessType", "Value": access},
            {"Name": "IsThrottled", "Value": "False"},
        ]
        if self.r.random() < 0.8:
            rec["AppAccessContext"] = {
                "IssuedAtTime": (self.t - timedelta(minutes=self.r.randrange(1, 50))).isoformat(
                    timespec="seconds"),
                "UniqueTokenId": self.guid().replace("-", "")[:22],
            }
        if access == "Bind":
            rec["Folders"] = [{
                "FolderItems": [{
                    "InternetMessageId": f"<{self.guid()[:13]}@namprd11.prod.outlook.com>",
                    "SizeInBytes": self.r.randrange(2000, 90000),
                }],
                "Path": self.r.choice(FOLDERS),
            }]
            rec["OperationCount"] = 1
        else:
            rec["Item"] = {"ParentFolder": {"Path": self.r.choice(FOLDERS), "Name": "Inbox"}}
            rec["OperationCount"] = self.r.randrange(1, 40)
        return rec

    def item_op(self, op: str, user: str) -> dict[str, Any]:
        rec = self.common(op, 2, "Exchange", user, 0)
        self.mailbox(rec, user)
        if op == "Send":
            del rec["ClientInfoString"]  # Send records carry no client string
        rec["Item"] = {
            "InternetMessageId": f"<{self.guid()[:13]}@namprd11.prod.outlook.com>",
            "ParentFolder": {"Id": "LgAAAAD1Z2Nq7QvSTqW8a4nQ9VwQAQCp", "Path": self.r.choice(FOLDERS)},
            "SizeInBytes": self.r.randrange(2000, 90000),
            "Subject": self.r.choice(["Quarterly report", "Re: travel", "Invoice 4471", "Lunch?"]),
        }
        if op == "MoveToDeletedItems":
            rec["DestFolder"] = {"Path": "\\Deleted Items"}
        return rec

    def admin(self, op: str, user: str) -> dict[str, Any]:
        rec = self.common(op, 1, "Exchange", user, self.r.choice([0, 2]))
        addr, port = self.ip(), self.r.randrange(1024, 65535)
        rec.update({
            "ClientIP": f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}",
            "ObjectId": f"NAMPR11A001.PROD.OUTLOOK.COM/Microsoft Exchange Hosted Organizations/{ORG}/{user}",
            "AppId": "",
            "ClientAppId": "",
            "ExternalAccess": False,
            "OrganizationName": ORG,
            "OriginatingServer": self.r.choice(SERVERS),
            "SessionId": self.guid(),
        })
        if op == "New-InboxRule":
            params = [
                {"Name": "AlwaysDeleteOutlookRulesBlob", "Value": "False"},
                {"Name": "Force", "Value": "False"},
                {"Name": "Name", "Value": self.r.choice(["Newsletters", "From boss", ".", "Invoices", "x"])},
                {"Name": "SubjectContainsWords", "Value": self.r.choice(["invoice", "newsletter", "pay"])},
            ]
            action = self.r.random()
            if action < 0.4:
                folder = self.r.choice(["Archive", "RSS Feeds", "Newsletters"])
                params.append({"Name": "MoveToFolder", "Value": folder})
            elif action < 0.5:
                params.append({"Name": "DeleteMessage", "Value": "True"})
            elif action < 0.55:
                params.append({"Name": "ForwardTo", "Value": "someone@example.net"})
            else:
                params.append({"Name": "MarkAsRead", "Value": "True"})
            params.append({"Name": "StopProcessingRules", "Value": "True"})
        elif op == "Set-Mailbox":
            params = [{"Name": "Identity", "Value": user}]
            pick = self.r.random()
            if pick < 0.05:
                params.append({"Name": "ForwardingSmtpAddress", "Value": "smtp:archive@example.org"})
                params.append({"Name": "DeliverToMailboxAndForward", "Value": "True"})
            elif pick < 0.1:
                params.append({"Name": "AuditLogAgeLimit", "Value": "90.00:00:00"})
            else:
                params.append({"Name": "RetainDeletedItemsFor", "Value": "30.00:00:00"})
        else:  # Add-MailboxPermission
            params = [
                {"Name": "Identity", "Value": self.r.choice(USERS)},
                {"Name": "User", "Value": user},
                {"Name": "AccessRights", "Value": self.r.choice(["FullAccess", "ReadPermission"])},
                {"Name": "InheritanceType", "Value": "All"},
                {"Name": "AutoMapping", "Value": "False"},
            ]
        rec["Parameters"] = params
        return rec

    def logon(self, user: str) -> dict[str, Any]:
        rec = self.common("UserLoggedIn", 15, "AzureActiveDirectory", user, 0)
        rec["ResultStatus"] = "Success"
        rec.update({
            "AzureActiveDirectoryEventType": 1,
            "ExtendedProperties": [
                {"Name": "ResultStatusDetail", "Value": "Redirect"},
                {"Name": "UserAgent", "Value": self.r.choice(USER_AGENTS)},
                {"Name": "RequestType", "Value": "OAuth2:Authorize"},
            ],
            "ModifiedProperties": [],
            "Actor": [{"ID": self.guid(), "Type": 0}, {"ID": user, "Type": 5}],
            "ActorContextId": ORG_ID,
            "ActorIpAddress": self.ip(),
            "InterSystemsId": self.guid(),
            "Target": [{"ID": EXO_APP, "Type": 0}],
            "TargetContextId": ORG_ID,
            "ApplicationId": self.r.choice(CLIENT_APPS),
            "ClientIP": self.ip(),
            "ErrorNumber": "0",
        })
        return rec

    def record(self) -> dict[str, Any]:
        user = self.r.choice(USERS)
        if self.r.random() < 0.7:
            return self.mail_items_accessed(user)
        op = self.r.choice(OPERATIONS)
        if op in ("Send", "MoveToDeletedItems"):
            return self.item_op(op, user)
        if op == "UserLoggedIn":
            return self.logon(user)
        return self.admin(op, user)


SP_OPS = ["FileAccessed", "FileAccessed", "FileAccessed", "FileModified", "FilePreviewed",
          "FileDownloaded", "FileUploaded", "PageViewed", "PageViewed", "ListItemViewed",
          "FileSyncDownloadedFull", "SharingSet"]
SP_SITES = [f"https://contoso.sharepoint.com/sites/{s}" for s in
            ("Finance", "HR", "Engineering", "Sales", "Legal", "Marketing", "IT")] + [
            f"https://contoso-my.sharepoint.com/personal/user{n:03d}_contoso_onmicrosoft_com"
            for n in range(20)]
SP_FILES = ["Budget 2023.xlsx", "Roadmap.pptx", "Notes.docx", "Contract draft.docx", "logo.png",
            "Minutes 05-15.docx", "Forecast Q3.xlsx", "Home.aspx"]
KNOWN_MAIL_APPS = CLIENT_APPS[:4]
KNOWN_MAIL_INFO = ["Client=OWA;Action=ViaProxy", "Client=MSExchangeRPC",
                   "Client=Microsoft.Outlook.Mapi;Client=MSExchangeRPC"]
BROWSER_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.5 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.16529; Pro)",
    "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/114.0",
]


class Realistic(Gen):
    """``--profile realistic`` (see the module docstring)."""

    def known_mail_read(self, user: str) -> dict[str, Any]:
        rec = self.mail_items_accessed(user)
        rec["ClientAppId"] = self.r.choice(KNOWN_MAIL_APPS)
        rec["ClientInfoString"] = self.r.choice(KNOWN_MAIL_INFO)
        rec["LogonType"] = 0
        return rec

    def sharepoint(self, user: str) -> dict[str, Any]:
        op = self.r.choice(SP_OPS)
        site = self.r.choice(SP_SITES)
        name = self.r.choice(SP_FILES)
        rec = self.common(op, 6 if op.startswith("File") else 4, "SharePoint"
                          if "sharepoint.com/sites" in site else "OneDrive", user, 0)
        rec.update({
            "ClientIP": self.ip(),
            "ObjectId": f"{site}/Shared Documents/{name}",
            "UserAgent": self.r.choice(BROWSER_AGENTS),
            "CorrelationId": self.guid(),
            "EventSource": "SharePoint",
            "ItemType": "File" if op != "PageViewed" else "Page",
            "ListId": self.guid(),
            "ListItemUniqueId": self.guid(),
            "Site": self.guid(),
            "WebId": self.guid(),
            "SiteUrl": site + "/",
            "SourceFileExtension": name.rsplit(".", 1)[-1],
            "SourceFileName": name,
            "SourceRelativeUrl": "Shared Documents",
            "ApplicationDisplayName": self.r.choice(["Microsoft Office", "SharePoint Online Web Client",
                                                     "OneDrive SyncEngine"]),
            "AuthenticationType": "OAuth",
            "BrowserName": "Edge",
            "DeviceDisplayName": self.guid(),
            "GeoLocation": "NAM",
            "IsManagedDevice": self.r.random() < 0.7,
        })
        return rec

    def signin(self, user: str) -> dict[str, Any]:
        self.t += timedelta(milliseconds=self.r.randrange(1, 2600))
        when = self.t.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        interactive = self.r.random() < 0.4
        ip = self.ip()
        return {
            "time": when,
            "resourceId": f"/tenants/{ORG_ID}/providers/Microsoft.aadiam",
            "operationName": "Sign-in activity", "operationVersion": "1.0",
            "category": "SignInLogs" if interactive else "NonInteractiveUserSignInLogs",
            "tenantId": ORG_ID, "resultType": "0", "resultSignature": "None", "durationMs": 0,
            "callerIpAddress": ip, "correlationId": self.guid(), "identity": user.split("@")[0],
            "Level": 4, "location": "US",
            "properties": {
                "id": self.guid(), "createdDateTime": when.replace("Z", "+00:00"),
                "userDisplayName": user.split("@")[0], "userPrincipalName": user, "userId": self.guid(),
                "appId": self.r.choice(KNOWN_MAIL_APPS), "appDisplayName": "Microsoft Office",
                "ipAddress": ip, "status": {"errorCode": 0},
                "clientAppUsed": "Browser" if interactive else "Mobile Apps and Desktop clients",
                "userAgent": self.r.choice(BROWSER_AGENTS), "conditionalAccessStatus": "success",
                "isInteractive": interactive, "tokenIssuerType": "AzureAD",
                "authenticationRequirement": "multiFactorAuthentication",
                "riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none",
                "riskState": "none", "riskEventTypes": [], "riskEventTypes_v2": [],
                "resourceDisplayName": "Office 365 Exchange Online", "resourceId": EXO_APP,
                "homeTenantId": ORG_ID,
                "deviceDetail": {"deviceId": self.guid(), "operatingSystem": "Windows 10", "browser": "Edge"},
                "authenticationProtocol": "none",
            },
        }

    def record(self) -> dict[str, Any]:
        user = self.r.choice(USERS)
        x = self.r.random()
        if x < 0.30:
            return self.known_mail_read(user)
        if x < 0.72:
            return self.sharepoint(user)
        if x < 0.92:
            return self.signin(user)
        op = self.r.choice(["Send", "MoveToDeletedItems", "UserLoggedIn"])
        return self.logon(user) if op == "UserLoggedIn" else self.item_op(op, user)


def generate(n: int, out: Path, profile: str = "hit-heavy") -> None:
    gen = Realistic() if profile == "realistic" else Gen()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for _ in range(n):
            f.write(json.dumps(gen.record(), separators=(",", ":")))
            f.write("\n")
    tmp.replace(out)


def main(argv: list[str]) -> int:
    profile = "hit-heavy"
    if len(argv) == 5 and argv[3] == "--profile" and argv[4] in ("hit-heavy", "realistic"):
        profile = argv[4]
        argv = argv[:3]
    if len(argv) != 3 or not argv[1].isdigit():
        print("usage: gen_ual.py N OUT.jsonl [--profile hit-heavy|realistic]", file=sys.stderr)
        return 2
    generate(int(argv[1]), Path(argv[2]), profile)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
