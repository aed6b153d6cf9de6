#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster (Debian's postgresql
# package) on a free port in a temp dir, exporting
# SKYBRIDGE_TEST_POSTGRES_DSN for it; the cluster is stopped and removed
# when the command ends. Used by `make test-full`. Run as root (CI is) or
# as a user who can run initdb; as root the cluster runs as postgres.
set -eu
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [ -z "$bindir" ]; then
  echo "postgres-test: no PostgreSQL under /usr/lib/postgresql; running without it" >&2
  exec "$@"
fi
dir=$(mktemp -d /tmp/skybridge-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$dir"
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
# A password (scram) rather than trust, so tests see a DSN that holds a
# secret and can check that it never leaks.
pw="sb-test-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
echo "$pw" >"$dir/pw"
chmod 644 "$dir/pw"
"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U skybridge --pwfile="$dir/pw" --auth=scram-sha-256 -E UTF8 >/dev/null
"${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off" start >/dev/null
export SKYBRIDGE_TEST_POSTGRES_DSN="postgres://skybridge:$pw@127.0.0.1:$port/postgres?sslmode=disable"
"$@"
