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
# of the restored data, which the floor does not do; the table shows both.
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

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
drop_db() { "$REZ" create --drop --yes --database-url "$SERVER/$1" >/dev/null; }

for db in bench_bk_src bench_bk_rez bench_bk_floor; do drop_db "$db"; done
ROWS=$(seed_source bench_bk_src "$SCALE")

t0=$(now_ms); pg_dump -Fd -j2 -f "$WORK/floor" -d "$SERVER/bench_bk_src"; t1=$(now_ms)
floor_dump=$((t1 - t0))
t0=$(now_ms); "$REZ" backup --compress --to "$WORK/rez" --database-url "$SERVER/bench_bk_src" >/dev/null; t1=$(now_ms)
rez_dump=$((t1 - t0))

psql -q -X -d "$SERVER/postgres" -c "CREATE DATABASE bench_bk_floor TEMPLATE template0 ENCODING 'UTF8'"
t0=$(now_ms); pg_restore -j2 --exit-on-error -d "$SERVER/bench_bk_floor" "$WORK/floor"; t1=$(now_ms)
floor_restore=$((t1 - t0))
t0=$(now_ms); "$REZ" restore --from "$WORK/rez" --database-url "$SERVER/bench_bk_rez" >/dev/null; t1=$(now_ms)
rez_restore=$((t1 - t0))
t0=$(now_ms); "$REZ" validate --database-url "$SERVER/bench_bk_rez" >/dev/null; t1=$(now_ms)
validate_ms=$((t1 - t0))

floor_bytes=$(du -sb "$WORK/floor" | cut -f1)
rez_bytes=$(du -sb "$WORK/rez" | cut -f1)
for db in bench_bk_src bench_bk_rez bench_bk_floor; do drop_db "$db"; done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
echo "scale $SCALE users, $ROWS rows; backup $rez_bytes bytes (floor $floor_bytes)"
echo
echo "| step | rez-db (ms) | floor (ms) | ratio |"
echo "|---|---|---|---|"
echo "| backup (pg_dump -Fd -j2) | $rez_dump | $floor_dump | $(ratio "$rez_dump" "$floor_dump") |"
echo "| restore (pg_restore -j2) | $rez_restore | $floor_restore | $(ratio "$rez_restore" "$floor_restore") |"
echo "| restore without its validate (~$validate_ms ms) | $((rez_restore - validate_ms)) | $floor_restore | $(ratio "$((rez_restore - validate_ms))" "$floor_restore") |"
echo "| round trip | $((rez_dump + rez_restore)) | $((floor_dump + floor_restore)) | $(ratio "$((rez_dump + rez_restore))" "$((floor_dump + floor_restore))") |"
