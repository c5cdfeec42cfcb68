#!/usr/bin/env bash
# bench/backup.sh: `rez-db backup` + `rez-db restore` (PostgreSQL) against the
# floor, `pg_dump -Fd -j2` + `pg_restore -j2` alone, on the same seeded database.
#
#   bench/backup.sh [SCALE]      (default 20000 users; needs the local stack: scripts/stack up)
#
# One run, both sides interleaved on one database made by `create`, `migrate`
# and `seed --synthetic --scale SCALE --rng-seed 1`. Restores go into a missing
# database; the floor's gets an empty one from template0 (the roles are
# cluster-wide, pg_restore makes the extensions), and rez-db's includes its `validate`
# of the restored data, which the floor does not do; the table shows both. The
# restore without its validate, and validate's own time, come from the restore's
# own report (`--json`, `timings`) of the same run, not from a second validate.
# CPU: user + system seconds of each side's process tree (/usr/bin/time: rez-db's
# includes its pg_restore children); the server's own CPU is in neither. The load
# average is printed before and after: on a shared machine, a ratio taken under
# load is not a result.
# rez-db runs with --compress: pg_dump's gzip level 6, which is pg_dump's default
# and so the floor's (without it rez-db writes plain .dat files).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SCALE=${1:-20000}
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
export REZ_DB_STORES=pg

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
REZ=$(rez_binary)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "load at start: $(uptime)"
need /usr/bin/time time
need jq jq

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
drop_db() { "$REZ" create --drop --yes --database-url "$SERVER/$1" >/dev/null; }

for db in bench_bk_src bench_bk_rez bench_bk_floor; do drop_db "$db"; done
ROWS=$(seed_source bench_bk_src "$SCALE")
# After the seed (its own load included in the 1-minute figure): the timed steps start here.
echo "load before the timed steps: $(uptime)"

t0=$(now_ms); pg_dump -Fd -j2 -f "$WORK/floor" -d "$SERVER/bench_bk_src"; t1=$(now_ms)
floor_dump=$((t1 - t0))
t0=$(now_ms); "$REZ" backup --compress --to "$WORK/rez" --database-url "$SERVER/bench_bk_src" >/dev/null; t1=$(now_ms)
rez_dump=$((t1 - t0))

# cpu FILE: the user + system seconds /usr/bin/time wrote into FILE.
cpu() { awk '{ printf "%.1f", $1 + $2 }' "$1"; }

psql -q -X -d "$SERVER/postgres" -c "CREATE DATABASE bench_bk_floor TEMPLATE template0 ENCODING 'UTF8'"
t0=$(now_ms)
/usr/bin/time -f '%U %S' -o "$WORK/floor.cpu" \
  pg_restore -j2 --exit-on-error -d "$SERVER/bench_bk_floor" "$WORK/floor"
t1=$(now_ms)
floor_restore=$((t1 - t0))
t0=$(now_ms)
/usr/bin/time -f '%U %S' -o "$WORK/rez.cpu" \
  "$REZ" --json restore --from "$WORK/rez" --database-url "$SERVER/bench_bk_rez" >"$WORK/restore.json"
t1=$(now_ms)
rez_restore=$((t1 - t0))
# The restore's own account of its phases (see `Timings` in src/backup/restore.rs).
timing() { jq -r "$1" "$WORK/restore.json"; }
restore_ms=$(timing .timings.restore_ms)
validate_ms=$(timing .timings.validate_ms)
phases=$(timing '"verify \(.timings.verify_ms) ms, prepare \(.timings.prepare_ms) ms, " +
  "postgres (create + pg_restore) \(.stores[] | select(.store == "postgres") | .restore_ms) ms, " +
  "validate \(.timings.validate_ms) ms, total \(.timings.total_ms) ms"')

floor_bytes=$(du -sb "$WORK/floor" | cut -f1)
rez_bytes=$(du -sb "$WORK/rez" | cut -f1)
for db in bench_bk_src bench_bk_rez bench_bk_floor; do drop_db "$db"; done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
echo "scale $SCALE users, $ROWS rows; backup $rez_bytes bytes (floor $floor_bytes)"
echo "restore phases (rez-db's report): $phases"
echo "restore CPU, user + system: rez-db $(cpu "$WORK/rez.cpu") s (pg_restore included), pg_restore -j2 alone $(cpu "$WORK/floor.cpu") s"
echo
echo "| step | rez-db (ms) | floor (ms) | ratio |"
echo "|---|---|---|---|"
echo "| backup (pg_dump -Fd -j2) | $rez_dump | $floor_dump | $(ratio "$rez_dump" "$floor_dump") |"
echo "| restore, validate included (pg_restore -j2) | $rez_restore | $floor_restore | $(ratio "$rez_restore" "$floor_restore") |"
echo "| restore without its validate ($validate_ms ms, same run) | $restore_ms | $floor_restore | $(ratio "$restore_ms" "$floor_restore") |"
echo "| round trip | $((rez_dump + rez_restore)) | $((floor_dump + floor_restore)) | $(ratio "$((rez_dump + rez_restore))" "$((floor_dump + floor_restore))") |"
echo
echo "restore without validate / pg_restore -j2: $(ratio "$restore_ms" "$floor_restore")"
echo "load after the timed steps: $(uptime)"
