"""Defender for Endpoint ``Device*`` tables read back as the Sysmon events they stand for.

An advanced-hunting row of ``DeviceProcessEvents`` (or the same table streamed to Sentinel) holds
what a Sysmon EventID 1 holds under other names; data/targets/defender.yml says which column
holds which Sysmon field, and :mod:`.inverse` walks those forms backwards. The rows have no
event id or channel, which the taxonomy recognises Windows events by, so a converted row gets
those of the Sysmon event the table stands for (below). Rules that read ``EventID`` / ``Channel``
do not compile for Defender, and the hunt drops their hits on converted rows (``admits``), so
the two values only file the row under its log source.

A row is told to be of a table by the table's own ``Type`` column (Sentinel) or, in an
advanced-hunting export (no ``Type``), by its ``ActionType`` with the column only that table has.
ActionType values and columns as Microsoft's table references document them:

* DeviceProcessEvents  https://learn.microsoft.com/en-us/defender-xdr/advanced-hunting-deviceprocessevents-table
  (ProcessCreated; ProcessCommandLine)
* DeviceImageLoadEvents https://learn.microsoft.com/en-us/defender-xdr/advanced-hunting-deviceimageloadevents-table
  (ImageLoaded)
* DeviceFileEvents     https://learn.microsoft.com/en-us/defender-xdr/advanced-hunting-devicefileevents-table
  (FileCreated, FileModified, FileRenamed, FileDeleted; the queries read every row, so does the hunt)
* DeviceRegistryEvents https://learn.microsoft.com/en-us/defender-xdr/advanced-hunting-deviceregistryevents-table
  (RegistryValueSet is Sysmon 13; the other registry actions are not the log source's)
* DeviceNetworkEvents  https://learn.microsoft.com/en-us/defender-xdr/advanced-hunting-devicenetworkevents-table
  (every ActionType: ConnectionSuccess, ConnectionFailed, InboundConnectionAccepted ...; RemoteIP)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"


@dataclass(frozen=True)
class DeviceTable:
    table: str
    event_id: int  # the Sysmon event the row stands for
    actions: frozenset[str] | None  # ActionType values of the log source (None: any)
    column: str | None  # a column only this table has, required with ``actions`` None

    def identity(self) -> dict[str, Any]:
        return {"EventID": self.event_id, "Channel": SYSMON_CHANNEL}

    def holds(self, row: Mapping[str, Any]) -> bool:
        """Whether an export row without ``Type`` is of this table."""
        action = row.get("ActionType")
        if not isinstance(action, str):
            return False
        if self.actions is not None and action not in self.actions:
            return False
        return self.column is None or row.get(self.column) not in (None, "")


#: taxonomy log source -> the Device table holding it
DEVICE_TABLES: dict[str, DeviceTable] = {
    "windows_process_creation": DeviceTable("DeviceProcessEvents", 1, frozenset({"ProcessCreated"}),
                                            "ProcessCommandLine"),
    "windows_image_load": DeviceTable("DeviceImageLoadEvents", 7, frozenset({"ImageLoaded"}), None),
    "windows_file_event": DeviceTable("DeviceFileEvents", 11, frozenset(
        {"FileCreated", "FileModified", "FileRenamed", "FileDeleted"}), None),
    "windows_registry_set": DeviceTable("DeviceRegistryEvents", 13, frozenset({"RegistryValueSet"}),
                                        "RegistryKey"),
    "windows_network_connection": DeviceTable("DeviceNetworkEvents", 3, None, "RemoteIP"),
}
