#!/usr/bin/env bash
# bench/migrate_diff.sh: `rez-db migrate diff` side by side with migra (issue 15).
#
#   bench/migrate_diff.sh [RUNS]      (default 7; needs the local stack: scripts/stack up)
#
# Two databases made by `rez-db create` + `rez-db migrate`: `live`, holding the
# fixtures/sql/clean.sql rows, on which the issue's seven drifts are planted (an index
# added by hand, a column type changed, a CHECK dropped, a trigger disabled, a policy
# altered, a function body edited, an INVALID index left by a failed CREATE UNIQUE INDEX
# CONCURRENTLY), and `reference`, untouched. First, what each tool finds: every planted
# drift must be in `rez-db migrate diff --json` of live (exit 1) and nothing in that of
# reference (exit 0); migra's output is searched for each drift's object. Then, RUNS
# times interleaved: `rez-db migrate diff` of live (process start, shadow database built
# from the migrations, read, dropped; live schema read; compared) against `migra --unsafe
# reference live` (the same two schemas compared, the expected one given ready-made).
# rez-db is timed with the cache of expected schemas warm (the everyday case: the migration
# files unchanged since the last run; the finding runs above prime it, in a cache directory
# of this run's own, REZ_DB_CACHE_DIR, never the user's) and cold (`--no-cache`: the shadow
# database built every run, as before the cache).
# Medians and their ratio print as a markdown table for docs/benchmarks.md.
# migra goes into the project venv (SQLAlchemy < 2: sqlbag's engine URL needs psycopg2).
# REZ_BENCH_BIN: a prebuilt binary (no build).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
RUNS=${1:-7}
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
VENV=${REZ_BENCH_VENV:-$ROOT/.stack/venv}
MIGRA="$VENV/bin/migra"
if [[ ! -x $MIGRA ]]; then
  "$VENV/bin/pip" install -q migra psycopg2-binary "sqlalchemy<2" \
    || { echo "cannot install migra into $VENV" >&2; exit 1; }
fi

source "$ROOT/bench/lib.sh"
REZ=$(rez_binary)
CACHE=$(mktemp -d)
export REZ_DB_CACHE_DIR="$CACHE"
LIVE="$SERVER/bench_diff_live"
REF="$SERVER/bench_diff_reference"
# SQLAlchemy knows the scheme as postgresql:// only.
MLIVE="postgresql://${LIVE#*://}"
MREF="postgresql://${REF#*://}"
migra() { # from to -> migra's SQL on stdout; exit 0 (same) or 2 (differences), else stop
  local rc=0
  "$MIGRA" --unsafe "$1" "$2" || rc=$?
  [[ $rc -eq 0 || $rc -eq 2 ]] || { echo "migra failed (exit $rc)" >&2; exit 1; }
  return $rc
}
drop_db() { "$REZ" create --drop --yes --database-url "$1" >/dev/null 2>&1 || true; }
trap 'drop_db "$LIVE"; drop_db "$REF"; rm -rf "$CACHE"' EXIT
for db in "$LIVE" "$REF"; do
  drop_db "$db"
  REZ_DB_STORES=pg "$REZ" create --database-url "$db" >/dev/null
  REZ_DB_STORES=pg "$REZ" migrate --database-url "$db" >/dev/null
done
psql -q -X -v ON_ERROR_STOP=1 -d "$LIVE" -f fixtures/sql/clean.sql >/dev/null
psql -q -X -v ON_ERROR_STOP=1 -d "$LIVE" >/dev/null <<'SQL'
CREATE INDEX idx_users_by_hand ON users (full_name);
ALTER TABLE users ALTER COLUMN profile_picture_url TYPE varchar(500);
ALTER TABLE offers DROP CONSTRAINT offers_discount_value_nonnegative;
ALTER TABLE offers DISABLE TRIGGER set_updated_at;
ALTER POLICY merchant_isolation ON merchants USING (true);
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
SQL
if psql -q -X -d "$LIVE" -c 'CREATE UNIQUE INDEX CONCURRENTLY idx_offers_status_invalid ON offers (status)' 2>/dev/null; then
  echo "the INVALID index was built: the fixture needs two offers of one status" >&2; exit 1
fi

# What each finds: (label, rez-db kind, object, text migra's output names it by).
DRIFTS=(
  "index added by hand|extra|public.idx_users_by_hand|idx_users_by_hand"
  "column type changed|changed|public.users.profile_picture_url|profile_picture_url"
  "CHECK dropped|missing|public.offers.offers_discount_value_nonnegative|offers_discount_value_nonnegative"
  "trigger disabled|changed|public.offers.set_updated_at|DISABLE TRIGGER \"set_updated_at\""
  "policy altered|changed|public.merchants.merchant_isolation|merchant_isolation"
  "function body edited|changed|public.set_updated_at()|FUNCTION public.set_updated_at()"
  "INVALID index|extra|public.idx_offers_status_invalid|idx_offers_status_invalid"
)
set +e
REZ_JSON=$(REZ_DB_STORES=pg "$REZ" --json migrate diff --database-url "$LIVE"); rez_exit=$?
MIGRA_OUT=$(migra "$MREF" "$MLIVE"); migra_exit=$?
REZ_CLEAN=$(REZ_DB_STORES=pg "$REZ" --json migrate diff --database-url "$REF"); rez_clean_exit=$?
MIGRA_CLEAN=$(migra "$MREF" "$MREF"); migra_clean_exit=$?
set -e
MIGRA_SAVED=${TMPDIR:-/tmp}/bench_migrate_diff_migra.sql
printf '%s\n' "$MIGRA_OUT" >"$MIGRA_SAVED"
[[ $migra_exit -eq 2 && $migra_clean_exit -eq 0 ]] || { echo "migra did not run" >&2; exit 1; }
[[ $rez_exit -eq 1 ]] || { echo "rez-db migrate diff of live exited $rez_exit, not 1" >&2; exit 1; }
[[ $rez_clean_exit -eq 0 ]] || { echo "rez-db migrate diff of reference exited $rez_clean_exit, not 0" >&2; exit 1; }
echo "| planted drift | rez-db migrate diff | migra |"
echo "|---|---|---|"
missed=0
for d in "${DRIFTS[@]}"; do
  IFS='|' read -r label kind object migra_name <<<"$d"
  rez=$(jq -r --arg o "$object" '.differences[] | select(.object == $o) | .kind' <<<"$REZ_JSON")
  [[ $rez == "$kind" ]] || missed=1
  migra=$(grep -qF -- "$migra_name" <<<"$MIGRA_OUT" && echo "found" || echo "not found")
  echo "| $label | ${rez:-not found} | $migra |"
done
echo "| untouched database | $(jq '.differences | length' <<<"$REZ_CLEAN") differences (exit $rez_clean_exit) | $(grep -c . <<<"$MIGRA_CLEAN" || true) lines (exit $migra_clean_exit) |"
echo "| all differences reported | $(jq '.differences | length' <<<"$REZ_JSON") | $(grep -c . <<<"$MIGRA_OUT") lines of SQL (exit $migra_exit; kept in $MIGRA_SAVED) |"
[[ $missed -eq 0 ]] || { echo "rez-db missed a planted drift" >&2; exit 1; }
echo

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
BUILT="$SERVER/bench_diff_built"
MBUILT="postgresql://${BUILT#*://}"
trap 'drop_db "$LIVE"; drop_db "$REF"; drop_db "$BUILT"; rm -rf "$CACHE"' EXIT
[[ $(jq -r .expected_schema <<<"$REZ_JSON") == shadow_build ]] || { echo "the first diff should have built its shadow" >&2; exit 1; }
declare -a rez_ms cold_ms migra_ms built_ms
for _ in $(seq "$RUNS"); do
  # The whole job done with migra: build the expected schema (create, migrate), compare, drop.
  t0=$(now_ns)
  REZ_DB_STORES=pg "$REZ" create --database-url "$BUILT" >/dev/null
  REZ_DB_STORES=pg "$REZ" migrate --database-url "$BUILT" >/dev/null
  migra "$MBUILT" "$MLIVE" >/dev/null || true
  drop_db "$BUILT"
  t1=$(now_ns)
  built_ms+=($(( (t1 - t0) / 1000000 )))
  t0=$(now_ns); REZ_DB_STORES=pg "$REZ" --json migrate diff --database-url "$LIVE" >"$CACHE/warm.out" || true; t1=$(now_ns)
  rez_ms+=($(( (t1 - t0) / 1000000 )))
  [[ $(jq -r .expected_schema "$CACHE/warm.out") == cache ]] || { echo "the warm diff did not use the cache" >&2; exit 1; }
  t0=$(now_ns); REZ_DB_STORES=pg "$REZ" migrate diff --no-cache --database-url "$LIVE" >/dev/null || true; t1=$(now_ns)
  cold_ms+=($(( (t1 - t0) / 1000000 )))
  t0=$(now_ns); migra "$MREF" "$MLIVE" >/dev/null || true; t1=$(now_ns)
  migra_ms+=($(( (t1 - t0) / 1000000 )))
done
r=$(printf '%s\n' "${rez_ms[@]}" | median); m=$(printf '%s\n' "${migra_ms[@]}" | median)
b=$(printf '%s\n' "${built_ms[@]}" | median)
c=$(printf '%s\n' "${cold_ms[@]}" | median)
echo "| case | rez-db migrate diff (median ms) | migra (median ms) | ratio | goal |"
echo "|---|---|---|---|---|"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "| full schema, 7 planted drifts, cache warm, migra given the expected database ready-made ($RUNS runs) | $r | $m | $(ratio "$r" "$m")x | <= 1.0x |"
echo "| the same, rez-db --no-cache (its shadow built every run) | $c | $m | $(ratio "$c" "$m")x | (cold: the first run after a migration file changed) |"
echo "| the same, --no-cache, migra's expected database built in the run (create + migrate + migra + drop) | $c | $b | $(ratio "$c" "$b")x | <= 1.0x |"
