# Sourced by scripts/run and scripts/test: installs what is missing, idempotently.
#   ensure_debian_packages PKG...   apt-get install the ones not installed (as root or via sudo)
#   ensure_venv EXTRAS              a .venv in the checkout with trayapp installed (editable), pip only
#                                   when pyproject.toml changed
#   ensure_node_stack               npm ci in tests/stack when its lockfile (or Node) changed
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${TRAYAPP_VENV:-$ROOT/.venv}

ensure_debian_packages() {
  # One dpkg-query for all of them (a process per package cost 10 ms each on every run).
  local missing=() pkg installed
  installed=$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null | awk '/ ok installed$/ {print $1}') || true
  for pkg in "$@"; do grep -qxF "$pkg" <<<"$installed" || missing+=("$pkg"); done
  ((${#missing[@]})) || return 0
  if ! command -v apt-get >/dev/null; then
    echo "setup: please install these packages with your package manager: ${missing[*]}" >&2
    return 0
  fi
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What PySide6's wheels need from the system on a bare Debian (a desktop has these already).
QT_RUNTIME_PACKAGES="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1 libxcb-shape0"

# pip runs only when the project's metadata changed: the stamp file in the venv holds one key per
# installed extras ("[test]" or ""), each the sha256 of pyproject.toml plus Python's version. The
# install is editable, so changed sources need no reinstall; a new package or dependency changes
# pyproject.toml. A second run costs a sha256 of one file (pip took 6-7 s every time).
ensure_venv() {
  local extras=$1
  if [[ ! -x $VENV/bin/python ]]; then
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then ensure_debian_packages python3-venv; fi
    python3 -m venv "$VENV"
  fi
  local stamp=$VENV/.trayapp-installed hash key
  hash=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
  key="$hash $(readlink -f "$VENV/bin/python") extras=$extras"
  if [[ -f $stamp && -x $VENV/bin/trayapp ]]; then
    grep -qxF "$key" "$stamp" && return 0
    [[ -z $extras ]] && grep -qxF "${key}[test]" "$stamp" && return 0  # [test] is a superset
  fi
  echo "setup: installing trayapp$extras into $VENV (pyproject.toml changed or first run)" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT$extras"
  # keep the other extras' keys of this same pyproject.toml (scripts/test's [test] covers scripts/run's "")
  { [[ -f $stamp ]] && grep -F "$hash " "$stamp" | grep -vxF "$key"; printf '%s\n' "$key"; } >"$stamp.new" || true
  mv "$stamp.new" "$stamp"
  if [[ $(command -v trayapp || true) != "$VENV/bin/trayapp" ]]; then
    echo "setup: trayapp is installed in $VENV/bin, which is not on your PATH: run it as scripts/run ARGS," >&2
    echo "setup: or as $VENV/bin/trayapp; for a \`trayapp\` command everywhere, see \"Install\" in README.md (pipx)." >&2
  fi
}

# The tests' real web stack (Express + mongoose + nodemon + Vite) in tests/stack. `npm ci` runs
# only when node_modules was not installed from this exact package-lock.json by this Node on
# this platform: the stamp file inside node_modules holds that key, so a second run costs a
# sha256 of one file. npm's own cache (~/.npm) makes a fresh clone's install quick too.
NODE_STACK=$ROOT/tests/stack
ensure_node_stack() {
  local missing=() tool
  for tool in node npm; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if ((${#missing[@]})); then
    echo "setup: ${missing[*]} not found. The tests run a real Express + Vite stack (tests/stack) and need" >&2
    echo "setup: Node.js 20.19 or newer with npm (Vite 8 and mongoose 9 require it); install it and try again." >&2
    exit 1
  fi
  if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "setup: Node.js $(node --version) is too old for tests/stack: Vite 8 and mongoose 9 need 20.19 or newer." >&2
    exit 1
  fi
  local stamp=$NODE_STACK/node_modules/.trayapp-installed key
  key="$(sha256sum "$NODE_STACK/package-lock.json" | cut -d' ' -f1) node-$(node --version) $(uname -sm)"
  [[ -f $stamp && $(<"$stamp") == "$key" ]] && return 0
  echo "setup: npm ci in tests/stack (node_modules missing or not from this package-lock.json)" >&2
  if ! (cd "$NODE_STACK" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error); then
    echo "setup: npm ci in tests/stack failed (see above); the stack tests cannot run without it." >&2
    exit 1
  fi
  printf '%s\n' "$key" >"$stamp"
}
