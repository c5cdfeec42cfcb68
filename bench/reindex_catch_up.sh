#!/usr/bin/env bash
# bench/reindex_catch_up.sh: `rez-db reindex-es products` while a writer updates
# products at a steady rate, against the same rebuild with nobody writing (the
# reference: the catch-up passes then find nothing), on noida-db (the fast
# Elasticsearch-compatible server). Goal (issue 18): <= 1.2x at 200 updates/s.
#
#   bench/reindex_catch_up.sh [PRODUCTS...]     default: 200000
#
# Environment: REZ_BENCH_PG [postgres://postgres@127.0.0.1:5432], REZ_BENCH_ES
# [http://127.0.0.1:9201: `scripts/stack up --with-noida`], RATE [200] updates/s,
# ROUNDS [2]: after one untimed warm-up rebuild (WARMUP=0: none), quiet and
# writer runs alternate; the medians are compared.
# For each size: a database with 100 merchants, 20 categories and P products
# (generate_series, as bench/reindex_es.sh); the writer is one psql session
# running a DO block that updates a random product (name and price) and commits,
# RATE times a second, paced by the clock, until the script tells it to stop.
# Its real rate is measured from the revisions it wrote. Prints a markdown table
# for docs/benchmarks.md, and each rebuild's passes on stderr (rows read /
# documents written / ms, * after the swap).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SIZES=("$@"); [[ ${#SIZES[@]} -gt 0 ]] || SIZES=(200000)
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
ES=${REZ_BENCH_ES:-http://127.0.0.1:9201}
RATE=${RATE:-200}
ROUNDS=${ROUNDS:-2}
command -v psql >/dev/null || { echo "psql is required (Debian postgresql-client)" >&2; exit 3; }
source "$ROOT/bench/lib.sh"
REZ=$(rez_binary)
curl -sf -o /dev/null "$ES/" || { echo "no Elasticsearch at $ES: run scripts/stack up --with-noida" >&2; exit 3; }
WORK=$(mktemp -d)
WRITER=
cleanup() { [[ -n $WRITER ]] && kill "$WRITER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# One rebuild; prints "ms passes written read load_ms passes_ms", and each
# pass (rows read/documents written/ms) on stderr for the profile.
rebuild() {
  local t0 t1
  t0=$(now_ms)
  "$REZ" --json reindex-es products --es-index-prefix bench_cu_ --keep 0 > "$WORK/run.json"
  t1=$(now_ms)
  python3 - "$WORK/run.json" "$((t1 - t0))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["indices"][0]
assert r["outcome"] == "swapped", r
passes = r["catch_up"]["passes"]
written = sum(p["rows"] - p["unchanged"] + p["vanished"] for p in passes)
read = sum(p["rows"] for p in passes)
passes_ms = sum(p["elapsed_ms"] for p in passes)
print(sys.argv[2], len(passes), written, read, int(sys.argv[2]) - passes_ms, passes_ms)
print("  passes (read/written/ms):", " ".join(
    f"{p['rows']}/{p['rows'] - p['unchanged'] + p['vanished']}/{p['elapsed_ms']}" + ("*" if p["after_swap"] else "")
    for p in passes), "converged" if r["catch_up"]["converged"] else "not converged", file=sys.stderr)
PY
}

# The writer's iteration count so far: the highest "rev N" it wrote (the
# statistics views only see a DO block's updates once it ends).
updates() {
  psql -X -A -t -q -d "$DB" -c "SELECT coalesce(max(substring(name from ' rev ([0-9]+)$')::bigint), 0) FROM products"
}

echo "| products | quiet rebuild (s, median of $ROUNDS) | rebuild under writer (s, median) | ratio | writer (updates/s measured) | passes (under writer) | documents written by the passes (under writer) | rows read by the passes | load / passes (s, under writer) |"
echo "|---|---|---|---|---|---|---|---|---|"
for P in "${SIZES[@]}"; do
  DB="$SERVER/bench_catch_up_$P"
  export DATABASE_URL="$DB" ELASTICSEARCH_URL="$ES" REZ_DB_STORES=pg,es
  "$REZ" create --drop --yes --only pg >/dev/null
  "$REZ" create --only pg >/dev/null
  "$REZ" migrate --only pg >/dev/null
  psql -q -X -v ON_ERROR_STOP=1 -d "$DB" -v P="$P" -f bench/products.sql >/dev/null
  psql -q -X -v ON_ERROR_STOP=1 -d "$DB" <<'SQL' >/dev/null
CREATE TABLE bench_stop (at timestamptz);
VACUUM ANALYZE;
SQL
  "$REZ" create --only es --es-index-prefix bench_cu_ >/dev/null
  quiet=() busy=() rates=() passes=() caught=() reads=() split=()
  # Warm-up, not timed: the first index a server creates is slow (WARMUP=0
  # skips it on a server that has built indices already).
  [[ ${WARMUP:-1} == 0 ]] || rebuild >/dev/null
  for ((round = 1; round <= ROUNDS; round++)); do
    read -r ms _ _ < <(rebuild)
    quiet+=("$ms")

    psql -q -X -d "$DB" -c "TRUNCATE bench_stop" >/dev/null
    psql -q -X -v ON_ERROR_STOP=1 -d "$DB" -v P="$P" -v RATE="$RATE" >/dev/null 2>"$WORK/writer.err" <<'SQL' &
SET bench.products = :P;
SET bench.rate = :RATE;
DO $$
DECLARE
  started timestamptz := clock_timestamp();
  n bigint := 0;
  i int;
  products int := current_setting('bench.products')::int;
  rate int := current_setting('bench.rate')::int;
BEGIN
  LOOP
    i := 1 + floor(random() * products)::int;
    UPDATE products SET name = 'Product ' || i || ' rev ' || n, price = price + 0.01
     WHERE merchant_id = ('20000000-0000-4000-8000-' || lpad(to_hex(1 + i % 100), 12, '0'))::uuid
       AND slug = 'product-' || i;
    COMMIT;
    n := n + 1;
    EXIT WHEN n % 50 = 0 AND (EXISTS (SELECT 1 FROM bench_stop) OR clock_timestamp() > started + interval '30 minutes');
    PERFORM pg_sleep(greatest(0, extract(epoch FROM started + n * (interval '1 second' / rate) - clock_timestamp())));
  END LOOP;
END
$$;
SQL
    WRITER=$!
    sleep 2   # the writer reaches its pace before the rebuild starts
    before=$(updates); t0=$(now_ms)
    read -r ms n rows nread load_ms passes_ms < <(rebuild)
    after=$(updates); t1=$(now_ms)
    psql -q -X -d "$DB" -c "INSERT INTO bench_stop VALUES (now())" >/dev/null
    wait "$WRITER" || { cat "$WORK/writer.err" >&2; exit 1; }
    WRITER=
    busy+=("$ms"); passes+=("$n"); caught+=("$rows"); reads+=("$nread")
    split+=("$(awk -v l="$load_ms" -v p="$passes_ms" 'BEGIN { printf "%.1f/%.1f", l / 1000, p / 1000 }')")
    rates+=("$(( (after - before) * 1000 / (t1 - t0) ))")
  done
  q=$(printf '%s\n' "${quiet[@]}" | median)
  b=$(printf '%s\n' "${busy[@]}" | median)
  r=$(printf '%s\n' "${rates[@]}" | median)
  ratio=$(awk -v a="$b" -v q="$q" 'BEGIN { printf "%.2f", a / q }')
  echo "| $P | $(awk -v m="$q" 'BEGIN { printf "%.1f", m / 1000 }') | $(awk -v m="$b" 'BEGIN { printf "%.1f", m / 1000 }') | ${ratio}x | $r | ${passes[*]} | ${caught[*]} | ${reads[*]} | ${split[*]} |"
  for i in $(curl -s "$ES/_cat/indices/bench_cu_*?h=index"); do curl -s -X DELETE "$ES/$i" >/dev/null; done
  "$REZ" create --drop --yes --only pg >/dev/null
done
