"""Product limits, schedules and mappings of the deployable artifacts, as data.

Everything a product imposes (Sentinel's template-schema limits, Defender's allowed schedule
periods and impacted-asset identifiers) and every default we chose (schedule per level, entity
columns per table) lives here, so the emitters hold logic only. Sources:
Azure-Sentinel ``.script/tests/detectionTemplateSchemaValidation`` (limits), Microsoft Graph
``ruleSchedule`` / ``impactedUserAsset`` (Defender), savedsearches.conf.spec (Splunk).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Final, Literal

from ..taxonomy import Role, load_taxonomy

# ------------------------------------------------------------------------------- Sentinel limits
SENTINEL_NAME_MAX: Final = 256
SENTINEL_DESCRIPTION_MAX: Final = 5000
SENTINEL_QUERY_MAX: Final = 10000
SENTINEL_PERIOD_MIN: Final = timedelta(minutes=5)
SENTINEL_PERIOD_MAX: Final = timedelta(days=14)
SENTINEL_ENTITIES_MIN: Final = 1
SENTINEL_ENTITIES_MAX: Final = 5
SENTINEL_FIELD_MAPPINGS_MIN: Final = 1
SENTINEL_FIELD_MAPPINGS_MAX: Final = 3
SENTINEL_TRIGGER_THRESHOLD_MAX: Final = 10000
SENTINEL_SEVERITIES: Final = ("Informational", "Low", "Medium", "High")

#: The ARM API version of the template. 2023-02-01 (GA) has no ``subTechniques`` property:
#: ``techniques`` takes parent ids only (T1114, never T1114.002); sub-techniques stay in the
#: YAML's ``relevantTechniques``.
SENTINEL_ARM_API_VERSION: Final = "2023-02-01"
ARM_SCHEMA: Final = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"

#: Tactics the Sentinel alert-rule API accepts (AttackTactic enum).
SENTINEL_TACTICS: Final = (
    "Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence",
    "PrivilegeEscalation", "DefenseEvasion", "CredentialAccess", "Discovery", "LateralMovement",
    "Collection", "Exfiltration", "CommandAndControl", "Impact", "PreAttack",
    "ImpairProcessControl", "InhibitResponseFunction",
)

#: Sigma ATT&CK tactic tag (``attack.<name>``, v1 underscores normalised to hyphens) -> Sentinel.
#: ATT&CK v18 split Defense Evasion into Stealth and Defense Impairment; Sentinel still knows
#: only DefenseEvasion.
ATTACK_TACTIC_TAGS: Final = MappingProxyType({
    "reconnaissance": "Reconnaissance",
    "resource-development": "ResourceDevelopment",
    "initial-access": "InitialAccess",
    "execution": "Execution",
    "persistence": "Persistence",
    "privilege-escalation": "PrivilegeEscalation",
    "defense-evasion": "DefenseEvasion",
    "stealth": "DefenseEvasion",
    "defense-impairment": "DefenseEvasion",
    "credential-access": "CredentialAccess",
    "discovery": "Discovery",
    "lateral-movement": "LateralMovement",
    "collection": "Collection",
    "exfiltration": "Exfiltration",
    "command-and-control": "CommandAndControl",
    "impact": "Impact",
})

SEVERITY_BY_LEVEL: Final = MappingProxyType({
    "informational": "Informational",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "critical": "High",  # Sentinel has no Critical
})


@dataclass(frozen=True)
class Connector:
    connector_id: str
    data_type: str


#: Taxonomy log source -> Sentinel data connector feeding its table.
SENTINEL_CONNECTORS: Final = MappingProxyType({
    "m365_audit": Connector("Office365", "OfficeActivity"),
    "azure_signinlogs": Connector("AzureActiveDirectory", "SigninLogs"),
    "azure_noninteractivesigninlogs": Connector("AzureActiveDirectory", "AADNonInteractiveUserSignInLogs"),
    "azure_auditlogs": Connector("AzureActiveDirectory", "AuditLogs"),
    # the Microsoft Entra ID connector lists AADUserRiskEvents among its tables:
    # https://learn.microsoft.com/en-us/azure/sentinel/data-connectors/microsoft-entra-id
    "azure_riskdetection": Connector("AzureActiveDirectory", "AADUserRiskEvents"),
    # the Device* tables through the Microsoft Defender XDR connector (connector id as in the
    # Azure-Sentinel analytics-rule templates that read DeviceProcessEvents)
    "windows_process_creation": Connector("MicrosoftThreatProtection", "DeviceProcessEvents"),
    "windows_image_load": Connector("MicrosoftThreatProtection", "DeviceImageLoadEvents"),
    "windows_file_event": Connector("MicrosoftThreatProtection", "DeviceFileEvents"),
    "windows_registry_set": Connector("MicrosoftThreatProtection", "DeviceRegistryEvents"),
    "windows_network_connection": Connector("MicrosoftThreatProtection", "DeviceNetworkEvents"),
    # IIS logs through the Azure Monitor agent: connector id as in the Azure-Sentinel analytics-rule
    # templates that read W3CIISLog (requiredDataConnectors: AzureMonitor(IIS))
    "webserver": Connector("AzureMonitor(IIS)", "W3CIISLog"),
})

#: Table a Windows rule compiled against (``--windows-source``) -> the connectors feeding it; a
#: rule that read a table listed here declares these instead of its log source's (Defender)
#: connector above. SecurityEvent: "Windows Security Events via AMA" (connector id
#: WindowsSecurityEvents) and the legacy agent's "Security Events" (SecurityEvents).
#: The Event table (Sysmon through the Azure Monitor agent) is not listed yet: no Azure-Sentinel
#: template reading Sysmon from Event was found to cite, so building such a rule fails loudly.
SENTINEL_TABLE_CONNECTORS: Final = MappingProxyType({
    "SecurityEvent": (Connector("SecurityEvents", "SecurityEvent"),
                      Connector("WindowsSecurityEvents", "SecurityEvent")),
})


# ------------------------------------------------------------------------------- schedules
@dataclass(frozen=True)
class Schedule:
    """How often a rule of one level runs on each product (overridable per rule). How far back a
    run reads follows from the run interval, the ingestion delay and the correlation window
    (:mod:`stormpack.artifacts.schedule`)."""

    sentinel_frequency: timedelta
    defender_period: str
    splunk_cron: str


SCHEDULE_BY_LEVEL: Final = MappingProxyType({
    "critical": Schedule(timedelta(minutes=15), "1H", "*/15 * * * *"),
    "high": Schedule(timedelta(hours=1), "1H", "5 * * * *"),
    "medium": Schedule(timedelta(hours=1), "3H", "10 * * * *"),
    "low": Schedule(timedelta(days=1), "12H", "15 2 * * *"),
    "informational": Schedule(timedelta(days=1), "24H", "20 2 * * *"),
})

#: Custom attributes a rule may carry to override its schedule (pySigma keeps unknown keys in
#: ``rule.custom_attributes``). Durations are Sentinel-style (``30m``, ``2h``, ``1d``) or ISO-8601.
#: ``splunk_earliest_time`` / ``splunk_latest_time`` are refused: the dispatch window is derived.
ATTR_SENTINEL_FREQUENCY: Final = "sentinel_query_frequency"
ATTR_SENTINEL_PERIOD: Final = "sentinel_query_period"
ATTR_DEFENDER_PERIOD: Final = "defender_schedule_period"
ATTR_SPLUNK_CRON: Final = "splunk_cron_schedule"
ATTR_SPLUNK_EARLIEST: Final = "splunk_earliest_time"
ATTR_SPLUNK_LATEST: Final = "splunk_latest_time"
ATTR_VERSION: Final = "version"
#: The ingestion delay a rule's schedule must tolerate (default: its log sources' covered delay).
ATTR_INGESTION_DELAY: Final = "ingestion_delay"
#: ``hunting_only: true`` ships a rule as a hunting query (no schedule, no alert) although it is
#: not time-bounded: the pack's decision for a rule over its level's alert budget on a normal
#: tenant (docs/noise.md). Informational rules are always hunting-only.
ATTR_HUNTING_ONLY: Final = "hunting_only"

DEFAULT_RULE_VERSION: Final = "1.0.0"


# ------------------------------------------------------------------------------- ingestion latency
@dataclass(frozen=True)
class IngestionLatency:
    """How late a log source's records reach the products, and how much of that we cover."""

    typical: str  # what the source documents
    covered: timedelta  # the delay every schedule of the pack tolerates (exactly-once up to it)
    source: str  # where the typical latency is documented


O365_TROUBLESHOOTING: Final = ("https://learn.microsoft.com/en-us/office/office-365-management-api/"
                               "troubleshooting-the-office-365-management-activity-api")
IIS_COLLECTION: Final = ("https://learn.microsoft.com/en-us/previous-versions/azure/azure-monitor/agents/"
                         "data-sources-iis-logs")
AZURE_MONITOR_LATENCY: Final = "https://learn.microsoft.com/en-us/azure/azure-monitor/logs/data-ingestion-time"
ENTRA_LATENCY: Final = ("https://learn.microsoft.com/en-us/entra/identity/monitoring-health/"
                        "reference-reports-latencies")
RISK_DETECTION_TIMING: Final = ("https://learn.microsoft.com/en-us/entra/id-protection/"
                                "concept-risk-detection-types")

#: Taxonomy log source -> its latency. 24 hours everywhere: the Management Activity API has no
#: SLA ("typically 60 to 90 minutes" for Exchange, longer for other services) and the pack's
#: Entra rules correlate with those records; a rule can lower it (custom attribute
#: ``ingestion_delay``) at the price of missing later records.
INGESTION_LATENCY: Final = MappingProxyType({
    "m365_audit": IngestionLatency(
        "60-90 minutes for Exchange, SharePoint, OneDrive and Teams; no guaranteed maximum (no SLA)",
        timedelta(hours=24), O365_TROUBLESHOOTING),
    "azure_signinlogs": IngestionLatency(
        "minutes; no guaranteed maximum", timedelta(hours=24), ENTRA_LATENCY),
    "azure_noninteractivesigninlogs": IngestionLatency(
        "minutes; no guaranteed maximum", timedelta(hours=24), ENTRA_LATENCY),
    "azure_auditlogs": IngestionLatency(
        "minutes; no guaranteed maximum", timedelta(hours=24), ENTRA_LATENCY),
    # the record time is when Identity Protection wrote the detection, so the delay is the export's;
    # the risky activity itself may be up to 48 h older (offline detections), which the rule's
    # correlation window, not the lookback, has to cover (docs/deploy.md)
    "azure_riskdetection": IngestionLatency(
        "minutes after the detection is written; offline detections are written up to 48 hours "
        "after the risky activity", timedelta(hours=24), RISK_DETECTION_TIMING),
    # Windows events stream from the endpoint (Defender sensor, forwarder): no day-long batches
    # like the Management Activity API; two hours cover the documented typical delay with margin
    **{key: IngestionLatency(
        "typically 20 seconds to 3 minutes in Log Analytics; no guaranteed maximum", timedelta(hours=2),
        AZURE_MONITOR_LATENCY)
       for key in ("windows_process_creation", "windows_image_load", "windows_file_event",
                   "windows_process_access", "windows_registry_set", "windows_network_connection")},
    # the legacy Log Analytics agent collected an IIS log file when IIS closed it (rollover, by
    # default once a day: https://learn.microsoft.com/en-us/previous-versions/azure/azure-monitor/agents/data-sources-iis-logs);
    # the Azure Monitor agent's page documents no delay, so the cloud sources' 24 hours hold
    "webserver": IngestionLatency(
        "up to the IIS log rollover period (a day by default) with the legacy Log Analytics agent; "
        "no documented maximum with the Azure Monitor agent", timedelta(hours=24), IIS_COLLECTION),
})
DEFAULT_INGESTION_DELAY: Final = timedelta(hours=24)

# ------------------------------------------------------------------------------- entities
#: The Sentinel entity types the pack maps (entityType of an entity mapping)
EntityType = Literal["Account", "IP", "CloudApplication", "Mailbox", "Host"]


@dataclass(frozen=True)
class EntitySource:
    """A taxonomy field that can feed an entity identifier."""

    entity_type: EntityType  # Sentinel entityType
    identifier: str  # Sentinel identifier
    field: str  # taxonomy (Sigma) field name
    column: str  # the extended column the query gets, e.g. AccountCustomEntity


#: A correlation alert's members (the columns kql_correlation / the SPL backend output for the
#: first window that fires): Sentinel custom details, key -> column ("Surface custom details in
#: alerts", https://learn.microsoft.com/en-us/azure/sentinel/surface-custom-details-in-alerts;
#: ARM ``customDetails``: "dictionary of string key-value pairs of columns to be attached to the
#: alert"). Addresses and Apps are sets (dynamic arrays), FirstTime / LastTime the window's first
#: and last event time.
CORRELATION_DETAILS: Final = (("Addresses", "addresses"), ("Apps", "apps"),
                              ("FirstTime", "first_time"), ("LastTime", "last_time"))
#: The entity of a correlation alert without an address / app group-by: the first member
#: (an entity mapping takes one value per alert row; the whole set is in the custom details).
CORRELATION_MEMBER_ENTITIES: Final = (("IP", "addresses"), ("CloudApplication", "apps"))


@dataclass(frozen=True)
class RoleEntity:
    """The Sentinel entity a taxonomy field role feeds."""

    entity_type: EntityType
    identifier: str  # Sentinel identifier
    column: str  # the extended column the query gets


#: Taxonomy field role (data/taxonomy.yml ``roles:``) -> its entity, in the order the entities are
#: mapped. Entity types and identifiers: https://learn.microsoft.com/en-us/azure/sentinel/entities-reference
ROLE_ENTITIES: Final[Mapping[Role, RoleEntity]] = MappingProxyType({
    "user": RoleEntity("Account", "FullName", "AccountCustomEntity"),
    "ip": RoleEntity("IP", "Address", "IPCustomEntity"),
    "app": RoleEntity("CloudApplication", "Name", "CloudAppCustomEntity"),
    "mailbox": RoleEntity("Mailbox", "MailboxPrimaryAddress", "MailboxCustomEntity"),
    # Windows log sources: the host that logged the event (Defender's DeviceName is its FQDN)
    "host": RoleEntity("Host", "FullName", "HostCustomEntity"),
})

#: Every field of each role, in the taxonomy's preference order (the first available field of each
#: entity type wins).
ENTITY_SOURCES: Final = tuple(
    EntitySource(entity.entity_type, entity.identifier, name, entity.column)
    for role, entity in ROLE_ENTITIES.items()
    for name in load_taxonomy().role_fields(role)
)

# ------------------------------------------------------------------------------- Defender XDR
DEFENDER_PERIODS: Final = ("0", "1H", "3H", "12H", "24H")
#: Run interval and lookback of each scheduled period (learn.microsoft.com/en-us/defender-xdr/
#: custom-detection-rules, "Rule frequency"): every hour reads 4 hours, every 3 hours 12 hours,
#: every 12 hours 48 hours, every 24 hours 30 days. Lookback is by Timestamp (event time);
#: advanced hunting documents no ingestion-time column.
DEFENDER_LOOKBACK: Final = MappingProxyType({
    "1H": (timedelta(hours=1), timedelta(hours=4)),
    "3H": (timedelta(hours=3), timedelta(hours=12)),
    "12H": (timedelta(hours=12), timedelta(hours=48)),
    "24H": (timedelta(hours=24), timedelta(days=30)),
})
#: impactedUserAsset identifiers we may emit (a subset of the Graph enum, the documented ones).
DEFENDER_USER_ASSET_IDENTIFIERS: Final = (
    "accountObjectId", "accountSid", "accountUpn", "accountName", "accountDomain",
    "servicePrincipalId", "targetAccountUpn",
)
#: impactedDeviceAsset identifiers we may emit (Graph: deviceId, deviceName, ...)
DEFENDER_DEVICE_ASSET_IDENTIFIERS: Final = ("deviceId", "deviceName")
DEFENDER_SEVERITIES: Final = ("informational", "low", "medium", "high")
DEFENDER_SEVERITY_BY_LEVEL: Final = MappingProxyType({
    "informational": "informational", "low": "low", "medium": "medium", "high": "high",
    "critical": "high",
})


@dataclass(frozen=True)
class DefenderTable:
    """What a Defender XDR custom detection on this table must return."""

    asset_column: str  # the impacted-asset column
    asset_identifier: str  # impactedUserAsset.identifier (impactedDeviceAsset for device tables)
    extra_columns: tuple[str, ...]  # always projected too (context for the analyst)
    #: the table's client address column, mapped to the alert's IP entity
    #: (alertTemplate.entityMappings.ips, Graph ipEntityMapping.addressColumn)
    ip_column: str | None = None
    #: Graph impactedAsset type: a user (cloud tables) or the device (Defender for Endpoint tables)
    asset_type: str = "impactedUserAsset"


#: Tables a Defender XDR custom detection can run on for our log sources.
DEFENDER_TABLES: Final = MappingProxyType({
    "CloudAppEvents": DefenderTable(
        "AccountObjectId", "accountObjectId",
        ("AccountId", "AccountDisplayName", "ActionType", "Application", "IPAddress"),
        "IPAddress",
    ),
    "EntraIdSignInEvents": DefenderTable(
        "AccountObjectId", "accountObjectId",
        ("AccountUpn", "Application", "ApplicationId", "IPAddress", "ErrorCode"),
        "IPAddress",
    ),
    # Windows log sources: the impacted asset is the device (impactedDeviceAsset, identifier deviceId;
    # https://learn.microsoft.com/en-us/graph/api/resources/security-impacteddeviceasset)
    "DeviceProcessEvents": DefenderTable(
        "DeviceId", "deviceId",
        ("DeviceName", "FolderPath", "ProcessCommandLine", "InitiatingProcessFolderPath",
         "InitiatingProcessCommandLine", "AccountDomain", "AccountName"),
        asset_type="impactedDeviceAsset",
    ),
    "DeviceImageLoadEvents": DefenderTable(
        "DeviceId", "deviceId",
        ("DeviceName", "FolderPath", "SHA1", "InitiatingProcessFolderPath", "InitiatingProcessCommandLine"),
        asset_type="impactedDeviceAsset",
    ),
    "DeviceFileEvents": DefenderTable(
        "DeviceId", "deviceId",
        ("DeviceName", "ActionType", "FolderPath", "SHA1", "InitiatingProcessFolderPath",
         "InitiatingProcessCommandLine"),
        asset_type="impactedDeviceAsset",
    ),
    "DeviceRegistryEvents": DefenderTable(
        "DeviceId", "deviceId",
        ("DeviceName", "ActionType", "RegistryKey", "RegistryValueName", "RegistryValueData",
         "InitiatingProcessFolderPath", "InitiatingProcessCommandLine"),
        asset_type="impactedDeviceAsset",
    ),
    "DeviceNetworkEvents": DefenderTable(
        "DeviceId", "deviceId",
        ("DeviceName", "ActionType", "RemoteIP", "RemotePort", "RemoteUrl", "LocalIP",
         "InitiatingProcessFolderPath", "InitiatingProcessCommandLine"),
        asset_type="impactedDeviceAsset",
    ),
})
DEFENDER_REQUIRED_COLUMNS: Final = ("Timestamp", "ReportId")
DEFENDER_DISPLAY_NAME_MAX: Final = 256  # Graph rejects longer display names

# ------------------------------------------------------------------------------- Splunk
SPLUNK_APP_ID: Final = "stormpack"
SPLUNK_APP_LABEL: Final = "stormpack - Storm-0558 detections"
SPLUNK_RISK_SCORE_BY_LEVEL: Final = MappingProxyType({
    "informational": 10, "low": 25, "medium": 50, "high": 75, "critical": 90,
})
#: Taxonomy field role -> ``risk_object_type`` of the Splunk risk action: the acting user as a
#: user, the client address as a system.
SplunkRiskObjectType = Literal["user", "system", "other"]
SPLUNK_RISK_OBJECT_TYPES: Final[Mapping[Role, SplunkRiskObjectType]] = MappingProxyType(
    {"user": "user", "ip": "system"})
SPLUNK_NOTABLE_SEVERITY_BY_LEVEL: Final = MappingProxyType({
    "informational": "informational", "low": "low", "medium": "medium", "high": "high",
    "critical": "critical",
})
