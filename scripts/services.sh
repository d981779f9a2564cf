#!/usr/bin/env bash
# Start (or stop) the real Redis and PostgreSQL servers the tests use, on 127.0.0.1 only.
#   scripts/services.sh start   prints the environment to export (TOROUTER_TEST_*)
#   scripts/services.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${TOROUTER_RUN_DIR:-$PWD/.run}
REDIS_PORT=${TOROUTER_TEST_REDIS_PORT:-16379}
PG_PORT=${TOROUTER_TEST_PG_PORT:-15432}
PG_BIN=/usr/lib/postgresql/15/bin
mkdir -p "$RUN"

start_redis() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then return; fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --pidfile "$RUN/redis.pid" --logfile "$RUN/redis.log" --dir "$RUN"
  for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "redis did not start" >&2; exit 1
}

pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_pg() {
  local dir="$RUN/pg"
  # A server already answering on the port (e.g. another checkout's) is reused.
  if "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q 2>/dev/null; then return; fi
  if [ "$(id -u)" = 0 ]; then chown postgres "$RUN" 2>/dev/null || true; fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres "$dir"
    pg_as "$PG_BIN/initdb" -D "$dir" -U postgres -A trust --no-sync >/dev/null
  fi
  if pg_as "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then return; fi
  pg_as "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $PG_PORT -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null
}

case "${1:-start}" in
  start)
    start_redis
    start_pg
    echo "export TOROUTER_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
    echo "export TOROUTER_TEST_PG_URL=postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/postgres"
    ;;
  stop)
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    pg_as "$PG_BIN/pg_ctl" -D "$RUN/pg" -m fast stop >/dev/null 2>&1 || true
    ;;
esac
