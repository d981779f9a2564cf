#!/usr/bin/env bash
# Start a throw-away demo gateway (embedded default: SQLite, mock providers, demo data in a
# temporary directory) and run each installed coding CLI once against it, as SPEC §21 points
# them, printing what each printed and the gateway's access lines for its requests.
#   scripts/try-clis.sh [--translated] [prompt]
# --translated also runs each CLI on a model of another platform (Claude Code → demo-gpt,
# Gemini CLI → demo-claude, Codex → demo-claude). Installs nothing but what
# scripts/setup-node.sh installs (run first, idempotent). Exit status: the number of failed runs.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
translated=0
[ "${1:-}" = "--translated" ] && { translated=1; shift; }
PROMPT=${1:-Say hello to the gateway}
NODE_DIR=$ROOT/tests/e2e/node

[ -x "$PY" ] || scripts/setup.sh || exit 1
scripts/setup-node.sh || exit 1
[ -d "$NODE_DIR/.runtime/bin" ] && export PATH="$NODE_DIR/.runtime/bin:$PATH"

tmp=$(mktemp -d -p "${TMPDIR:-/var/tmp}" torouter-try.XXXXXX)
gw=""
cleanup() {
  [ -n "$gw" ] && kill "$gw" 2>/dev/null && wait "$gw" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
(cd "$tmp" && exec env TOROUTER_DATA_DIR="$tmp/data" "$PY" -m torouter.cli serve --port "$port" \
  >"$tmp/gateway.log" 2>"$tmp/gateway.err") &
gw=$!
for _ in $(seq 300); do
  curl -sf "$url/readyz" >/dev/null 2>&1 && [ -s "$tmp/data/demo.txt" ] && break
  kill -0 "$gw" 2>/dev/null || { echo "gateway exited:" >&2; tail -20 "$tmp/gateway.err" >&2; exit 1; }
  sleep 0.1
done
key=$(sed -n 's/^ *API key: *//p' "$tmp/data/demo.txt" | head -1)
[ -n "$key" ] || { echo "no demo key in $tmp/data/demo.txt" >&2; exit 1; }
echo "demo gateway on $url"

# Quiet, isolated environment for every CLI: temporary HOME, no host provider variables.
base_env() {
  local home=$1
  env | grep -E '^(ANTHROPIC|CLAUDE|OPENAI|CODEX|GEMINI|GOOGLE|VERTEX)_' | cut -d= -f1 \
    | sed 's/^/-u /' | tr '\n' ' '
  echo "HOME=$home XDG_CONFIG_HOME=$home/.config XDG_CACHE_HOME=$home/.cache NO_COLOR=1 TERM=dumb"
  echo "DISABLE_TELEMETRY=1 DISABLE_AUTOUPDATER=1 DISABLE_ERROR_REPORTING=1"
  echo "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 NO_UPDATE_NOTIFIER=1"
}

access_lines() {  # the gateway's access lines after line $1 of its log
  tail -n +"$(($1 + 1))" "$tmp/gateway.log" | "$PY" -c '
import json, sys
for raw in sys.stdin:
    try:
        r = json.loads(raw)
    except ValueError:
        continue
    if r.get("msg") == "request":
        print("  ", r.get("method"), r.get("path"), r.get("status"), r.get("code") or "", r.get("model") or "")'
}

failed=0
run() {  # run NAME MODEL COMMAND...: print its output and the gateway requests it made
  local name=$1 model=$2 start rc shown=() arg seen=0
  shift 2
  for arg in "$@"; do  # show the CLI's own arguments, not the environment
    case $arg in */node_modules/.bin/*) seen=1; arg=${arg##*/} ;; esac
    [ $seen = 1 ] && shown+=("$arg")
  done
  echo
  echo "=== $name ($model): ${shown[*]}"
  start=$(wc -l <"$tmp/gateway.log")
  timeout 120 "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
  rc=$?
  sleep 0.3  # let the access lines land
  echo "--- exit $rc; stdout:"
  cat "$tmp/out"
  if [ $rc -ne 0 ]; then
    echo "--- stderr (last lines):"
    tail -n 15 "$tmp/err"
    failed=$((failed + 1))
  fi
  echo "--- gateway requests:"
  access_lines "$start"
}

cli() { echo "$NODE_DIR/clis/$1/node_modules/.bin/$2"; }

try_claude() {
  local model=$1 home=$tmp/claude-$1 bin
  bin=$(cli claude claude)
  [ -x "$bin" ] || { echo; echo "=== Claude Code: not installed"; return; }
  mkdir -p "$home"
  # shellcheck disable=SC2046
  run "Claude Code" "$model" env $(base_env "$home") ANTHROPIC_BASE_URL="$url" \
    ANTHROPIC_API_KEY="$key" "$bin" -p "$PROMPT" --model "$model"
}

try_gemini() {
  local model=$1 home=$tmp/gemini-$1 bin
  bin=$(cli gemini gemini)
  [ -x "$bin" ] || { echo; echo "=== Gemini CLI: not installed"; return; }
  mkdir -p "$home/.gemini" "$home/work"
  cat >"$home/.gemini/settings.json" <<'EOF'
{"security": {"auth": {"selectedType": "gemini-api-key"}},
 "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
 "privacy": {"usageStatisticsEnabled": false}, "telemetry": {"enabled": false}}
EOF
  # shellcheck disable=SC2046
  cd "$home/work" || return
  run "Gemini CLI" "$model" env $(base_env "$home") GEMINI_API_KEY="$key" \
    GOOGLE_GEMINI_BASE_URL="$url" GEMINI_CLI_TRUST_WORKSPACE=true GEMINI_TELEMETRY_ENABLED=false \
    "$bin" -m "$model" -p "$PROMPT"
  cd "$ROOT" || exit 1
}

try_codex() {
  local model=$1 home=$tmp/codex-$1 bin
  bin=$(cli codex codex)
  [ -x "$bin" ] || { echo; echo "=== Codex: not installed"; return; }
  mkdir -p "$home/codex" "$home/work"
  cat >"$home/codex/config.toml" <<EOF
model = "$model"
model_provider = "torouter"
check_for_update_on_startup = false

[model_providers.torouter]
name = "ToRouter"
base_url = "$url/v1"
env_key = "TOROUTER_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false
EOF
  # shellcheck disable=SC2046
  cd "$home/work" || return
  run "Codex" "$model" env $(base_env "$home") CODEX_HOME="$home/codex" \
    TOROUTER_KEY="$key" "$bin" exec --skip-git-repo-check --color never "$PROMPT"
  cd "$ROOT" || exit 1
}

try_claude demo-claude
try_gemini demo-gemini
try_codex demo-gpt
if [ $translated = 1 ]; then
  try_claude demo-gpt
  try_gemini demo-claude
  try_codex demo-claude
fi
echo
echo "$failed failed run(s)"
exit $failed
