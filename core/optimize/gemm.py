"""``Add(MatMul(A, B), C)`` as one ``Gemm(A, B, C)`` where ONNX says that is the same.

Legal when ``A`` and ``B`` are 2-D, their dtype is float or double (onnxruntime's Gemm kernels;
Gemm-7/8 have no integer forms anyway) and ``C`` broadcasts unidirectionally to the
``(M, N)`` result, as Gemm's ``C`` must from opset 7 on: rank at most 2, each dimension 1 or
equal to the result's. The ``Add`` then cannot change the result's shape, so the two forms agree
up to float rounding.
"""

from __future__ import annotations


import onnx_ir as ir

from .rewrite import ExportPass, copy_meta, is_default_domain, may_merge, replace_value

DTYPES = (ir.DataType.FLOAT, ir.DataType.DOUBLE)


class FuseMatMulAddPass(ExportPass):
    """Fuse ``MatMul`` + ``Add`` of the main graph into ``Gemm`` where legal."""


    def call(self, model: ir.Model) -> ir.passes.PassResult:
        modified = False
        for add in list(model.graph):
            if add.op_type == "Add" and is_default_domain(add) and len(add.inputs) == 2:
                modified |= self._fuse(model.graph, add)
        return ir.passes.PassResult(model, modified=modified)

    def _fuse(self, graph: ir.Graph, add: ir.Node) -> bool:
        for k in (0, 1):
            product, c = add.inputs[k], add.inputs[1 - k]
            matmul = product.producer() if product is not None else None
            if (matmul is None or matmul.op_type != "MatMul" or not is_default_domain(matmul)
                    or matmul.graph is not graph or c is None or product.is_graph_output()
                    or len(product.uses()) != 1 or not may_merge(matmul, add, self.options, self.fx_nodes)):
                continue
            a, b = matmul.inputs
            if not _legal(a, b, c, add.outputs[0]):
                continue
            gemm = ir.Node("", "Gemm", [a, b, c])
            copy_meta(matmul, gemm)
            out = gemm.outputs[0]
            out.type, out.shape = add.outputs[0].type or product.type, add.outputs[0].shape or product.shape
            graph.insert_before(add, gemm)
            if not replace_value(add.outputs[0], out):
                graph.remove(gemm, safe=True)
                return False
            graph.remove([add, matmul], safe=True)
            return True
        return False


def _legal(a: ir.Value, b: ir.Value, c: ir.Value, result: ir.Value) -> bool:
    if any(v.dtype not in DTYPES or v.shape is None for v in (a, b, c)):
        return False
    if not (a.dtype == b.dtype == c.dtype) or len(a.shape) != 2 or len(b.shape) != 2 or len(c.shape) > 2:
        return False
    m, n = a.shape[0], b.shape[1]
    for dim, full in zip(reversed(tuple(c.shape)), (n, m)):
        if dim == 1:
            continue
        if not isinstance(dim, int) or dim != full:  # a symbolic C dim may be 1 at run time
            return False
    return result.shape is None or len(result.shape) == 2
