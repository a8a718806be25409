"""Windows Security 4688 (process creation) under the Sysmon / Sigma process_creation names.

Sigma's Windows taxonomy uses the Sysmon EventID 1 names for ``process_creation``. A Security 4688
event ("A new process has been created", https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-10/security/threat-protection/auditing/event-4688)
holds the same facts under other names. The record keeps every original field and gains:

====================  =======================================================================
Sysmon name           4688 field
====================  =======================================================================
Image                 NewProcessName ("full path and the name of the executable")
ParentImage           ParentProcessName (event version 2, Windows 10 / Server 2016 and later)
CommandLine           CommandLine (already the same name; present only when the command-line
                      audit policy is on)
ProcessId             NewProcessId (hexadecimal, as logged)
ParentProcessId       ProcessId of the 4688 event ("the process ID of the process which
                      created the new process", hexadecimal); the original value moves here
                      because the Sysmon ``ProcessId`` is the new process
User                  SubjectDomainName\\SubjectUserName
LogonId               SubjectLogonId
IntegrityLevel        MandatoryLabel (a SID such as S-1-16-12288; Sysmon writes the word)
====================  =======================================================================
"""

from __future__ import annotations

from typing import Any

SECURITY_PROCESS_CREATION = 4688


def to_sysmon_names(record: dict[str, Any]) -> dict[str, Any]:
    """Add the Sysmon process_creation names to a flat Security 4688 record (others unchanged)."""
    if record.get("EventID") != SECURITY_PROCESS_CREATION or record.get("Channel") != "Security":
        return record
    out = dict(record)
    parent_pid = record.get("ProcessId")
    out["Image"] = record.get("NewProcessName")
    if "ParentProcessName" in record:
        out["ParentImage"] = record["ParentProcessName"]
    out["ProcessId"] = record.get("NewProcessId")
    out["ParentProcessId"] = parent_pid
    domain, user = record.get("SubjectDomainName"), record.get("SubjectUserName")
    if user is not None:
        out["User"] = f"{domain}\\{user}" if domain else user
    if "SubjectLogonId" in record:
        out["LogonId"] = record["SubjectLogonId"]
    if "MandatoryLabel" in record:
        out["IntegrityLevel"] = record["MandatoryLabel"]
    return out


# the names to_sysmon_names adds to a 4688 record; ProcessId is rewritten (it held the creator's id)
_ADDED = ("Image", "ParentImage", "ParentProcessId", "User", "LogonId", "IntegrityLevel")


def security_native(record: dict[str, Any]) -> dict[str, Any]:
    """A flat Security 4688 record as the event log holds it: without the Sysmon names
    :func:`to_sysmon_names` added, ``ProcessId`` back to the creator's id (what a product that reads
    the event itself, e.g. Splunk's Windows add-on, extracts). Other records unchanged."""
    if record.get("EventID") != SECURITY_PROCESS_CREATION or record.get("Channel") != "Security":
        return record
    out = {k: v for k, v in record.items() if k not in _ADDED}
    if "ParentProcessId" in record:
        out["ProcessId"] = record["ParentProcessId"]
    return out


# ------------------------------------------------------------------------------ JSON exports
def is_flat_windows(value: dict[str, Any]) -> bool:
    """A Windows event already flat (event data at the top level): the .evtx reader's own output,
    or a HELK / NXLog-style export as OTRF's Security-Datasets publish it (``Channel``, ``EventID``,
    ``SourceName``, ``Hostname`` beside the event data)."""
    return "Channel" in value and "EventID" in value


def from_flat_windows(value: dict[str, Any]) -> dict[str, Any]:
    """A flat Windows event in Sigma's flat shape: a HELK / NXLog export names the computer
    ``Hostname`` and the provider ``SourceName`` (NXLog's im_msvistalog field names,
    https://docs.nxlog.co/refman/current/im/msvistalog.html); they are copied to ``Computer`` and
    ``Provider_Name`` when those are absent, and a Security 4688 gets the Sysmon names."""
    out = value
    for name, alias in (("Computer", "Hostname"), ("Provider_Name", "SourceName")):
        if name not in value and alias in value:
            if out is value:
                out = dict(value)
            out[name] = value[alias]
    return to_sysmon_names(out)


def is_winlogbeat(value: dict[str, Any]) -> bool:
    """A Winlogbeat / Elastic Agent event: the Windows event under ``winlog`` (channel, event id)."""
    w = value.get("winlog")
    return isinstance(w, dict) and "channel" in w and "event_id" in w


def from_winlogbeat(value: dict[str, Any]) -> dict[str, Any]:
    """A Winlogbeat event in Sigma's flat Windows shape (as the .evtx reader writes it).

    Winlogbeat's fields (https://www.elastic.co/guide/en/beats/winlogbeat/current/exported-fields-winlog.html):
    ``winlog.channel``, ``winlog.event_id`` (text or number), ``winlog.provider_name``,
    ``winlog.computer_name``, ``winlog.record_id``, ``winlog.event_data.<Name>`` /
    ``winlog.user_data.<Name>`` (the event's data under its own names), ``@timestamp`` (the event's
    creation time). They become EventID, Channel, Provider_Name, Computer, EventRecordID,
    TimeCreated and the data fields; Security 4688 also gets the Sysmon names (as from .evtx).
    """
    w = value["winlog"]
    eid = w.get("event_id")
    out: dict[str, Any] = {
        "EventID": int(eid) if isinstance(eid, (int, str)) and str(eid).isdigit() else eid,
        "Channel": w.get("channel"),
        "Provider_Name": w.get("provider_name"),
        "Computer": w.get("computer_name"),
        "EventRecordID": w.get("record_id"),
        "TimeCreated": value.get("@timestamp"),
    }
    for key in ("event_data", "user_data"):
        data = w.get(key)
        if isinstance(data, dict):
            for name, v in data.items():
                out.setdefault(name, v)
    return to_sysmon_names(out)


def is_get_winevent(value: dict[str, Any]) -> bool:
    """``Get-WinEvent | ConvertTo-Json``: an EventLogRecord object (Id, LogName, Properties)."""
    return {"Id", "LogName", "ProviderName", "Properties"} <= value.keys() and "winlog" not in value
