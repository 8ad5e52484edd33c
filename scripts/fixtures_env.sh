#!/usr/bin/env bash
# Create the tools' own environment (.venv-fixtures, or $LABDECK_FIXTURE_VENV): the pinned real
# Lightning, Transformers and TensorBoard that make tests/fixtures/recognisable and that
# tests/runs/test_live_lightning.py trains with. Kept apart from .venv so their dependencies
# never meet labdeck's. Idempotent and quiet; about a minute from PyPI on a fresh machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LABDECK_FIXTURE_VENV:-$ROOT/.venv-fixtures}"
source "$ROOT/scripts/_python.sh"
find_python 11 || { echo "fixtures_env.sh needs Python 3.11" >&2; exit 1; }
# torch first and pinned: an unpinned torch pulls a CUDA build of several GB (2.13.0 is the CPU
# build this machine keeps on disk).
PINS=(torch==2.13.0 lightning==2.6.6 transformers==5.24.0 tensorboard==2.21.0 accelerate==1.15.0
      safetensors==0.8.0 numpy==2.4.6 pandas==3.1.1 protobuf==7.36.2 PyYAML==6.0.4)
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import lightning, transformers, tensorboard, pandas" 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
fi
