#!/usr/bin/env bash
# bench/audit.sh: the write overhead of our audit trigger and of pgaudit, on a
# pgbench update workload against `merchants`, in one run.
#
#   bench/audit.sh [SECONDS] [CLIENTS] [ROUNDS]    (default 20 s, 2 clients, 3 rounds)
#
# pgaudit must be preloaded at server start, so everything runs in a private
# PostgreSQL 15 cluster (127.0.0.1:25434) with shared_preload_libraries =
# 'pgaudit' (Debian postgresql-15-pgaudit); the shared server is not touched.
# 10,000 merchants; each transaction sets app.actor and updates one random
# merchant's counters (what a review or an order does). The same pgbench script
# runs in three modes, interleaved ROUNDS times (the order rotating each round,
# so that other work on the machine spreads over all three); the median tps of
# each mode is reported with its range:
#   1. no audit: the trigger disabled, pgaudit.log = 'none' (loaded, idle)
#   2. rez-db:   `rez-db audit enable --table merchants`
#   3. pgaudit:  the trigger disabled, pgaudit.log = 'write' (statements to the server log)
# Prints TPS, the ratios, and what each one wrote; then, on stderr, what each
# one recorded of two statements run with both on (3 rows changed, then none).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/private_pg.sh
source "$ROOT/bench/private_pg.sh"
SECONDS_EACH=${1:-20}
CLIENTS=${2:-2}
ROUNDS=${3:-3}
PORT=${REZ_BENCH_PORT:-25434}
DB="postgres://postgres@127.0.0.1:$PORT/bench_audit"
REZ=$(rez_binary)
WORK=$(mktemp -d)
trap 'private_pg_stop "$WORK/pg"; rm -rf "$WORK"' EXIT
private_pg_init "$WORK/pg" "$PORT" "shared_preload_libraries = 'pgaudit'" "log_line_prefix = '%m [%p] %q%u@%d '"
private_pg_start "$WORK/pg"
LOG="$WORK/pg/server.log"

"$REZ" create --only pg --database-url "$DB" >/dev/null
"$REZ" migrate --only pg --database-url "$DB" >/dev/null
psql -q -X -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
CREATE EXTENSION pgaudit;
INSERT INTO merchants (id, business_name, primary_contact_name, primary_contact_phone, primary_contact_email,
                       address_line1, city, state, pincode, latitude, longitude)
SELECT ('20000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'Merchant ' || i, 'Owner', '+9198' || lpad(i::text, 8, '0'),
       'm' || i || '@example.com', 'Road ' || i, 'Pune', 'Maharashtra', '411001', 18.52, 73.85
FROM generate_series(1, 10000) i;
VACUUM ANALYZE merchants;
SQL
SCRIPT="$WORK/update.pgbench"
cat >"$SCRIPT" <<'PGB'
\set n random(1, 10000)
BEGIN;
SET LOCAL app.actor = 'bench';
UPDATE merchants SET total_reviews = total_reviews + 1, average_rating = 4.50
 WHERE id = ('20000000-0000-4000-8000-' || lpad(to_hex(:n), 12, '0'))::uuid;
END;
PGB
tps() { pgbench -n -T "$SECONDS_EACH" -c "$CLIENTS" -f "$SCRIPT" "$DB" 2>/dev/null | awk '/^tps/ { print int($3) }'; }
pgaudit_log() { psql -q -X -d "$DB" -c "ALTER DATABASE bench_audit SET pgaudit.log = '$1'"; }
audit_rows() { psql -At -X -d "$DB" -c "SELECT count(*) FROM audit_log WHERE table_name = 'merchants' AND operation = 'UPDATE'"; }
log_lines() { grep -c 'AUDIT: SESSION' "$LOG" || true; }

# Switch to a mode: no audit, the rez-db trigger, or pgaudit writing statements.
mode() {
  case $1 in
    none) "$REZ" audit disable --table merchants --database-url "$DB" >/dev/null; pgaudit_log none ;;
    trigger) "$REZ" audit enable --table merchants --database-url "$DB" >/dev/null; pgaudit_log none ;;
    pgaudit) "$REZ" audit disable --table merchants --database-url "$DB" >/dev/null; pgaudit_log write ;;
  esac
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
declare -A runs=([none]="" [trigger]="" [pgaudit]="")
MODES=(none trigger pgaudit)
log_bytes=0
echo "load before: $(uptime)" >&2
for r in $(seq 0 $((ROUNDS - 1))); do
  for i in 0 1 2; do
    m=${MODES[$(( (i + r) % 3 ))]}
    mode "$m"
    before=$(stat -c %s "$LOG")
    runs[$m]+="$(tps) "
    [[ $m != pgaudit ]] || log_bytes=$(( log_bytes + $(stat -c %s "$LOG") - before ))
  done
done
mode none
echo "load after: $(uptime)" >&2

med() { tr ' ' '\n' <<<"${runs[$1]}" | grep . | median; }
range() { tr ' ' '\n' <<<"${runs[$1]}" | grep . | sort -n | paste -sd ' ' | awk '{ printf "%s-%s", $1, $NF }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
plain=$(med none)
echo "| workload ($CLIENTS clients, ${SECONDS_EACH}s per run, $ROUNDS runs each) | tps, median (range) | with / without | what it wrote |"
echo "|---|---|---|---|"
echo "| no audit (trigger disabled, pgaudit loaded, \`pgaudit.log = 'none'\`) | $plain ($(range none)) | 1.00 | nothing |"
echo "| rez-db trigger (\`audit enable --table merchants\`) | $(med trigger) ($(range trigger)) | $(ratio "$(med trigger)" "$plain") | $(audit_rows) audit_log rows |"
echo "| pgaudit, \`pgaudit.log = 'write'\` | $(med pgaudit) ($(range pgaudit)) | $(ratio "$(med pgaudit)" "$plain") | $(log_lines) log lines, $(( log_bytes / 1024 )) KiB of server log |"

# One example of each, to check what docs/audit.md says they capture: both on,
# one statement changing 3 rows and one changing none, by an actor.
mode trigger
pgaudit_log write
psql -q -X -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
BEGIN;
SET LOCAL app.actor = 'dba:asha';
UPDATE merchants SET city = 'Mumbai' WHERE business_name IN ('Merchant 1', 'Merchant 2', 'Merchant 3');
UPDATE merchants SET city = 'Nowhere' WHERE false;
COMMIT;
SQL
mode none
{
  echo "--- audit_log rows written by actor dba:asha (rez-db trigger):"
  psql -X -d "$DB" -c "SELECT changed_at, table_name, row_id, operation, old_data, new_data, changed_by
                       FROM audit_log WHERE changed_by = 'dba:asha' ORDER BY row_id"
  echo "--- the server log lines of the same two statements (pgaudit):"
  grep -A1 -E "AUDIT: SESSION.*(Mumbai|Nowhere)" "$LOG"
  echo "--- pgaudit lines naming the actor: $(grep -c 'dba:asha' "$LOG" || true)"
} >&2
