"""Shape and layout ops at their lowest opset and the newest, with static and dynamic dims."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from onnxplug.testing import NEWEST_OPSET as NEWEST

DYN = {"input_names": ["x"], "dynamic_axes": {"x": {0: "batch"}}}


class Layout(torch.nn.Module):
    def forward(self, x):
        return (
            x.view(2, -1),
            x.reshape(-1),
            torch.flatten(x, 1),
            x.transpose(0, -1),
            x.permute(2, 0, 1),
            x[0].t(),
            x.unsqueeze(-1).squeeze(-1),
            x[:, :1].squeeze(),
            x[:, :1, :1].squeeze((1, 2)),
            torch.movedim(x, 0, -1),
            x.unflatten(2, (2, 2)),
            x.mT,
            torch.atleast_3d(x[0, 0]),
            x.contiguous().clone(),
            torch.stack([x, x * 2], 1),
        )


@pytest.mark.parametrize("opset", [7, 13, NEWEST])
def test_layout_static(check, opset):
    check(Layout(), (torch.randn(2, 3, 4),), opset=opset)


class LayoutDynamic(torch.nn.Module):
    def forward(self, x):
        return (
            x.view(x.shape[0], -1),
            x.reshape(-1, 4),
            torch.flatten(x, 1),
            x.transpose(0, 1),
            x.unsqueeze(0),
            x.expand(2, -1, -1, -1),
            x[:, 1:],
            x[:, :, ::2],
            x.select(1, -1),
            torch.cat([x, x * 2], 0),
            torch.stack([x, x], 1),
            x.new_zeros(x.shape[0], 1, 2).expand_as(x[:, :, :2]),
        )


@pytest.mark.parametrize("opset", [9, 13, NEWEST])
def test_layout_dynamic_batch(check, opset):
    check(LayoutDynamic(), (torch.randn(3, 3, 4),), opset=opset, run_inputs=(torch.randn(5, 3, 4),), **DYN)


class Slicing(torch.nn.Module):
    def forward(self, x):
        return (
            x[:, ::2],
            x[1:-1, 1::3],
            x[:, -3:],
            x.narrow(1, 1, 3),
            x.select(0, 1),
            torch.split(x, 2, 1),
            torch.split(x, [1, 4], 1),
            torch.chunk(x, 2, 0),
            torch.tensor_split(x, 3, 1),
            torch.unbind(x, 0),
            torch.hstack([x, x]),
            torch.vstack([x, x]),
            torch.dstack([x, x]),
            torch.column_stack([x[:, 0], x[:, 1]]),
        )


@pytest.mark.parametrize("opset", [7, 13, NEWEST])
def test_slicing(check, opset):
    check(Slicing(), (torch.randn(3, 5),), opset=opset)


class Rearrange(torch.nn.Module):
    def forward(self, x):
        return (
            torch.flip(x, (0, 2)),
            torch.fliplr(x),
            torch.roll(x, 1, 2),
            torch.roll(x, (-1, 2), (0, 1)),
            torch.roll(x, 3),
            torch.rot90(x, 1, (1, 2)),
            torch.rot90(x, 2),
            torch.rot90(x, -1, (0, 2)),
            x.repeat(2, 1, 1),
            x.repeat(1, 2, 1, 3),
            x.tile((2,)),
            x.repeat_interleave(2, dim=1),
            x.repeat_interleave(2),
            x.unfold(2, 2, 1),
            x.unfold(1, 2, 2),
            torch.broadcast_to(x[:, :1], (2, 3, 4)),
        )


@pytest.mark.parametrize("opset", [7, 13, NEWEST])
def test_rearrange(check, opset):
    check(Rearrange(), (torch.randn(2, 3, 4),), opset=opset)


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_repeat_interleave_constant_repeats(check, opset):
    reps = torch.tensor([1, 0, 2])
    check(lambda x: x.repeat_interleave(reps, dim=1), (torch.randn(2, 3),), opset=opset,
          custom_symbolics={"_operator::ge": _sym_ge, "_operator::le": _sym_le})


def _sym_ge(g, a, b):
    a, b = (g.constant(v, torch.int64) if isinstance(v, int) else v for v in (a, b))
    return g.op("Not", g.op("Less", a, b, dtype=torch.bool), dtype=torch.bool)


def _sym_le(g, a, b):
    return _sym_ge(g, b, a)


@pytest.mark.parametrize("opset", [10, NEWEST])
def test_flip_dynamic(check, opset):
    check(lambda x: torch.flip(x, (0,)), (torch.randn(3, 2),), opset=opset, run_inputs=(torch.randn(5, 2),),
          **DYN)


class Pads(torch.nn.Module):
    def forward(self, x):
        return (
            F.pad(x, (1, 2)),
            F.pad(x, (1, 0, 0, 2), value=-1.5),
            F.pad(x, (-1, 1)),
            F.pad(x, (2, 1, 1, 1), mode="reflect"),
            F.pad(x, (2, 1, 0, 1), mode="replicate"),
            F.pad(x, (1, 2, 2, 0), mode="circular"),
            F.pad(x, (-1, 2, 0, 1), mode="circular"),
            F.pad(x, (-1, 2, 1, -2), mode="replicate"),
        )


@pytest.mark.parametrize("opset", [7, 11, 18, NEWEST])
def test_pads(check, opset):
    check(Pads(), (torch.randn(1, 2, 4, 5),), opset=opset)


ATEN = torch.ops.aten
X4 = torch.randn(1, 2, 4, 5)

# ATen ops called directly, each at its lowest opset and the newest: the pad kernels (F.pad exports
# as aten::pad, converted without them), copy and expand_as. name: (function, inputs, lowest opset).
KERNELS = {
    "constant_pad_nd": (lambda x: (ATEN.constant_pad_nd(x, [1, 2, -1, 1], 1.5),
                                   ATEN.constant_pad_nd(x, [0, 0, 2, 0, 1, 1])), (X4,), 7),
    "reflection_pad": (lambda x: (ATEN.reflection_pad1d(x[0], [2, 1]),
                                  ATEN.reflection_pad2d(x, [2, 1, 1, 2]),
                                  ATEN.reflection_pad3d(x[None], [1, 1, 1, 0, 1, 0])), (X4,), 7),
    "replication_pad": (lambda x: (ATEN.replication_pad1d(x[0], [2, 1]),
                                   ATEN.replication_pad2d(x, [2, 1, 1, 2]),
                                   ATEN.replication_pad3d(x[None], [1, 1, 1, 0, 1, 0])), (X4,), 7),
    "pad_circular": (lambda x: ATEN._pad_circular(x, [1, 2, 2, 0]), (X4,), 7),
    "copy": (lambda x, i: (ATEN.copy(x, x * 2), ATEN.copy(x, i)),  # same shape; cast and broadcast
             (torch.randn(2, 3), torch.tensor([1, -2, 3])), 7),
    "expand_as": (lambda x, y: ATEN.expand_as(x[:, :1], y), (X4, torch.randn(3, 2, 4, 5)), 7),
}

# Conversions that are wrong at an opset: strict xfails (a fix makes them fail until the entry is
# taken off this list), with the reason.
def _kernel_params():
    for name, (_, _, lowest) in KERNELS.items():
        for opset in sorted({lowest, NEWEST}):
            yield pytest.param(name, opset, id=f"{name}-{opset}")


@pytest.mark.parametrize("name,opset", list(_kernel_params()))
def test_kernels(check, name, opset):
    fn, inputs, _ = KERNELS[name]
    check(fn, inputs, opset=opset)


@pytest.mark.parametrize("opset", [11, NEWEST])
def test_pad_dynamic_batch(check, opset):
    def f(x):
        return F.pad(x, (1, 1)), F.pad(x, (1, 1, 1, 1), mode="reflect"), F.pad(x, (2, 0, 1, 0), mode="replicate")
    check(f, (torch.randn(2, 3, 4, 5),), opset=opset, run_inputs=(torch.randn(4, 3, 4, 5),), **DYN)


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_casts_and_empty(check, opset):
    def f(x, i):
        return x.to(torch.float64), i.float(), x.type_as(i), torch.cat([x, x[:0]]), x[:0].reshape(0, 3)
    check(f, (torch.randn(2, 3), torch.tensor([1, 2, 3])), opset=opset)


def test_static_dims_need_no_shape_ops(check):
    """Static shapes fold to constants: no Shape/Gather subgraph is emitted."""
    result = check(LayoutDynamic(), (torch.randn(2, 3, 4),), opset=NEWEST)
    ops = {n.op_type for n in result.model.graph.node}
    assert "Shape" not in ops


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_as_strided_over_own_storage(check, opset):
    check(lambda x: (torch.as_strided(x, (2, 2), (1, 2), 1), x.as_strided((3,), (4,))),
          (torch.randn(3, 4),), opset=opset)


def test_as_strided_over_a_view_is_refused(check):
    with pytest.raises(Exception, match="as_strided"):
        check(lambda x: torch.as_strided(x.t(), (2, 2), (1, 2)), (torch.randn(3, 4),), opset=NEWEST)


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_unflatten_static_and_dynamic(check, opset):
    def fn(x):
        return x.unflatten(-1, (2, -1)) * 2

    check(fn, (torch.randn(3, 5, 8),), opset=opset)
    if opset >= 9:
        r = check(fn, (torch.randn(3, 5, 8),), opset=opset, input_names=["x"],
                  dynamic_axes={"x": {0: "b"}}, run_inputs=(torch.randn(6, 5, 8),))
        assert not r.decomposed


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_matrix_transposes(check, opset):
    def fn(x):
        return torch.ops.aten.mT(x) + torch.ops.aten.adjoint(x) * 2

    check(fn, (torch.randn(2, 3, 3),), opset=opset)
