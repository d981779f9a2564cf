#!/usr/bin/env bash
# Install what the Node end-to-end tests drive, from the checked-in package.json and
# package-lock.json files under tests/e2e/node/ (pinned versions, idempotent with stamp files):
#   - the Node SDKs openai, @anthropic-ai/sdk, @google/genai     (required: failure exits 1)
#   - the CLIs Claude Code, Gemini CLI and Codex, one directory each under tests/e2e/node/clis/
#     (time-boxed by TOROUTER_CLI_INSTALL_TIMEOUT, 300 s each; a failure is reported, not fatal)
#
#   scripts/setup-node.sh             SDKs and CLIs
#   scripts/setup-node.sh --no-clis   SDKs only (also: TOROUTER_SKIP_CLIS=1)
#
# Node >= 20 is needed (the pinned @google/genai and Gemini CLI declare it). When `node` is
# missing or older — Debian 12 ships nodejs 18.20.4 with npm 9.2.0 — Debian's nodejs and npm are
# installed (as root) only to bootstrap: Node 20 itself then comes from the registry package
# node-linux-<arch> (a binary inside a registry package) and npm from the `npm` package, both into
# tests/e2e/node/.runtime/, whose bin/ the tests put first on PATH.
# TOROUTER_NODE_BOOTSTRAP=1 takes that path even when the machine's node would do.
set -uo pipefail
cd "$(dirname "$0")/.."

NODE_DIR=tests/e2e/node
RUNTIME=$NODE_DIR/.runtime
NODE_PIN=20.20.2
NPM_PIN=11.19.1
NODE_MIN_MAJOR=20
CLI_TIMEOUT=${TOROUTER_CLI_INSTALL_TIMEOUT:-300}
SDK_TIMEOUT=${TOROUTER_SDK_INSTALL_TIMEOUT:-300}
want_clis=1
[ "${1:-}" = "--no-clis" ] && want_clis=0
[ "${TOROUTER_SKIP_CLIS:-}" = 1 ] && want_clis=0

# npm's opt-outs (the network is closed but for the registry); the per-directory .npmrc files
# say the same for anyone running npm there by hand.
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
export npm_config_progress=false npm_config_omit_lockfile_registry_resolved=true
export NO_UPDATE_NOTIFIER=1 DISABLE_OPENCOLLECTIVE=1 ADBLOCK=1

say() { echo "setup-node: $*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

runtime_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) return 1 ;;
  esac
}

# Node 20 and npm from registry packages into $RUNTIME, bootstrapped by whatever npm there is.
bootstrap_runtime() {
  local arch npm_cmd
  arch=$(runtime_arch) || { say "no Node $NODE_MIN_MAJOR build for $(uname -m)"; return 1; }
  if ! command -v npm >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
      say "node >= $NODE_MIN_MAJOR and npm are missing: as root, apt-get install nodejs npm"
      return 1
    fi
    say "installing Debian's nodejs and npm (to bootstrap Node $NODE_PIN)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null || return 1
  fi
  npm_cmd=$(command -v npm)
  say "installing node-linux-$arch@$NODE_PIN and npm@$NPM_PIN into $RUNTIME"
  rm -rf "$RUNTIME"
  mkdir -p "$RUNTIME/bin"
  printf '{"private": true, "dependencies": {"node-linux-%s": "%s", "npm": "%s"}}\n' \
    "$arch" "$NODE_PIN" "$NPM_PIN" > "$RUNTIME/package.json"
  (cd "$RUNTIME" && timeout "$SDK_TIMEOUT" "$npm_cmd" install --no-audit --no-fund \
    --no-package-lock --loglevel=error >/dev/null) || return 1
  ln -sf "../node_modules/node-linux-$arch/bin/node" "$RUNTIME/bin/node"
  for tool in npm npx; do
    printf '#!/bin/sh\nd=$(dirname "$(readlink -f "$0")")\nexec "$d/node" "$d/../node_modules/npm/bin/%s-cli.js" "$@"\n' \
      "$tool" > "$RUNTIME/bin/$tool"
    chmod +x "$RUNTIME/bin/$tool"
  done
  [ "$(node_major "$RUNTIME/bin/node")" -ge $NODE_MIN_MAJOR ]
}

if [ -x "$RUNTIME/bin/node" ] && [ "$(node_major "$RUNTIME/bin/node")" -ge $NODE_MIN_MAJOR ]; then
  export PATH="$PWD/$RUNTIME/bin:$PATH"
elif [ "${TOROUTER_NODE_BOOTSTRAP:-}" != 1 ] && command -v node >/dev/null \
  && [ "$(node_major node)" -ge $NODE_MIN_MAJOR ] && command -v npm >/dev/null; then
  :
else
  if ! bootstrap_runtime; then
    say "could not provide Node >= $NODE_MIN_MAJOR"
    exit 1
  fi
  export PATH="$PWD/$RUNTIME/bin:$PATH"
fi
say "node $(node -v) ($(command -v node)), npm $(npm -v 2>/dev/null)"

stamp_of() { cat "$1/package.json" "$1/package-lock.json" | sha256sum | cut -c1-16; }

# npm ci in $1 unless its stamp says the same files were installed; $2 is the time box.
install_dir() {
  local dir=$1 box=$2 want start rc
  want="$(stamp_of "$dir") node$(node_major node)"
  if [ -f "$dir/node_modules/.torouter-installed" ] \
    && [ "$(cat "$dir/node_modules/.torouter-installed")" = "$want" ]; then
    echo "cached"
    return 0
  fi
  start=$(date +%s)
  (cd "$dir" && timeout "$box" npm ci --no-audit --no-fund --loglevel=error >"node-install.log" 2>&1)
  rc=$?
  if [ $rc -ne 0 ]; then
    [ $rc = 124 ] && echo "timed out after ${box}s" || echo "failed (exit $rc)"
    sed 's/^/    /' "$dir/node-install.log" | tail -n 15 >&2
    rm -rf "$dir/node_modules"  # no half-installed tree for the tests to trip on
    return 1
  fi
  rm -f "$dir/node-install.log"
  echo "$want" > "$dir/node_modules/.torouter-installed"
  echo "installed in $(($(date +%s) - start))s"
}

# "name@version" of each dependency that $1/node_modules holds.
installed() {
  (cd "$1" && node -e '
    const fs = require("fs");
    const deps = Object.keys(JSON.parse(fs.readFileSync("package.json", "utf8")).dependencies);
    console.log(deps.map((d) => {
      try { return d + "@" + JSON.parse(fs.readFileSync(`node_modules/${d}/package.json`, "utf8")).version; }
      catch { return d + " (missing)"; }
    }).join(", "));')
}

status=$(install_dir "$NODE_DIR" "$SDK_TIMEOUT") || {
  say "Node SDKs: $status"
  exit 1
}
say "Node SDKs: $status: $(installed "$NODE_DIR")"

if [ $want_clis = 1 ]; then
  for dir in "$NODE_DIR"/clis/*/; do
    dir=${dir%/}
    if status=$(install_dir "$dir" "$CLI_TIMEOUT"); then
      say "CLI $(basename "$dir"): $status: $(installed "$dir")"
    else
      say "CLI $(basename "$dir"): $status (its tests will skip)"
    fi
  done
fi
exit 0
