"""Opset 14: Trilu keeps or zeroes a triangle in one node, for static and dynamic sizes alike."""

from __future__ import annotations

from ..registration import op


def trilu(g, x, diagonal, upper):
    k = g.constant(int(diagonal)) if isinstance(diagonal, int) else diagonal
    return g.op("Trilu", x, k, upper_i=int(upper))


@op("aten::tril")
def tril(g, x, diagonal=0):
    return trilu(g, x, diagonal, False)


@op("aten::triu")
def triu(g, x, diagonal=0):
    return trilu(g, x, diagonal, True)
