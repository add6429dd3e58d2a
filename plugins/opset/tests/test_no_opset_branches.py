"""No module of the opset plugin but ``forms`` branches on the target opset, not even through a
forms predicate.

The rule (issue 8): a conversion never branches on ``g.opset``; a change at opset N is a
registration in ``opsetN/``; the ONNX forms whose signature or availability changes across
opsets are small named functions of ``onnxplug_opset.forms``, the only module that reads the
opset. A *predicate* is a function of ``forms.availability`` returning bool, listed in
``forms.PREDICATES`` (``has_*``, ``*_takes_*``...: whether an op, an input type or an attribute
exists at the target opset). forms' own emitters call them; every other module calls the emitters instead, so what
the plugin emits at opset N is read in ``forms`` and in the ``opsetN/`` registrations.

Checked on the syntax tree of every module (comments and strings cannot hide or fake a hit):

* no ``<anything>.opset`` attribute read (``registration.py`` excepted: it maps a package name
  to its opset);
* no call of a forms predicate, whether as ``forms.has_where(g)`` or imported by name.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import onnxplug_opset
from onnxplug_opset import forms

PACKAGE = Path(onnxplug_opset.__file__).parent
OPSET_READERS = {"forms.py", "registration.py"}


def _modules() -> list[Path]:
    """Every module of the plugin except forms (and its package, if it becomes one)."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if "__pycache__" in path.parts or rel == "forms.py" or rel.startswith("forms/"):
            continue
        out.append(path)
    return out


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_predicates_are_forms_functions_returning_bool():
    """``forms.PREDICATES`` names functions of forms annotated ``-> bool``, each documented with
    the opset where its answer changes."""
    assert forms.PREDICATES, "forms.PREDICATES is empty"
    for name in forms.PREDICATES:
        fn = getattr(forms, name, None)
        assert callable(fn), f"forms.PREDICATES names {name!r}, which forms does not define"
        assert inspect.signature(fn).return_annotation in (bool, "bool"), name
        assert any(ch.isdigit() for ch in fn.__doc__ or ""), f"forms.{name}: no opset in its docstring"


def test_every_bool_function_of_forms_is_a_listed_predicate():
    """A forms function returning bool is a predicate: listed, so the check below covers it."""
    unlisted = [name for name, fn in vars(forms).items()
                if inspect.isfunction(fn) and fn.__module__.startswith(forms.__name__ + ".")
                and inspect.signature(fn).return_annotation in (bool, "bool")
                and name not in forms.PREDICATES]
    assert not unlisted, f"add these to forms.PREDICATES: {unlisted}"


def _offences(path: Path, rel: str | None = None) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = rel or _rel(path)
    forms_names = {"forms"}  # names bound to the forms module in this file
    predicate_names = set()  # predicates imported by name
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                bound = alias.asname or alias.name
                if module.split(".")[-1] == "forms" and alias.name in forms.PREDICATES:
                    predicate_names.add(bound)
                if alias.name == "forms":
                    forms_names.add(bound)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.endswith(".forms") and alias.asname:
                    forms_names.add(alias.asname)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "opset" and Path(rel).name not in OPSET_READERS:
            found.append(f"{rel}:{node.lineno} reads .opset")
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        if (isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name)
                and fn.value.id in forms_names and fn.attr in forms.PREDICATES):
            found.append(f"{rel}:{node.lineno} calls forms.{fn.attr}")
        elif isinstance(fn, ast.Name) and fn.id in predicate_names:
            found.append(f"{rel}:{node.lineno} calls the forms predicate {fn.id}")
    return found


def test_the_check_sees_the_modules():
    names = {_rel(p) for p in _modules()}
    assert {"opset7/shape.py", "shape_helpers.py", "nn_helpers.py", "opset9/reduction.py"} <= names
    assert "forms.py" not in names


def test_the_check_finds_a_branch(tmp_path):
    """The checker itself: a planted branch on a predicate and an opset read are both found."""
    planted = tmp_path / "planted.py"
    planted.write_text("from .. import forms\nfrom ..forms import has_where as hw\n\n"
                       "def f(g):\n    if forms.has_where(g):\n        return 1\n"
                       "    y = 2 if hw(g) else 3\n    return g.opset + y\n")
    found = _offences(planted, "opset7/planted.py")
    assert len(found) == 3, found


def test_no_module_but_forms_branches_on_the_opset():
    offences = [o for path in _modules() for o in _offences(path)]
    assert not offences, ("these lines branch on the target opset outside forms; call a form of "
                          "onnxplug_opset.forms, or register the new form in opsetN/:\n  "
                          + "\n  ".join(offences))
