#!/usr/bin/env bash
# bench/perf_set.sh: the performance set (issue 19) in one sitting, one after
# another on a quiet machine, each benchmark's output kept in a log.
#
#   REZ_BENCH_BIN=PATH bench/perf_set.sh [LOG_DIR]     (default: bench-logs/<UTC time>)
#
# Runs, in this order: validate at 1M and 10M ledger rows, import-csv of 1M
# users, backup/restore at scale 20000, reindex-es of 300k products (noida-db:
# `scripts/stack up --with-noida` first). Each benchmark prints its own ratios
# and the load average before and after; this script adds the load between
# them and stops at the first benchmark that fails. Sizes can be changed with
# VALIDATE_SIZES, IMPORT_ROWS, BACKUP_SCALE, REINDEX_SIZES.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
REZ_BENCH_BIN=$(rez_binary)
export REZ_BENCH_BIN REZ_BENCH_NO_BUILD=1
LOGS=${1:-bench-logs/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$LOGS"

step() {
  local name=$1; shift
  echo "== $name: $* (load: $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$LOGS/summary.txt"
  local t0=$SECONDS
  if ! "$@" >"$LOGS/$name.md" 2>"$LOGS/$name.err"; then
    echo "$name failed: see $LOGS/$name.err" | tee -a "$LOGS/summary.txt" >&2
    exit 1
  fi
  echo "   done in $((SECONDS - t0)) s" | tee -a "$LOGS/summary.txt"
}

read -r -a validate_sizes <<<"${VALIDATE_SIZES:-100000 1000000}"
read -r -a reindex_sizes <<<"${REINDEX_SIZES:-300000}"
step validate bench/validate.sh "${validate_sizes[@]}"
step import_csv bench/import_csv.sh "${IMPORT_ROWS:-1000000}"
step backup bench/backup.sh "${BACKUP_SCALE:-20000}"
step reindex_es bench/reindex_es.sh "${reindex_sizes[@]}"
echo "logs: $LOGS (load now: $(cut -d' ' -f1-3 /proc/loadavg))"
