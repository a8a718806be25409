"""A one-line progress indicator for a hunt on a terminal."""

from __future__ import annotations

import time
from typing import IO

from ..readers import EventFile


class Progress:
    """A one-line progress indicator on a terminal; does nothing when not enabled."""

    def __init__(self, stream: IO[str], enabled: bool, interval: float = 0.25) -> None:
        self._stream = stream
        self.enabled = enabled
        self._interval = interval
        self._last = 0.0
        self._shown = False

    def update(self, fileno: int, nfiles: int, f: EventFile, records: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        pct = f"{100 * f.position() / f.size:5.1f}%" if f.size else "    ?"
        name = f.source if len(f.source) <= 40 else "..." + f.source[-37:]
        self._stream.write(f"\r\x1b[K[{fileno}/{nfiles}] {name} {pct}  {records:,} records")
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False
