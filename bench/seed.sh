#!/usr/bin/env bash
# bench/seed.sh: `rez-db seed --synthetic` against the floor, the same row
# counts inserted by SQL alone (`INSERT ... SELECT ... FROM generate_series`,
# bench/seed_floor.sql), into the same schema.
#
#   bench/seed.sh [SCALE...]      default: 1000000 users (about 27M rows, ~8.8M ledger rows)
#
# Environment: REZ_BENCH_PG (server URL, default the local stack's), REZ_BENCH_BIN
# (an already built rez-db: skips `cargo build`, e.g. while the tree is mid-edit),
# REZ_BENCH_KEEP=1 (keep the bench_seed_* databases).
#
# For each scale, in one run: two fresh databases, bench_seed_rez_N and
# bench_seed_floor_N, each made by `rez-db create` + `migrate` + `seed` (the
# reference data; not timed). Then, with a CHECKPOINT before each side:
#  (a) rez-db: `seed --synthetic --scale N --rng-seed 1 --json` under
#      /usr/bin/time (wall, CPU, peak RSS; process start and connection included),
#      PostgreSQL only (REZ_DB_STORES=pg: no Redis fill);
#  (b) the floor: `psql -1 -f bench/seed_floor.sql` with the per-table row counts
#      of (a)'s report and the partitions (a) created (same names and bounds),
#      process start and connection included. The INSERTs' row counts are
#      checked against (a)'s.
#  (c) with REZ_BENCH_FLOOR_SET_ASIDE=1, the floor again on a third database,
#      with the tables' keys, indexes and foreign keys dropped after the
#      partitions and built again before REFRESH (rez-db's load does that:
#      src/store/pg/bulk.rs): the floor with rez-db's loading strategy, to
#      tell what the strategy gains from what Rust + COPY gain.
# All sides do the same work inside one transaction: the same rows per table,
# indexes, foreign keys, CHECKs and the merchants audit trigger, then
# REFRESH MATERIALIZED VIEW merchant_stats and ANALYZE.
# Prints a markdown table, then per scale the per-table times: the floor's
# INSERT statements (psql \timing) against rez-db's COPY statements (summed
# over its chunks, from its debug log; its generation runs beside them).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SCALES=("$@"); [[ ${#SCALES[@]} -gt 0 ]] || SCALES=(1000000)
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
export REZ_DB_STORES=pg

source "$ROOT/bench/lib.sh"
need jq jq
REZ=$(rez_binary)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
drop_db() { "$REZ" create --drop --yes --database-url "$SERVER/$1" >/dev/null; }
fresh_db() {
  drop_db "$1"
  "$REZ" create --database-url "$SERVER/$1" >/dev/null
  "$REZ" migrate --database-url "$SERVER/$1" >/dev/null
  "$REZ" seed --database-url "$SERVER/$1" >/dev/null
}
checkpoint() { psql -q -X -d "$SERVER/$1" -c CHECKPOINT >/dev/null; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

# rez-db's debug log -> "table ms" per COPY (Debug durations: 1.2s, 3.4ms, 5.6µs, 7ns).
copy_ms() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '/ COPY [0-9]+ rows into / {
      for (k = 1; k <= NF; k++) if ($k == "into") { t = $(k + 1); d = $(k + 3) }
      v = d + 0
      if (d ~ /ms$/) v = v; else if (d ~ /µs$/) v = v / 1000; else if (d ~ /ns$/) v = v / 1e6; else if (d ~ /s$/) v = v * 1000
      ms[t] += v
    } END { for (t in ms) printf "%s %.0f\n", t, ms[t] }'
}
# The floor's psql output -> "table ms" per `\echo table X` section.
floor_ms() {
  awk 'BEGIN { t = "reference_ids" } /^table / { t = $2 } /^Time: / { ms[t] += $2 } END { for (t in ms) printf "%s %.0f\n", t, ms[t] }' "$1"
}

SUMMARY="$WORK/summary.md"
DETAIL="$WORK/detail.md"
echo "| scale (users) | rows | floor: SQL generate_series (s) | rez-db seed --synthetic (s) | ratio | floor, keys set aside (s) | ratio to it | rez-db peak RSS (MiB) | rez-db CPU (s) | load avg before / after |" >"$SUMMARY"
echo "|---|---|---|---|---|---|---|---|---|---|" >>"$SUMMARY"
: >"$DETAIL"

for N in "${SCALES[@]}"; do
  REZ_DB=bench_seed_rez_$N
  FLOOR_DB=bench_seed_floor_$N
  fresh_db "$REZ_DB"
  fresh_db "$FLOOR_DB"
  [[ -z ${REZ_BENCH_FLOOR_SET_ASIDE:-} ]] || fresh_db "${FLOOR_DB}_set_aside"
  load_before=$(load_avg)

  # (a) rez-db
  checkpoint "$REZ_DB"
  t0=$(now_ms)
  RUST_LOG=rez_db=debug /usr/bin/time -f '%e %U %S %M' -o "$WORK/time_$N" \
    "$REZ" seed --synthetic --scale "$N" --rng-seed 1 --json --database-url "$SERVER/$REZ_DB" \
    >"$WORK/rez_$N.json" 2>"$WORK/rez_$N.log"
  rez_ms=$(( $(now_ms) - t0 ))
  read -r _ user_s sys_s rss_kb <"$WORK/time_$N"
  rows=$(jq '.synthetic.rows' "$WORK/rez_$N.json")
  mapfile -t counts < <(jq -r '.synthetic.tables[] | "\(.table) \(.rows)"' "$WORK/rez_$N.json")
  vars=()
  for line in "${counts[@]}"; do vars+=(-v "n_${line% *}=${line#* }"); done
  # The partitions rez-db created, with the same bounds, for the floor to create first.
  psql -At -X -d "$SERVER/$REZ_DB" -v names="$(jq -c '.synthetic.partitions_created' "$WORK/rez_$N.json")" >"$WORK/partitions_$N.sql" <<'SQL'
SELECT format('CREATE TABLE %I PARTITION OF %I %s;', c.relname, p.relname, pg_get_expr(c.relpartbound, c.oid))
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE c.relname IN (SELECT jsonb_array_elements_text(:'names'::jsonb)) ORDER BY c.relname;
SQL

  # The floor on database $1, log $2, set-aside and rebuild files $3 and $4.
  floor() {
    checkpoint "$1"
    psql -X -1 -v ON_ERROR_STOP=1 -d "$SERVER/$1" "${vars[@]}" \
      -v partitions_file="$WORK/partitions_$N.sql" -v set_aside_file="$3" \
      -v rebuild_file="$4" -c '\timing on' -f bench/seed_floor.sql >"$2"
  }

  # (b) the floor
  : >"$WORK/empty.sql"
  t0=$(now_ms)
  floor "$FLOOR_DB" "$WORK/floor_$N.log" "$WORK/empty.sql" "$WORK/empty.sql"
  floor_ms_total=$(( $(now_ms) - t0 ))

  # (c) the floor with the keys set aside: the drops (foreign keys first) and
  # the rebuild (bulk.rs's order: keys, indexes, foreign keys; the query's
  # order) come from the catalog.
  set_aside="-"; set_aside_ratio="-"
  if [[ -n ${REZ_BENCH_FLOOR_SET_ASIDE:-} ]]; then
    tables=$(jq -c '[.synthetic.tables[].table]' "$WORK/rez_$N.json")
    psql -At -X -d "$SERVER/${FLOOR_DB}_set_aside" -v tables="$tables" >"$WORK/set_aside_$N.tsv" <<'SQL'
WITH t AS (SELECT format('public.%I', x)::regclass AS rel FROM jsonb_array_elements_text(:'tables'::jsonb) x),
fk AS (SELECT 3 AS step, conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE contype = 'f' AND conparentid = 0 AND (conrelid IN (SELECT rel FROM t) OR confrelid IN (SELECT rel FROM t))),
k AS (SELECT 1, conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
       WHERE contype IN ('p', 'u', 'x') AND conparentid = 0 AND conrelid IN (SELECT rel FROM t)),
i AS (SELECT 2, x.indrelid::regclass::text, c.relname, regexp_replace(pg_get_indexdef(x.indexrelid), ' ON ONLY ', ' ON ')
        FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
       WHERE x.indrelid IN (SELECT rel FROM t)
         AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x')))
SELECT * FROM fk UNION ALL SELECT * FROM k UNION ALL SELECT * FROM i ORDER BY 1, 2, 3;
SQL
    awk -F'|' '$1 == 3 { printf "ALTER TABLE %s DROP CONSTRAINT \"%s\";\n", $2, $3 }' "$WORK/set_aside_$N.tsv" >"$WORK/drop_$N.sql"
    awk -F'|' '$1 == 1 { printf "ALTER TABLE %s DROP CONSTRAINT \"%s\";\n", $2, $3 }
               $1 == 2 { printf "DROP INDEX public.\"%s\";\n", $3 }' "$WORK/set_aside_$N.tsv" >>"$WORK/drop_$N.sql"
    {
      echo "SET maintenance_work_mem = '512MB';"
      awk -F'|' '$1 == 1 || $1 == 3 { printf "ALTER TABLE %s ADD CONSTRAINT \"%s\" %s;\n", $2, $3, $4 }
                 $1 == 2 { printf "%s;\n", $4 }' "$WORK/set_aside_$N.tsv"
    } >"$WORK/rebuild_$N.sql"
    t0=$(now_ms)
    floor "${FLOOR_DB}_set_aside" "$WORK/floor_set_aside_$N.log" "$WORK/drop_$N.sql" "$WORK/rebuild_$N.sql"
    set_aside_ms=$(( $(now_ms) - t0 ))
    set_aside=$(secs "$set_aside_ms")
    set_aside_ratio=$(awk -v a="$rez_ms" -v b="$set_aside_ms" 'BEGIN { printf "%.2fx", a / b }')
  fi
  load_after=$(load_avg)

  # Same rows on both sides: each INSERT's count against rez-db's.
  inserted=$(awk '/^table / { t = $2 } /^INSERT 0 / { print t, $3 }' "$WORK/floor_$N.log" | sort)
  expected=$(printf '%s\n' "${counts[@]}" | awk '$2 > 0' | sort)
  if [[ $inserted != "$expected" ]]; then
    echo "the floor did not insert rez-db's row counts:" >&2
    diff <(echo "$expected") <(echo "$inserted") >&2 || true
    exit 1
  fi

  ratio=$(awk -v a="$rez_ms" -v b="$floor_ms_total" 'BEGIN { printf "%.2fx", a / b }')
  cpu=$(awk -v u="$user_s" -v s="$sys_s" 'BEGIN { printf "%.1f", u + s }')
  echo "| $N | $rows | $(secs "$floor_ms_total") | $(secs "$rez_ms") | $ratio | $set_aside | $set_aside_ratio | $((rss_kb / 1024)) | $cpu | $load_before / $load_after |" >>"$SUMMARY"

  {
    echo
    echo "scale $N: per table (ms). The floor's INSERT ... SELECT, against the sum of rez-db's COPY statements."
    echo
    echo "| table | rows | floor INSERT (ms) | rez-db COPY (ms) |"
    echo "|---|---|---|---|"
    {
      floor_ms "$WORK/floor_$N.log" | sed 's/^/floor /'
      copy_ms "$WORK/rez_$N.log" | sed 's/^/copy /'
      printf 'rows %s\n' "${counts[@]}"
    } | awk '$1 == "floor" { f[$2] = $3 } $1 == "copy" { c[$2] = $3 } $1 == "rows" { r[$2] = $3; order[++n] = $2 }
      function line(t, rows) { printf "| %s | %s | %s | %s |\n", t, rows, (t in f) ? f[t] : "-", (t in c) ? c[t] : "-" }
      END {
        line("reference_ids", "-"); line("partitions", "-"); line("set_aside", "-")
        for (k = 1; k <= n; k++) line(order[k], r[order[k]])
        line("rebuild", "-"); line("merchant_stats", "-"); line("analyze", "-")
      }'
    echo
    echo "rez-db milestones (elapsed since the load began):"
    sed 's/\x1b\[[0-9;]*m//g' "$WORK/rez_$N.log" | grep -E ' INFO .* after ' | sed -E 's/.* INFO [^ ]+ /- /'
  } >>"$DETAIL"

  if [[ -z ${REZ_BENCH_KEEP:-} ]]; then
    drop_db "$REZ_DB"; drop_db "$FLOOR_DB"
    [[ -z ${REZ_BENCH_FLOOR_SET_ASIDE:-} ]] || drop_db "${FLOOR_DB}_set_aside"
  fi
done

cat "$SUMMARY" "$DETAIL"
