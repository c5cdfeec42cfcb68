#!/usr/bin/env bash
# bench/validate.sh: `rez-db validate` against the floor, one hand-written SQL
# query computing the same per-wallet balance check, on a database of W wallets
# with 10 ledger rows each.
#
#   bench/validate.sh [WALLETS...]     default: 100000 1000000 (1M and 10M ledger rows)
#
# For each size: build the data set with generate_series (valid chains: each
# wallet alternates +100 earn / -50 spend), then time, in one run, (1) the floor,
# (2) the ledger checks (wallet.balance, wallet.lifetime, ledger.chain, .sign,
# .nonnegative), (3) the whole catalogue. Process start and connection are
# included on both sides. Prints a markdown table for docs/benchmarks.md.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SIZES=("$@"); [[ ${#SIZES[@]} -gt 0 ]] || SIZES=(100000 1000000)
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
[[ -n ${REZ_BENCH_NO_BUILD:-} ]] || cargo build --release --locked -q
REZ="${CARGO_TARGET_DIR:-$ROOT/target}/release/rez-db"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
timed() { local t0; t0=$(now_ms); "$@" >/dev/null; echo $(( $(now_ms) - t0 )); }

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

echo "| wallets | ledger rows | floor: one SQL query (ms) | ledger checks (ms) | ratio | whole catalogue (ms) |"
echo "|---|---|---|---|---|---|"
for W in "${SIZES[@]}"; do
  DB="$SERVER/bench_validate_$W"
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
  rows=$((W * 10))
  floor=$(timed psql -q -X -d "$DB" -c "$FLOOR_SQL")
  ledger=$(timed "$REZ" validate --database-url "$DB" "${LEDGER_CHECKS[@]}")
  whole=$(timed "$REZ" validate --database-url "$DB")
  ratio=$(awk -v a="$ledger" -v b="$floor" 'BEGIN { printf "%.2f", a / b }')
  echo "| $W | $rows | $floor | $ledger | ${ratio}x | $whole |"
  [[ -n ${REZ_BENCH_KEEP:-} ]] || "$REZ" create --drop --yes --database-url "$DB" >/dev/null
done
