#!/usr/bin/env bash
# bench/migrate_workflow.sh: the migration workflow of issue 14 against its floors.
#
#   bench/migrate_workflow.sh [RUNS]      (default 7; needs the local stack: scripts/stack up)
#
# A directory of 200 generated versioned migrations (a table and an index each) and 20
# repeatable ones (a view and a function each), applied once to a database. Then, each
# RUNS*3 times: `rez-db migrate status --migrations DIR` and a no-op `rez-db migrate
# --migrations DIR` (process start and connection included), against `psql -c 'SELECT 1'`
# (goal: each <= 150 ms). Then `rez-db migrate baseline --to 14` of a database built with
# `psql -f` of the platform's migrations (shadow database created, migrated, read and
# dropped; live schema read; compared), against its floor: `pg_dump --schema-only` of that
# database and of one `rez-db migrate` built, plus `diff` (goal: <= 1.5x), and against the
# same job done by hand, where the expected schema must be built first (createdb, psql -f
# every file, both dumps, diff, dropdb). REZ_BENCH_BIN: a prebuilt binary (no build). The history a
# baseline records is dropped between runs, untimed. The baseline is timed with the cache of
# expected schemas warm (the everyday case: the migration files have not changed since the
# last run): one untimed baseline first primes it, in a cache directory of the run's own
# (REZ_DB_CACHE_DIR), never the user's; and cold (`--no-cache`: the shadow database built
# every run, as before the cache). Medians print as a markdown table for docs/benchmarks.md.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
RUNS=${1:-7}
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
command -v pg_dump >/dev/null || { echo "pg_dump is required" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is required" >&2; exit 1; }

source "$ROOT/bench/lib.sh"
REZ=$(rez_binary)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The cache of expected schemas of this run only.
export REZ_DB_CACHE_DIR="$WORK/cache"
DIR="$WORK/migrations"
mkdir -p "$DIR/repeatable"
for i in $(seq 1 200); do
  printf 'CREATE TABLE bench_t%d (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now());\nCREATE INDEX bench_t%d_name ON bench_t%d (name);\n' \
    "$i" "$i" "$i" >"$DIR/$(printf '%04d' "$i")_table_$i.sql"
done
for i in $(seq 1 20); do
  printf 'CREATE OR REPLACE VIEW bench_v%d AS SELECT id, name FROM bench_t%d;\nCREATE OR REPLACE FUNCTION bench_f%d() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM bench_t%d $$;\n' \
    "$i" "$i" "$i" "$i" >"$DIR/repeatable/r$(printf '%02d' "$i").sql"
done

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
db() { echo "$SERVER/$1"; }
fresh_db() { "$REZ" create --only pg --database-url "$(db "$1")" >/dev/null; }
drop_db() { "$REZ" create --only pg --drop --yes --database-url "$(db "$1")" >/dev/null; }
for name in bench_wf_dir bench_wf_live bench_wf_ref; do
  drop_db "$name" 2>/dev/null || true
done

# 200 + 20 migrations in a directory.
fresh_db bench_wf_dir
"$REZ" migrate --only pg --migrations "$DIR" --database-url "$(db bench_wf_dir)" >/dev/null
declare -a floor status noop
for _ in $(seq $((RUNS * 3))); do
  t0=$(now_ns); psql -q -X -d "$(db bench_wf_dir)" -c 'SELECT 1' >/dev/null; floor+=($(ms_since "$t0"))
  t0=$(now_ns); "$REZ" migrate status --only pg --migrations "$DIR" --database-url "$(db bench_wf_dir)" >/dev/null
  status+=($(ms_since "$t0"))
  t0=$(now_ns); "$REZ" migrate --only pg --migrations "$DIR" --database-url "$(db bench_wf_dir)" >/dev/null
  noop+=($(ms_since "$t0"))
done
drop_db bench_wf_dir

# Baseline of the platform's schema against pg_dump --schema-only of both databases + diff.
fresh_db bench_wf_live
mapfile -t UPS < <(ls migrations/[0-9][0-9][0-9][0-9]_*.sql | grep -v '\.down\.sql$'; ls migrations/repeatable/*.sql)
for f in "${UPS[@]}"; do
  psql -q -X -v ON_ERROR_STOP=1 -d "$(db bench_wf_live)" -f "$f" >/dev/null
done
fresh_db bench_wf_ref
"$REZ" migrate --only pg --database-url "$(db bench_wf_ref)" >/dev/null
# Prime the cache (untimed): the first baseline builds the shadow and stores its schema.
"$REZ" migrate baseline --to 14 --database-url "$(db bench_wf_live)" >/dev/null
psql -q -X -d "$(db bench_wf_live)" -c 'DROP SCHEMA rez_meta CASCADE' >/dev/null
declare -a base cold dump manual
for _ in $(seq "$RUNS"); do
  t0=$(now_ns)
  pg_dump --schema-only -d "$(db bench_wf_live)" >"$WORK/live.sql"
  pg_dump --schema-only -d "$(db bench_wf_ref)" >"$WORK/ref.sql"
  diff "$WORK/live.sql" "$WORK/ref.sql" >/dev/null || true
  dump+=($(ms_since "$t0"))
  # The same job by hand, as a DBA without rez-db does it: the expected
  # schema does not exist until it is built, so build it, dump both, diff, drop.
  t0=$(now_ns)
  createdb -h 127.0.0.1 -U postgres bench_wf_manual
  psql -q -X -v ON_ERROR_STOP=1 -d "$(db bench_wf_manual)" -c 'CREATE EXTENSION postgis; CREATE EXTENSION pg_trgm; CREATE EXTENSION pgcrypto; CREATE EXTENSION "uuid-ossp"' >/dev/null
  for f in "${UPS[@]}"; do psql -q -X -v ON_ERROR_STOP=1 -d "$(db bench_wf_manual)" -f "$f" >/dev/null; done
  pg_dump --schema-only -d "$(db bench_wf_live)" >"$WORK/live.sql"
  pg_dump --schema-only -d "$(db bench_wf_manual)" >"$WORK/ref.sql"
  diff "$WORK/live.sql" "$WORK/ref.sql" >/dev/null || true
  dropdb -h 127.0.0.1 -U postgres bench_wf_manual
  manual+=($(ms_since "$t0"))
  t0=$(now_ns); "$REZ" --json migrate baseline --to 14 --database-url "$(db bench_wf_live)" >"$WORK/warm.json"
  base+=($(ms_since "$t0"))
  [[ $(jq -r .expected_schema "$WORK/warm.json") == cache ]] || { echo "the warm baseline did not use the cache" >&2; exit 1; }
  psql -q -X -d "$(db bench_wf_live)" -c 'DROP SCHEMA rez_meta CASCADE' >/dev/null
  t0=$(now_ns); "$REZ" migrate baseline --to 14 --no-cache --database-url "$(db bench_wf_live)" >/dev/null
  cold+=($(ms_since "$t0"))
  psql -q -X -d "$(db bench_wf_live)" -c 'DROP SCHEMA rez_meta CASCADE' >/dev/null
done
drop_db bench_wf_live; drop_db bench_wf_ref

fl=$(printf '%s\n' "${floor[@]}" | median)
st=$(printf '%s\n' "${status[@]}" | median); no=$(printf '%s\n' "${noop[@]}" | median)
bs=$(printf '%s\n' "${base[@]}" | median); dm=$(printf '%s\n' "${dump[@]}" | median)
mn=$(printf '%s\n' "${manual[@]}" | median)
cb=$(printf '%s\n' "${cold[@]}" | median)
echo "| case | rez-db (median ms) | floor (median ms) | ratio | goal |"
echo "|---|---|---|---|---|"
echo "| migrate status, 200 versioned + 20 repeatable ($((RUNS * 3)) runs) | $st | $fl (psql -c 'SELECT 1') | $(ratio "$st" "$fl")x | <= 150 ms |"
echo "| no-op migrate, 200 versioned + 20 repeatable ($((RUNS * 3)) runs) | $no | $fl (psql -c 'SELECT 1') | $(ratio "$no" "$fl")x | <= 150 ms |"
echo "| migrate baseline --to 14, full schema, cache warm ($RUNS runs) | $bs | $dm (pg_dump -s x2 + diff) | $(ratio "$bs" "$dm")x | <= 1.5x |"
echo "| migrate baseline --to 14, full schema, --no-cache (shadow built; $RUNS runs) | $cb | $dm (pg_dump -s x2 + diff) | $(ratio "$cb" "$dm")x | (cold: the first run after a migration file changed) |"
echo "| migrate baseline --to 14, full schema, --no-cache ($RUNS runs) | $cb | $mn (by hand: createdb + psql -f every file + pg_dump -s x2 + diff + dropdb) | $(ratio "$cb" "$mn")x | (see docs/benchmarks.md) |"
