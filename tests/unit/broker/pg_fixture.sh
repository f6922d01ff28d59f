#!/usr/bin/env bash
# pg_fixture.sh -- COMMAND ARGS...
# Runs COMMAND with a throwaway PostgreSQL cluster: initdb in a temporary directory, a server on a
# free loopback port (trust authentication, fsync off), LEPTON_TEST_PG_URL exported to COMMAND
# (postgresql://lepton@127.0.0.1:PORT/postgres), then the server is stopped and the directory deleted,
# also when COMMAND fails or the fixture is interrupted. Exits with COMMAND's status, or 77 (skipped)
# when no PostgreSQL server is installed.
set -u

if [ "${1:-}" = "--" ]; then shift; fi
if [ $# -eq 0 ]; then
  echo "usage: pg_fixture.sh -- COMMAND [ARGS...]" >&2
  exit 2
fi

# The server's binaries: the newest /usr/lib/postgresql/*/bin (Debian), else pg_config --bindir.
bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4 -n); do
  [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && bindir="$d"
done
if [ -z "$bindir" ] && command -v pg_config >/dev/null 2>&1; then
  d="$(pg_config --bindir 2>/dev/null)"
  [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && bindir="$d"
fi
if [ -z "$bindir" ]; then
  echo "skipped: no PostgreSQL server (apt-get install postgresql)"
  exit 77
fi

# The server refuses to run as root: as root, run it as the postgres user.
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "pg_fixture: running as root, but there is no 'postgres' user to run the server as" >&2
    exit 1
  fi
  as_owner=(runuser -u postgres --)
fi

dir="$(mktemp -d /tmp/lepton-pg-XXXXXX)" || exit 1
started=0
watchdog=""
child=""
cleanup() {
  if [ -n "$watchdog" ]; then
    kill "$watchdog" 2>/dev/null
    watchdog=""
  fi
  if [ "$started" = 1 ]; then
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 ||
      "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
    started=0
  fi
  rm -rf "$dir"
}
on_signal() {
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

[ ${#as_owner[@]} -gt 0 ] && chown postgres "$dir"
if ! "${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U lepton -E UTF8 --locale=C --no-sync \
    >"$dir/initdb.log" 2>&1; then
  echo "pg_fixture: initdb failed:" >&2
  cat "$dir/initdb.log" >&2
  exit 1
fi

# A port nobody listens on; pg_ctl fails when another process takes it first: try others.
port=""
for _ in 1 2 3 4 5 6 7 8; do
  p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
  if "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
      -o "-p $p -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null 2>&1; then
    port="$p"
    started=1
    break
  fi
done
if [ -z "$port" ]; then
  echo "pg_fixture: cannot start PostgreSQL (log follows)" >&2
  cat "$dir/log" >&2 2>/dev/null
  exit 1
fi

# Should this script be killed outright (SIGKILL, a test runner's timeout), a detached watchdog still
# stops the server and removes the directory once this process is gone.
setsid bash -c '
  while kill -0 "$0" 2>/dev/null; do sleep 1; done
  if [ -d "$2/data" ]; then
    '"${as_owner[*]:-}"' "$1/pg_ctl" -D "$2/data" -m immediate -w stop >/dev/null 2>&1
    rm -rf "$2"
  fi' "$$" "$bindir" "$dir" </dev/null >/dev/null 2>&1 &
watchdog=$!

export LEPTON_TEST_PG_URL="postgresql://lepton@127.0.0.1:$port/postgres"
# in the background, so that a signal to this script is handled at once (on_signal passes it on)
"$@" <&0 &
child=$!
wait "$child"
status=$?
child=""
if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
  echo "pg_fixture: '$*' exited with $status; PostgreSQL log:" >&2
  tail -n 30 "$dir/log" >&2 2>/dev/null
fi
exit "$status"
