#!/usr/bin/env bash
# npm start — opens the course notebooks (notebooks/) in JupyterLab from the project environment .venv
# (made by npm run setup), or in the classic Notebook where only that is installed (Debian's packages).
# Extra arguments go to Jupyter, e.g.
#   npm start -- --no-browser --port 8899
# Environment: COURSEKIT_PYTHON=PATH  the Python whose Jupyter to use (as in scripts/setup.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NOTEBOOKS="$ROOT/notebooks"
KERNEL_NAME=peft-course
export PYDEVD_DISABLE_FILE_VALIDATION=1
# Kernels registered inside the environment come before per-user ones (jupyter_core >= 5 does this in a venv too).
export JUPYTER_PREFER_ENV_PATH=1

PY=""
for candidate in "${COURSEKIT_PYTHON:-}" "$ROOT/.venv/bin/python" "$(command -v python3 || true)" /usr/bin/python3 "$(command -v python || true)"; do
  if [ -n "$candidate" ] && "$candidate" -c 'import jupyter_core' >/dev/null 2>&1 &&
    { "$candidate" -c 'import jupyterlab' >/dev/null 2>&1 || "$candidate" -c 'import notebook' >/dev/null 2>&1; }; then
    PY="$candidate"
    break
  fi
done
if [ -z "$PY" ]; then
  echo "start: neither JupyterLab nor Jupyter Notebook is installed." >&2
  echo "       Run 'npm run setup' (it installs JupyterLab into the project environment .venv)." >&2
  exit 1
fi

if ! "$PY" -m jupyter_client.kernelspecapp list --json 2>/dev/null | grep -q "\"$KERNEL_NAME\""; then
  echo "start: warning: the kernel \"TypeScript (PEFT course)\" ($KERNEL_NAME) is not registered; run 'npm run setup' first." >&2
fi

# "python -m <app>", not "python -m jupyter <app>": the latter runs whichever jupyter-<app> comes first on PATH.
if "$PY" -c 'import jupyterlab' >/dev/null 2>&1; then
  app=(-m jupyterlab)
  what="JupyterLab ($PY)"
  menus="open a notebook in the file browser on the left, then Run > Run All Cells; save with Ctrl-S"
else
  app=(-m notebook)
  what="the classic Jupyter Notebook ($PY; npm run setup installs JupyterLab in .venv)"
  menus="open a notebook, then Cell > Run All; save with File > Save and Checkpoint"
fi

extra=()
if [ "$(id -u)" = 0 ]; then
  extra+=(--allow-root) # Jupyter refuses to run as root without it (containers, CI)
fi

cat <<EOF
Starting $what
  notebooks: $NOTEBOOKS
  kernel:    "TypeScript (PEFT course)" — choose it for any notebook that asks (Kernel > Change kernel).
  how:       $menus
  stop with Ctrl-C.
EOF
mkdir -p "$NOTEBOOKS"
cd "$NOTEBOOKS"
exec "$PY" "${app[@]}" --notebook-dir="$NOTEBOOKS" ${extra[@]+"${extra[@]}"} "$@"
