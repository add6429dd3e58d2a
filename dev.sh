#!/usr/bin/env bash
# Set up .venv (if missing or out of date) with the core and every first-party plugin in
# editable mode, torch pinned by constraints.txt, then run one job:
#   ./dev.sh example   export the bundled example model and verify it in onnxruntime
#   ./dev.sh test      run the whole default test suite (extra args go to pytest)
#   ./dev.sh setup     only set up
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv
stamp_src() { cat constraints.txt pyproject.toml plugins/*/pyproject.toml contrib_ops/pyproject.toml integrations/*/pyproject.toml dev.sh; }
want=$(stamp_src | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$VENV/.onnxplug-setup" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  "$VENV/bin/python" -m pip install -q -c constraints.txt \
    -e ".[test,docs]" -e plugins/opset -e plugins/functions -e plugins/vision -e contrib_ops \
    -e integrations/transformers
  echo "$want" > "$VENV/.onnxplug-setup"
fi
# Editable installs get no bytecode from pip, and an environment with PYTHONDONTWRITEBYTECODE
# (CI's, this machine's) would then compile every module of ours in every new process: write it
# once here, as pip does for an installed package (quick when nothing changed).
"$VENV/bin/python" -m compileall -q -j 0 core plugins contrib_ops integrations examples >/dev/null || true
job=${1:-setup}
shift || true
case "$job" in
  setup) echo "onnxplug: environment ready in $VENV" ;;
  example)
    "$VENV/bin/onnxplug" export onnxplug.example:build -o example.onnx --verify "$@" ;;
  test)
    "$VENV/bin/python" -m pytest "$@" ;;
  *) echo "usage: ./dev.sh [setup|example|test]" >&2; exit 2 ;;
esac
