"""``--changed-since REF``: which files differ from a git ref (committed, staged, unstaged or
untracked), as absolute paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import GitError as GitError


def _git(args: list[str], cwd: Path) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitError("--changed-since needs git, which is not installed") from None
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc.stdout


def changed_files(ref: str, cwd: Path | None = None) -> set[Path]:
    """Files added or modified since ``ref`` (deleted ones are gone and need no validation)."""
    here = (cwd or Path.cwd()).resolve()
    top = Path(_git(["rev-parse", "--show-toplevel"], here).strip())
    _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top)
    names = _git(["diff", "--name-only", "--no-renames", "--diff-filter=d", ref, "--"], top).splitlines()
    names += _git(["ls-files", "--others", "--exclude-standard"], top).splitlines()
    return {(top / n).resolve() for n in names if n}
