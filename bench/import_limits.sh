# bench/import_limits.sh: sourced by bench/import_csv.sh (its helpers fresh,
# drop, now, loaded, $REZ, $BASE, $WORK, $FILE, $COLUMNS, $ROWS). What bounds
# import-csv, and the two cases beside the empty table:
#   limits_ingest     the server's ingest rate: `\copy` of the same rows into a
#                     copy of `users` without indexes, UNLOGGED and logged, one
#                     stream and two (the file's rows split in two halves, two
#                     psql `\copy` at once);
#   limits_indexes    users' indexes built over those rows with
#                     max_parallel_maintenance_workers 0 and 2 (maintenance_work_mem
#                     512MB, what import-csv's rebuild sets);
#   limits_nonempty   users already holding ROWS rows, ROWS more imported:
#                     import-csv against `\copy`;
#   limits_orders     ROWS orders over 24 monthly partitions (Jan 2025 to Dec
#                     2026), of 1,000 users and 100 merchants: import-csv
#                     (which creates the partitions it needs, timed) against
#                     `\copy` into the same partitioned table (partitions made
#                     beforehand, untimed).
# Each sets shell variables that import_csv.sh prints.

# psql_db DB ARGS...: psql on DB, quiet, stopping at the first error.
psql_db() { local db=$1; shift; psql -q -X -v ON_ERROR_STOP=1 -d "$BASE/$db" "$@"; }

# timed CMD...: runs CMD, prints its seconds.
timed() { local t0; t0=$(now); "$@" >/dev/null; echo "$(now) - $t0" | bc; }

# clone TEMPLATE DB: DB made anew as a file copy of TEMPLATE.
clone() {
  psql -q -X -d "$BASE/postgres" -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2 TEMPLATE $1"
}

# copy_halves DB TABLE: the rows of $FILE in two halves, two `\copy` at once.
copy_halves() {
  psql_db "$1" -c "\\copy $2($COLUMNS) FROM '$WORK/half-aa' WITH (FORMAT csv)" &
  local first=$!
  psql_db "$1" -c "\\copy $2($COLUMNS) FROM '$WORK/half-ab' WITH (FORMAT csv)"
  wait "$first"
}

copy_file() { psql_db "$1" -c "\\copy $2($COLUMNS) FROM '$FILE' WITH (FORMAT csv, HEADER true)"; }

limits_ingest() {
  local db=bench_import_limit
  tail -n +2 "$FILE" > "$WORK/body.csv"
  split -n l/2 "$WORK/body.csv" "$WORK/half-"
  rm "$WORK/body.csv"
  fresh "$db"
  psql_db "$db" -c "CREATE UNLOGGED TABLE ingest_unlogged (LIKE users INCLUDING DEFAULTS INCLUDING CONSTRAINTS)" \
    -c "CREATE TABLE ingest_logged (LIKE users INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
  psql_db "$db" -c CHECKPOINT
  ingest_u1=$(timed copy_file "$db" ingest_unlogged)
  psql_db "$db" -c "TRUNCATE ingest_unlogged" -c CHECKPOINT
  ingest_u2=$(timed copy_halves "$db" ingest_unlogged)
  ingest_l1=$(timed copy_file "$db" ingest_logged)
  [[ $(loaded "$db" ingest_logged) == "$ROWS" ]] || { echo "the logged ingest loaded the wrong count" >&2; exit 1; }
  psql_db "$db" -c "TRUNCATE ingest_logged" -c CHECKPOINT
  ingest_l2=$(timed copy_halves "$db" ingest_logged)
  [[ $(loaded "$db" ingest_unlogged) == "$ROWS" && $(loaded "$db" ingest_logged) == "$ROWS" ]] \
    || { echo "an ingest stream loaded the wrong count" >&2; exit 1; }
  psql_db "$db" -c "VACUUM ANALYZE ingest_logged"
}

# limits_indexes: users' indexes built on ingest_logged (left by limits_ingest).
limits_indexes() {
  local db=bench_import_limit workers defs drops
  defs=$(psql -X -At -d "$BASE/$db" -c \
    "SELECT replace(replace(pg_get_indexdef(indexrelid), ' ON public.users ', ' ON public.ingest_logged '), 'INDEX ', 'INDEX limit_') || ';'
       FROM pg_index WHERE indrelid = 'public.users'::regclass")
  drops=$(psql -X -At -d "$BASE/$db" -c \
    "SELECT 'DROP INDEX limit_' || c.relname || ';' FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = 'public.users'::regclass")
  index_count=$(wc -l <<<"$defs")
  for workers in 0 2; do
    local secs
    secs=$(timed psql_db "$db" -c "SET maintenance_work_mem = '512MB'" \
      -c "SET max_parallel_maintenance_workers = $workers" -c "$defs")
    psql_db "$db" -c "$drops"
    printf -v "build_w$workers" '%s' "$secs"
  done
  drop "$db"
}

# users_file PATH FIRST: ROWS users numbered from FIRST, as import_csv.sh's.
users_file() {
  awk -v n="$ROWS" -v first="$2" -v cols="$COLUMNS" 'BEGIN {
    print cols
    split("male,female,other,prefer_not_to_say", g, ",")
    for (i = first; i < first + n; i++)
      printf "+9197%08d,more%d@example.com,\"User %d, Tést\",%s,19%02d-%02d-%02d,active,regular,%s,2025-%02d-%02dT10:00:00+05:30\n",
        i, i, i, g[i % 4 + 1], 50 + i % 50, i % 12 + 1, i % 28 + 1, (i % 2 ? "true" : "false"), i % 12 + 1, i % 28 + 1
  }' > "$1"
}

limits_nonempty() {
  local tpl=bench_import_ne_tpl more="$WORK/more-users.csv"
  users_file "$more" 1
  fresh "$tpl"
  copy_file "$tpl" users
  psql_db "$tpl" -c "VACUUM ANALYZE users"
  clone "$tpl" bench_import_ne_rez
  clone "$tpl" bench_import_ne_copy
  clone "$tpl" bench_import_ne_aside
  psql_db bench_import_ne_rez -c CHECKPOINT
  ne_rez=$(timed "$REZ" import-csv --database-url "$BASE/bench_import_ne_rez" --table users "$more" \
    --rejects "$WORK/rejects-ne.csv")
  psql_db bench_import_ne_copy -c CHECKPOINT
  ne_copy=$(timed psql_db bench_import_ne_copy \
    -c "\\copy users($COLUMNS) FROM '$more' WITH (FORMAT csv, HEADER true)")
  # The set-aside floor: in one transaction, every index and unique
  # constraint of users that no foreign key depends on dropped, `\copy`,
  # then each made again (the primary key, which the other tables' foreign
  # keys reference, stays and is kept row by row). What a plan that sets
  # indexes aside on a non-empty table could at best reach, with no check.
  local aside_sql
  aside_sql=$(psql -X -At -d "$BASE/bench_import_ne_aside" <<'SQL'
SELECT string_agg(stmt, E'\n' ORDER BY ord) FROM (
  SELECT 1 AS ord, CASE WHEN c.oid IS NULL THEN format('DROP INDEX %s;', i.indexrelid::regclass)
         ELSE format('ALTER TABLE users DROP CONSTRAINT %I;', c.conname) END AS stmt
    FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
   WHERE i.indrelid = 'public.users'::regclass AND NOT i.indisprimary
     AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
  UNION ALL
  SELECT 3, CASE WHEN c.oid IS NULL THEN pg_get_indexdef(i.indexrelid) || ';'
         ELSE format('ALTER TABLE users ADD CONSTRAINT %I %s;', c.conname, pg_get_constraintdef(c.oid)) END
    FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
   WHERE i.indrelid = 'public.users'::regclass AND NOT i.indisprimary
     AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
) s
SQL
)
  aside_count=$(grep -c DROP <<<"$aside_sql")
  psql_db bench_import_ne_aside -c CHECKPOINT
  ne_aside=$(timed psql_db bench_import_ne_aside -1 \
    -c "$(grep 'DROP' <<<"$aside_sql")" \
    -c "\\copy users($COLUMNS) FROM '$more' WITH (FORMAT csv, HEADER true)" \
    -c "$(grep -v 'DROP' <<<"$aside_sql")")
  for db in bench_import_ne_rez bench_import_ne_copy bench_import_ne_aside; do
    [[ $(loaded "$db" users) == $((2 * ROWS)) ]] || { echo "$db: not $((2 * ROWS)) users" >&2; exit 1; }
    drop "$db"
  done
  drop "$tpl"
}

# The orders' partitions Jan 2025 .. Dec 2026 that the migrations did not make.
ORDER_PARTITIONS="DO \$\$ BEGIN FOR m IN 0..23 LOOP EXECUTE format(
  'CREATE TABLE IF NOT EXISTS %I PARTITION OF orders FOR VALUES FROM (%L) TO (%L)',
  to_char(date '2025-01-01' + make_interval(months => m), '\"orders_\"YYYY_MM'),
  to_char(date '2025-01-01' + make_interval(months => m), 'YYYY-MM-DD') || ' 00:00:00+00',
  to_char(date '2025-01-01' + make_interval(months => m + 1), 'YYYY-MM-DD') || ' 00:00:00+00');
  END LOOP; END \$\$"

limits_orders() {
  local tpl=bench_import_ord_tpl orders="$WORK/orders.csv"
  local ocols="order_number,user_id,merchant_id,items,subtotal,total_amount,payment_method,payment_status,status,created_at"
  awk 'BEGIN { for (i = 1; i <= 1000; i++) printf "10000000-0000-4000-8000-%012d,+9196%08d,o%d@example.com,Buyer %d,active\n", i, i, i, i }' \
    > "$WORK/order-users.csv"
  awk 'BEGIN { for (i = 1; i <= 100; i++)
    printf "20000000-0000-4000-8000-%012d,Shop %d,restaurant,Owner %d,+9195%08d,shop%d@example.com,1 Road,Pune,Maharashtra,411001,18.52040000,73.85670000,basic,active,10.00\n", i, i, i, i, i }' \
    > "$WORK/order-merchants.csv"
  # Prices in paise, written as rupees: qty x price = total, subtotal = total_amount.
  awk -v n="$ROWS" -v cols="$ocols" 'BEGIN {
    print cols
    split("upi,card,wallet,netbanking", pay, ",")
    for (i = 1; i <= n; i++) {
      qty = i % 5 + 1; price = 1000 + i % 90000; total = qty * price; m = i % 24
      printf "ORD-%08d,10000000-0000-4000-8000-%012d,20000000-0000-4000-8000-%012d,\"[{\"\"name\"\":\"\"Item %d\"\",\"\"qty\"\":%d,\"\"price\"\":%d.%02d,\"\"total\"\":%d.%02d}]\",%d.%02d,%d.%02d,%s,paid,completed,%04d-%02d-%02dT%02d:%02d:00+05:30\n",
        i, i % 1000 + 1, i % 100 + 1, i % 50, qty, price / 100, price % 100, total / 100, total % 100,
        total / 100, total % 100, total / 100, total % 100, pay[i % 4 + 1],
        2025 + int(m / 12), m % 12 + 1, i % 28 + 1, 8 + i % 12, i % 60
    }
  }' > "$orders"
  fresh "$tpl"
  psql_db "$tpl" -c "\\copy users(id,phone,email,full_name,status) FROM '$WORK/order-users.csv' WITH (FORMAT csv)" \
    -c "\\copy merchants(id,business_name,business_type,primary_contact_name,primary_contact_phone,primary_contact_email,address_line1,city,state,pincode,latitude,longitude,package_tier,status,commission_rate) FROM '$WORK/order-merchants.csv' WITH (FORMAT csv)" \
    -c "VACUUM ANALYZE"
  clone "$tpl" bench_import_ord_rez
  clone "$tpl" bench_import_ord_copy
  psql_db bench_import_ord_copy -c "SET client_min_messages = warning" -c "$ORDER_PARTITIONS"
  psql_db bench_import_ord_rez -c CHECKPOINT
  ord_rez=$(timed "$REZ" import-csv --database-url "$BASE/bench_import_ord_rez" --table orders "$orders" \
    --allow-past-retention --rejects "$WORK/rejects-ord.csv")
  psql_db bench_import_ord_copy -c CHECKPOINT
  ord_copy=$(timed psql_db bench_import_ord_copy \
    -c "\\copy orders($ocols) FROM '$orders' WITH (FORMAT csv, HEADER true)")
  for db in bench_import_ord_rez bench_import_ord_copy; do
    [[ $(loaded "$db" orders) == "$ROWS" ]] || { echo "$db: not $ROWS orders" >&2; exit 1; }
    [[ $(loaded "$db" orders_default) == 0 ]] || { echo "$db: orders in DEFAULT" >&2; exit 1; }
  done
  ord_parts=$(psql -X -At -d "$BASE/bench_import_ord_rez" -c \
    "SELECT count(DISTINCT tableoid) FROM orders")
  drop bench_import_ord_rez
  drop bench_import_ord_copy
  drop "$tpl"
}

# sample_waits DB OUT: until the file OUT.stop exists (or the folder of OUT
# is gone: the script stopped), every 0.1 s, what each working backend of
# DB is doing: its statement's first word (after comment lines) and its wait event (CPU: none), one
# line per backend and sample, into OUT. One psql session for all samples.
sample_waits() {
  local db=$1 out=$2
  while [[ -d ${out%/*} && ! -e $out.stop ]] && sleep 0.1; do
    echo "SELECT substring(regexp_replace(query, '^(\\s*--[^\\n]*\\n)*\\s*', '') from '^\\S+')
                 || ' ' || coalesce(wait_event_type || ':' || wait_event, 'CPU')
            FROM pg_stat_activity
           WHERE datname = '$db' AND state = 'active' AND pid <> pg_backend_pid();"
  done | psql -X -At -d "$BASE/postgres" > "$out" 2>/dev/null
}

# wait_profile OUT: the samples of sample_waits as "share statement wait" lines,
# most frequent first.
wait_profile() {
  sort "$1" | uniq -c | sort -rn | awk -v total="$(wc -l < "$1")" \
    '{ n = $1; $1 = ""; printf "| %s | %.0f%% |\n", substr($0, 2), 100 * n / total }' | head -12
}
