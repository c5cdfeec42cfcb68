#!/usr/bin/env bash
# bench/expire_coins.sh: `rez-db expire-coins` at scale: W wallets with L expiring
# promo lots each (default 250,000 x 4 = 1M lots), consistent with the wallets
# and the promo ledger, so that `rez-db validate` has no error before and after.
#
#   bench/expire_coins.sh [WALLETS] [LOTS_PER_WALLET] [STORES:BATCH_SIZE...]
#   (default 250000 4 pg:500 pg:5000 pg,redis:500)
#
# Per wallet: L lots of 100 coins, each with 60 left (40 spent), all expired a
# day ago; the promo ledger is L `earn` rows of +100 then one `spend` of -40*L,
# so promo_coins_balance = 60*L = the lots' remaining coins. Then, in one run:
#   1. validate (warnings only: promo.overdue),
#   2. expire-coins with PostgreSQL only (REZ_DB_STORES=pg), timed, peak RSS,
#   3. validate (must be clean: exit 0, no promo.overdue),
#   4. expire-coins again (must do nothing),
# once per STORES:BATCH_SIZE, each on a freshly built copy; with redis among the
# stores, each wallet also takes the application's `lock:wallet:{user_id}` key
# (under a key prefix of our own).
# Prints a markdown table for docs/benchmarks.md.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need jq jq
W=${1:-250000}
L=${2:-4}
RUNS=("${@:3}"); [[ ${#RUNS[@]} -gt 0 ]] || RUNS=(pg:500 pg:5000 "pg,redis:500")
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${REZ_BENCH_REDIS:-redis://127.0.0.1:6379/0}
DB="$SERVER/bench_expire_coins"
REZ=$(rez_binary)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
printf 'redis_url: %s\nredis_key_prefix: "bench_expire:"\n' "$REDIS" >"$WORK/rez-db.yaml"

build() {
  "$REZ" create --drop --yes --only pg --database-url "$DB" >/dev/null
  "$REZ" create --only pg --database-url "$DB" >/dev/null
  "$REZ" migrate --only pg --database-url "$DB" >/dev/null
  psql -q -X -v ON_ERROR_STOP=1 -d "$DB" -v W="$W" -v L="$L" <<'SQL' >/dev/null
INSERT INTO app_settings (setting_key, setting_value, setting_type) VALUES ('coin_to_inr_rate', '0.5', 'number');
INSERT INTO users (id, phone, email)
  SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, '+91' || (9000000000 + i), 'u' || i || '@example.com'
  FROM generate_series(1, :W) i;
INSERT INTO wallets (id, user_id, promo_coins_balance)
  SELECT ('10000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 60 * :L
  FROM generate_series(1, :W) i;
-- The promo ledger: L earns of +100 (balance 100, 200, ...), then one spend of -40*L.
-- Dated in the current quarter, a partition the migrations create.
INSERT INTO wallet_transactions (wallet_id, user_id, transaction_type, coin_type, amount, balance_after, created_at)
  SELECT ('10000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
         CASE WHEN k <= :L THEN 'earn' ELSE 'spend' END, 'promo',
         CASE WHEN k <= :L THEN 100 ELSE -40 * :L END,
         CASE WHEN k <= :L THEN 100 * k ELSE 60 * :L END,
         date_trunc('quarter', now()) + k * interval '1 minute'
  FROM generate_series(1, :W) i, generate_series(1, :L + 1) k;
INSERT INTO promo_coins (wallet_id, user_id, campaign_name, amount, remaining_balance, issued_at, expires_at)
  SELECT ('10000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
         'bench', 100, 60, date_trunc('quarter', now()), now() - interval '1 day' + k * interval '1 second'
  FROM generate_series(1, :W) i, generate_series(1, :L) k;
VACUUM ANALYZE;
SQL
}

# Runs "$@" under /usr/bin/time -v; prints "wall_ms peak_rss_mib cpu_s exit".
measure() {
  local t0 t1 code=0
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || code=$?
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000000 )) $(awk '/Maximum resident/ { printf "%d", $6 / 1024 }' "$WORK/time")" \
    "$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.1f", s }' "$WORK/time") $code"
}

validate_summary() {
  local code=0
  "$REZ" validate --json --only pg --database-url "$DB" >"$WORK/validate.json" 2>/dev/null || code=$?
  echo "exit $code, $(jq -r '[.checks[] | select(.violations > 0) | "\(.id) (\(.severity)) x\(.violations)"] | join(", ") | if . == "" then "clean" else . end' "$WORK/validate.json")"
}

echo "load before: $(uptime)" >&2
echo "| stores | wallets | lots | batch | expire-coins (ms) | lots/s | peak RSS (MiB) | CPU (s) | exit | coins expired | validate before | validate after | second run |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for run in "${RUNS[@]}"; do
  stores=${run%%:*}
  BATCH=${run##*:}
  build
  before=$(validate_summary)
  read -r ms rss cpu code < <(REZ_DB_STORES=$stores measure "$REZ" expire-coins --json --config "$WORK/rez-db.yaml" --database-url "$DB" --batch-size "$BATCH")
  coins=$(jq -r '.coins' "$WORK/out")
  lots=$(jq -r '.lots' "$WORK/out")
  after=$(validate_summary)
  again=$(REZ_DB_STORES=$stores "$REZ" expire-coins --json --config "$WORK/rez-db.yaml" --database-url "$DB" | jq -r '"\(.lots) lots, \(.coins) coins"')
  rate=$(awk -v n="$lots" -v ms="$ms" 'BEGIN { printf "%d", n / (ms / 1000) }')
  echo "| $stores | $W | $lots | $BATCH | $ms | $rate | $rss | $cpu | $code | $coins | $before | $after | $again |"
done
echo "load after: $(uptime)" >&2
[[ -n ${REZ_BENCH_KEEP:-} ]] || "$REZ" create --drop --yes --only pg --database-url "$DB" >/dev/null
