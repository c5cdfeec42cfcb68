#!/usr/bin/env bash
# bench/migrate_targets.sh: `rez-db migrate --targets GROUP --parallel 2` on 8
# empty databases against 8 sequential `rez-db migrate` runs (the floor: what
# a shell loop over the shards does today). Goal: <= 0.6x.
#
#   bench/migrate_targets.sh [RUNS] [DATABASES]   (default 5 runs, 8 databases;
#                                                  needs PostgreSQL: scripts/stack up)
#
# Each run creates 2 x DATABASES empty databases (`rez-db create`, untimed),
# then times both sides on their own half, alternating which goes first, and
# drops them all. Both sides visit PostgreSQL only (`--targets` does by
# default; the loop passes `--only pg`). Prints the medians, the spread
# (min-max) and the ratio of the medians as a markdown table for
# docs/benchmarks.md, and the load average before and after. Then one more run
# of each side, untimed, with pg_stat_activity sampled every 5 ms (the sampler
# takes a share of a core, so it stays out of the timed runs): where the
# migrating backends spent their time, CPU or the wait event
# (IO:DataFileImmediateSync is PostgreSQL 15 fsyncing each new B-tree at the
# end of its build).
#
# Then the bound, measured: the same timed runs against a private PostgreSQL 15
# cluster of the benchmark's own (bench/private_pg.sh, port REZ_BENCH_PORT
# [25435]) with `fsync = off`, where no index build waits for its file to
# reach the disk; and the best ratio --parallel 2 can reach while those
# syncs are serialised by the disk (Amdahl: the sampled sync share s of a
# sequential migrate, s + (1 - s) / 2). SYNC_BOUND=0 skips both.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
RUNS=${1:-5}
N=${2:-8}
PARALLEL=${REZ_BENCH_PARALLEL:-2}
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}

SYNC_BOUND=${SYNC_BOUND:-1}
PRIVATE_PORT=${REZ_BENCH_PORT:-25435}

# shellcheck source=bench/private_pg.sh
source "$ROOT/bench/private_pg.sh"
REZ=$(rez_binary)
WORK=$(mktemp -d)
PREFIX="bench_targets_$$"
cleanup() {
  for i in $(seq 0 $((N - 1))); do
    for side in t s; do
      "$REZ" create --drop --yes --database-url "$SERVER/${PREFIX}_${side}$i" >/dev/null 2>&1 || true
    done
  done
  private_pg_stop "$WORK/pg"
  rm -rf "$WORK"
}
trap cleanup EXIT

# targets_config: the --targets side's group, on $SERVER.
targets_config() {
  {
    echo "targets:"
    echo "  bench:"
    for i in $(seq 0 $((N - 1))); do echo "    - $SERVER/${PREFIX}_t$i"; done
  } >"$WORK/rez-db.yaml"
}
targets_config

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
spread() { sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "-" hi}'; }

fan_out() {
  "$REZ" --config "$WORK/rez-db.yaml" migrate --targets bench --parallel "$PARALLEL" >/dev/null
}
one_by_one() {
  for i in $(seq 0 $((N - 1))); do
    "$REZ" migrate --only pg --database-url "$SERVER/${PREFIX}_s$i" >/dev/null
  done
}

# sample_waits FILE: psql in the background writing "side wait" lines for
# every active backend of this benchmark's databases to FILE every 5 ms, until
# killed (its PID in $!).
sample_waits() {
  psql -X -At -d "$SERVER/postgres" -o "$1" >/dev/null 2>&1 <<SQL &
SELECT CASE WHEN datname LIKE '${PREFIX}_t%' THEN 'fan' ELSE 'seq' END || ' ' ||
       coalesce(wait_event_type || ':' || wait_event, 'CPU')
FROM pg_stat_activity WHERE datname LIKE '${PREFIX}_%' AND state = 'active' \watch 0.005
SQL
}

# timed_runs LABEL: RUNS alternating runs of both sides on $SERVER; prints the
# table row, and leaves the median ratio in $ratio.
timed_runs() {
  local label=$1 run i side order t0 t1 ms fm sm fs ss
  local -a fan=() seq_ms=()
  for run in $(seq "$RUNS"); do
    for i in $(seq 0 $((N - 1))); do
      for side in t s; do
        "$REZ" create --only pg --database-url "$SERVER/${PREFIX}_${side}$i" >/dev/null
      done
    done
    if (( run % 2 )); then order="fan seq"; else order="seq fan"; fi
    for side in $order; do
      t0=$(now_ns)
      if [[ $side == fan ]]; then fan_out; else one_by_one; fi
      t1=$(now_ns)
      ms=$(( (t1 - t0) / 1000000 ))
      if [[ $side == fan ]]; then fan+=("$ms"); else seq_ms+=("$ms"); fi
    done
    for i in $(seq 0 $((N - 1))); do
      for side in t s; do
        "$REZ" create --drop --yes --database-url "$SERVER/${PREFIX}_${side}$i" >/dev/null
      done
    done
    echo "$label, run $run: --targets ${fan[-1]} ms, sequential ${seq_ms[-1]} ms" >&2
  done
  fm=$(printf '%s\n' "${fan[@]}" | median); sm=$(printf '%s\n' "${seq_ms[@]}" | median)
  fs=$(printf '%s\n' "${fan[@]}" | spread); ss=$(printf '%s\n' "${seq_ms[@]}" | spread)
  ratio=$(awk -v a="$fm" -v b="$sm" 'BEGIN { printf "%.2f", a / b }')
  echo "| full migrate of $N empty databases, --parallel $PARALLEL ($RUNS runs), $label | $fm ($fs) | $sm ($ss) ($N sequential \`rez-db migrate\`) | ${ratio}x | <= 0.6x |"
}

echo "load before: $(uptime)" >&2
echo "| case | rez-db --targets (median ms, spread) | floor (median ms, spread) | ratio | goal |"
echo "|---|---|---|---|---|"
timed_runs "the shared server"
echo "load after: $(uptime)" >&2

# The profile run: each side once more, sampled, not timed.
for i in $(seq 0 $((N - 1))); do
  for side in t s; do
    "$REZ" create --only pg --database-url "$SERVER/${PREFIX}_${side}$i" >/dev/null
  done
done
sample_waits "$WORK/waits"; sampler=$!
fan_out
one_by_one
kill "$sampler"; wait "$sampler" 2>/dev/null || true
echo "where the migrating backends were (share of pg_stat_activity samples, per side; an untimed run):" >&2
awk 'NF == 2 { n[$1]++; w[$1 " " $2]++ } END { for (k in w) { split(k, p, " "); printf "  %s %-32s %5.1f%%\n", p[1], p[2], 100 * w[k] / n[p[1]] } }' "$WORK/waits" | sort -k1,1 -k3,3nr >&2
sync=$(awk '$1 == "seq" { n++; if ($2 == "IO:DataFileImmediateSync") s++ } END { printf "%.3f", n ? s / n : 0 }' "$WORK/waits")
for i in $(seq 0 $((N - 1))); do
  for side in t s; do
    "$REZ" create --drop --yes --database-url "$SERVER/${PREFIX}_${side}$i" >/dev/null
  done
done
(( SYNC_BOUND )) || exit 0

# The bound: with the syncs serialised by the disk and everything else on two
# cores, --parallel 2 takes at least s + (1 - s) / 2 of the sequential time.
echo "the sync bound: a sequential migrate waits in IO:DataFileImmediateSync for $sync of its samples;" \
  "with those serialised, --parallel $PARALLEL can reach at best" \
  "$(awk -v s="$sync" -v p="$PARALLEL" 'BEGIN { printf "%.2fx", s + (1 - s) / p }')" >&2
# The same runs where nothing syncs: a private cluster with fsync = off.
private_pg_init "$WORK/pg" "$PRIVATE_PORT" "fsync = off" "max_connections = 50"
private_pg_start "$WORK/pg"
SERVER="postgres://postgres@127.0.0.1:$PRIVATE_PORT"
targets_config
timed_runs "private server with fsync = off"
