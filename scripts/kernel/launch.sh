#!/usr/bin/env bash
# Starts the "TypeScript (PEFT course)" Jupyter kernel (tslab) for this checkout.
# Jupyter runs it as: bash <repo>/scripts/kernel/launch.sh <connection_file>  (see kernel.json.template)
#
# tslab compiles only .ts files under its working directory, so the kernel always runs from the
# repository root, whichever folder the notebook is in; notebooks import "./lib/...".
# Kept compatible with bash 3.2 (macOS).
set -eu

if [ "$#" -lt 1 ]; then
  echo "usage: $0 <connection_file>" >&2
  exit 2
fi
connection_file="$1"
shift

# Jupyter starts kernels in the notebook's folder: remember it before moving to the root.
COURSEKIT_NOTEBOOK_DIR="$(pwd)"
COURSEKIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export COURSEKIT_NOTEBOOK_DIR COURSEKIT_ROOT
export COURSEKIT_KERNEL=peft-course

node_bin="${COURSEKIT_NODE:-}"
if [ -z "$node_bin" ] || [ ! -x "$node_bin" ]; then
  node_bin="$(command -v node || true)"
fi
if [ -z "$node_bin" ]; then
  echo "peft-course kernel: 'node' was not found (COURSEKIT_NODE='${COURSEKIT_NODE:-}', PATH=$PATH)." >&2
  echo "Install Node.js >= 20.19 and run 'npm run setup' in $COURSEKIT_ROOT again." >&2
  exit 1
fi

tslab="$COURSEKIT_ROOT/node_modules/tslab/bin/tslab"
if [ ! -f "$tslab" ]; then
  echo "peft-course kernel: $tslab is missing; run 'npm run setup' in $COURSEKIT_ROOT." >&2
  exit 1
fi

cd "$COURSEKIT_ROOT"
exec "$node_bin" "$tslab" kernel --config-path "$connection_file" "$@"
