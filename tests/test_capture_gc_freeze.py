"""Capture keeps the garbage collector's full collections off the objects that existed before it
(``onnxplug.capture.long_lived_objects_frozen``): it freezes them while torch.export runs and
gives them back afterwards, and leaves a process that froze objects itself alone. Each export is
checked with onnx.checker, run in onnxruntime and compared with eager PyTorch."""

from __future__ import annotations

import gc

import pytest
import torch

from onnxplug.capture import long_lived_objects_frozen
from onnxplug.testing import export_and_compare


class Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = torch.nn.Linear(8, 24)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5, dim=-1) @ v


@pytest.fixture
def no_user_freeze():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_objects_are_frozen_during_the_block_and_given_back(no_user_freeze):
    before = [object()]  # a container: tracked by the collector

    def collectable() -> bool:
        return any(o is before for o in gc.get_objects())

    assert collectable()
    with long_lived_objects_frozen():
        assert gc.get_freeze_count() > 0
        assert not collectable()  # frozen: full collections do not traverse it
        during = [object()]
        assert any(o is during for o in gc.get_objects())  # new objects are collected as usual
    assert gc.get_freeze_count() == 0
    assert collectable()


def test_an_export_leaves_nothing_frozen(no_user_freeze):
    seen = []
    real = torch.export.export

    def spy(*args, **kwargs):
        seen.append(gc.get_freeze_count())
        return real(*args, **kwargs)

    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    try:
        torch.export.export = spy
        export_and_compare(Attention().eval(), (x,), input_names=["x"],
                           dynamic_axes={"x": {0: "batch", 1: "seq"}},
                           run_inputs=(torch.randn(3, 7, 8),))
    finally:
        torch.export.export = real
    assert seen and all(count > 0 for count in seen)  # torch.export ran with the old objects frozen
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_objects_keeps_its_freeze(no_user_freeze):
    gc.freeze()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    torch.manual_seed(0)
    export_and_compare(Attention().eval(), (torch.randn(2, 5, 8),))
    # not undone by the export (frozen objects can still be freed by reference counting)
    assert gc.get_freeze_count() > frozen // 2


def test_nested_blocks_give_back_only_when_the_outermost_ends(no_user_freeze):
    with long_lived_objects_frozen():
        with long_lived_objects_frozen():  # as capture() inside export(): rests on the outer freeze
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0  # the inner block did not give the outer one's back
        torch.manual_seed(0)
        export_and_compare(Attention().eval(), (torch.randn(2, 5, 8),))
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
