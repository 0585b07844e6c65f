#!/usr/bin/env bash
# npm run setup — installs everything the course needs and registers its Jupyter kernel.
# Safe to run again at any time: every step checks first and skips what is already done.
#
#   1. npm packages (npm ci, or npm install without a lockfile) unless node_modules is up to date
#   2. Jupyter (a Python with jupyter_client, nbconvert, nbclient): on Debian/Ubuntu as root it is
#      installed with apt-get; elsewhere this prints the pip command to run and stops
#   3. bubblewrap, the sandbox the instructor's grader runs submissions in (Linux; apt-get as root on Debian)
#   4. the kernel "TypeScript (PEFT course)" (kernelspec peft-course), registered per user
#
# Environment:
#   COURSEKIT_SKIP_NPM=1   skip step 1
#   COURSEKIT_SKIP_APT=1   never run apt-get (step 2 then only checks)
#   COURSEKIT_PYTHON=PATH  the Python whose Jupyter to use (default: python3 on PATH, then /usr/bin/python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KERNEL_NAME=peft-course
KERNEL_DISPLAY="TypeScript (PEFT course)"
DEBIAN_PACKAGES=(jupyter-notebook jupyter-nbconvert jupyter-client python3-nbclient python3-nbconvert python3-ipykernel)
PIP_COMMAND="python3 -m pip install jupyterlab 'plotly>=6.1' nbclient nbconvert"
export PYDEVD_DISABLE_FILE_VALIDATION=1

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf '\nsetup: ERROR: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '       %s\n' "$line" >&2; done
  exit 1
}

# ---------------------------------------------------------------------------------------------
step "Node.js and npm packages"
command -v node >/dev/null || die "node is not installed." "Install Node.js >= 20.19 (https://nodejs.org/), then run 'npm run setup' again."
command -v npm >/dev/null || die "npm is not installed." "Install Node.js >= 20.19 with npm, then run 'npm run setup' again."
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  die "Node.js $(node -v) is too old." "The course needs Node.js >= 20.19 (mocha 12 requires it)."
info "node $(node -v), npm $(npm -v)"

node_modules_up_to_date() {
  [ -d node_modules ] || return 1
  # Fast path: npm's record of the installed tree is newer than package.json and the lockfile.
  if [ -f node_modules/.package-lock.json ] &&
    [ node_modules/.package-lock.json -nt package.json ] &&
    { [ ! -f package-lock.json ] || [ ! package-lock.json -nt node_modules/.package-lock.json ]; }; then
    return 0
  fi
  # Otherwise ask npm whether the installed tree satisfies package.json (missing/invalid -> non-zero).
  npm ls --all >/dev/null 2>&1
}

if [ "${COURSEKIT_SKIP_NPM:-}" = 1 ]; then
  info "COURSEKIT_SKIP_NPM=1: not touching node_modules"
elif node_modules_up_to_date; then
  info "node_modules is up to date"
elif [ -f package-lock.json ]; then
  info "running npm ci (installs exactly what package-lock.json pins)"
  npm ci --no-audit --no-fund
else
  info "no package-lock.json: running npm install"
  npm install --no-audit --no-fund
fi
[ -f node_modules/tslab/bin/tslab ] || die "node_modules/tslab is missing after the npm step." "Run 'npm ci' and look at its errors."

# ---------------------------------------------------------------------------------------------
step "Jupyter"
have_jupyter() { # $1: a python; true if it can run Jupyter headless
  [ -n "$1" ] && "$1" -c 'import jupyter_client, jupyter_core, nbconvert, nbclient' >/dev/null 2>&1
}
find_jupyter_python() {
  local candidate
  for candidate in "${COURSEKIT_PYTHON:-}" "$(command -v python3 || true)" /usr/bin/python3 "$(command -v python || true)"; do
    if have_jupyter "$candidate"; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null && command -v dpkg >/dev/null; }

if ! PY="$(find_jupyter_python)"; then
  info "no Python with jupyter_client, nbconvert and nbclient was found"
  if [ "${COURSEKIT_SKIP_APT:-}" != 1 ] && is_debian && [ "$(id -u)" = 0 ]; then
    apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"; }
    # Refresh the package lists only when apt does not know the packages yet (e.g. a fresh container).
    known="$(apt-cache policy "${DEBIAN_PACKAGES[@]}" 2>/dev/null | grep -c 'Candidate: [^(]' || true)"
    if [ "${known:-0}" -lt "${#DEBIAN_PACKAGES[@]}" ]; then
      info "apt-get update"
      apt_get update -q
    fi
    info "apt-get install ${DEBIAN_PACKAGES[*]}"
    apt_get install -y -q --no-install-recommends "${DEBIAN_PACKAGES[@]}"
    PY="$(find_jupyter_python)" || die "Jupyter was installed with apt-get, but /usr/bin/python3 still cannot import it."
  else
    why="this is not a Debian/Ubuntu system"
    if [ "${COURSEKIT_SKIP_APT:-}" = 1 ]; then
      why="COURSEKIT_SKIP_APT=1"
    elif is_debian; then
      why="apt-get needs root"
    fi
    die "Jupyter is not installed ($why)." \
      "Install it for your user with:" \
      "    $PIP_COMMAND" \
      "(on Debian/Ubuntu, as root, instead: apt-get install --no-install-recommends ${DEBIAN_PACKAGES[*]})" \
      "then run 'npm run setup' again. To use a particular Python: COURSEKIT_PYTHON=/path/to/python npm run setup"
  fi
fi
info "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
info "jupyter_client $("$PY" -c 'import jupyter_client; print(jupyter_client.__version__)'), nbconvert $("$PY" -c 'import nbconvert; print(nbconvert.__version__)'), nbclient $("$PY" -c 'import nbclient; print(nbclient.__version__)')"
if "$PY" -c 'import jupyterlab' >/dev/null 2>&1; then
  info "JupyterLab $("$PY" -c 'import jupyterlab; print(jupyterlab.__version__)') is installed"
elif "$PY" -c 'import notebook' >/dev/null 2>&1; then
  info "JupyterLab is not installed; 'npm start' will use the classic Notebook $("$PY" -c 'import notebook; print(notebook.__version__)')"
  info "(for JupyterLab with plotly figures: $PIP_COMMAND)"
else
  info "neither JupyterLab nor Notebook is installed: notebooks can run headless, but 'npm start' will not work"
  info "(install one with: $PIP_COMMAND)"
fi

# ---------------------------------------------------------------------------------------------
step "Sandbox for grading (bubblewrap)"
# The instructor's grader runs each submission's kernel in Linux namespaces (lib/grader/sandbox.ts).
if command -v bwrap >/dev/null 2>&1; then
  info "$(bwrap --version)"
elif [ "$(uname -s)" != Linux ]; then
  info "not Linux: notebooks and self-checks work; grading other people's submissions needs Linux with bubblewrap"
elif [ "${COURSEKIT_SKIP_APT:-}" != 1 ] && is_debian && [ "$(id -u)" = 0 ]; then
  info "apt-get install bubblewrap"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends bubblewrap ||
    { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends bubblewrap; } ||
    die "could not install bubblewrap with apt-get."
  info "$(bwrap --version)"
else
  info "bubblewrap is not installed: students are not affected; an instructor who grades submissions needs it"
  info "(Debian/Ubuntu: sudo apt-get install bubblewrap; without it 'npm run grade -- --instructor' refuses unless --unsandboxed)"
fi

# ---------------------------------------------------------------------------------------------
step "Kernel \"$KERNEL_DISPLAY\" ($KERNEL_NAME)"
chmod +x scripts/kernel/launch.sh 2>/dev/null || true
spec_dir="$(mktemp -d)"
trap 'rm -rf "$spec_dir"' EXIT
node scripts/kernel/render-kernelspec.js "$spec_dir/$KERNEL_NAME" >/dev/null
# --user works the same for root with Debian's Jupyter and for a user's pip/venv Jupyter:
# the per-user data directory (~/.local/share/jupyter) is searched by every Jupyter.
# (--replace is accepted by jupyter_client 7 and 8; the second form is for versions without it.)
if ! out="$("$PY" -m jupyter kernelspec install "$spec_dir/$KERNEL_NAME" --user --name "$KERNEL_NAME" --replace 2>&1)" &&
  ! out="$("$PY" -m jupyter kernelspec install "$spec_dir/$KERNEL_NAME" --user --name "$KERNEL_NAME" 2>&1)"; then
  die "could not register the kernel with '$PY -m jupyter kernelspec install --user':" "$out"
fi
installed="$("$PY" -m jupyter kernelspec list --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)['kernelspecs'].get('$KERNEL_NAME', {}).get('resource_dir', ''))")"
[ -n "$installed" ] || die "the kernelspec $KERNEL_NAME was installed but Jupyter does not list it." "Check: $PY -m jupyter kernelspec list"
info "registered in $installed"
info "it runs: bash $ROOT/scripts/kernel/launch.sh {connection_file}  (tslab, from $ROOT)"

# ---------------------------------------------------------------------------------------------
step "Done"
cat <<EOF
    Start the notebooks with:   npm start
    then pick the kernel "$KERNEL_DISPLAY" (notebooks in notebooks/ already use it).
    Run a notebook headless:    $PY -m nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=$KERNEL_NAME --output-dir out/ notebooks/<name>.ipynb
    If you move this folder, run 'npm run setup' again (the kernel records its absolute path).
EOF
