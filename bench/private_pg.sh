# shellcheck shell=bash
# bench/private_pg.sh: a throwaway PostgreSQL 15 cluster of the benchmark's own,
# for what the shared server must not be used for (a faked clock, a preloaded
# library, restarts). Sourced by bench/partition_rotate.sh and bench/audit.sh.
#
#   private_pg_init DIR PORT [CONF_LINE...]   initdb into DIR; 127.0.0.1:PORT only, trust, UTC
#     (pick PORT below the ephemeral range, 32768-60999 on Linux: a client's
#     outgoing connection may hold a port in it, and the server cannot bind)
#   private_pg_start DIR [FAKE_TIME]          start (under libfaketime from FAKE_TIME on, e.g. "2027-01-15 12:00:00")
#   private_pg_stop DIR                       fast shutdown, by the postmaster's pid only
#
# Debian's postgresql-15 binaries; the extensions the migrations need
# (postgis, pg_trgm, pgcrypto) come from the same installation.
# shellcheck source=bench/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
LIBFAKETIME=${LIBFAKETIME:-/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1}

# PostgreSQL refuses to run as root: run its tools as `postgres` then.
as_pg() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

private_pg_init() {
  local dir=$1 port=$2 line
  shift 2
  mkdir -p "$dir"
  if [[ $(id -u) == 0 ]]; then
    chmod a+x "$(dirname "$dir")" # a mktemp -d parent is 0700: let `postgres` through
    chown postgres: "$dir"
  fi
  as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  {
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "timezone = 'UTC'"
    echo "log_timezone = 'UTC'"
    echo "logging_collector = off"
    for line in "$@"; do echo "$line"; done
  } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
}

private_pg_start() {
  local dir=$1 fake=${2:-}
  if [[ -n $fake ]]; then
    need "$LIBFAKETIME" libfaketime
    # "@TIME": the clock starts at TIME when the process starts and then ticks.
    # The monotonic clock stays real, so timeouts and latches behave.
    as_pg env LD_PRELOAD="$LIBFAKETIME" FAKETIME="@$fake" FAKETIME_DONT_FAKE_MONOTONIC=1 \
      "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    fake_clock_took "$dir" "$fake"
  else
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
  fi
}

private_pg_stop() {
  local dir=$1 pid
  [[ -f $dir/data/postmaster.pid ]] || return 0
  pid=$(head -1 "$dir/data/postmaster.pid")
  kill -INT "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

# fake_clock_took DIR TIME: stops the benchmark unless the server's clock reads
# TIME (within a day). A preload that silently failed leaves the real clock,
# and everything measured after it would be of the wrong month.
fake_clock_took() {
  local dir=$1 fake=$2 port skew
  port=$(sed -n 's/^port = //p' "$dir/data/postgresql.conf" | tail -1)
  skew=$(psql -X -At -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "SELECT abs(extract(epoch FROM now() - '$fake'::timestamptz))::bigint")
  if (( skew > 86400 )); then
    echo "bench: the server's clock is ${skew}s away from $fake: libfaketime ($LIBFAKETIME) did not take; stopping" >&2
    private_pg_stop "$dir"
    exit 2
  fi
}
