#!/usr/bin/env bash
# bench/migrate.sh: `rez-db migrate` against its floor, `psql -f` of the same SQL.
#
#   bench/migrate.sh [RUNS]      (default 7; needs the local stack: scripts/stack up)
#
# Full: on a freshly created database (extensions and roles in place), apply
# every migration; the floor is psql running the migration files concatenated
# (autocommit, as the no-transaction file requires). No-op: `rez-db migrate`
# on an up-to-date database, process start and connection included; the floor
# is `psql -c 'SELECT 1'`. Both sides run interleaved, in one run; the medians
# and their ratio print as a markdown table for docs/benchmarks.md.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
RUNS=${1:-7}
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
REZ=$(rez_binary)
ALL_SQL=$(mktemp)
trap 'rm -f "$ALL_SQL"' EXIT
# The versioned files only: not their .down.sql, not repeatable/.
UP_FILES=$(ls migrations/[0-9][0-9][0-9][0-9]_*.sql | grep -v "\.down\.sql$")
cat $UP_FILES >"$ALL_SQL"

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
fresh_db() { # name -> a created, empty database
  "$REZ" create --database-url "$SERVER/$1" >/dev/null
}
drop_db() { "$REZ" create --drop --yes --database-url "$SERVER/$1" >/dev/null; }

declare -a rez_full psql_full rez_noop psql_noop
for i in $(seq "$RUNS"); do
  fresh_db bench_psql; fresh_db bench_rez
  t0=$(now_ns); psql -q -X -v ON_ERROR_STOP=1 -d "$SERVER/bench_psql" -f "$ALL_SQL" >/dev/null; t1=$(now_ns)
  psql_full+=($(( (t1 - t0) / 1000000 )))
  t0=$(now_ns); "$REZ" migrate --database-url "$SERVER/bench_rez" >/dev/null; t1=$(now_ns)
  rez_full+=($(( (t1 - t0) / 1000000 )))
  drop_db bench_psql
  if [[ $i -lt $RUNS ]]; then drop_db bench_rez; fi
done
for _ in $(seq $((RUNS * 3))); do
  t0=$(now_ns); psql -q -X -d "$SERVER/bench_rez" -c 'SELECT 1' >/dev/null; t1=$(now_ns)
  psql_noop+=($(( (t1 - t0) / 1000000 )))
  t0=$(now_ns); "$REZ" migrate --database-url "$SERVER/bench_rez" >/dev/null; t1=$(now_ns)
  rez_noop+=($(( (t1 - t0) / 1000000 )))
done
drop_db bench_rez

rf=$(printf '%s\n' "${rez_full[@]}" | median); pf=$(printf '%s\n' "${psql_full[@]}" | median)
rn=$(printf '%s\n' "${rez_noop[@]}" | median); pn=$(printf '%s\n' "${psql_noop[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "| case | rez-db (median ms) | floor (median ms) | ratio | goal |"
echo "|---|---|---|---|---|"
echo "| full migrate, empty database ($(echo "$UP_FILES" | wc -l) files, $RUNS runs) | $rf | $pf (psql -f) | $(ratio "$rf" "$pf")x | <= 1.5x |"
echo "| no-op migrate, up to date ($((RUNS * 3)) runs) | $rn | $pn (psql -c 'SELECT 1') | $(ratio "$rn" "$pn")x | <= 150 ms |"
