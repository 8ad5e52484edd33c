# Sourced by the setup scripts: find_python MINOR sets PY to the first python3.x on PATH
# (3.11 first: the PySide6 pin is tested there) at version 3.MINOR or newer; $PYTHON wins.
find_python() {
  local minor="$1" candidate
  PY="${PYTHON:-}"
  [ -n "$PY" ] && return 0
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c "import sys; sys.exit(sys.version_info < (3, $minor))"; then
      PY="$candidate"
      return 0
    fi
  done
  return 1
}
