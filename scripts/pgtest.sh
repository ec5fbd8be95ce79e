#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for tests, runs a command with
# POCHTA_TEST_PG_DSN pointing at it, and removes the server afterwards.
#
#   scripts/pgtest.sh go test -race ./internal/store/postgres/
#   scripts/pgtest.sh              # just start it and print the DSN; stops on Ctrl-C
#
# The server comes from Debian's postgresql package (installed with apt-get
# when no /usr/lib/postgresql/*/bin/initdb is found). It runs as a non-root
# user (the package's "postgres" user when this script runs as root) in a
# temporary folder, listens on 127.0.0.1 only on a free port, trusts local
# connections (it is a throwaway test server) and keeps fsync on, so
# benchmarks measure real commits. Set POCHTA_PG_FSYNC=off to trade that for
# speed in a plain test run.
set -euo pipefail

log() { echo "pgtest: $*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; fi
}

bindir=$(pg_bindir)
if [ -z "$bindir" ]; then
	log "installing PostgreSQL from Debian packages"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	bindir=$(pg_bindir)
	if [ -z "$bindir" ]; then
		log "postgresql installed but no initdb found under /usr/lib/postgresql"
		exit 1
	fi
fi

# The server refuses to run as root: run it as the package's postgres user.
run_as=()
if [ "$(id -u)" -eq 0 ]; then
	if ! id postgres >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
	fi
	run_as=(runuser -u postgres --)
fi

tmp=$(mktemp -d /tmp/pochta-pg.XXXXXX)
chmod 0755 "$tmp"
if [ ${#run_as[@]} -gt 0 ]; then chown postgres: "$tmp"; fi
data="$tmp/data"

sleeper=
cleanup() {
	local rc=$?
	if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null || true; fi
	if [ -f "$data/postmaster.pid" ]; then
		"${run_as[@]}" "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${run_as[@]}" "$bindir/initdb" -D "$data" -U pochta --auth=trust -E UTF8 --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1 || {
	cat "$tmp/initdb.log" >&2
	exit 1
}

fsync=${POCHTA_PG_FSYNC:-on}
started=
for _ in 1 2 3 4 5 6 7 8 9 10; do
	port=$((20000 + RANDOM % 30000))
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		continue # taken
	fi
	opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$tmp"
	opts+=" -c max_connections=300 -c fsync=$fsync -c synchronous_commit=on"
	opts+=" -c shared_buffers=128MB -c log_min_messages=warning"
	if "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -l "$tmp/server.log" -o "$opts" -w -t 60 start >/dev/null 2>&1; then
		started=1
		break
	fi
done
if [ -z "$started" ]; then
	log "could not start PostgreSQL; server log:"
	cat "$tmp/server.log" >&2 || true
	exit 1
fi

export POCHTA_TEST_PG_DSN="postgres://pochta@127.0.0.1:$port/postgres?sslmode=disable"
log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (fsync=$fsync)"
if [ $# -eq 0 ]; then
	echo "POCHTA_TEST_PG_DSN=$POCHTA_TEST_PG_DSN"
	log "running until interrupted"
	# wait (not a foreground sleep) lets the INT/TERM trap run at once.
	sleep infinity &
	sleeper=$!
	wait "$sleeper"
fi
"$@"
