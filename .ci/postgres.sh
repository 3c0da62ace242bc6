#!/usr/bin/env bash
# Start a PostgreSQL 15 with pgvector for the tests, installing what is missing (Debian, as root).
# Prints the connection URL on stdout. Idempotent: a server already answering on the port is reused.
#   .ci/postgres.sh [PORT] [DATA_DIR]
set -euo pipefail
PORT=${1:-55432}
DATA=${2:-/tmp/memskill-pgdata}
PGBIN=/usr/lib/postgresql/15/bin
URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
quiet() { "$@" > "$log" 2>&1 || { cat "$log" >&2; echo "failed: $*" >&2; exit 1; }; }

if [ -x "$PGBIN/pg_isready" ] && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  echo "$URL"
  exit 0
fi
if [ ! -x "$PGBIN/initdb" ] || [ ! -e /usr/include/postgresql/15/server/postgres.h ] || ! command -v gcc > /dev/null; then
  quiet apt-get update -qq
  quiet apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-server-dev-15 build-essential
fi
if [ ! -e /usr/share/postgresql/15/extension/vector.control ]; then
  # pgvector is not in bookworm: build Debian trixie's source package against PostgreSQL 15.
  W=$(mktemp -d)
  mkdir -p "$W/apt/lists/partial" "$W/src"
  URI=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  echo "deb-src $URI trixie main" > "$W/apt/src.list"
  APTO=(-o Dir::Etc::sourcelist="$W/apt/src.list" -o Dir::Etc::sourceparts=/nonexistent -o Dir::State::Lists="$W/apt/lists")
  quiet apt-get "${APTO[@]}" update -qq
  (cd "$W/src" && quiet apt-get "${APTO[@]}" source --download-only pgvector)
  mkdir -p "$W/src/pgv"
  tar xzf "$W"/src/pgvector_*.orig.tar.gz -C "$W/src/pgv" --strip-components=1
  quiet make -C "$W/src/pgv" -j2 PG_CONFIG="$PGBIN/pg_config"
  quiet make -C "$W/src/pgv" install PG_CONFIG="$PGBIN/pg_config"
fi
if [ ! -e "$DATA/PG_VERSION" ]; then
  install -d -o postgres -g postgres "$DATA"
  quiet runuser -u postgres -- "$PGBIN/initdb" -D "$DATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync
fi
quiet runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=off -c max_connections=200" start
quiet runuser -u postgres -- psql -h 127.0.0.1 -p "$PORT" -U postgres -c 'CREATE EXTENSION IF NOT EXISTS vector'
echo "$URL"
