#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL on loopback and ABLO_TEST_DATABASE_URL pointing at
# it; the server's data is deleted afterwards. Usage: scripts/with-postgres.sh COMMAND [ARGS...]
# PG_PORT picks the port (default: the first free one from 25432, below the kernel's ephemeral range,
# where no outgoing connection takes its source port: a port in that range, free when checked, can be
# a client socket's by the time PostgreSQL binds it). initdb refuses to run as root, so as root the
# cluster runs as the postgres user.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL server binaries not found (apt install postgresql)" >&2; exit 1; }
# A free port unless PG_PORT names one (another PostgreSQL may be running on the machine).
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
next_free_port() {
  local port=$1
  while port_in_use "$port"; do port=$((port + 1)); done
  echo "$port"
}
PORT_GIVEN=${PG_PORT:-}
[ -n "$PORT_GIVEN" ] || PG_PORT=$(next_free_port 25432)
PG_TMP=$(mktemp -d /tmp/ablo-pg.XXXXXX)
RUNAS=()
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_TMP"; RUNAS=(runuser -u postgres --); fi
stop_pg() {
  [ -f "$PG_TMP/data/postmaster.pid" ] && "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_TMP"
}
trap stop_pg EXIT
"${RUNAS[@]}" "$PGBIN/initdb" -D "$PG_TMP/data" -U postgres -A trust --no-sync >"$PG_TMP/initdb.log"
# fsync off: a test cluster is thrown away, durability is the SQLite store's job in these runs.
start_pg() {
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/pg.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_TMP -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null
}
# Another program may bind the port between the check and PostgreSQL's bind: a few more ports are
# tried (unless PG_PORT was given); a start that fails for another reason fails at once, with its log.
for attempt in 1 2 3 4 5; do
  log_before=$( [ -f "$PG_TMP/pg.log" ] && wc -c <"$PG_TMP/pg.log" || echo 0)
  start_pg && break
  if [ -n "$PORT_GIVEN" ] || [ "$attempt" = 5 ] || ! tail -c +"$((log_before + 1))" "$PG_TMP/pg.log" | grep -q "could not bind"; then
    echo "with-postgres.sh: PostgreSQL did not start on port $PG_PORT; its log:" >&2
    cat "$PG_TMP/pg.log" >&2 || true
    exit 1
  fi
  PG_PORT=$(next_free_port $((PG_PORT + 1)))
done
export ABLO_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
# Lets fault tests restart the server: pg_ctl with these arguments.
export ABLO_TEST_PG_CTL="${RUNAS[*]} $PGBIN/pg_ctl -D $PG_TMP/data -l $PG_TMP/pg.log"
"$@"
