#!/usr/bin/env bash
# Set up ToRouter: a virtual environment in .venv with the package and its pinned dependencies.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --test   also test tools, Debian services (Redis, PostgreSQL, wrk) and the
#                             side virtual environments holding the older SDK majors (.venvs/)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

say() { echo "ToRouter setup: $*" >&2; }

if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment in .venv"
  if ! "$PY" -m venv .venv >/dev/null 2>&1; then
    # Debian ships venv/ensurepip separately (python3-venv).
    rm -rf .venv
    if [ "$(id -u)" = 0 ]; then
      say "installing Debian's python3-venv (apt-get)"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
      echo "python3 -m venv failed: install python3-venv (as root: apt-get install python3-venv)" >&2
      exit 1
    fi
    "$PY" -m venv .venv
  fi
fi
hash=$(cat pyproject.toml | sha256sum | cut -c1-16)
extras=""; [ $want_test = 1 ] && extras="[test]"
if ! stamp_ok .venv/.torouter-installed "$hash$extras"; then
  say "installing ToRouter and its pinned dependencies into .venv (pip; a few minutes the first time)"
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/pip install -q --disable-pip-version-check -e ".$extras"
  echo "$hash$extras" > .venv/.torouter-installed
fi

if [ $want_test = 1 ]; then
  need=()
  command -v redis-server >/dev/null || need+=(redis-server)
  [ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
  command -v wrk >/dev/null || need+=(wrk)
  # The deployment kit's checkers (tests/deploy): promtool, haproxy, systemd-analyze, and the
  # seccomp binding of Debian's python3 that emulates the systemd unit's sandbox.
  command -v promtool >/dev/null || need+=(prometheus)
  command -v haproxy >/dev/null || need+=(haproxy)
  command -v systemd-analyze >/dev/null || need+=(systemd)
  /usr/bin/python3 -c "import seccomp" 2>/dev/null || need+=(python3-seccomp)
  # The console's browser tests and screenshots: Debian's chromium (Playwright never downloads
  # a browser) and CJK fonts, so the Chinese pages render as people see them.
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || need+=(fonts-noto-cjk)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then echo "need root to install: ${need[*]}" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    say "installing Debian packages for the tests: ${need[*]}"
    apt-get update -qq
    # Nothing installed here may start as a service (prometheus, haproxy and the Debian
    # PostgreSQL cluster would listen on every interface): the tests start their own.
    guard=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      guard=1
    fi
    rc=0
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || rc=$?
    [ $guard = 0 ] || rm -f /usr/sbin/policy-rc.d
    [ $rc = 0 ] || exit $rc
  fi
  # Older SDK majors live in their own virtual environments (R21.1: openai 1.x).
  mkdir -p .venvs
  while read -r name spec; do
    [ -n "$name" ] || continue
    if ! stamp_ok ".venvs/$name/.installed" "$spec"; then
      say "installing $spec into .venvs/$name (older SDK major for the tests)"
      rm -rf ".venvs/$name"
      "$PY" -m venv ".venvs/$name"
      ".venvs/$name/bin/pip" install -q --disable-pip-version-check $spec
      echo "$spec" > ".venvs/$name/.installed"
    fi
  done < scripts/sdk-venvs.txt
fi
