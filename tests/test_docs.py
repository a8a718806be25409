"""The documentation is executed and checked, so it stays true.

Conventions (documented for writers in docs/writing-rules.md, "Keeping the docs true"):

* ``<!-- doctest: example -->`` or ``<!-- doctest: repo -->`` on the line before a fenced ``sh``
  block makes it runnable. Lines starting with ``$ `` are commands (a trailing ``\\`` continues a
  command on the next line); the lines after a command, up to the next ``$ ``, are its output as
  the terminal shows it (standard output and error together). ``example`` runs in a fresh copy
  of tests/data/docs_example, ``repo`` in a scratch folder whose ``rules``, ``fixtures``,
  ``values``, ``compiler``, ``docs`` and ``tests`` are links to the repository's own (a ``repo``
  block must only read those; what it writes elsewhere stays in the scratch folder). ``stdout``
  after the place compares standard output only.
* Output lines must match the real output line for line. ``...`` inside a line stands for any
  text; a line that is only ``...`` stands for any number of lines (including none).
* A command must exit 0 unless its trailing comment says otherwise: ``$ stormpack test  # exit 1``.
* In README.md and docs/writing-rules.md a ``sh`` block holding a ``$ `` prompt must be marked:
  every shown output is a tested one. Marked blocks of the other documents below run too.
* ``<!-- include: PATH -->`` before a fenced block: the block is exactly the file PATH
  (relative to the repository root), so the tutorial shows the real rule and fixtures.
* Every relative link of README.md, docs/*.md, rules/README.md and bench/README.md points to an
  existing file (and heading, for ``file.md#anchor``); every ``stormpack <sub-command>`` written
  in code in those files is a command of the CLI, with options that command has.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click
import pytest

from stormpack.cli import COMMANDS, cli

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "tests" / "data" / "docs_example"
VENV_BIN = Path(sys.executable).parent
# Documents that must hold runnable examples, and in which every block showing a `$ ` prompt must
# be runnable. Marked blocks of the other checked documents run too.
RUNNABLE_DOCS = (REPO / "README.md", REPO / "docs" / "writing-rules.md")
# The repository folders a `repo` block sees (read through symbolic links).
REPO_ENTRIES = ("rules", "fixtures", "values", "compiler", "docs", "tests")
COMMAND_TIMEOUT = 120


def rel(path: Path) -> str:
    """A path as the messages show it: relative to the repository when inside it."""
    return path.relative_to(REPO).as_posix() if REPO in path.parents else str(path)


def checked_docs() -> list[Path]:
    """Every document whose links and command names are checked."""
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    docs += [p for p in (REPO / "rules" / "README.md", REPO / "bench" / "README.md") if p.is_file()]
    return docs


# ------------------------------------------------------------------------------ parsing


MARKER = re.compile(r"^<!--\s*doctest:\s*(?P<opts>[^>]*?)\s*-->\s*$")
INCLUDE = re.compile(r"^<!--\s*include:\s*(?P<path>\S+)\s*-->\s*$")
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<info>[\w+-]*)")
EXIT_COMMENT = re.compile(r"\s#\s*exit\s+(?P<code>\d+)\b[^'\"]*$")


class DocFormatError(Exception):
    """A marker or block that does not follow the conventions above."""


@dataclass(frozen=True)
class Fenced:
    """One fenced code block: its info word, its body lines, and what comment preceded it."""

    doc: Path
    line: int  # 1-based line of the opening fence
    info: str
    body: tuple[str, ...]
    marker: str | None  # the doctest options, when marked runnable
    include: str | None  # the included path, when marked as a file copy


@dataclass(frozen=True)
class Command:
    line: int  # 1-based line of the `$ ` line in the document
    text: str  # shell text, continuations joined
    exit_code: int
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Runnable:
    doc: Path
    line: int
    cwd: str  # "example" or "repo"
    stdout_only: bool
    commands: tuple[Command, ...]

    @property
    def ident(self) -> str:
        return f"{rel(self.doc)}:{self.line}"


def fenced_blocks(doc: Path) -> list[Fenced]:
    """The fenced blocks of a Markdown file with the marker comment (if any) right before each."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks: list[Fenced] = []
    pending_marker: tuple[int, str] | None = None
    pending_include: tuple[int, str] | None = None
    i = 0
    while i < len(lines):
        text = lines[i]
        if (m := MARKER.match(text)) is not None:
            pending_marker = (i + 1, m["opts"])
        elif (m := INCLUDE.match(text)) is not None:
            pending_include = (i + 1, m["path"])
        elif (m := FENCE.match(text)) is not None:
            fence = m["fence"]
            end = i + 1
            while end < len(lines) and not lines[end].startswith(fence):
                end += 1
            if end == len(lines):
                raise DocFormatError(f"{doc}:{i + 1}: code block never closed")
            blocks.append(
                Fenced(
                    doc=doc,
                    line=i + 1,
                    info=m["info"],
                    body=tuple(lines[i + 1 : end]),
                    marker=pending_marker[1] if pending_marker else None,
                    include=pending_include[1] if pending_include else None,
                )
            )
            pending_marker = pending_include = None
            i = end
        elif text.strip() and (pending_marker or pending_include):
            line = (pending_marker or pending_include or (0, ""))[0]
            raise DocFormatError(f"{doc}:{line}: marker comment is not followed by a code block")
        i += 1
    if pending_marker or pending_include:
        line = (pending_marker or pending_include or (0, ""))[0]
        raise DocFormatError(f"{doc}:{line}: marker comment is not followed by a code block")
    return blocks


def parse_runnable(block: Fenced) -> Runnable:
    """The commands and expected output of a block marked ``<!-- doctest: ... -->``."""
    assert block.marker is not None
    where = f"{block.doc}:{block.line}"
    if block.info != "sh":
        raise DocFormatError(f"{where}: a doctest block must be a ```sh block, not {block.info!r}")
    words = block.marker.split()
    if not words or words[0] not in ("example", "repo") or any(w != "stdout" for w in words[1:]):
        raise DocFormatError(f"{where}: doctest options must be 'example' or 'repo' [stdout], not {words}")
    commands: list[Command] = []
    current: list[str] | None = None  # command text being continued
    start = 0
    expected: list[str] = []
    text = ""

    def flush() -> None:
        if text:
            while expected and not expected[-1].strip():
                expected.pop()
            m = EXIT_COMMENT.search(text)
            commands.append(Command(start, text, int(m["code"]) if m else 0, tuple(expected)))

    for offset, raw in enumerate(block.body):
        lineno = block.line + 1 + offset
        if current is not None:  # continuation of a command
            current.append(raw)
            if not raw.endswith("\\"):
                text = "\n".join(current)
                current = None
            continue
        if raw.startswith("$ "):
            flush()
            start, expected = lineno, []
            text = ""
            if raw.endswith("\\"):
                current = [raw[2:]]
            else:
                text = raw[2:]
        elif not commands and not text:
            if raw.strip():
                raise DocFormatError(f"{block.doc}:{lineno}: output before the first '$ ' command")
        else:
            expected.append(raw.rstrip())
    if current is not None:
        raise DocFormatError(f"{where}: the last command ends with a continuation backslash")
    flush()
    if not commands:
        raise DocFormatError(f"{where}: a doctest block holds no '$ ' command")
    return Runnable(block.doc, block.line, words[0], "stdout" in words[1:], tuple(commands))


def runnable_blocks() -> tuple[list[Runnable], list[str]]:
    """The runnable blocks of the runnable documents, and the format errors found on the way."""
    out: list[Runnable] = []
    errors: list[str] = []
    for doc in checked_docs():
        try:
            blocks = fenced_blocks(doc)
        except (OSError, DocFormatError) as exc:
            errors.append(str(exc))
            continue
        for block in blocks:
            if block.marker is None:
                continue
            try:
                out.append(parse_runnable(block))
            except DocFormatError as exc:
                errors.append(str(exc))
    return out, errors


# ------------------------------------------------------------------------------ output matching


def line_matches(pattern: str, actual: str) -> bool:
    """Exact comparison, except that ``...`` inside the pattern stands for any text."""
    if "..." not in pattern:
        return pattern == actual
    regex = ".*".join(re.escape(part) for part in pattern.split("..."))
    return re.fullmatch(regex, actual, flags=re.DOTALL) is not None


def output_matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Line-for-line match; an expected line that is exactly ``...`` matches any run of lines."""

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(actual)
        if expected[i].strip() == "...":
            return any(match(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and line_matches(expected[i], actual[j]) and match(i + 1, j + 1)

    return match(0, 0)


def normalise_output(raw: str) -> list[str]:
    lines = [line.rstrip() for line in raw.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


# ------------------------------------------------------------------------------ running


@dataclass(frozen=True)
class Outcome:
    command: Command
    exit_code: int
    output: tuple[str, ...]


def _scratch_dir(kind: str, parent: Path) -> Path:
    if kind == "example":
        target = parent / "example"
        shutil.copytree(EXAMPLE, target, symlinks=False)
        return target
    target = parent / "repo"
    target.mkdir()
    for name in REPO_ENTRIES:
        (target / name).symlink_to(REPO / name, target_is_directory=True)
    return target


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", TERM="dumb", COLUMNS="100", LC_ALL="C.UTF-8")
    env.pop("PYTHONWARNINGS", None)
    return env


def run_block(block: Runnable) -> list[Outcome]:
    """Run every command of a block, in order, in one scratch folder."""
    with tempfile.TemporaryDirectory(prefix="stormpack-doctest-") as tmp:
        cwd = _scratch_dir(block.cwd, Path(tmp))
        outcomes = []
        for cmd in block.commands:
            proc = subprocess.run(
                ["bash", "-o", "pipefail", "-c", cmd.text],
                cwd=cwd,
                env=_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL if block.stdout_only else subprocess.STDOUT,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
            text = proc.stdout.decode("utf-8", errors="replace")
            outcomes.append(Outcome(cmd, proc.returncode, tuple(normalise_output(text))))
        return outcomes


def check_outcomes(block: Runnable, outcomes: Sequence[Outcome]) -> list[str]:
    """What differs between the documented and the real runs (empty when they agree)."""
    problems = []
    for out in outcomes:
        cmd = out.command
        where = f"{rel(block.doc)}:{cmd.line}: $ {cmd.text}"
        if out.exit_code != cmd.exit_code:
            problems.append(f"{where}\n  exit status {out.exit_code}, documented {cmd.exit_code}")
        if not output_matches(cmd.expected, out.output):
            problems.append(
                f"{where}\n  documented output:\n"
                + "".join(f"    | {line}\n" for line in cmd.expected)
                + "  real output:\n"
                + "".join(f"    | {line}\n" for line in out.output)
            )
    return problems


BLOCKS, BLOCK_ERRORS = runnable_blocks()


def test_runnable_documents_follow_the_conventions() -> None:
    assert not BLOCK_ERRORS, "\n".join(BLOCK_ERRORS)


@pytest.fixture(scope="module")
def block_results(request: pytest.FixtureRequest) -> Iterator[dict[str, list[Outcome]]]:
    """Run each selected block once, several at a time (each block's commands stay in order).

    Only the blocks whose test this session (or xdist worker) runs are started."""
    wanted = {
        param.ident
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_documented_commands_print_what_the_docs_show"
        and isinstance(param := item.callspec.params["block"], Runnable)
    }
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {b.ident: pool.submit(run_block, b) for b in BLOCKS if b.ident in wanted}
        yield {ident: fut.result() for ident, fut in futures.items()}


@pytest.mark.parametrize("block", BLOCKS, ids=[b.ident for b in BLOCKS])
def test_documented_commands_print_what_the_docs_show(
    block: Runnable, block_results: dict[str, list[Outcome]]
) -> None:
    problems = check_outcomes(block, block_results[block.ident])
    assert not problems, "\n".join(problems)


def test_every_runnable_document_has_runnable_examples() -> None:
    by_doc = {doc: [b for b in BLOCKS if b.doc == doc] for doc in RUNNABLE_DOCS}
    assert all(by_doc.values()), {d.name: len(bs) for d, bs in by_doc.items()}
    tutorial = by_doc[REPO / "docs" / "writing-rules.md"]
    # The tutorial's commands are the ones a detection engineer runs, against its real files.
    ran = " ".join(c.text for b in tutorial for c in b.commands)
    for sub in ("validate", "test", "fmt", "compile"):
        assert f"stormpack {sub}" in ran, f"the tutorial never runs stormpack {sub}"
    assert all(b.cwd == "example" for b in tutorial)


def test_console_blocks_are_all_marked_runnable() -> None:
    """A block that shows a `$ ` prompt shows output: it must be a tested one."""
    unmarked = [
        f"{rel(b.doc)}:{b.line}"
        for doc in RUNNABLE_DOCS
        for b in fenced_blocks(doc)
        if b.marker is None and any(line.startswith("$ ") for line in b.body)
    ]
    assert not unmarked, f"sh blocks with '$ ' prompts but no <!-- doctest: ... --> marker: {unmarked}"


def test_readme_starts_with_the_two_commands() -> None:
    first = fenced_blocks(REPO / "README.md")[0]
    commands = [line.split("#", 1)[0].strip() for line in first.body if line.strip()]
    assert commands == ["make build", "make test"]


def test_included_files_are_shown_verbatim() -> None:
    includes = [b for doc in checked_docs() for b in fenced_blocks(doc) if b.include is not None]
    assert includes, "the tutorial shows its rule and fixtures through <!-- include: PATH -->"
    for block in includes:
        assert block.include is not None
        path = REPO / block.include
        assert path.is_file(), f"{block.doc}:{block.line}: {block.include} does not exist"
        shown = "\n".join(block.body)
        assert shown == path.read_text(encoding="utf-8").rstrip("\n"), (
            f"{rel(block.doc)}:{block.line}: the block differs from {block.include}"
        )


# ------------------------------------------------------------------------------ the conventions
# Self-tests of the checker itself: a wrong document must fail.


def _doc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_output_matching_rules() -> None:
    assert output_matches(["a", "b"], ["a", "b"])
    assert not output_matches(["a", "b"], ["a", "b", "c"])  # nothing left out silently
    assert not output_matches(["a"], ["b"])
    assert output_matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert output_matches(["a", "...", "b"], ["a", "b"])
    assert output_matches(["PASS x (... cases)"], ["PASS x (12 cases)"])
    assert not output_matches(["PASS x (... cases)"], ["FAIL x (1 failure)"])
    assert output_matches([], [])
    assert not output_matches([], ["unexpected"])


def test_a_wrong_documented_output_or_exit_status_is_reported(tmp_path: Path) -> None:
    doc = _doc(
        tmp_path,
        "text\n\n<!-- doctest: example -->\n```sh\n$ printf 'one\\ntwo\\n'\none\nthree\n"
        "$ false\n$ exit 3  # exit 3\n```\n",
    )
    (block,) = [parse_runnable(b) for b in fenced_blocks(doc) if b.marker is not None]
    assert [(c.line, c.exit_code) for c in block.commands] == [(5, 0), (8, 0), (9, 3)]
    problems = check_outcomes(block, run_block(block))
    assert len(problems) == 2
    assert "documented output" in problems[0] and "    | two" in problems[0]
    assert "$ false" in problems[1] and "exit status 1, documented 0" in problems[1]


def test_continuation_lines_join_one_command(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "<!-- doctest: repo -->\n```sh\n$ echo a \\\n  b\na b\n```\n")
    (block,) = [parse_runnable(b) for b in fenced_blocks(doc) if b.marker is not None]
    assert block.commands == (Command(3, "echo a \\\n  b", 0, ("a b",)),)
    assert check_outcomes(block, run_block(block)) == []


@pytest.mark.parametrize(
    "text",
    [
        "<!-- doctest: example -->\nprose\n```sh\n$ true\n```\n",  # marker not before a block
        "<!-- doctest: example -->\n```yaml\n$ true\n```\n",  # not sh
        "<!-- doctest: elsewhere -->\n```sh\n$ true\n```\n",  # unknown place
        "<!-- doctest: repo -->\n```sh\noutput\n$ true\n```\n",  # output before a command
        "<!-- doctest: repo -->\n```sh\n# just a comment\n```\n",  # nothing to run
        "<!-- doctest: repo -->\n```sh\n$ true\n",  # never closed
    ],
)
def test_malformed_markers_are_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(DocFormatError):
        for b in fenced_blocks(_doc(tmp_path, text)):
            if b.marker is not None:
                parse_runnable(b)


# ------------------------------------------------------------------------------ links

LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\((?P<target><[^>]+>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(?P<target>\S+)", re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def _markdown_lines(doc: Path) -> Iterator[tuple[int, str, str]]:
    """Every line of a Markdown file: (1-based number, text, kind), kind "open" or "close" for a
    line opening or closing a fenced block, "code" inside one, "prose" elsewhere."""
    fence = None
    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
        m = FENCE.match(line)
        if fence is None and m is not None:
            fence = m["fence"]
            yield n, line, "open"
        elif fence is not None and line.startswith(fence):
            fence = None
            yield n, line, "close"
        else:
            yield n, line, "prose" if fence is None else "code"


def _prose(doc: Path) -> str:
    """The document without its fenced blocks and inline code (links there are not links)."""
    return "\n".join(INLINE_CODE.sub("``", line) if kind == "prose" else ""
                     for _, line, kind in _markdown_lines(doc))


def heading_anchors(doc: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    anchors: set[str] = set()
    counts: dict[str, int] = {}
    for _, line, kind in _markdown_lines(doc):
        if kind != "prose":
            continue
        h = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if h is None:
            continue
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", h[1])  # link text only
        title = title.replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        n = counts.get(slug, 0)
        counts[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def relative_links(doc: Path) -> list[str]:
    prose = _prose(doc)
    targets = [m["target"].strip("<>") for m in LINK.finditer(prose)]
    targets += [m["target"] for m in REF_DEF.finditer(prose)]
    return [t for t in targets if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", t)]


@pytest.mark.parametrize("doc", checked_docs(), ids=rel)
def test_relative_links_point_to_existing_files(doc: Path) -> None:
    broken = []
    for target in relative_links(doc):
        path_part, _, anchor = target.partition("#")
        dest = (doc.parent / path_part).resolve() if path_part else doc
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {rel(dest)}")
        elif REPO not in dest.parents:
            broken.append(f"{target}: outside the repository")
    assert not broken, f"{rel(doc)}: " + "; ".join(broken)


def test_link_checker_finds_broken_links(tmp_path: Path) -> None:
    doc = _doc(
        tmp_path,
        "# Top heading\n[ok](doc.md) [anchor](#top-heading) [web](https://example.org/x)\n"
        "`[not a link](nowhere.md)`\n```\n[nor](this.md)\n```\n[gone](missing.md) [bad](#nope)\n",
    )
    assert relative_links(doc) == ["doc.md", "#top-heading", "missing.md", "#nope"]
    assert heading_anchors(doc) == {"top-heading"}


# ------------------------------------------------------------------------------ command names

STORMPACK_CALL = re.compile(r"(?:^|[\s`(/])stormpack[ \t]+(?P<sub>[a-z][\w-]*)(?P<rest>[^`\n]*)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")


def _code_texts(doc: Path) -> list[tuple[int, str]]:
    """Inline code spans and fenced-block lines (shell comments cut, lines continued with a
    trailing backslash joined), with their 1-based line numbers."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None  # a fenced line continued by a trailing backslash
    for n, line, kind in _markdown_lines(doc):
        if kind == "open":
            continue
        if kind == "close":
            if pending is not None:
                out.append(pending)
                pending = None
            continue
        if kind == "code":
            code = "" if line.lstrip().startswith("#") else line.split(" #", 1)[0]
            pending = (n, code) if pending is None else (pending[0], f"{pending[1]} {code.strip()}")
            if not pending[1].rstrip().endswith("\\"):
                out.append(pending)
                pending = None
            else:
                pending = (pending[0], pending[1].rstrip()[:-1])
            continue
        out += [(n, span.strip("`")) for span in INLINE_CODE.findall(line)]
    return out


def _command_options(name: str) -> set[str]:
    ctx = click.Context(cli)
    cmd = cli.get_command(ctx, name)
    assert cmd is not None
    opts = {"--help"}
    for param in cmd.params:
        if isinstance(param, click.Option):
            opts.update(param.opts)
            opts.update(param.secondary_opts)
    return opts


def stormpack_calls(doc: Path) -> list[tuple[int, str, list[str]]]:
    calls = []
    for lineno, code in _code_texts(doc):
        for m in STORMPACK_CALL.finditer(code):
            calls.append((lineno, m["sub"], OPTION.findall(re.split(r"\s\|\s", m["rest"], maxsplit=1)[0])))
    return calls


@pytest.mark.parametrize("doc", checked_docs(), ids=rel)
def test_named_stormpack_commands_and_options_exist(doc: Path) -> None:
    problems = []
    for lineno, sub, options in stormpack_calls(doc):
        if sub not in COMMANDS or cli.get_command(click.Context(cli), sub) is None:
            problems.append(f"line {lineno}: 'stormpack {sub}' is not a command")
            continue
        known = _command_options(sub)
        problems += [f"line {lineno}: 'stormpack {sub}' has no option {o}" for o in options if o not in known]
    assert not problems, f"{rel(doc)}: " + "; ".join(problems)


def test_command_checker_reads_code_only(tmp_path: Path) -> None:
    doc = _doc(
        tmp_path,
        "stormpack is a pack; `stormpack tset rules/` and\n```sh\nstormpack hunt --rules r --evnts e"
        "  # stormpack nothing\n.venv/bin/stormpack test --junit x.xml | tee log\n"
        "stormpack compile rules \\\n  --values v \\\n  --trget splunk\n```\n",
    )
    assert stormpack_calls(doc) == [
        (1, "tset", []),
        (3, "hunt", ["--rules", "--evnts"]),
        (4, "test", ["--junit"]),
        (5, "compile", ["--values", "--trget"]),
    ]
    assert "--evnts" not in _command_options("hunt") and "--events" in _command_options("hunt")
