#!/usr/bin/env bash
# bench/reindex_es.sh: `rez-db reindex-es products` against the floor, curl posting
# pre-built NDJSON of the same documents to the same server, on noida-db (the fast
# Elasticsearch-compatible server).
#
#   bench/reindex_es.sh [PRODUCTS...]     default: 100000
#
# Environment: REZ_BENCH_PG [postgres://postgres@127.0.0.1:5432], REZ_BENCH_ES
# [http://127.0.0.1:9201: `scripts/stack up --with-noida`], FLOOR_CONCURRENCY ["1 2 3 4":
# the floor's sweep], FLOOR_BATCHES ["500 1000 2000"], BATCH [1000: rez-db's --batch-size,
# and the batch of the floor's concurrency sweep], CONCURRENCY [auto: rez-db's
# --concurrency].
#
# For each size: a database with 100 merchants, 20 categories and P products
# (generate_series), then
# 1. the floor, the server's bulk rate with pre-built bodies: psql writes the NDJSON
#    (action + document per product, as rez-db builds them; not timed), split into
#    files of B documents, posted by C curls at a time, timed from the first request to
#    the answer of the refresh after the last, into a new index each time; the bulk
#    requests, the refresh and a `_count` after it (the check rez-db makes before its
#    swap; not in the floor's docs/s) are also timed apart. First every
#    C of FLOOR_CONCURRENCY at B = BATCH, then every other B of FLOOR_BATCHES at the best
#    C. The best of the sweep is the floor.
# 2. `rez-db reindex-es products` end to end (process start, the count query, creating
#    the index, streaming PostgreSQL's rows, building the documents, bulk requests,
#    catch-up pass, refresh, count check, alias swap, the pass after the swap), with its
#    peak RSS and user+sys CPU from /usr/bin/time, the concurrency its report says it
#    ended at, and where the time went: the CPU seconds of the Elasticsearch server
#    (/proc of the process listening on its port), of rez-db and of rez-db's PostgreSQL
#    sessions (/proc of their backends), against the wall time times the cores; and the
#    state of rez-db's PostgreSQL sessions sampled every 0.2 s from pg_stat_activity
#    (`active`: PostgreSQL computing or sending rows; `ClientWrite`: PostgreSQL waiting
#    for rez-db to read them, i.e. rez-db busy or its requests in flight at the limit;
#    `idle in transaction`/`idle`: rez-db between queries, waiting on Elasticsearch).
# 3. The two side by side phase by phase (rez-db's report's `timings`): its load
#    against curl's bulk requests, its verify (refresh + count) against curl's refresh
#    and `_count`, and end to end against the floor with its `_count` added. Ratios
#    there are docs/s ratios like the main one: floor time / rez-db time.
# `uptime` is printed before and after: ratios from a loaded machine are approximate.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SIZES=("$@"); [[ ${#SIZES[@]} -gt 0 ]] || SIZES=(100000)
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
ES=${REZ_BENCH_ES:-http://127.0.0.1:9201}
BATCH=${BATCH:-1000}
CONCURRENCY=${CONCURRENCY:-auto}
read -r -a FLOOR_C <<< "${FLOOR_CONCURRENCY:-1 2 3 4}"
read -r -a FLOOR_B <<< "${FLOOR_BATCHES:-500 1000 2000}"
source "$ROOT/bench/lib.sh"
need curl curl
need jq jq
need ss iproute2
REZ=$(rez_binary)
curl -sf -o /dev/null "$ES/" || { echo "no Elasticsearch at $ES: run scripts/stack up --with-noida" >&2; exit 3; }
WORK=$(mktemp -d)
SAMPLER=
trap '[[ -n $SAMPLER ]] && kill "$SAMPLER" 2>/dev/null; rm -rf "$WORK"' EXIT
CORES=$(nproc)
TICK=$(getconf CLK_TCK)
ES_PORT=${ES##*:}; ES_PORT=${ES_PORT%%/*}
ES_PID=$(ss -ltnpH "sport = :$ES_PORT" | sed -nE 's/.*pid=([0-9]+).*/\1/p' | head -1)
[[ -n $ES_PID ]] || echo "bench: cannot see the process listening on :$ES_PORT; its CPU is not reported" >&2

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# cpu_ticks PID: user+system clock ticks of a process so far (0 when gone).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
es_ticks() { [[ -n $ES_PID ]] && cpu_ticks "$ES_PID" || echo 0; }
secs() { awk -v t="$1" -v h="$TICK" 'BEGIN { printf "%.1f", t / h }'; }

# floor_run C B: posts the NDJSON in files of B documents, C at a time, into a new
# index, refreshes it and counts it (the check rez-db makes before its swap);
# prints "docs/s server-CPU-s bulk-ms refresh-ms count-ms", docs/s over bulk +
# refresh (the floor as the issue defines it).
floor_run() {
  local c=$1 b=$2 t0 t1 t2 t3 count ticks
  curl -s -X DELETE "$ES/bench_floor" >/dev/null || true
  curl -sf -X PUT "$ES/bench_floor" -H 'content-type: application/json' --data-binary @es-mappings/products.json >/dev/null
  rm -f "$WORK"/part.*
  split -l $((b * 2)) -a 5 "$WORK/all.ndjson" "$WORK/part."
  ticks=$(es_ticks)
  t0=$(now_ms)
  ls "$WORK"/part.* | xargs -P "$c" -I{} curl -sf -o /dev/null -H 'content-type: application/x-ndjson' --data-binary @{} "$ES/_bulk"
  t1=$(now_ms)
  curl -sf -o /dev/null -X POST "$ES/bench_floor/_refresh"
  t2=$(now_ms)
  count=$(curl -s "$ES/bench_floor/_count" | jq .count)
  t3=$(now_ms)
  ticks=$(( $(es_ticks) - ticks ))
  [[ $count == "$P" ]] || { echo "floor indexed $count of $P" >&2; exit 1; }
  curl -s -X DELETE "$ES/bench_floor" >/dev/null
  echo "$(( P * 1000 / (t2 - t0) )) $(secs "$ticks") $((t1 - t0)) $((t2 - t1)) $((t3 - t2))"
}

# sample DB OUT: every 0.2 s, one line per PostgreSQL session of DB other than this
# script's: "pid state wait_event user+system-ticks".
sample() {
  local db=$1 out=$2
  while :; do
    psql -X -A -t -F ' ' -d "$SERVER/$db" -c "
      SELECT pid, replace(state, ' ', '_'), coalesce(wait_event, '-')
      FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
        AND backend_type = 'client backend'" 2>/dev/null |
      while read -r pid state wait; do echo "$pid $state $wait $(cpu_ticks "$pid")"; done >> "$out"
    sleep 0.2
  done
}

echo "uptime before: $(uptime)"
for P in "${SIZES[@]}"; do
  DB="bench_reindex_$P"
  export DATABASE_URL="$SERVER/$DB" ELASTICSEARCH_URL="$ES" REZ_DB_STORES=pg,es
  "$REZ" create --drop --yes --only pg >/dev/null
  "$REZ" create --only pg >/dev/null
  "$REZ" migrate --only pg >/dev/null
  psql -q -X -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -v P="$P" -f bench/products.sql >/dev/null
  # The floor's documents: the same fields and values rez-db sends.
  psql -X -A -t -q -d "$DATABASE_URL" -c "
    SELECT json_build_object('index', json_build_object('_index', 'bench_floor', '_id', p.id))::text || E'\n' ||
           json_strip_nulls(json_build_object('id', p.id, 'merchant_id', p.merchant_id, 'name', p.name,
             'description', p.description, 'category', c.name, 'price', p.price, 'tags', p.attributes -> 'tags',
             'merchant_name', m.business_name, 'location', json_build_object('lat', m.latitude, 'lon', m.longitude),
             'rating', m.average_rating, 'in_stock', p.in_stock, 'created_at', p.created_at))::text
    FROM products p JOIN merchants m ON m.id = p.merchant_id LEFT JOIN categories c ON c.id = p.category_id" > "$WORK/all.ndjson"

  echo
  echo "### $P products: the floor (curl, pre-built NDJSON)"
  echo
  echo "| batch | concurrency | docs/s | bulk (ms) | refresh (ms) | then _count (ms) | server CPU (s) |"
  echo "|---|---|---|---|---|---|---|"
  best=0 best_c= best_b= best_bulk= best_refresh= best_count=
  floor_row() {
    local rate cpu bulk refresh count
    read -r rate cpu bulk refresh count < <(floor_run "$1" "$2")
    echo "| $2 | $1 | $rate | $bulk | $refresh | $count | $cpu |"
    if (( rate > best )); then
      best=$rate best_c=$1 best_b=$2 best_bulk=$bulk best_refresh=$refresh best_count=$count
    fi
  }
  for c in "${FLOOR_C[@]}"; do floor_row "$c" "$BATCH"; done
  for b in "${FLOOR_B[@]}"; do [[ $b == "$BATCH" ]] || floor_row "$best_c" "$b"; done
  echo
  echo "floor: $best docs/s (batch $best_b, concurrency $best_c)"

  "$REZ" create --only es --es-index-prefix bench_ >/dev/null
  : > "$WORK/sessions"
  sample "$DB" "$WORK/sessions" & SAMPLER=$!
  es0=$(es_ticks)
  t0=$(now_ms)
  /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "$REZ" reindex-es products --es-index-prefix bench_ --json \
    --batch-size "$BATCH" --concurrency "$CONCURRENCY" --keep 0 > "$WORK/report.json"
  rez_ms=$(( $(now_ms) - t0 ))
  es_cpu=$(secs $(( $(es_ticks) - es0 )))
  kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
  read -r rss_kib user_s sys_s < <(tail -1 "$WORK/rss")
  rss_mib=$(( rss_kib / 1024 ))
  rez_cpu=$(awk -v u="$user_s" -v s="$sys_s" 'BEGIN { printf "%.1f", u + s }')
  chosen=$(jq -r '.indices[0].concurrency // "?"' "$WORK/report.json")
  passes=$(jq -r '[.indices[0].catch_up.passes[]? | "\(.rows)/\(.elapsed_ms)ms"] | join(", ")' "$WORK/report.json")
  for i in $(curl -s "$ES/_cat/indices/bench_*?h=index"); do curl -s -X DELETE "$ES/$i" >/dev/null; done
  # Each session's CPU is the last reading of its backend; states are counted per sample.
  pg_cpu=$(secs "$(awk '{ last[$1] = $4 } END { for (p in last) s += last[p]; print s + 0 }' "$WORK/sessions")")
  states=$(awk '$2 != "idle" || $3 != "ClientRead" { k = $2 ($3 == "-" ? "" : " " $3); n[k]++; t++ }
                END { for (k in n) printf "%s%s %d%%", (i++ ? ", " : ""), k, 100 * n[k] / t }' "$WORK/sessions")

  rez_rate=$(( P * 1000 / rez_ms ))
  ratio=$(awk -v a="$rez_rate" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
  echo
  echo "### $P products: rez-db reindex-es against the floor"
  echo
  echo "| products | floor (docs/s) | rez-db (docs/s) | ratio | rez-db batch | rez-db concurrency (ended at) | rez-db peak RSS (MiB) | rez-db CPU (s) |"
  echo "|---|---|---|---|---|---|---|---|"
  echo "| $P | $best | $rez_rate | $ratio | $BATCH | $CONCURRENCY ($chosen) | $rss_mib | $rez_cpu |"
  echo
  wall=$(awk -v ms="$rez_ms" -v n="$CORES" 'BEGIN { printf "%.1f s (%.1f CPU-s on %d cores)", ms / 1000, n * ms / 1000, n }')
  echo "where rez-db's $wall went: CPU seconds of rez-db $rez_cpu, of the server $es_cpu," \
       "of rez-db's PostgreSQL sessions $pg_cpu;" \
       "catch-up passes (rows/time): ${passes:-none}"
  echo "rez-db's PostgreSQL sessions, share of samples (idle sessions left out): ${states:-none sampled}"
  # The same work on both sides, phase by phase: the floor's bulk against
  # rez-db's load (streaming PostgreSQL into the new index), and end to end
  # with the floor made to check its count as rez-db does before its swap.
  read -r prep load catch verify swap < <(jq -r '.indices[0].timings | "\(.prepare_ms) \(.load_ms) \(.catch_up_ms) \(.verify_ms) \(.swap_ms)"' "$WORK/report.json")
  echo
  echo "| phase | rez-db (ms) | floor (ms) | ratio (docs/s) |"
  echo "|---|---|---|---|"
  echo "| start, count rows, create the index | $prep | 0 (not timed) | |"
  echo "| load: rows streamed and bulk-indexed / curl's bulk requests | $load | $best_bulk | $(awk -v a="$best_bulk" -v b="$load" 'BEGIN { printf "%.2f", a / b }') |"
  echo "| catch-up passes | $catch | 0 | |"
  echo "| verify: refresh + _count / curl's refresh (+ _count) | $verify | $best_refresh (+ $best_count) | |"
  echo "| alias swap, pass after it | $swap | 0 | |"
  echo "| end to end / bulk + refresh + _count | $rez_ms | $((best_bulk + best_refresh + best_count)) | $(awk -v a="$((best_bulk + best_refresh + best_count))" -v b="$rez_ms" 'BEGIN { printf "%.2f", a / b }') |"
  "$REZ" create --drop --yes --only pg >/dev/null
done
echo
echo "uptime after: $(uptime)"
