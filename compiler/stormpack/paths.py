"""Input file lists: the files and directories given, expanded, each file once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .errors import Location, StormpackError


def expand_paths(
    paths: Sequence[str | Path],
    *,
    what: str,
    error: type[StormpackError],
    keep: Callable[[Path, Path], bool],
    none_kept: str,
    is_input: Callable[[Path], bool],
) -> list[Path]:
    """``paths`` as a file list: a directory stands for the files below it that ``keep(file,
    directory)`` admits, sorted; any other path for itself when ``is_input`` holds. ``error`` (of
    the path's location) when none is given (``no <what> paths given``), a directory keeps none
    (``none_kept``) or a path is neither; each file once (:func:`unique_files`)."""
    if not paths:
        raise error(f"no {what} paths given")
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and keep(f, path))
            if not found:
                raise error(none_kept, Location(path))
            files.extend(found)
        elif is_input(path):
            files.append(path)
        else:
            raise error("no such file or directory", Location(path))
    return unique_files(files)


def unique_files(files: Iterable[Path]) -> list[Path]:
    """``files`` in order without repeats: a file named again (by the same or another path that
    resolves to it) keeps its first place and spelling."""
    seen: set[Path] = set()
    out: list[Path] = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
