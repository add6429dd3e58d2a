"""Round trips that give a value back: ``Unsqueeze(Squeeze(x))`` and casts around a ``Where``.

Both rewrites are exact.

* ``Unsqueeze(Squeeze(x, axes), axes)`` is ``x`` when both name the same axes of ``x`` (the
  Squeeze only accepts axes of length 1, and the Unsqueeze puts them back where they were). The
  lowering writes it where a shape is read as a scalar and used as a 1-element list again
  (``Shape -> Squeeze -> Unsqueeze -> Concat``).
* ``Cast(Where(c, Cast(x, wide), k), narrow)``, where ``x`` already has the narrow type, the
  first cast widens exactly (float16 to float32 or float64, float32 to float64) and
  ``k`` is a constant that the narrow type holds exactly, is ``Where(c, x, k')`` with ``k'`` the
  narrow copy of ``k`` (either branch may be the cast one, or both). ``Where`` only selects, so
  selecting before or after the round trip gives the same bits. PyTorch's float16 softmax
  for fully masked rows leaves this pattern behind.

The nodes that become unused go; a node whose output something else reads stays.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import onnx
import onnx_ir as ir

from .rewrite import ExportPass, constant_array, copy_meta, is_default_domain, may_merge, new_constant, replace_value

# narrow -> the wider float types it converts to exactly. Not bfloat16: Where has it only from
# opset 16, and onnxruntime (1.32) has no bfloat16 Where kernel at any opset
_WIDENS = {
    ir.DataType.FLOAT16: (ir.DataType.FLOAT, ir.DataType.DOUBLE),
    ir.DataType.FLOAT: (ir.DataType.DOUBLE,),
}


@lru_cache(maxsize=None)
def _where_takes(dtype: ir.DataType, opset: int) -> bool:
    """Whether ``Where`` at ``opset`` has the narrow float type (bfloat16 only from opset 16)."""
    schema = onnx.defs.get_schema("Where", opset, "")
    allowed = next(t.allowed_type_strs for t in schema.type_constraints if t.type_param_str == "T")
    return f"tensor({dtype.name.lower()})" in allowed


class CollapseRoundTripsPass(ExportPass):
    """Remove ``Unsqueeze(Squeeze(x))`` round trips and narrow ``Cast(Where(Cast))`` chains."""

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        graph = model.graph
        self._opset = model.opset_imports.get("", 1)
        modified = False
        for node in list(graph):
            if node.graph is not graph or not is_default_domain(node) or not node.inputs:
                continue
            if node.op_type == "Unsqueeze":
                modified |= self._unsqueeze_squeeze(graph, node)
            elif node.op_type == "Cast":
                modified |= self._narrow_where(graph, node)
        return ir.passes.PassResult(model, modified=modified)

    # ------------------------------------------------------------------ Unsqueeze(Squeeze)

    def _axes(self, node: ir.Node, rank: int) -> list[int] | None:
        """The node's axes (attribute before opset 13, input from 13), made non-negative."""
        attr = node.attributes.get("axes")
        if attr is not None:
            axes = list(attr.as_ints())
        elif len(node.inputs) > 1 and node.inputs[1] is not None:
            array = constant_array(node.inputs[1], self.options)
            if array is None:
                return None
            axes = [int(a) for a in array.reshape(-1)]
        else:
            return None  # Squeeze without axes: every 1, which needs the shape
        if any(not -rank <= a < rank for a in axes):
            return None
        return sorted(a % rank for a in axes)

    def _unsqueeze_squeeze(self, graph: ir.Graph, node: ir.Node) -> bool:
        inner = node.inputs[0].producer() if node.inputs[0] is not None else None
        if (inner is None or inner.op_type != "Squeeze" or not is_default_domain(inner)
                or inner.graph is not graph or not may_merge(inner, node, self.options, self.fx_nodes)):
            return False
        x = inner.inputs[0]
        rank = _rank(x)
        if rank is None:
            return False
        squeezed, restored = self._axes(inner, rank), self._axes(node, rank)
        if squeezed is None or squeezed != restored or len(set(squeezed)) != len(squeezed):
            return False
        if not replace_value(node.outputs[0], x):
            return False
        graph.remove(node, safe=True)
        _drop_if_unused(graph, inner)
        return True

    # ------------------------------------------------------------------ Cast(Where(Cast))

    def _narrow_where(self, graph: ir.Graph, cast: ir.Node) -> bool:
        to = cast.attributes.get("to")
        where = cast.inputs[0].producer() if cast.inputs[0] is not None else None
        if (to is None or where is None or where.op_type != "Where" or not is_default_domain(where)
                or where.graph is not graph or len(where.inputs) != 3
                or not may_merge(where, cast, self.options, self.fx_nodes)):
            return False
        narrow = ir.DataType(to.as_int())
        wide = where.outputs[0].dtype or _dtype(where.inputs[1]) or _dtype(where.inputs[2])
        if narrow not in _WIDENS or wide not in _WIDENS[narrow] or not _where_takes(narrow, self._opset) \
                or any(_dtype(v) not in (None, wide) for v in where.inputs[1:]):
            return False
        if len(where.outputs[0].uses()) != 1 or where.outputs[0].is_graph_output():
            return False
        branches: list[ir.Value | np.ndarray] = []
        for value in where.inputs[1:]:
            branch = self._narrow_branch(value, narrow)
            if branch is None:
                return False
            branches.append(branch)
        if all(isinstance(b, np.ndarray) for b in branches):
            return False  # constant folding's business
        inputs = [where.inputs[0]]
        for k, branch in enumerate(branches):
            if isinstance(branch, np.ndarray):
                branch = new_constant(graph, branch, f"{where.outputs[0].name or 'where'}_narrow_{k}",
                                      self.options, where)
                if branch is None:
                    return False
            inputs.append(branch)
        new = ir.Node("", "Where", inputs)
        copy_meta(where, new)
        graph.insert_before(cast, new)
        out = new.outputs[0]
        out.type, out.shape = cast.outputs[0].type, cast.outputs[0].shape
        if not replace_value(cast.outputs[0], out):
            graph.remove(new, safe=True)
            return False
        casts = [v.producer() for v in where.inputs[1:] if v is not None and v.producer() is not None
                 and v.producer().op_type == "Cast"]
        graph.remove(cast, safe=True)
        graph.remove(where, safe=True)
        for node in casts:
            _drop_if_unused(graph, node)
        return True

    def _narrow_branch(self, value: ir.Value | None, narrow: ir.DataType) -> ir.Value | np.ndarray | None:
        """What a ``Where`` branch is in the narrow type: the value a widening Cast read, or the
        constant's narrow copy when that copy is exact; None otherwise."""
        if value is None:
            return None
        producer = value.producer()
        if producer is not None and producer.op_type == "Cast" and is_default_domain(producer) \
                and producer.inputs[0] is not None and producer.inputs[0].dtype == narrow \
                and producer.graph is value.graph:
            return producer.inputs[0]
        array = constant_array(value, self.options)
        if array is None or array.dtype.kind != "f":
            return None
        target = ir.DataType(narrow).numpy()
        with np.errstate(over="ignore", invalid="ignore"):  # out of range: not exact, refused
            copy = array.astype(target)
        same = np.array_equal(copy.astype(array.dtype), array, equal_nan=True)
        return copy if same and np.array_equal(np.signbit(copy), np.signbit(array)) else None


def _dtype(value: ir.Value | None) -> ir.DataType | None:
    """The element type of ``value``, read from the Cast that made it when it is not recorded."""
    if value is None:
        return None
    if value.dtype is not None:
        return value.dtype
    producer = value.producer()
    if producer is not None and producer.op_type == "Cast" and "to" in producer.attributes:
        return ir.DataType(producer.attributes["to"].as_int())
    return None


def _rank(value: ir.Value | None) -> int | None:
    """The rank of ``value``: from its shape, or 1 for a ``Shape`` output (whose length the
    lowering may not have recorded)."""
    if value is None:
        return None
    if value.shape is not None:
        return len(value.shape)
    producer = value.producer()
    if producer is not None and producer.op_type == "Shape" and is_default_domain(producer):
        return 1
    return None


def _drop_if_unused(graph: ir.Graph, node: ir.Node) -> None:
    if not any(o.uses() or o.is_graph_output() for o in node.outputs):
        graph.remove(node, safe=True)
