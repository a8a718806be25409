"""A per-user on-disk cache for work that start-up would otherwise repeat (generated matcher
code compiled to Python code objects).

Entries are keyed by a SHA-256 of everything they derive from (the generated source, the
Python and stormpack versions), so a stale entry is never found: a changed rule has another key.
An entry that cannot be read back (truncated, corrupt, another Python) is ignored and rebuilt.
Writes are atomic (temporary file + rename). The directory is created private (0700) and holds
the same kind of data as Python's own ``__pycache__``; it is trusted as much as that.

``STORMPACK_CACHE_DIR`` chooses the directory (default: ``$XDG_CACHE_HOME/stormpack`` or
``~/.cache/stormpack``); ``STORMPACK_NO_CACHE=1`` turns the cache off. A directory that cannot
be written only costs speed.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType

from . import __version__

_FORMAT = "1"


def cache_dir() -> Path | None:
    if os.environ.get("STORMPACK_NO_CACHE"):
        return None
    explicit = os.environ.get("STORMPACK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stormpack"


def key_of(kind: str, *parts: str) -> str:
    h = hashlib.sha256()
    for p in (_FORMAT, kind, __version__, sys.version, *parts):
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _path(kind: str, key: str) -> Path | None:
    root = cache_dir()
    return None if root is None else root / kind / key[:2] / key


def get(kind: str, key: str) -> bytes | None:
    path = _path(kind, key)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def put(kind: str, key: str, data: bytes) -> None:
    path = _path(kind, key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return


def compiled_code(source: str, filename: str) -> CodeType:
    """``compile(source, filename, "exec")``, from the cache when it holds it."""
    key = key_of("code", filename, source)
    data = get("code", key)
    if data is not None:
        try:
            code = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            code = None
        if isinstance(code, CodeType) and code.co_filename == filename:
            return code
    code = compile(source, filename, "exec")
    put("code", key, marshal.dumps(code))
    return code
