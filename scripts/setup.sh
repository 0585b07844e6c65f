#!/usr/bin/env bash
# npm run setup — installs everything the course needs and registers its Jupyter kernel.
# Safe to run again at any time: every step checks first and skips what is already done.
#
#   1. npm packages (npm ci, or npm install without a lockfile) unless node_modules is up to date
#   2. .venv, a Python virtual environment with JupyterLab 4, plotly, nbconvert and nbclient pinned by
#      requirements.txt (pip; reinstalled when requirements.txt changes). If pip cannot reach PyPI, a Jupyter
#      already on the machine is used (Debian's classic Notebook, installed with apt-get as root).
#   3. bubblewrap, the sandbox the instructor's grader runs submissions in (Linux; apt-get as root on Debian)
#   4. for WebGPU's software adapter: Mesa's EGL/OpenGL ES libraries (Linux; apt-get as root on Debian)
#   5. the kernel "TypeScript (PEFT course)" (kernelspec peft-course), registered inside .venv, so every
#      checkout has its own and none can take another's over
#
# Environment:
#   COURSEKIT_SKIP_NPM=1   skip step 1
#   COURSEKIT_SKIP_APT=1   never run apt-get
#   COURSEKIT_PYTHON=PATH  use this Python's Jupyter instead of .venv (the kernel is registered inside it when
#                          it is a virtual environment, else for your user)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KERNEL_NAME=peft-course
KERNEL_DISPLAY="TypeScript (PEFT course)"
DEBIAN_PACKAGES=(jupyter-notebook jupyter-nbconvert jupyter-client python3-nbclient python3-nbconvert python3-ipykernel)
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
step "Jupyter (JupyterLab in the project environment .venv)"
have_jupyter() { # $1: a python; true if it can run Jupyter headless
  [ -n "$1" ] && "$1" -c 'import jupyter_client, jupyter_core, nbconvert, nbclient' >/dev/null 2>&1
}
# pip's own chatter about this machine's package mirrors is not something a student must read
quiet_pip() {
  local log status
  log="$(mktemp)"
  "$@" >"$log" 2>&1
  status=$?
  grep -v -E "WARNING: Location 'file:.*' is ignored" "$log" | grep -v -E '^\s*$' | sed 's/^/    pip: /' || true
  rm -f "$log"
  return "$status"
}
find_venv_python() { # a Python >= 3.9 that can make a virtual environment with pip
  local candidate
  for candidate in "$(command -v python3 || true)" /usr/bin/python3 "$(command -v python || true)"; do
    [ -n "$candidate" ] || continue
    "$candidate" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 9) else 1)' >/dev/null 2>&1 && {
      printf '%s\n' "$candidate"
      return 0
    }
  done
  return 1
}
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null && command -v dpkg >/dev/null; }

VENV="$ROOT/.venv"
STAMP="$VENV/.coursekit-requirements"
PY=""
KERNEL_SCOPE=--sys-prefix # the kernel lives inside the environment: no checkout can take over another's
if [ -n "${COURSEKIT_PYTHON:-}" ]; then
  have_jupyter "$COURSEKIT_PYTHON" || die "COURSEKIT_PYTHON=$COURSEKIT_PYTHON cannot import jupyter_client, nbconvert and nbclient."
  PY="$COURSEKIT_PYTHON"
  info "COURSEKIT_PYTHON: using $PY instead of .venv"
elif [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && cmp -s requirements.txt "$STAMP" && have_jupyter "$VENV/bin/python"; then
  PY="$VENV/bin/python"
  info ".venv is up to date with requirements.txt"
elif BASE_PY="$(find_venv_python)"; then
  if [ ! -x "$VENV/bin/python" ]; then
    info "creating .venv with $BASE_PY ($("$BASE_PY" -c 'import sys; print(sys.version.split()[0])'))"
    "$BASE_PY" -m venv "$VENV" || die "could not create the virtual environment $VENV with $BASE_PY -m venv."
  fi
  info "installing requirements.txt into .venv (JupyterLab, plotly, nbconvert, nbclient; about a minute)"
  if quiet_pip "$VENV/bin/python" -m pip install -q --no-color --disable-pip-version-check -r requirements.txt; then
    cp requirements.txt "$STAMP"
    PY="$VENV/bin/python"
  else
    info "pip could not install requirements.txt (offline?); looking for a Jupyter already on this machine"
  fi
fi
if [ -z "$PY" ]; then
  # Fallback: a system Jupyter (e.g. Debian's classic Notebook stack); its kernel is registered per user.
  KERNEL_SCOPE=--user
  for candidate in "$(command -v python3 || true)" /usr/bin/python3; do
    if have_jupyter "$candidate"; then PY="$candidate"; break; fi
  done
  if [ -z "$PY" ] && [ "${COURSEKIT_SKIP_APT:-}" != 1 ] && is_debian && [ "$(id -u)" = 0 ]; then
    info "apt-get install ${DEBIAN_PACKAGES[*]} (the classic Notebook)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${DEBIAN_PACKAGES[@]}" ||
      { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${DEBIAN_PACKAGES[@]}"; } || true
    have_jupyter /usr/bin/python3 && PY=/usr/bin/python3
  fi
  [ -n "$PY" ] || die "Jupyter could not be installed." \
    "setup makes a virtual environment .venv and installs requirements.txt into it with pip; that failed." \
    "Check that 'python3 -m venv' works (Debian/Ubuntu: apt-get install python3-venv) and that PyPI is reachable," \
    "then run 'npm run setup' again. To use a Jupyter you already have: COURSEKIT_PYTHON=/path/to/python npm run setup"
  [ "$KERNEL_SCOPE" = --user ] && info "using $PY; the kernel is registered for your user (shared by every checkout)"
fi
if [ "$PY" != "$VENV/bin/python" ] && "$PY" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' 2>/dev/null; then
  KERNEL_SCOPE=--sys-prefix # COURSEKIT_PYTHON is a virtual environment: register inside it
fi
info "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
info "jupyter_client $("$PY" -c 'import jupyter_client; print(jupyter_client.__version__)'), nbconvert $("$PY" -c 'import nbconvert; print(nbconvert.__version__)'), nbclient $("$PY" -c 'import nbclient; print(nbclient.__version__)')"
if "$PY" -c 'import jupyterlab' >/dev/null 2>&1; then
  info "JupyterLab $("$PY" -c 'import jupyterlab; print(jupyterlab.__version__)')"
elif "$PY" -c 'import notebook' >/dev/null 2>&1; then
  info "JupyterLab is not installed there; 'npm start' will open the classic Notebook $("$PY" -c 'import notebook; print(notebook.__version__)')"
else
  info "neither JupyterLab nor Notebook is installed there: notebooks run headless, but 'npm start' will not work"
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
step "WebGPU (Dawn's webgpu package; Mesa's OpenGL ES as the software adapter)"
# COURSEKIT_BACKEND=webgpu uses a GPU when there is one (lib/backend-webgpu.ts), else Mesa's software rasteriser
# through EGL: that is how the tests check the backend on machines without a GPU.
WEBGPU_DEBS=(libegl1 libegl-mesa0 libgles2)
if [ ! -d node_modules/webgpu ]; then
  info "the optional package webgpu is not installed (unsupported platform?): the kit runs on wasm"
elif [ "$(uname -s)" != Linux ] || ! is_debian; then
  info "installed (COURSEKIT_BACKEND=webgpu uses a GPU when the system has a WebGPU driver)"
elif dpkg -s "${WEBGPU_DEBS[@]}" >/dev/null 2>&1; then
  info "installed, with Mesa's EGL/OpenGL ES libraries"
elif [ "${COURSEKIT_SKIP_APT:-}" != 1 ] && [ "$(id -u)" = 0 ]; then
  info "apt-get install ${WEBGPU_DEBS[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${WEBGPU_DEBS[@]}" >/dev/null ||
    { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${WEBGPU_DEBS[@]}" >/dev/null; } ||
    info "could not install ${WEBGPU_DEBS[*]}: COURSEKIT_BACKEND=webgpu will not find a software adapter"
else
  info "for the software adapter (tests): sudo apt-get install ${WEBGPU_DEBS[*]}"
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
if ! out="$("$PY" -m jupyter_client.kernelspecapp install "$spec_dir/$KERNEL_NAME" "$KERNEL_SCOPE" --name "$KERNEL_NAME" --replace 2>&1)" &&
  ! out="$("$PY" -m jupyter_client.kernelspecapp install "$spec_dir/$KERNEL_NAME" "$KERNEL_SCOPE" --name "$KERNEL_NAME" 2>&1)"; then
  die "could not register the kernel with '$PY -m jupyter kernelspec install $KERNEL_SCOPE':" "$out"
fi
if [ "$KERNEL_SCOPE" = --sys-prefix ]; then
  # An older setup registered the kernel per user, where it shadows this one for other Jupyters. Remove it
  # when it belongs to this checkout or to a checkout that no longer exists; leave any other alone.
  user_spec="$("$PY" -c 'import jupyter_core.paths as p, os; print(os.path.join(p.jupyter_data_dir(), "kernels", "'"$KERNEL_NAME"'", "kernel.json"))')"
  if [ -f "$user_spec" ]; then
    owner="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("env", {}).get("COURSEKIT_ROOT", ""))' "$user_spec" 2>/dev/null || true)"
    if [ "$owner" = "$ROOT" ] || { [ -n "$owner" ] && [ ! -d "$owner" ]; }; then
      rm -rf "$(dirname "$user_spec")"
      info "removed the old per-user kernel registration of ${owner} ($(dirname "$user_spec"))"
    else
      info "note: $(dirname "$user_spec") registers the kernel for ${owner:-another install}; JupyterLab started by 'npm start' uses this checkout's"
    fi
  fi
fi
export JUPYTER_PREFER_ENV_PATH=1
installed="$("$PY" -m jupyter_client.kernelspecapp list --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)['kernelspecs'].get('$KERNEL_NAME', {}).get('resource_dir', ''))")"
[ -n "$installed" ] || die "the kernelspec $KERNEL_NAME was installed but Jupyter does not list it." "Check: $PY -m jupyter kernelspec list"
info "registered in $installed"
if [ "$KERNEL_SCOPE" = --sys-prefix ] && [ "${installed#"$("$PY" -c 'import sys; print(sys.prefix)')"}" = "$installed" ]; then
  die "Jupyter resolves the kernel $KERNEL_NAME to $installed, not to the one inside $PY's environment." "Remove that folder (it belongs to another install), then run 'npm run setup' again."
fi
info "it runs: bash $ROOT/scripts/kernel/launch.sh {connection_file}  (tslab, from $ROOT)"

# ---------------------------------------------------------------------------------------------
step "Done"
cat <<EOF
    Start the notebooks with:   npm start
    (JupyterLab opens on notebooks/; open a notebook, then Run > Run All Cells. Its kernel is "$KERNEL_DISPLAY".)
    Run a notebook headless:    $PY -m nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=$KERNEL_NAME --output-dir out/ notebooks/<name>.ipynb
    If you move this folder, run 'npm run setup' again (the kernel records its absolute path).
EOF
