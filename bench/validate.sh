#!/usr/bin/env bash
# bench/validate.sh: `rez-db validate` against its floors and bounds, on a
# database of W wallets with 10 ledger rows each.
#
#   bench/validate.sh [WALLETS...]     default: 100000 1000000 (1M and 10M ledger rows)
#
# REZ_BENCH_BIN=path/to/rez-db skips the build; REZ_BENCH_KEEP=1 keeps the
# bench_validate_* databases and REZ_BENCH_REUSE=1 times a kept one again
# instead of building it (two binaries on the same data); REZ_BENCH_PG points
# at another server.
#
# For each size: build the data set with generate_series (valid chains: each
# wallet alternates +100 earn / -50 spend), VACUUM ANALYZE, then time in one run:
#  - floor: one hand-written SQL query computing the per-wallet balance check
#    (ledger sums by coin joined to the wallets), run by `psql -c`;
#  - scan bound: the ledger's rows as the ledger pass reads them (its columns,
#    binary COPY) streamed by one backend to psql, written to /dev/null. Client-
#    side on purpose: validate must receive every row, so socket transfer is part
#    of its limit; the columns are the pass's own, not `SELECT *`, so the bound
#    carries exactly the bytes the pass needs;
#  - ledger checks: `rez-db validate` with wallet.balance, wallet.lifetime,
#    ledger.chain, .sign, .nonnegative (one pass in rez-db);
#  - whole catalogue: `rez-db validate --only pg`, every PostgreSQL check (the
#    other stores' checks read other servers, not this data set);
#  - SQL checks alone: every set-based check's own query (`validate --list
#    --json` prints them) run by one psql session, one after the other, in the
#    snapshot settings validate uses, timed by psql's \timing; their sum is
#    the catalogue's SQL floor. The passes have no query of their own: the
#    ledger pass's stand-in is the floor above, the other passes read tables
#    this data set leaves empty.
# Ratios: ledger / floor, ledger / scan bound, catalogue / SQL checks alone,
# catalogue / (SQL checks alone + floor). Process start and connection are
# included on rez-db's side and on psql's (not in the per-check \timing). The
# 1-minute load average is printed before and after each size: the machine's
# other work shows in every number. A second table per size lists the SQL
# checks alone against the time the catalogue run spent on each.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SIZES=("$@"); [[ ${#SIZES[@]} -gt 0 ]] || SIZES=(100000 1000000)
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need psql postgresql-client
need jq jq
REZ=$(rez_binary)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
timed() { local t0; t0=$(now_ms); "$@" >/dev/null; echo $(( $(now_ms) - t0 )); }
load1() { cut -d' ' -f1 /proc/loadavg; }
# ratio A B: A / B as "1.23x"; "n/a" without a B (a rez-db older than `sql` in `validate --list --json`).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "n/a" }'; }

FLOOR_SQL="SELECT count(*) FROM wallets w LEFT JOIN (
  SELECT wallet_id,
         coalesce(sum(amount) FILTER (WHERE coin_type = 'rez'), 0) AS rez,
         coalesce(sum(amount) FILTER (WHERE coin_type = 'prive'), 0) AS prive,
         coalesce(sum(amount) FILTER (WHERE coin_type = 'promo'), 0) AS promo,
         coalesce(sum(amount) FILTER (WHERE coin_type = 'cash'), 0) AS cash
  FROM wallet_transactions GROUP BY wallet_id) l ON l.wallet_id = w.id
WHERE w.rez_coins_balance IS DISTINCT FROM coalesce(l.rez, 0)
   OR w.prive_coins_balance IS DISTINCT FROM coalesce(l.prive, 0)
   OR w.promo_coins_balance IS DISTINCT FROM coalesce(l.promo, 0)
   OR w.cash_balance * 100 IS DISTINCT FROM coalesce(l.cash, 0)"

LEDGER_CHECKS=(--check wallet.balance --check wallet.lifetime --check ledger.chain --check ledger.sign --check ledger.nonnegative)

# What the ledger pass reads (src/validate/ledger.rs, LEDGER_COLUMNS after wallet_id).
SCAN_SQL="COPY (SELECT wallet_id, coin_type, merchant_id, transaction_type, amount::bigint,
  balance_after::bigint, created_at, id FROM wallet_transactions) TO STDOUT (FORMAT binary)"

# sql_checks_script: a psql script running every set-based check's query, each
# announced by `\echo check ID` and timed by `\timing`, rows to /dev/null,
# in the transaction settings validate's snapshot uses (src/store/pg/snapshot.rs).
sql_checks_script() {
  echo '\timing on'
  echo "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL TIME ZONE 'UTC'; SET LOCAL work_mem = '64MB';"
  "$REZ" --json validate --list | jq -r '.checks[] | select(.sql) | "\\echo check \(.id)\n\\o /dev/null\n\(.sql);\n\\o"'
  echo 'ROLLBACK;'
}

# sql_checks_alone DB: "id ms" per set-based check (psql's \timing lines).
sql_checks_alone() {
  sql_checks_script | psql -q -X -v ON_ERROR_STOP=1 -d "$1" \
    | awk '/^check / { id = $2 } /^Time: / && id != "" { printf "%s %.0f\n", id, $2; id = "" }'
}

echo "| wallets | ledger rows | load before | floor: one SQL query (ms) | scan bound: binary COPY (ms) | ledger checks (ms) | ledger / floor | ledger / scan | whole catalogue (ms) | SQL checks alone, sum (ms) | catalogue / SQL checks | catalogue / (SQL checks + floor) | load after |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
DETAILS=""
for W in "${SIZES[@]}"; do
  DB="$SERVER/bench_validate_$W"
  if [[ -n ${REZ_BENCH_REUSE:-} ]] && psql -q -X -d "$DB" -c 'SELECT 1 FROM wallets LIMIT 1' >/dev/null 2>&1; then
    : # kept by an earlier run with REZ_BENCH_KEEP=1: the same data, not built again
  else
    "$REZ" create --drop --yes --database-url "$DB" >/dev/null
    "$REZ" create --database-url "$DB" >/dev/null
    "$REZ" migrate --database-url "$DB" >/dev/null
    psql -q -X -v ON_ERROR_STOP=1 -d "$DB" -v W="$W" <<'SQL' >/dev/null
INSERT INTO app_settings (setting_key, setting_value, setting_type) VALUES ('coin_to_inr_rate', '0.5', 'number');
INSERT INTO users (id, phone, email)
  SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, '+91' || (9000000000 + i), 'u' || i || '@example.com'
  FROM generate_series(1, :W) i;
-- 10 rows per wallet: odd rows earn 100, even rows spend 50, so after row k the
-- balance is ceil(k/2) * 100 - floor(k/2) * 50, and after 10 rows 250.
INSERT INTO wallets (id, user_id, rez_coins_balance, rez_coins_lifetime_earned, rez_coins_lifetime_spent)
  SELECT ('10000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 250, 500, 250
  FROM generate_series(1, :W) i;
INSERT INTO wallet_transactions (wallet_id, user_id, transaction_type, coin_type, amount, balance_after, created_at)
  SELECT ('10000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
         CASE WHEN k % 2 = 1 THEN 'earn' ELSE 'spend' END, 'rez',
         CASE WHEN k % 2 = 1 THEN 100 ELSE -50 END,
         ((k + 1) / 2) * 100 - (k / 2) * 50,
         date_trunc('quarter', now()) + k * interval '1 minute'
  FROM generate_series(1, :W) i, generate_series(1, 10) k;
VACUUM ANALYZE;
SQL
  fi
  rows=$((W * 10))
  before=$(load1)
  floor=$(timed psql -q -X -d "$DB" -c "$FLOOR_SQL")
  scan=$(timed psql -q -X -d "$DB" -c "$SCAN_SQL")
  ledger=$(timed "$REZ" validate --database-url "$DB" "${LEDGER_CHECKS[@]}")
  report=$(mktemp)
  t0=$(now_ms)
  "$REZ" --json validate --only pg --database-url "$DB" >"$report"
  whole=$(( $(now_ms) - t0 ))
  alone=$(sql_checks_alone "$DB")
  sum=$(awk '{ s += $2 } END { print s + 0 }' <<<"$alone")
  after=$(load1)
  echo "| $W | $rows | $before | $floor | $scan | $ledger | $(ratio "$ledger" "$floor") | $(ratio "$ledger" "$scan") | $whole | $sum | $(ratio "$whole" "$sum") | $(ratio "$whole" $((sum + floor))) | $after |"
  # Per check: its SQL alone, and what the catalogue run spent on it (a pass's
  # time is shown once per check it serves).
  DETAILS+=$'\n'"SQL checks at $W wallets ($rows ledger rows): alone (psql \\timing) vs in the catalogue run"$'\n\n'
  DETAILS+="| check | alone (ms) | in the catalogue (ms) |"$'\n'"|---|---|---|"$'\n'
  DETAILS+=$(jq -r '.checks[] | "\(.id) \(.elapsed_ms)"' "$report" \
    | awk 'NR == FNR { alone[$1] = $2; next } { printf "| %s | %s | %s |\n", $1, ($1 in alone ? alone[$1] : "(a pass: no query)"), $2 }' \
      <(echo "$alone") -)$'\n'
  rm -f "$report"
  [[ -n ${REZ_BENCH_KEEP:-} ]] || "$REZ" create --drop --yes --database-url "$DB" >/dev/null
done
printf "%s" "$DETAILS"
