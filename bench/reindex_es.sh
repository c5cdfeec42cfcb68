#!/usr/bin/env bash
# bench/reindex_es.sh: `rez-db reindex-es products` against the floor, curl posting
# pre-built NDJSON of the same documents to the same server in the same batch size
# and concurrency, on noida-db (the fast Elasticsearch-compatible server).
#
#   bench/reindex_es.sh [PRODUCTS...]     default: 100000
#
# Environment: REZ_BENCH_PG [postgres://postgres@127.0.0.1:5432], REZ_BENCH_ES
# [http://127.0.0.1:9201: `scripts/stack up --with-noida`], BATCH [1000], CONCURRENCY [3].
# For each size: a database with 100 merchants, 20 categories and P products
# (generate_series), then (1) the floor: psql writes the NDJSON (action + document
# per product, as rez-db builds them), split into files of BATCH documents, posted
# by CONCURRENCY curls at a time, timed from the first request to the last answer
# (building the file is not timed); (2) `rez-db reindex-es products` end to end
# (process start, PostgreSQL query, documents, bulk, refresh, count, alias swap),
# its peak RSS from /usr/bin/time. Prints a markdown table for docs/benchmarks.md.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SIZES=("$@"); [[ ${#SIZES[@]} -gt 0 ]] || SIZES=(100000)
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
ES=${REZ_BENCH_ES:-http://127.0.0.1:9201}
BATCH=${BATCH:-1000}
CONCURRENCY=${CONCURRENCY:-3}
source "$ROOT/bench/lib.sh"
need curl curl
REZ=$(rez_binary)
curl -sf -o /dev/null "$ES/" || { echo "no Elasticsearch at $ES: run scripts/stack up --with-noida" >&2; exit 3; }
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

echo "| products | batch | concurrency | floor: curl NDJSON (docs/s) | rez-db reindex-es (docs/s) | ratio | rez-db peak RSS (MiB) | rez-db CPU (s) |"
echo "|---|---|---|---|---|---|---|---|"
for P in "${SIZES[@]}"; do
  DB="$SERVER/bench_reindex_$P"
  export DATABASE_URL="$DB" ELASTICSEARCH_URL="$ES" REZ_DB_STORES=pg,es
  "$REZ" create --drop --yes --only pg >/dev/null
  "$REZ" create --only pg >/dev/null
  "$REZ" migrate --only pg >/dev/null
  psql -q -X -v ON_ERROR_STOP=1 -d "$DB" -v P="$P" -f bench/products.sql >/dev/null
  # The floor's documents: the same fields and values rez-db sends.
  curl -s -X DELETE "$ES/bench_floor" >/dev/null || true
  curl -sf -X PUT "$ES/bench_floor" -H 'content-type: application/json' --data-binary @es-mappings/products.json >/dev/null
  psql -X -A -t -q -d "$DB" -c "
    SELECT json_build_object('index', json_build_object('_index', 'bench_floor', '_id', p.id))::text || E'\n' ||
           json_strip_nulls(json_build_object('id', p.id, 'merchant_id', p.merchant_id, 'name', p.name,
             'description', p.description, 'category', c.name, 'price', p.price, 'tags', p.attributes -> 'tags',
             'merchant_name', m.business_name, 'location', json_build_object('lat', m.latitude, 'lon', m.longitude),
             'rating', m.average_rating, 'in_stock', p.in_stock, 'created_at', p.created_at))::text
    FROM products p JOIN merchants m ON m.id = p.merchant_id LEFT JOIN categories c ON c.id = p.category_id" > "$WORK/all.ndjson"
  rm -f "$WORK"/part.*
  split -l $((BATCH * 2)) -a 5 "$WORK/all.ndjson" "$WORK/part."
  t0=$(now_ms)
  ls "$WORK"/part.* | xargs -P "$CONCURRENCY" -I{} curl -sf -o /dev/null -H 'content-type: application/x-ndjson' --data-binary @{} "$ES/_bulk"
  curl -sf -o /dev/null -X POST "$ES/bench_floor/_refresh"
  floor_ms=$(( $(now_ms) - t0 ))
  floor_count=$(curl -s "$ES/bench_floor/_count" | sed -E 's/.*"count":([0-9]+).*/\1/')
  [[ $floor_count == "$P" ]] || { echo "floor indexed $floor_count of $P" >&2; exit 1; }
  curl -s -X DELETE "$ES/bench_floor" >/dev/null

  "$REZ" create --only es --es-index-prefix bench_ >/dev/null
  t0=$(now_ms)
  /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "$REZ" reindex-es products --es-index-prefix bench_ \
    --batch-size "$BATCH" --concurrency "$CONCURRENCY" --keep 0 >/dev/null
  rez_ms=$(( $(now_ms) - t0 ))
  read -r rss_kib user_s sys_s < <(tail -1 "$WORK/rss")
  rss_mib=$(( rss_kib / 1024 ))
  cpu_s=$(awk -v u="$user_s" -v s="$sys_s" 'BEGIN { printf "%.1f", u + s }')
  for i in $(curl -s "$ES/_cat/indices/bench_*?h=index"); do curl -s -X DELETE "$ES/$i" >/dev/null; done

  floor_rate=$(( P * 1000 / floor_ms ))
  rez_rate=$(( P * 1000 / rez_ms ))
  ratio=$(awk -v a="$rez_rate" -v b="$floor_rate" 'BEGIN { printf "%.2f", a / b }')
  echo "| $P | $BATCH | $CONCURRENCY | $floor_rate | $rez_rate | $ratio | $rss_mib | $cpu_s |"
  "$REZ" create --drop --yes --only pg >/dev/null
done
