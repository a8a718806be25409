"""Helpers of the CLI tests: ``stormpack`` run in-process."""

from __future__ import annotations

from stormpack.cli import main


def run(*argv: str) -> int:
    """``stormpack ARGV`` in-process; its exit code (0 when it returns without exiting)."""
    try:
        main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
