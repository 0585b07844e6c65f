#!/usr/bin/env bash
# Creates (or refreshes) .venv-interop, the Python environment of test/e2e/interop.test.ts:
#   python3 -m venv .venv-interop && .venv-interop/bin/pip install -r requirements-interop.txt
# Idempotent and fast when already done: it does nothing when the environment was built from the current
# requirements-interop.txt (hash stored in .venv-interop/.requirements.sha256) and imports cleanly.
#
#   bash scripts/setup-interop.sh                 # from anywhere; works on the repository it lives in
#   PYTHON=python3.12 bash scripts/setup-interop.sh
#   INTEROP_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple" \
#     bash scripts/setup-interop.sh              # e.g. CPU-only torch wheels instead of PyPI's CUDA ones
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv-interop
REQ=requirements-interop.txt
STAMP="$VENV/.requirements.sha256"
CHECK="import peft, transformers, torch, bitsandbytes, safetensors, numpy"

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
  echo "setup-interop: $VENV is up to date ($("$VENV/bin/python" -c 'import peft, transformers, torch; print(f"peft {peft.__version__}, transformers {transformers.__version__}, torch {torch.__version__}")'))"
  exit 0
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup-interop: $PYTHON cannot create virtual environments; on Debian/Ubuntu: sudo apt-get install python3-venv" >&2
  exit 1
fi
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
# shellcheck disable=SC2086
log="$(mktemp)"
status=0
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-color -q -r "$REQ" ${INTEROP_PIP_ARGS:-} >"$log" 2>&1 || status=$?
# pip's notes about this machine's package mirrors are noise; everything else it says is shown
grep -v -E "WARNING: Location 'file:.*' is ignored" "$log" | grep -v -E '^\s*$' | sed 's/^/pip: /' || true
rm -f "$log"
[[ $status -eq 0 ]] || { echo "setup-interop: pip install -r $REQ failed (exit $status)" >&2; exit "$status"; }
"$VENV/bin/python" -c "$CHECK"
echo "$want" > "$STAMP"
echo "setup-interop: $VENV ready ($("$VENV/bin/python" -c 'import peft, transformers, torch; print(f"peft {peft.__version__}, transformers {transformers.__version__}, torch {torch.__version__}")'))"
