#!/usr/bin/env python3
"""Generate compiler/stormpack/data/element_names.yml: the element names the taxonomy's
name/value fields (``Parameters.X``, ``OperationProperties.X``, ``ExtendedProperties.X``,
``ModifiedProperties.X``) may use, for ``stormpack validate`` (validate/element_names.py).

* Cmdlet parameters: for every Exchange Online / Security & Compliance cmdlet the pack's rules
  (exact ``Operation`` values) and fixtures/real records (``Operation`` of records with
  ``Parameters``) name, the ``### -Name`` parameter headings of its page in Microsoft's
  ExchangePowerShell reference, repository MicrosoftDocs/office-docs-powershell, folder
  exchange/exchange-ps/ExchangePowerShell/ (documentation licence CC-BY-4.0, (c) Microsoft).
* Names seen in real records: the element names under those arrays in the vendored corpus
  records of fixtures/corpus/ (sources and licences in fixtures/corpus/PROVENANCE*.md) and in the
  fixture cases whose provenance says they are corpus records.

Run from the repository root, after `make setup`, with a git directory of the docs repository:

    .venv/bin/python tools/vendor_element_names.py --docs-git PATH/TO/office-docs-powershell.git
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from stormpack.readers import Record, read_events

ROOTS = ("Parameters", "OperationProperties", "ExtendedProperties", "ModifiedProperties")
DOCS_FOLDER = "exchange/exchange-ps/ExchangePowerShell"
CMDLET = re.compile(r"^[A-Z][a-z]+-[A-Za-z]+$")
HEADING = re.compile(r"^### -(?P<name>[A-Za-z0-9]+)\s*$", re.MULTILINE)
OUT = Path("compiler/stormpack/data/element_names.yml")


def git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True,
                          text=True).stdout


def walk_rule_operations(x: Any) -> Iterator[str]:
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "Operation":  # exact values only: modifiers (Operation|startswith) name no cmdlet
                for o in v if isinstance(v, list) else [v]:
                    if isinstance(o, str) and CMDLET.match(o):
                        yield o
            yield from walk_rule_operations(v)
    elif isinstance(x, list):
        for i in x:
            yield from walk_rule_operations(i)


def elements(value: Any) -> list[dict[str, Any]]:
    """The name/value array of a record field (Sentinel exports keep it as JSON text)."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def scan(rec: Any, seen: dict[str, set[str]], cmdlets: set[str],
         by_cmdlet: dict[str, set[str]] | None = None) -> None:
    """Element names under the name/value arrays (``seen``), the cmdlets of records with
    ``Parameters`` (``cmdlets``) and the parameter names seen per cmdlet (``by_cmdlet``)."""
    if isinstance(rec, dict):
        op = rec.get("Operation")
        for k, v in rec.items():
            if k in ROOTS:
                names = {e["Name"] for e in elements(v) if isinstance(e.get("Name"), str) and e["Name"]}
                seen[k] |= names
                if k == "Parameters" and names and isinstance(op, str) and CMDLET.match(op):
                    cmdlets.add(op)
                    if by_cmdlet is not None:
                        by_cmdlet.setdefault(op, set()).update(names)
            if k == "AuditData" and isinstance(v, str):
                with contextlib.suppress(ValueError):
                    scan(json.loads(v), seen, cmdlets, by_cmdlet)
            scan(v, seen, cmdlets, by_cmdlet)
    elif isinstance(rec, list):
        for i in rec:
            scan(i, seen, cmdlets, by_cmdlet)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs-git", required=True, help="git directory of MicrosoftDocs/office-docs-powershell")
    ap.add_argument("--rev", default="HEAD")
    args = ap.parse_args()
    commit = git(args.docs_git, "rev-parse", args.rev).strip()
    cmdlets: set[str] = set()
    for p in sorted(Path("rules").rglob("*.yml")):
        for doc in yaml.safe_load_all(p.read_text(encoding="utf-8")):
            cmdlets.update(walk_rule_operations((doc or {}).get("detection")))
    seen: dict[str, set[str]] = {r: set() for r in ROOTS}
    by_cmdlet: dict[str, set[str]] = {}
    sources: list[str] = []
    for p in sorted(Path("fixtures/corpus").rglob("*")):
        if p.suffix.lower() not in (".json", ".csv", ".jsonl"):
            continue
        sources.append(p.as_posix())
        for item in read_events(p):
            if isinstance(item, Record):
                scan(item.data, seen, cmdlets, by_cmdlet)
    for p in sorted(Path("fixtures").glob("*/*.yml")):
        case = yaml.safe_load(p.read_text(encoding="utf-8"))
        if isinstance(case, dict) and isinstance(case.get("events"), list):
            scan(case["events"], {r: set() for r in ROOTS}, cmdlets)  # cmdlets the fixtures name
        prov = " ".join(str(case.get("provenance", "")).split()) if isinstance(case, dict) else ""
        if prov.startswith("corpus") and "verbatim" in prov and isinstance(case.get("events"), list):
            sources.append(p.as_posix())
            scan(case["events"], seen, cmdlets, by_cmdlet)
    params: dict[str, list[str]] = {}
    missing: list[str] = []
    for c in sorted(cmdlets):
        try:
            page = git(args.docs_git, "show", f"{commit}:{DOCS_FOLDER}/{c}.md")
        except subprocess.CalledProcessError:
            missing.append(c)
            continue
        params[c] = sorted(set(HEADING.findall(page)))
    header = (
        "# GENERATED by tools/vendor_element_names.py: do not edit by hand, run it again.\n"
        "# Element names the taxonomy's name/value fields may use (stormpack validate,\n"
        "# check stormpack.element_name; docs/validation.md).\n"
        "# cmdlets: parameter names from Microsoft's ExchangePowerShell reference,\n"
        f"#   https://github.com/MicrosoftDocs/office-docs-powershell commit {commit},\n"
        f"#   {DOCS_FOLDER}/<cmdlet>.md, the '### -<Name>' headings.\n"
        "#   Licence: CC-BY-4.0 (c) Microsoft Corporation (https://creativecommons.org/licenses/by/4.0/);\n"
        "#   only the parameter names are copied.\n"
        "# seen: element names in the vendored real records listed under `sources` (their source and\n"
        "#   licence: fixtures/corpus/PROVENANCE.md and PROVENANCE-shapes.md, the cases' provenance);\n"
        "#   seen_parameters_by_cmdlet: the Parameters names of those records, per Operation.\n"
    )
    data = {
        "docs_commit": commit,
        "cmdlets": params,
        "cmdlets_without_a_page": missing,
        "seen": {r: sorted(seen[r]) for r in ROOTS},
        "seen_parameters_by_cmdlet": {c: sorted(n) for c, n in sorted(by_cmdlet.items())},
        "sources": sources,
    }
    OUT.write_text(header + yaml.safe_dump(data, sort_keys=False, width=100), encoding="utf-8")
    print(f"{OUT}: {len(params)} cmdlets, pages missing for {missing}; seen "
          + ", ".join(f"{r} {len(seen[r])}" for r in ROOTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
