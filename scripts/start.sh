#!/usr/bin/env bash
# npm start — opens the course notebooks (notebooks/) in JupyterLab, or in the classic Notebook
# when JupyterLab is not installed (Debian's packages). Extra arguments go to Jupyter, e.g.
#   npm start -- --no-browser --port 8899
# Environment: COURSEKIT_PYTHON=PATH  the Python whose Jupyter to use (as in scripts/setup.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NOTEBOOKS="$ROOT/notebooks"
KERNEL_NAME=peft-course
export PYDEVD_DISABLE_FILE_VALIDATION=1

PY=""
for candidate in "${COURSEKIT_PYTHON:-}" "$(command -v python3 || true)" /usr/bin/python3 "$(command -v python || true)"; do
  if [ -n "$candidate" ] && "$candidate" -c 'import jupyter_core' >/dev/null 2>&1 &&
    { "$candidate" -c 'import jupyterlab' >/dev/null 2>&1 || "$candidate" -c 'import notebook' >/dev/null 2>&1; }; then
    PY="$candidate"
    break
  fi
done
if [ -z "$PY" ]; then
  echo "start: neither JupyterLab nor Jupyter Notebook is installed." >&2
  echo "       Run 'npm run setup' (it installs Jupyter on Debian/Ubuntu as root, or prints the pip command)." >&2
  exit 1
fi

if ! "$PY" -m jupyter kernelspec list --json 2>/dev/null | grep -q "\"$KERNEL_NAME\""; then
  echo "start: warning: the kernel \"TypeScript (PEFT course)\" ($KERNEL_NAME) is not registered; run 'npm run setup' first." >&2
fi

if "$PY" -c 'import jupyterlab' >/dev/null 2>&1; then
  app=(lab)
  what="JupyterLab"
else
  app=(notebook)
  what="Jupyter Notebook (classic; install JupyterLab for plotly figures: python3 -m pip install jupyterlab 'plotly>=6.1')"
fi

extra=()
if [ "$(id -u)" = 0 ]; then
  extra+=(--allow-root) # Jupyter refuses to run as root without it (containers, CI)
fi

cat <<EOF
Starting $what
  notebooks: $NOTEBOOKS
  kernel:    "TypeScript (PEFT course)" — choose it for any notebook that asks (Kernel > Change kernel).
  stop with Ctrl-C.
EOF
mkdir -p "$NOTEBOOKS"
cd "$NOTEBOOKS"
exec "$PY" -m jupyter "${app[@]}" --notebook-dir="$NOTEBOOKS" ${extra[@]+"${extra[@]}"} "$@"
