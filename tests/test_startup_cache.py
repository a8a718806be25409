"""Start-up work that is cached or sped up (issue #13): generated matcher code cached on disk
as code objects (stormpack.cache), YAML parsed by libyaml with the strict checks kept
(stormpack.yamlio)."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest
import yaml

from stormpack import cache, yamlio
from stormpack.matcher import Engine
from stormpack.ruleset import load_ruleset, load_values

REPO = Path(__file__).resolve().parent.parent
SOURCE = "def pred(r):\n    return r.get('Operation') == 'Send'\n"


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STORMPACK_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("STORMPACK_NO_CACHE", raising=False)
    return tmp_path / "c"


def _entries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _run(code: object) -> object:
    ns: dict[str, object] = {}
    exec(code, ns)  # noqa: S102 - the test's own source
    return ns["pred"]({"Operation": "Send"})  # type: ignore[operator]


def test_code_is_cached_and_read_back(cache_dir: Path) -> None:
    first = cache.compiled_code(SOURCE, "<stormpack rule t>")
    (entry,) = _entries(cache_dir)
    assert marshal.loads(entry.read_bytes()).co_filename == "<stormpack rule t>"
    second = cache.compiled_code(SOURCE, "<stormpack rule t>")
    assert second is not first and second.co_code == first.co_code and _run(second) is True
    # another source is another entry: a changed rule never meets a stale entry
    cache.compiled_code(SOURCE.replace("Send", "Move"), "<stormpack rule t>")
    assert len(_entries(cache_dir)) == 2


def test_a_corrupt_entry_is_rebuilt_not_trusted(cache_dir: Path) -> None:
    cache.compiled_code(SOURCE, "<stormpack rule t>")
    (entry,) = _entries(cache_dir)
    for garbage in (b"", b"\x00garbage", marshal.dumps("not code"),
                    marshal.dumps(compile("x = 1", "<other file>", "exec"))):
        entry.write_bytes(garbage)
        code = cache.compiled_code(SOURCE, "<stormpack rule t>")
        assert _run(code) is True
        assert marshal.loads(entry.read_bytes()).co_filename == "<stormpack rule t>"  # rewritten


def test_cache_off_or_unwritable_only_costs_speed(cache_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORMPACK_NO_CACHE", "1")
    assert _run(cache.compiled_code(SOURCE, "<stormpack rule t>")) is True
    assert not _entries(cache_dir)
    monkeypatch.delenv("STORMPACK_NO_CACHE")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("STORMPACK_CACHE_DIR", str(blocker))
    assert _run(cache.compiled_code(SOURCE, "<stormpack rule t>")) is True


def test_the_pack_matches_the_same_with_a_cold_and_a_warm_cache(cache_dir: Path) -> None:
    ruleset = load_ruleset([REPO / "rules"])
    values = load_values(REPO / "fixtures" / "values")
    cold = Engine.build(ruleset, values)
    assert _entries(cache_dir)  # the generated predicates were stored
    warm = Engine.build(ruleset, values)
    rec = {"RecordType": 50, "Operation": "MailItemsAccessed", "Workload": "Exchange",
           "CreationTime": "2023-06-20T10:00:00", "ClientIPAddress": "51.89.156.153",
           "UserId": "a@contoso.com", "AppId": "00000000-0000-0000-0000-00000000000a"}
    spec = cold.classify(rec)
    assert spec is not None
    names = [r.loaded.stem for r in cold.matching_rules(rec, spec)]
    assert names and names == [r.loaded.stem for r in warm.matching_rules(rec, spec)]


def _yaml_files() -> list[Path]:
    files = [*REPO.glob("rules/**/*.yml"), *REPO.glob("fixtures/**/*.yml"), *REPO.glob("values/*.yml"),
             *REPO.glob("compiler/stormpack/data/**/*.yml")]
    return sorted(p for p in files if not p.is_symlink())


def test_libyaml_and_the_python_loader_agree_on_every_yaml_file_of_the_repository() -> None:
    files = _yaml_files()
    assert len(files) > 150
    aliased = 0
    for path in files:
        text = yamlio.read_text_file(path)
        try:
            slow = list(yaml.load_all(text, Loader=yamlio._NoAliasComposer))  # noqa: S506
        except yaml.YAMLError:  # a data file using aliases: read with aliases allowed
            aliased += 1
            assert yamlio._load_fast(text, allow_aliases=False, multi=True) is yamlio._SLOW, path
            slow = list(yaml.load_all(text, Loader=yamlio._StrictLoader))  # noqa: S506
            assert yamlio._load_fast(text, allow_aliases=True, multi=True) == slow, path
            continue
        assert yamlio._load_fast(text, allow_aliases=False, multi=True) == slow, path
    assert aliased < len(files) // 10


@pytest.mark.parametrize("text, where", [
    ("a: &x [1, 2]\nb: *x\n", "r.yml:2: "),       # alias refused at its use
    ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'"),  # duplicate key
    ("a: [1, 2\n", "malformed YAML"),             # syntax error
])
def test_strict_errors_are_the_python_loaders(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "r.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(yamlio.YamlError) as info:
        yamlio.load_yaml_file(path)
    assert where in f"{info.value}"


RULE = """title: Cache Probe Rule
id: 8a0f3c1e-5d7b-4a54-9d8e-3f1a2b4c5d6e
status: experimental
description: A rule used only by this test.
author: stormpack tests
date: 2026-12-07
tags:
    - attack.collection
logsource:
    product: m365
    service: audit
detection:
    selection:
        Operation: MailItemsAccessed
        UserId|expand: '%org_soc_mail_reviewers%'
    condition: selection
level: low
"""


def _verdict(rule: Path, values: Path, user: str) -> bool:
    engine = Engine.build(load_ruleset([rule]), load_values(values))
    rec = {"RecordType": 50, "Operation": "MailItemsAccessed", "Workload": "Exchange",
           "CreationTime": "2023-06-20T10:00:00", "UserId": user}
    spec = engine.classify(rec)
    assert spec is not None
    return bool(engine.matching_rules(rec, spec))


def test_a_warm_cache_never_gives_a_stale_verdict(cache_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A change to a rule, a values file or the package version is seen with the cache warm."""
    rule = tmp_path / "probe.yml"
    values = tmp_path / "values.yml"
    rule.write_text(RULE, encoding="utf-8")
    values.write_text("org_soc_mail_reviewers:\n  - soc1@contoso.com\n", encoding="utf-8")
    assert _verdict(rule, values, "soc1@contoso.com")
    assert not _verdict(rule, values, "soc2@contoso.com")
    # values file changed, cache warm
    values.write_text("org_soc_mail_reviewers:\n  - soc2@contoso.com\n", encoding="utf-8")
    assert _verdict(rule, values, "soc2@contoso.com")
    assert not _verdict(rule, values, "soc1@contoso.com")
    # rule changed, cache warm
    rule.write_text(RULE.replace("Operation: MailItemsAccessed", "Operation: Send"), encoding="utf-8")
    assert not _verdict(rule, values, "soc2@contoso.com")
    # another package version: other keys, the old entries are not read
    before = set(_entries(cache_dir))
    monkeypatch.setattr(cache, "__version__", "999.0")
    assert not _verdict(rule, values, "soc2@contoso.com")
    assert set(_entries(cache_dir)) > before
