#!/usr/bin/env bash
# A separate environment for the torchvision and timm parts of the zoo (benchmarks/zoo.py) and
# the vision plugin's tests. PyPI's torchvision does not import beside the pinned CPU torch
# (its compiled ops are missing), so this environment pins the torch/torchvision pair that
# installs together here instead (a CUDA build of several GB); the default setup (.venv) stays
# as it is. Usage: benchmarks/vision_env.sh  then  .venv-vision/bin/python benchmarks/zoo.py ...
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv-vision
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
"$VENV/bin/python" -m pip install -q timm transformers onnxscript "onnxruntime>=1.20" \
  -e . -e plugins/opset -e plugins/functions -e contrib_ops -e integrations/transformers
"$VENV/bin/python" -c "import torchvision, timm; print('torchvision', torchvision.__version__, 'timm', timm.__version__)"
