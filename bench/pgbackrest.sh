#!/usr/bin/env bash
# bench/pgbackrest.sh: `rez-db backup --only pg` against a pgBackRest full backup
# (Debian `pgbackrest`), size and time, plain and compressed, in one run.
#
#   bench/pgbackrest.sh [SCALE]      (default 20000 users; run as root or as postgres)
#
# pgBackRest backs up a whole cluster from its data directory and needs WAL
# archiving, so this makes a PRIVATE PostgreSQL 15 cluster (initdb in a temp
# directory, port $REZ_BENCH_PGBR_PORT or 55432, bound to 127.0.0.1 and a private
# socket directory, archive_mode on with pgBackRest's archive-push), seeds it with
# `rez-db create/migrate/seed --synthetic --scale SCALE --rng-seed 1`, and stops it
# by its postmaster PID at the end. The shared server is not touched.
#
# Both sides use 2 processes (rez-db's pg_dump -j2, pgBackRest process-max=2) and,
# when compressing, gzip level 6. pgBackRest is a physical copy: every database of
# the cluster, indexes included, plus the WAL that makes it consistent; rez-db's is
# a logical dump of the one database (indexes are rebuilt on restore).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SCALE=${1:-20000}
PORT=${REZ_BENCH_PGBR_PORT:-55432}
PGBIN=${REZ_BENCH_PGBIN:-/usr/lib/postgresql/15/bin}
STANZA=rezbench
export REZ_DB_STORES=pg

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need pgbackrest pgbackrest
REZ=$(rez_binary)

WORK=$(mktemp -d /tmp/rez-bench-pgbr.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK/data" "$WORK/repo" "$WORK/log" "$WORK/lock" "$WORK/sock" "$WORK/rez"
# The cluster and pgBackRest run as postgres (initdb refuses root).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$WORK"

PID=
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -INT "$PID" # fast shutdown of OUR postmaster only
        while kill -0 "$PID" 2>/dev/null; do sleep 0.2; done
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

CONF="$WORK/pgbackrest.conf"
cat >"$CONF" <<EOF
[global]
repo1-path=$WORK/repo
log-path=$WORK/log
lock-path=$WORK/lock
log-level-console=warn
start-fast=y
process-max=2
compress-level=6
# Keep every full backup of this throwaway repository (and no retention warning).
repo1-retention-full=9999999

[$STANZA]
pg1-path=$WORK/data
pg1-port=$PORT
pg1-socket-path=$WORK/sock
EOF
chmod 644 "$CONF"
PGBR=(pgbackrest "--config=$CONF" "--stanza=$STANZA")

as_pg "$PGBIN/initdb" -D "$WORK/data" -U postgres --auth=trust -E UTF8 >/dev/null
cat >>"$WORK/data/postgresql.conf" <<EOF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK/sock'
wal_level = replica
archive_mode = on
archive_command = 'pgbackrest --config=$CONF --stanza=$STANZA archive-push %p'
EOF
as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/log/postgres.log" -w start >/dev/null
PID=$(head -1 "$WORK/data/postmaster.pid")

URL="postgres://postgres@127.0.0.1:$PORT/rez_bench"
"$REZ" create --database-url "$URL" >/dev/null
"$REZ" migrate --database-url "$URL" >/dev/null
"$REZ" seed --synthetic --scale "$SCALE" --rng-seed 1 --database-url "$URL" >/dev/null
psql -q -X -d "$URL" -c 'VACUUM ANALYZE' -c 'CHECKPOINT' >/dev/null
ROWS=$(psql -At -X -d "$URL" -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables WHERE schemaname = 'public'")
DB_BYTES=$(psql -At -X -d "$URL" -c "SELECT pg_database_size(current_database())")
CLUSTER_BYTES=$(psql -At -X -d "$URL" -c "SELECT sum(pg_database_size(datname)) FROM pg_database")
as_pg "${PGBR[@]}" stanza-create >/dev/null
as_pg "${PGBR[@]}" check >/dev/null

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# rez-db: one backup directory per run; size = the whole directory (manifest included).
rez_backup() { # $1: label, rest: extra flags
    local label=$1; shift
    local t0 t1
    t0=$(now_ms); "$REZ" backup --only pg "$@" --to "$WORK/rez/$label" --database-url "$URL" >/dev/null; t1=$(now_ms)
    echo "$((t1 - t0)) $(du -sb "$WORK/rez/$label" | cut -f1)"
}
# pgBackRest: a full backup; size = that backup set in the repository plus the WAL
# archived for it (what a restore of it needs).
pgbr_backup() { # $1: compress-type
    local t0 t1 before after set
    before=$(du -sb "$WORK/repo" | cut -f1)
    t0=$(now_ms); as_pg "${PGBR[@]}" backup --type=full "--compress-type=$1" >/dev/null; t1=$(now_ms)
    after=$(du -sb "$WORK/repo" | cut -f1)
    set=$(as_pg "${PGBR[@]}" info --output=json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["backup"][-1]["info"]["repository"]["size"])')
    echo "$((t1 - t0)) $((after - before)) $set"
}

# Command substitutions (not `< <(...)`), so that a failed backup stops the script.
out=$(rez_backup plain); read -r rez_ms rez_bytes <<<"$out"
out=$(pgbr_backup none); read -r pgbr_ms pgbr_bytes pgbr_set <<<"$out"
out=$(rez_backup gzip --compress); read -r rezz_ms rezz_bytes <<<"$out"
out=$(pgbr_backup gz); read -r pgbrz_ms pgbrz_bytes pgbrz_set <<<"$out"

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
echo "scale $SCALE users, $ROWS rows; database $(mib "$DB_BYTES"), cluster $(mib "$CLUSTER_BYTES"); load before: $LOAD"
echo
echo "| backup | rez-db --only pg (ms) | pgBackRest full (ms) | time ratio | rez-db size | pgBackRest size (set + WAL) | size ratio |"
echo "|---|---|---|---|---|---|---|"
echo "| uncompressed | $rez_ms | $pgbr_ms | $(ratio "$rez_ms" "$pgbr_ms") | $(mib "$rez_bytes") | $(mib "$pgbr_bytes") ($(mib "$pgbr_set") + WAL) | $(ratio "$rez_bytes" "$pgbr_bytes") |"
echo "| gzip level 6 | $rezz_ms | $pgbrz_ms | $(ratio "$rezz_ms" "$pgbrz_ms") | $(mib "$rezz_bytes") | $(mib "$pgbrz_bytes") ($(mib "$pgbrz_set") + WAL) | $(ratio "$rezz_bytes" "$pgbrz_bytes") |"
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
