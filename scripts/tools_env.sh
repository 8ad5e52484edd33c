#!/usr/bin/env bash
# Create .venv-tools: external tools the tests drive as real servers (an MLflow server), kept
# apart from .venv so that their dependencies never fight labdeck's. Idempotent and quiet.
# The tests find mlflow via $LABDECK_MLFLOW or .venv-tools/bin/mlflow (and skip without it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${LABDECK_TOOLS_VENV:-$ROOT/.venv-tools}"
source "$ROOT/scripts/_python.sh"
find_python 10 || { echo "tools_env.sh needs Python 3.10 or newer" >&2; exit 1; }
if [ ! -x "$TOOLS/bin/python" ]; then
  "$PY" -m venv "$TOOLS"
fi
if [ ! -x "$TOOLS/bin/mlflow" ] || ! "$TOOLS/bin/python" -c "import flask_wtf" 2>/dev/null; then
  "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "mlflow[auth]>=2.16"
fi
