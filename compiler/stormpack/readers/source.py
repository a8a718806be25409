"""Opening an input file as a stream of UTF-8 bytes, whatever its compression and encoding.

Layers, each detected from the bytes themselves (never from the file name):

* compression: gzip (magic ``1f 8b``) is decompressed on the fly; zip, bzip2, xz and zstd are
  recognised and refused with a clear message;
* encoding: a UTF-8 byte-order mark is dropped; UTF-16 (with a BOM, or recognisable from the
  zero bytes of ASCII text, as Windows PowerShell writes it) is transcoded to UTF-8;
* binary content (NUL bytes, control characters) is refused as a whole.

Errors that only show up later while reading (a gzip stream cut short, corrupt deflate data,
undecodable UTF-16) are raised from ``read`` as one of :data:`STREAM_ERRORS`; the format readers
turn them into a reported rejection of the unreadable rest of the file.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import EventReadError, Location

STREAM_ERRORS: tuple[type[BaseException], ...] = (EOFError, zlib.error, OSError, UnicodeDecodeError)

_GZIP_MAGIC = b"\x1f\x8b"
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive: unzip it and pass the files inside"),
    (b"BZh", "bzip2-compressed: decompress it first (only gzip is read directly)"),
    (b"\xfd7zXZ\x00", "xz-compressed: decompress it first (only gzip is read directly)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed: decompress it first (only gzip is read directly)"),
)
SNIFF_BYTES = 64 * 1024


def describe_stream_error(exc: BaseException, compressed: bool) -> str:
    """A user-facing sentence for an error raised while reading a stream."""
    if isinstance(exc, EOFError):
        return "gzip stream ends early (file truncated)" if compressed else f"unexpected end of file: {exc}"
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return f"corrupt gzip data: {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return f"text cannot be decoded as {exc.encoding}: {exc.reason}"
    return f"read error: {exc}"


class _Utf16ToUtf8(io.RawIOBase):
    """A raw byte stream yielding the UTF-8 encoding of a UTF-16 byte stream."""

    def __init__(self, inner: BinaryIO, encoding: str) -> None:
        super().__init__()
        self._inner = inner
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._pending = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._pending and not self._eof:
            chunk = self._inner.read(256 * 1024)
            if not chunk:
                self._eof = True
                self._pending = self._decoder.decode(b"", final=True).encode("utf-8")
            else:
                self._pending = self._decoder.decode(chunk).encode("utf-8", "surrogatepass")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when ASCII text shows the zero bytes of UTF-16, else None."""
    sample = head[:512]
    if len(sample) < 4:
        return None
    sample = sample[: len(sample) // 2 * 2]
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _binary_reason(head: bytes) -> str | None:
    sample = head[:8192]
    if b"\x00" in sample:
        return "binary file (holds NUL bytes), not a text log export"
    controls = sum(1 for b in sample if b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D, 0x1B))
    if sample and controls > len(sample) // 20:
        return "binary file (mostly control characters), not a text log export"
    return None


@dataclass
class Layers:
    compressed: bool
    encoding: str  # "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"


class OpenedSource:
    """A file opened through its layers: ``stream`` yields UTF-8 bytes, ``raw`` is the file."""

    def __init__(self, path: Path, layers: Layers) -> None:
        self.path = path
        self.layers = layers
        self.raw: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            inner: BinaryIO = self.raw
            if layers.compressed:
                inner = gzip.GzipFile(fileobj=self.raw, mode="rb")  # type: ignore[assignment]
            if layers.encoding.startswith("utf-16"):
                inner = io.BufferedReader(_Utf16ToUtf8(inner, layers.encoding), 1024 * 1024)
            elif layers.encoding == "utf-8-sig":
                inner.read(3)
            self.stream: BinaryIO = inner
        except BaseException:
            self.raw.close()
            raise

    def position(self) -> int:
        """Bytes of the file consumed so far (compressed bytes for gzip), for progress."""
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        try:
            if self.stream is not self.raw:
                self.stream.close()
        except STREAM_ERRORS:
            pass
        finally:
            self.raw.close()


def _read_head(path: Path, compressed: bool) -> tuple[bytes, bool]:
    """The first (decompressed) bytes of a file and whether they are all of it.

    gzip is inflated with zlib directly so that the head of a truncated or corrupt stream is
    still seen; what cannot be read is reported later, while reading.
    """
    with open(path, "rb") as raw:
        if not compressed:
            head = raw.read(SNIFF_BYTES)
            return head, len(head) < SNIFF_BYTES and not raw.read(1)
        out = bytearray()
        inflater = zlib.decompressobj(wbits=31)
        try:
            while len(out) < SNIFF_BYTES:
                data = inflater.unconsumed_tail or raw.read(16 * 1024)
                if not data:
                    return bytes(out), inflater.eof
                out += inflater.decompress(data, SNIFF_BYTES - len(out))
                if inflater.eof:
                    rest = inflater.unused_data + raw.read(1)
                    if not rest.strip(b"\x00"):
                        return bytes(out), True
                    inflater = zlib.decompressobj(wbits=31)  # next gzip member
                    out += inflater.decompress(rest, SNIFF_BYTES - len(out))
        except zlib.error as exc:
            if not out:
                raise EventReadError(describe_stream_error(exc, compressed), Location(path)) from None
        return bytes(out[:SNIFF_BYTES]), False


def open_source(path: Path) -> tuple[OpenedSource, bytes, bool]:
    """Open ``path`` through its layers; also return the first UTF-8 bytes and whether that is all.

    Raises :class:`EventReadError` when the file as a whole is unusable.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise EventReadError(f"cannot open: {exc.strerror or exc}", Location(path)) from None
    if not magic:
        raise EventReadError("empty file (0 bytes): no records", Location(path))
    for prefix, why in _REFUSED_MAGIC:
        if magic.startswith(prefix):
            raise EventReadError(f"unsupported input: {why}", Location(path))
    compressed = magic.startswith(_GZIP_MAGIC)
    head, complete = _read_head(path, compressed)
    if compressed and not head:
        raise EventReadError("empty file (gzip holds 0 bytes): no records", Location(path))
    if head.startswith(codecs.BOM_UTF8):
        encoding, text_head = "utf-8-sig", head[3:]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
        text_head = head[2:].decode("utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be",
                                    "ignore").encode("utf-8", "surrogatepass")
    else:
        guessed = _utf16_without_bom(head)
        if guessed is not None:
            encoding, text_head = guessed, head.decode(guessed, "ignore").encode("utf-8", "surrogatepass")
        else:
            encoding, text_head = "utf-8", head
    reason = _binary_reason(text_head)
    if reason is not None:
        raise EventReadError(reason, Location(path))
    return OpenedSource(path, Layers(compressed, encoding)), text_head, complete
