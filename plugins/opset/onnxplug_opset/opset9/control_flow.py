"""Control flow on ``Scan``, in its form from opset 9 (opset 8's has a batch axis):

* ``scan`` (``torch._higher_order_ops.scan``) -> ``Scan``: carries are the state variables,
  ``xs`` the scan inputs (PyTorch has moved the scanned dim to 0 and flipped a reverse scan);
* ``map`` (``map_impl``) -> ``Scan`` with no state.

``torch.cond``, ``while_loop``, ``associative_scan`` and ``invoke_subgraph`` are in
``opset7/control_flow.py``.
"""

from __future__ import annotations

from ..opset7.control_flow import node_results
from ..registration import op


@op("higher_order::scan")
def scan(g, combine_graph, init, xs, additional_inputs=()):
    """``scan(combine_fn, init, xs)`` as ``Scan``: final carries, then the stacked outputs."""
    init, xs = list(init), list(xs)
    body = g.subgraph("scan_body")
    outs = body.lower(combine_graph, [None] * (len(init) + len(xs)) + list(additional_inputs))
    graph = body.finish(*outs)
    return node_results(g, g.op("Scan", *init, *xs, body_g=graph, num_scan_inputs_i=len(xs),
                             outputs=len(outs)))


@op("higher_order::map_impl")
def map_impl(g, body_graph, xs, args=()):
    """``torch._higher_order_ops.map(f, xs, *args)`` as a ``Scan`` with no state."""
    xs = list(xs)
    body = g.subgraph("map_body")
    outs = body.lower(body_graph, [None] * len(xs) + list(args))
    graph = body.finish(*outs)
    return node_results(g, g.op("Scan", *xs, body_g=graph, num_scan_inputs_i=len(xs),
                             outputs=len(outs)))
