"""The one error hierarchy (stormpack/errors.py).

* every exception class the package defines is a StormpackError and is defined in errors.py (the
  test walks the source tree, so a class added anywhere later is checked too);
* errors carry their parts as fields (rule, target, field, reason), so no caller splits a message;
* a bug of ours inside the compiler (an AssertionError, a TypeError...) is not turned into
  "rule cannot be compiled": it escapes, and the CLI prints its traceback with a request to report
  it and exits with its own status (70, sysexits.h EX_SOFTWARE), apart from 2 (the user's error).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from package_support import load, package_sources
from stormpack import errors
from stormpack.errors import CompileError, StormpackError, TaxonomyError


def _exception_classes() -> list[tuple[str, str, type[BaseException]]]:
    """(module, class name, class) of every exception class the package's sources define."""
    found = []
    for name, path in package_sources().items():
        module = load(name)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(n) for n in tree.body}
        for node in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            if id(node) in top:
                cls = vars(module)[node.name]
            else:  # a nested class: judge it by its bases, read in the module's namespace
                bases = [eval(ast.unparse(b), vars(module)) for b in node.bases]
                if any(isinstance(b, type) and issubclass(b, BaseException) for b in bases):
                    raise AssertionError(f"{path}:{node.lineno}: exception class {node.name} is nested; "
                                         "define it in stormpack/errors.py")
                continue
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found.append((name, node.name, cls))
    return found


def test_every_exception_class_is_in_the_one_hierarchy() -> None:
    classes = _exception_classes()
    assert len(classes) >= 30, "the walk found too few exception classes: is it still walking the package?"
    wrong = [f"{mod}.{name}" for mod, name, cls in classes if not issubclass(cls, StormpackError)]
    assert not wrong, f"exception classes outside the StormpackError hierarchy: {wrong}"
    elsewhere = [f"{mod}.{name}" for mod, name, _ in classes if mod != "stormpack.errors"]
    assert not elsewhere, f"define these in stormpack/errors.py (re-export them where they were): {elsewhere}"


def test_moved_classes_are_still_importable_where_they_were() -> None:
    from stormpack.compiler.kusto import Unexpressible
    from stormpack.matcher.results import TimestampError
    from stormpack.querycheck.errors import SplSyntaxError
    from stormpack.yamlio import YamlError

    assert Unexpressible is errors.Unexpressible
    assert TimestampError is errors.TimestampError
    assert SplSyntaxError is errors.SplSyntaxError
    assert YamlError is errors.YamlError


def test_unexpressible_is_also_a_pysigma_backend_error() -> None:
    from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

    exc = errors.Unexpressible("no way")
    assert isinstance(exc, SigmaFeatureNotSupportedByBackendError)
    assert str(exc) == "no way" and exc.reason == "no way"


def test_structured_fields_and_their_rendering() -> None:
    exc = CompileError("no column", errors.Location("r.yml", 7), rule="T", target="splunk", field="F")
    assert (exc.rule, exc.target, exc.field, exc.reason) == ("T", "splunk", "F", "no column")
    assert str(exc) == "r.yml:7: rule 'T', target splunk, field 'F': no column"
    tax = TaxonomyError("log source x/y is not in the taxonomy", rule="T")
    assert tax.reason == "log source x/y is not in the taxonomy"
    assert str(tax) == "rule 'T': log source x/y is not in the taxonomy"


RULE = """title: Plain Rule
id: 7e1d7c1e-0000-4000-8000-0000000000b1
status: test
logsource:
  product: m365
  service: audit
detection:
  sel:
    Operation: MailItemsAccessed
  condition: sel
level: low
"""


def _backend_class(target: str) -> type:
    from stormpack.compiler.kusto import StormKustoBackend
    from stormpack.compiler.splunk import StormSplunkBackend

    return StormSplunkBackend if target == "splunk" else StormKustoBackend


def _force_bug(monkeypatch: pytest.MonkeyPatch, target: str, exc: BaseException) -> None:
    """Make the backend's string-equality rendering (reached through pySigma's convert_rule, which
    re-raises what is not a SigmaError) fail the way a bug of ours would."""

    def broken(*args: object, **kwargs: object) -> str:
        raise exc

    monkeypatch.setattr(_backend_class(target), "convert_condition_field_eq_val_str", broken)


@pytest.mark.parametrize("target", ["sentinel", "splunk"])
@pytest.mark.parametrize("bug", [AssertionError, TypeError, KeyError, AttributeError, ValueError])
def test_a_bug_inside_the_compiler_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, bug: type[Exception]
) -> None:
    from stormpack.compiler import compile_rules

    rule = tmp_path / "rule.yml"
    rule.write_text(RULE, encoding="utf-8")
    assert compile_rules([rule], target, {}).ok  # the rule itself is fine
    _force_bug(monkeypatch, target, bug("forced internal error"))
    with pytest.raises(bug, match="forced internal error"):
        compile_rules([rule], target, {})


def test_what_the_target_cannot_express_is_still_a_rule_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stormpack.compiler import compile_rules

    rule = tmp_path / "rule.yml"
    rule.write_text(RULE, encoding="utf-8")
    _force_bug(monkeypatch, "sentinel", errors.Unexpressible("no such construct here"))
    res = compile_rules([rule], "sentinel", {})
    assert [(e.rule, e.target, e.reason) for e in res.errors] == [
        ("Plain Rule", "sentinel", "no such construct here")
    ]
    assert res.errors[0].location is not None and res.errors[0].location.path == rule


def test_the_cli_reports_a_bug_as_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stormpack.cli import BUG_EXIT_STATUS, main

    rule = tmp_path / "rule.yml"
    rule.write_text(RULE, encoding="utf-8")
    _force_bug(monkeypatch, "sentinel", TypeError("forced internal error"))
    with pytest.raises(SystemExit) as exit_info:
        main(["compile", "--target", "sentinel", str(rule)])
    assert exit_info.value.code == BUG_EXIT_STATUS == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "TypeError: forced internal error" in err
    assert "this is a stormpack bug, please report it" in err.splitlines()[-1]
    assert "cannot be compiled" not in err


def test_the_cli_reports_a_users_error_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stormpack.cli import main

    rule = tmp_path / "rule.yml"
    rule.write_text(RULE.replace("Operation:", "NoSuchField:"), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["compile", "--target", "sentinel", str(rule)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "bug" not in err
    assert f"{rule}:9: rule 'Plain Rule', target sentinel, field 'NoSuchField': " in err
