"""The one error hierarchy (stormpack/errors.py).

* every exception class the package defines is a StormpackError and is defined in errors.py (the
  test walks the source tree, so a class added anywhere later is checked too);
* errors carry their parts as fields (rule, target, field, reason), so no caller splits a message.
"""

from __future__ import annotations

import ast

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
