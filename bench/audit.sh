#!/usr/bin/env bash
# bench/audit.sh: the write overhead of our audit trigger, on a pgbench update
# workload against `merchants`, without and with `rez-db audit enable`, in one run.
#
#   bench/audit.sh [SECONDS] [CLIENTS]      (default 20 s, 2 clients)
#
# 10,000 merchants; each transaction updates one random merchant's counters
# (what a review or an order does). The same pgbench script runs twice: with the
# merchants audit trigger disabled, then enabled. Prints TPS and the ratio.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SECONDS_EACH=${1:-20}
CLIENTS=${2:-2}
DB=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}/bench_audit
cargo build --release --locked -q
REZ="$ROOT/target/release/rez-db"
"$REZ" create --drop --yes --database-url "$DB" >/dev/null
"$REZ" create --database-url "$DB" >/dev/null
"$REZ" migrate --database-url "$DB" >/dev/null
psql -q -X -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
INSERT INTO merchants (id, business_name, primary_contact_name, primary_contact_phone, primary_contact_email,
                       address_line1, city, state, pincode, latitude, longitude)
SELECT ('20000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'Merchant ' || i, 'Owner', '+9198' || lpad(i::text, 8, '0'),
       'm' || i || '@example.com', 'Road ' || i, 'Pune', 'Maharashtra', '411001', 18.52, 73.85
FROM generate_series(1, 10000) i;
VACUUM ANALYZE merchants;
SQL
SCRIPT=$(mktemp)
trap 'rm -f "$SCRIPT"' EXIT
cat >"$SCRIPT" <<'PGB'
\set n random(1, 10000)
BEGIN;
SET LOCAL app.actor = 'bench';
UPDATE merchants SET total_reviews = total_reviews + 1, average_rating = 4.50
 WHERE id = ('20000000-0000-4000-8000-' || lpad(to_hex(:n), 12, '0'))::uuid;
END;
PGB
tps() { pgbench -n -T "$SECONDS_EACH" -c "$CLIENTS" -f "$SCRIPT" "$DB" 2>/dev/null | awk '/^tps/ { print int($3) }'; }
"$REZ" audit disable --table merchants --database-url "$DB" >/dev/null
plain=$(tps)
"$REZ" audit enable --table merchants --database-url "$DB" >/dev/null
audited=$(tps)
rows=$(psql -At -X -d "$DB" -c "SELECT count(*) FROM audit_log WHERE table_name = 'merchants' AND operation = 'UPDATE'")
echo "| workload | without audit (tps) | with audit (tps) | with / without | audit rows written |"
echo "|---|---|---|---|---|"
echo "| update 1 of 10k merchants, $CLIENTS clients, ${SECONDS_EACH}s each | $plain | $audited | $(awk -v a="$audited" -v b="$plain" 'BEGIN { printf "%.2f", a / b }') | $rows |"
"$REZ" create --drop --yes --database-url "$DB" >/dev/null
