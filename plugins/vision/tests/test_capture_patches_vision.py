"""The vision plugin's capture settings (``onnxplug_vision.capture``) and the replacements they
put in place, without torchvision: stand-in modules take torchvision's names, and the
replacements are exported and compared with their own eager result. (Their agreement with
torchvision's functions is tested with torchvision, in ``test_vision_masks_paste.py``.)"""

from __future__ import annotations

import sys
import types

import torch

from onnxplug.testing import export_and_compare
from onnxplug_vision import batched_nms, masks
from onnxplug_vision.capture import PATCHES, torchvision_capture


def _stand_ins(monkeypatch):
    originals = {}
    for module_name, attribute, _ in PATCHES:
        module = sys.modules.get(module_name) or types.ModuleType(module_name)
        original = getattr(module, attribute, None) or (lambda *a: None)
        monkeypatch.setitem(sys.modules, module_name, module)
        monkeypatch.setattr(module, attribute, original, raising=False)
        originals[module_name, attribute] = original
    return originals


def test_capture_replaces_the_loops_and_restores_them(monkeypatch):
    originals = _stand_ins(monkeypatch)
    boxes = sys.modules["torchvision.ops.boxes"]
    transform = sys.modules["torchvision.models.detection.transform"]
    with torchvision_capture():
        assert boxes._batched_nms_vanilla is batched_nms.vanilla
        assert transform.paste_masks_in_image is masks.paste_masks_in_image
    for (module_name, attribute), original in originals.items():
        assert getattr(sys.modules[module_name], attribute) is original


def test_capture_restores_after_an_error(monkeypatch):
    originals = _stand_ins(monkeypatch)
    try:
        with torchvision_capture():
            raise ValueError("capture failed")
    except ValueError:
        pass
    for (module_name, attribute), original in originals.items():
        assert getattr(sys.modules[module_name], attribute) is original


def test_capture_without_torchvision_changes_nothing(monkeypatch):
    for module_name, _, _ in PATCHES:
        monkeypatch.delitem(sys.modules, module_name, raising=False)
    with torchvision_capture():
        assert all(name not in sys.modules for name, _, _ in PATCHES)


def _detections(n: int, size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(n, 1, 28, 28, generator=g)
    xy = torch.rand(n, 2, generator=g) * size * 0.7
    wh = torch.rand(n, 2, generator=g) * size * 0.6
    return probs, torch.cat([xy, torch.clamp(xy + wh, max=size - 1.0)], dim=1)


class Paste(torch.nn.Module):
    def forward(self, probs, boxes):
        return masks.paste_masks_in_image(probs, boxes, (48, 40))


def test_mask_pasting_exports_with_a_run_time_number_of_detections():
    r = export_and_compare(Paste(), _detections(5, 40, 0), run_inputs=_detections(9, 40, 1),
                           input_names=["probs", "boxes"],
                           dynamic_axes={"probs": {0: "n"}, "boxes": {0: "n"}}, atol=1e-5)
    assert not any(n.op_type in ("Loop", "Resize") for n in r.model.graph.node)
