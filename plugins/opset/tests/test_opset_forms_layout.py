"""The opset plugin's layout: what it emits at opset N is found in one step.

* only the ``forms`` package reads the target opset (``g.opset``): conversions and helpers call the form
  they need, and a change at opset N is a registration in ``opsetN/`` (``test_no_opset_branches``
  also rules out branching on a forms predicate);
* a later opset never imports an earlier opset's private (``_name``) functions;
* ``onnxplug ops --where KEY`` points at a line that names KEY, also for conversions made by
  factories.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import onnxplug_opset
from onnxplug.errors import UnsupportedOperatorError

PACKAGE = Path(onnxplug_opset.__file__).parent
ROOT = PACKAGE.parents[2]  # the checkout: ``--where`` prints paths relative to it
ALLOWED_OPSET_READERS = {"registration.py"}  # and the forms package


def _sources():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _checked():
    """The modules that must not read the opset."""
    return [p for p in _sources()
            if not (p.parent == PACKAGE and p.name in ALLOWED_OPSET_READERS)
            and p.parent != PACKAGE / "forms"]


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_sources_found():
    names = {_rel(p) for p in _sources()}
    assert "forms/availability.py" in names and "opset7/shape.py" in names


def test_only_forms_reads_the_opset():
    """No attribute read ``<anything>.opset`` outside the forms package (and registration.py)."""
    offenders = []
    for path in _checked():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "opset":
                offenders.append(f"{_rel(path)}:{node.lineno}")
    assert not offenders, ("these lines read the opset; ask a function of onnxplug_opset.forms "
                           "(or register the new form in opsetN/) instead: " + ", ".join(offenders))


def test_the_grep_agrees():
    """The same rule as a plain text search, as a reader would check it (comments aside)."""
    pattern = re.compile(r"\bg\.opset\b")
    hits = []
    for path in _checked():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and "``g.opset``" not in code:
                hits.append(f"{_rel(path)}:{n}")
    assert not hits, hits


def test_no_private_imports_across_opsets():
    """``from ..opsetN.x import _private`` (or ``_private`` read off a module imported from
    another opset package) is not allowed: shared code is a public helper."""
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and re.match(r"opset\d+\b", node.module):
                for alias in node.names:
                    if alias.name.startswith("_"):
                        offenders.append(f"{_rel(path)}:{node.lineno} imports {node.module}.{alias.name}")
                    aliases.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                offenders.append(f"{_rel(path)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not offenders, offenders


def test_forms_documents_each_form():
    """Every public function of forms.py says what changes at which opset."""
    from onnxplug_opset import forms

    documented = [name for name, fn in vars(forms).items()
                  if callable(fn) and getattr(fn, "__module__", "").startswith(forms.__name__ + ".")]
    assert len(documented) > 50, documented
    missing = [name for name in documented
               if (fn := getattr(forms, name))
               and not name.startswith("_") and not re.search(r"\d", fn.__doc__ or "")
               and name != "target_opset"]
    assert not missing, f"forms without the opset in their docstring: {missing}"


def _where(key: str) -> str:
    out = subprocess.run([sys.executable, "-m", "onnxplug.cli", "ops", "--where", key],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _row(report: str, opset: int) -> str:
    rows = [line for line in report.splitlines() if re.match(rf"\s*{opset}\s", line)]
    assert len(rows) == 1, report
    return rows[0]


def _statement_at(location: str) -> str:
    """The registration at ``file:line``: a decorated ``def`` (decorators and signature) or the
    module-level statement covering that line."""
    file, _, line = location.rpartition(":")
    path = Path(file) if Path(file).is_absolute() else ROOT / file
    n = int(line)
    source = path.read_text()
    lines = source.splitlines()
    for node in ast.parse(source).body:
        start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
        if start <= n <= node.end_lineno:
            end = node.body[0].lineno - 1 if isinstance(node, ast.FunctionDef) else node.end_lineno
            return "\n".join(lines[start - 1:end])
    raise AssertionError(f"no top-level statement at {location}")


@pytest.mark.parametrize("key", ["aten::upsample_nearest2d.vec", "aten::unsqueeze"])
def test_where_names_the_key_at_opset_11(key):
    """``onnxplug ops --where KEY`` at opset 11 prints a file:line whose registration names KEY."""
    row = _row(_where(key), 11)
    assert "opset:" in row, row
    location = row.split()[-1]
    assert re.search(r"onnxplug_opset/opset\d+/\w+\.py:\d+$", location), row
    statement = _statement_at(location)
    assert f'"{key}"' in statement, f"{location} does not name {key}:\n{statement}"


def test_where_names_factory_made_unary_conversions():
    """A conversion made by ``unary_float`` is registered by key at its module's top level."""
    row = _row(_where("aten::sinh"), 11)
    statement = _statement_at(row.split()[-1])
    assert '"aten::sinh"' in statement, statement


class BitwiseNot(torch.nn.Module):
    def forward(self, i, u, b):
        return ~i, ~u, ~b, i & 6, b ^ b.logical_not()


@pytest.mark.parametrize("opset", [7, 17, 18])
def test_a_change_at_18_is_a_registration_there(check, opset):
    """``bitwise_not`` and friends: composed (integers) or logical (bools) through opset 17 in
    ``opset7.comparison``, the Bitwise ops from the ``opset18`` registrations; eager matches."""
    args = (torch.tensor([-8, -3, 0, 5, 2**40]), torch.tensor([0, 1, 200, 255], dtype=torch.uint8),
            torch.tensor([True, False, True]))
    if opset < 18:  # an integer bitwise_and has no form before 18: it declines
        with pytest.raises(UnsupportedOperatorError, match="BitwiseAnd on integer tensors needs opset 18"):
            check(BitwiseNot(), args, opset=opset)
        result = check(BitwiseNotOnly(), args, opset=opset)
        assert not any(n.op_type.startswith("Bitwise") for n in result.model.graph.node)
        return
    result = check(BitwiseNot(), args, opset=opset)
    ops = {n.op_type for n in result.model.graph.node}
    assert {"BitwiseNot", "BitwiseAnd"} <= ops, ops


class BitwiseNotOnly(torch.nn.Module):
    def forward(self, i, u, b):
        return ~i, ~u, ~b, b ^ b.logical_not()
