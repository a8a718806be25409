"""Where hits go: the sink protocol, the JSON Lines writer and the output file."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

from ..errors import Location, StormpackError
from ..readers import Record
from .contract import SingleHitLines, correlation_hit_object, dumps
from .protocols import CorrelationHitLike, HitLike


class HitSink(Protocol):
    def single(self, hit: HitLike, record: Record) -> None: ...
    def correlation(self, hit: CorrelationHitLike) -> None: ...
    def close(self) -> None: ...


class JsonlSink:
    """Writes each hit as one JSON line as soon as it is found."""

    def __init__(self, out: IO[bytes]) -> None:
        self._write = out.write
        self._object = SingleHitLines().object

    def single(self, hit: HitLike, record: Record) -> None:
        self._write(dumps(self._object(hit, record)))

    def lines(self, data: bytes) -> None:
        """Hit lines serialised elsewhere (``--jobs``: in the worker processes)."""
        self._write(data)

    def correlation(self, hit: CorrelationHitLike) -> None:
        self._write(dumps(correlation_hit_object(hit)))

    def close(self) -> None:
        return None


@contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that appears at ``path`` only when the block completes.

    Written to a temporary file beside ``path`` and renamed over it at the end; on any error
    (or Ctrl-C) the temporary file is removed and an existing ``path`` is left untouched.
    """
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise StormpackError("output directory does not exist", Location(path))
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=directory)
    except OSError as exc:
        raise StormpackError(f"cannot write output: {exc.strerror or exc}", Location(path)) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # disk full, permissions...: one clear line, not a traceback
            raise StormpackError(f"output not written: {exc.strerror or exc}", Location(path)) from None
        raise


def stdout_binary() -> IO[bytes]:
    return sys.stdout.buffer
