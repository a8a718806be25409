#!/usr/bin/env python3
"""Refresh compiler/stormpack/data/firstparty/MicrosoftApps.csv (Microsoft first-party app ids,
used by `stormpack baseline` to mark learned app ids) from merill/microsoft-info (MIT licence).

Downloads ``_info/MicrosoftApps.csv`` and ``LICENSE`` of the given commit (default: the newest
commit of the default branch, asked from the GitHub API), checks the file (header, GUIDs, at
least MIN_ROWS rows), and rewrites the commit line of SOURCE.md. Run from the repository root:

    .venv/bin/python tools/refresh_firstparty_apps.py [--commit SHA]

then run tests/test_baseline*.py and commit the three files together.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import urllib.request
from datetime import datetime
from pathlib import Path

REPO = "merill/microsoft-info"
OUT = Path("compiler/stormpack/data/firstparty")
MIN_ROWS = 1000
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
COMMIT_LINE = re.compile(r"commit `[0-9a-f]{40}`\n\(\d{4}-\d{2}-\d{2}\)")


def fetch(url: str) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "stormpack-refresh-firstparty"})
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - fixed https URLs
        data: bytes = resp.read()
        return data


def newest_commit() -> tuple[str, str]:
    info = json.loads(fetch(f"https://api.github.com/repos/{REPO}/commits?per_page=1"))[0]
    return str(info["sha"]), str(info["commit"]["committer"]["date"])[:10]


def check(text: str) -> int:
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows or not {"AppId", "AppDisplayName"} <= set(rows[0]):
        raise SystemExit("MicrosoftApps.csv: expected the columns AppId and AppDisplayName")
    bad = [r["AppId"] for r in rows if not GUID.search(r["AppId"])]
    dirty = [r["AppId"] for r in rows if not GUID.fullmatch(r["AppId"].strip())]
    for d in dirty:
        if d not in bad:  # stormpack reads the GUID inside (knowledge.first_party_apps)
            print(f"note: AppId {d!r} has text around its GUID", file=sys.stderr)
    if bad:
        raise SystemExit(f"MicrosoftApps.csv: {len(bad)} AppId values are not GUIDs, e.g. {bad[0]!r}")
    if len(rows) < MIN_ROWS:
        raise SystemExit(f"MicrosoftApps.csv: only {len(rows)} rows (expected at least {MIN_ROWS})")
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", help="commit of merill/microsoft-info (default: the newest)")
    args = ap.parse_args(argv)
    if args.commit:
        sha, date = args.commit, datetime.now().strftime("%Y-%m-%d")
    else:
        sha, date = newest_commit()
    raw = f"https://raw.githubusercontent.com/{REPO}/{sha}"
    csv_bytes = fetch(f"{raw}/_info/MicrosoftApps.csv")
    licence = fetch(f"{raw}/LICENSE").decode("utf-8")
    if not licence.startswith("MIT License"):
        raise SystemExit("LICENSE is no longer the MIT licence: review the terms before vendoring")
    n = check(csv_bytes.decode("utf-8"))
    (OUT / "MicrosoftApps.csv").write_bytes(csv_bytes)
    (OUT / "LICENSE").write_text(licence, encoding="utf-8")
    source = OUT / "SOURCE.md"
    text = source.read_text(encoding="utf-8")
    new, count = COMMIT_LINE.subn(f"commit `{sha}`\n({date})", text)
    if count != 1:
        raise SystemExit(f"{source}: the commit line was not found; update it by hand")
    source.write_text(new, encoding="utf-8")
    print(f"MicrosoftApps.csv: {n} apps from {REPO}@{sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
