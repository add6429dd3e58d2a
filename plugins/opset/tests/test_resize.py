"""``Tensor.resize_`` / ``resize_as_`` to at most as many elements keep the leading elements."""

from __future__ import annotations

import pytest
import torch

from onnxplug.capture import FunctionModule as Fn
from onnxplug.testing import NEWEST_OPSET as NEWEST
from onnxplug.testing import export_and_compare

X = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5)

CASES = {
    "shrink": (lambda x: x.clone().resize_(5, 7), (X,)),
    "same_numel": (lambda x: x.clone().resize_(6, 10), (X,)),
    "same_shape": (lambda x: x.clone().resize_(3, 4, 5) * 2, (X,)),
    "to_empty": (lambda x: x.clone().resize_(0, 4), (X,)),
    "int64": (lambda x: x.clone().resize_(2, 2), (torch.arange(9).reshape(3, 3),)),
    "as_other": (lambda x, o: x.clone().resize_as_(o), (X, torch.zeros(2, 3))),
    "scalar": (lambda x: x.clone().resize_(1, 1, 1), (torch.tensor(2.5),)),
}


@pytest.mark.parametrize("opset", [7, NEWEST])
@pytest.mark.parametrize("name", CASES)
def test_resize(name, opset):
    fn, args = CASES[name]
    export_and_compare(Fn(fn), args, opset=opset)


def test_growing_is_declined():
    import onnxplug

    with pytest.raises(onnxplug.UnsupportedOperatorError, match="uninitialised"):
        onnxplug.export(Fn(lambda x: x.clone().resize_(10, 10)), (X,), None, opset_version=17)
