#!/usr/bin/env bash
# bench/partition_rotate.sh: `rez-db partition-rotate` side by side with pg_partman
# (Debian postgresql-15-partman, 4.7) over simulated months, in a private
# PostgreSQL 15 cluster whose clock is faked with libfaketime (pg_partman reads
# the server's clock; rez-db takes --now).
#
#   bench/partition_rotate.sh [MONTHS] [START] [REPEATS]
#   (default 12 months after "2026-12-15 12:00:00" UTC, 5 repeated runs per month)
#
# Two databases migrated by rez-db in the same cluster (127.0.0.1:25433):
#   rotate_rez      managed by `rez-db partition-rotate --now <month>`
#   rotate_partman  its partitions dropped, then handed to partman.create_parent()
#                   and rotated by `psql -c "SELECT partman.run_maintenance()"`
# Same schedules on both sides: orders monthly, wallet_transactions quarterly,
# audit_log monthly, premake 3; retention as README's rez-db.yaml: orders 24
# months, audit_log 13 months (dropped), wallet_transactions kept. Both sides
# start with partitions back to HISTORY (so retention has work from month 0).
#
# Month 0 is START; for each month the cluster restarts with its clock at that
# month, each side runs once (the month's work: create, detach, drop), then
# REPEATS more times (nothing to do: the nightly case), alternating sides;
# process start and connection are included on both sides. After each month
# the partition bounds (pg_get_expr(relpartbound)) of the two databases are
# compared table by table: pg_partman names partitions differently.
# Prints a markdown table; differences go to stderr with the two bound lists.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/private_pg.sh
source "$ROOT/bench/private_pg.sh"
need jq jq
need /usr/share/postgresql/15/extension/pg_partman.control postgresql-15-partman
MONTHS=${1:-12}
START=${2:-2026-12-15 12:00:00}
REPEATS=${3:-5}
HISTORY=${REZ_BENCH_HISTORY:-2025-01-01}
PORT=${REZ_BENCH_PORT:-25433}
SERVER="postgres://postgres@127.0.0.1:$PORT"
REZ=$(rez_binary)
WORK=$(mktemp -d)
trap 'private_pg_stop "$WORK/pg"; rm -rf "$WORK"' EXIT
private_pg_init "$WORK/pg" "$PORT"

cat >"$WORK/rez-db.yaml" <<YAML
database_url: $SERVER/rotate_rez
partitions:
  orders: { premake: 3, retain: 24, drop: true }
  wallet_transactions: { premake: 3 }
  audit_log: { premake: 3, retain: 13, drop: true }
YAML

at_month() { date -u -d "$START UTC + $1 months" '+%Y-%m-%d %H:%M:%S'; }
now_ns() { date +%s%N; }
run_rez() { "$REZ" partition-rotate --config "$WORK/rez-db.yaml" --now "$(date -u -d "$1 UTC" +%FT%TZ)" --json >"$WORK/rez.json"; }
run_partman() { psql -X -q -d "$SERVER/rotate_partman" -c "SELECT partman.run_maintenance()" >/dev/null; }
timed_ms() { local t0; t0=$(now_ns); "$@"; echo $(( ($(now_ns) - t0) / 1000000 )); }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
# "table|bound" for every attached partition (DEFAULT included), sorted.
bounds() {
  psql -X -At -d "$SERVER/$1" -c "
    SELECT p.relname || '|' || pg_get_expr(c.relpartbound, c.oid)
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname IN ('orders', 'wallet_transactions', 'audit_log') AND p.relnamespace = 'public'::regnamespace
    ORDER BY 1"
}
# partman_only_ahead REZ PARTMAN: succeeds, printing how many, when the only
# difference is partitions pg_partman made after rez-db's last one of the same
# table. pg_partman 4.7 counts premade partitions from now() rather than from the
# start of the current partition, in 30-day months, rounded
# (round(epoch(age(last_start, now())) / epoch(interval)) in run_maintenance): on
# 2026-12-15 12:00 it counts Q1-Q3 2027 as round(2.17) = 2 and makes Q4 2027 too,
# one more than the "premake partitions ahead of the current one" its own
# documentation and rez-db's premake mean. Any other difference fails.
partman_only_ahead() {
  awk -F'|' -v q="'" '
    FNR == NR { rez[$0] = 1; if ($2 ~ /^FOR VALUES FROM/) { split($2, b, q); if (b[4] > last[$1]) last[$1] = b[4] }; next }
    { seen[$0] = 1
      if (!($0 in rez)) { split($2, b, q); if ($2 !~ /^FOR VALUES FROM/ || !($1 in last) || b[2] < last[$1]) bad = 1; extra++ } }
    END { for (l in rez) if (!(l in seen)) bad = 1; if (bad || !extra) exit 1; printf "%d", extra }
  ' "$1" "$2"
}
# Tables left behind (detached, not dropped) named like a partition.
leftovers() {
  psql -X -At -d "$SERVER/$1" -c "
    SELECT count(*) FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND NOT c.relispartition
      AND c.relname ~ '^(orders|wallet_transactions|audit_log)_'"
}

# Month 0: both databases, with partitions back to HISTORY.
private_pg_start "$WORK/pg" "$(at_month 0)"
for db in rotate_rez rotate_partman; do
  "$REZ" create --only pg --database-url "$SERVER/$db" >/dev/null
  "$REZ" migrate --only pg --database-url "$SERVER/$db" >/dev/null
done
# rez-db side: the history a previous tool left, named as the migrations name partitions.
psql -X -q -v ON_ERROR_STOP=1 -d "$SERVER/rotate_rez" -v history="$HISTORY" >/dev/null <<'SQL'
SELECT format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
              t.parent || '_' || to_char(lo, t.suffix), t.parent,
              to_char(lo, 'YYYY-MM-DD HH24:MI:SS') || '+00', to_char(lo + t.step, 'YYYY-MM-DD HH24:MI:SS') || '+00')
FROM (VALUES ('orders', interval '1 month', 'YYYY_MM'), ('audit_log', interval '1 month', 'YYYY_MM'),
             ('wallet_transactions', interval '3 months', 'YYYY"_q"Q')) AS t(parent, step, suffix),
     generate_series(:'history'::timestamp, date_trunc('month', now() AT TIME ZONE 'UTC') - t.step, t.step) AS lo
WHERE NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = t.parent || '_' || to_char(lo, t.suffix))
\gexec
SQL
# pg_partman side: it creates every partition itself (its own names) from HISTORY
# to premake ahead, and its own DEFAULT partition, so the migrations' go.
# infinite_time_partitions: premake from the clock, not from the newest row
# (rez-db's meaning; pg_partman's default makes nothing ahead of an empty table).
# retention_keep_table = false: detach and drop (rez-db `drop: true`).
# retention: rez-db `retain: N` keeps N periods, the current one included, i.e.
# drops a partition once it ended N-1 periods before the current period began;
# pg_partman drops a partition whose end is older than now - retention. With
# now inside a period (not on its first instant) both mean the same for N-1 intervals.
psql -X -q -v ON_ERROR_STOP=1 -d "$SERVER/rotate_partman" -v history="$HISTORY" >/dev/null <<'SQL'
SELECT format('DROP TABLE %I.%I', n.nspname, c.relname)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE i.inhparent IN ('orders'::regclass, 'wallet_transactions'::regclass, 'audit_log'::regclass)
\gexec
CREATE SCHEMA partman;
CREATE EXTENSION pg_partman SCHEMA partman;
SELECT partman.create_parent('public.orders', 'created_at', 'native', 'monthly', p_premake := 3, p_start_partition := :'history');
SELECT partman.create_parent('public.wallet_transactions', 'created_at', 'native', 'quarterly', p_premake := 3, p_start_partition := :'history');
SELECT partman.create_parent('public.audit_log', 'changed_at', 'native', 'monthly', p_premake := 3, p_start_partition := :'history');
UPDATE partman.part_config SET infinite_time_partitions = true, retention_keep_table = false,
       retention = CASE parent_table WHEN 'public.orders' THEN '23 months' WHEN 'public.audit_log' THEN '12 months' END;
SQL

echo "load before: $(uptime)" >&2
echo "| month (simulated) | orders: rez-db / partman | wallet_transactions | audit_log | same bounds | left detached | month's run: rez-db (ms) | pg_partman (ms) | ratio | repeat run, median of $REPEATS: rez-db (ms) | pg_partman (ms) | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
diffs=0
idle_work=0
for m in $(seq 0 "$MONTHS"); do
  t=$(at_month "$m")
  private_pg_stop "$WORK/pg"
  private_pg_start "$WORK/pg" "$t"
  # Warm both databases' catalogs the same way before timing (the restart emptied the caches).
  for db in rotate_rez rotate_partman; do psql -X -q -d "$SERVER/$db" -c "SELECT count(*) FROM pg_class" >/dev/null; done
  if (( m % 2 )); then
    work_p=$(timed_ms run_partman); work_r=$(timed_ms run_rez "$t")
  else
    work_r=$(timed_ms run_rez "$t"); work_p=$(timed_ms run_partman)
  fi
  rez_repeat=(); partman_repeat=()
  for _ in $(seq "$REPEATS"); do
    rez_repeat+=("$(timed_ms run_rez "$t")")
    partman_repeat+=("$(timed_ms run_partman)")
  done
  if [[ $(jq ".actions | length" "$WORK/rez.json") != 0 ]]; then
    echo "month $m: the repeated rez-db run still did something: $(cat "$WORK/rez.json")" >&2
    idle_work=$((idle_work + 1))
  fi
  bounds rotate_rez >"$WORK/b_rez"
  bounds rotate_partman >"$WORK/b_partman"
  count() { grep -c "^$1|FOR VALUES" "$2"; }
  cells=()
  for table in orders wallet_transactions audit_log; do
    cells+=("$(count "$table" "$WORK/b_rez") / $(count "$table" "$WORK/b_partman")")
  done
  if diff -q "$WORK/b_rez" "$WORK/b_partman" >/dev/null; then same=yes
  elif ahead=$(partman_only_ahead "$WORK/b_rez" "$WORK/b_partman"); then
    same="yes, pg_partman $ahead further ahead"
    { echo "month $m ($t): pg_partman premade more (< rez-db, > pg_partman):"; diff "$WORK/b_rez" "$WORK/b_partman" || true; } >&2
  else
    same=NO; diffs=$((diffs + 1))
    { echo "month $m ($t): bounds differ (< rez-db, > pg_partman):"; diff "$WORK/b_rez" "$WORK/b_partman" || true; } >&2
  fi
  rr=$(printf '%s\n' "${rez_repeat[@]}" | median)
  pr=$(printf '%s\n' "${partman_repeat[@]}" | median)
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
  echo "| $m (${t%% *}) | ${cells[0]} | ${cells[1]} | ${cells[2]} | $same | $(leftovers rotate_rez) / $(leftovers rotate_partman) | $work_r | $work_p | $(ratio "$work_r" "$work_p") | $rr | $pr | $(ratio "$rr" "$pr") |"
done
echo "load after: $(uptime)" >&2
echo "months with different bounds: $diffs" >&2
# The ratios compare equal work only when both sides made the same partitions.
if (( diffs > 0 || idle_work > 0 )); then
  echo "partition_rotate.sh: the two sides did not do the same work ($diffs months with different bounds, $idle_work repeated runs that still acted): the table above is not a comparison" >&2
  exit 1
fi
