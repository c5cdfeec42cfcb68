#!/usr/bin/env bash
# bench/import_csv.sh: `rez-db import-csv` of N users (every row checked) beside
# three ways of loading the same valid file without checks, each into a freshly
# migrated database (an empty `users` with the schema's indexes):
#   1. psql `\copy users FROM FILE`: the floor for the indexed table;
#   2. bare COPY then indexes: `\copy` into a copy of `users` without indexes,
#      then the same indexes built: the floor for an empty table;
#   3. pgloader (Debian package), CSV into `users`.
# and the same file converted to Windows-1252 (iconv) imported with
# `--encoding windows-1252` (the transcoder in the pipeline), against the UTF-8 run.
# Then (bench/import_limits.sh) what bounds an import into an empty table: the
# server's ingest rate (UNLOGGED and logged, one `\copy` stream and two) and
# the index builds (parallel maintenance workers 0 and 2), their sum the limit;
# users already holding N rows with N more imported, against `\copy`; and N
# orders over 24 monthly partitions, against `\copy` into the same table.
# The load average is printed before and after: on a busy machine every ratio
# is noise-bound.
#
#   bench/import_csv.sh [ROWS]      (default 2000000)
#
# Env: REZ_BENCH_PG (server URL without database), REZ_BENCH_BIN (a prebuilt
# rez-db: skips the build). Timings include process start and connection.
# Prints a markdown table for docs/benchmarks.md.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
ROWS=${1:-2000000}
BASE=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
source "$ROOT/bench/lib.sh"
source "$ROOT/bench/import_limits.sh"
REZ=$(rez_binary)
need pgloader pgloader
need iconv libc-bin
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FILE="$WORK/users.csv"
COLUMNS="phone,email,full_name,gender,date_of_birth,status,account_type,email_verified,created_at"
awk -v n="$ROWS" -v cols="$COLUMNS" 'BEGIN {
  print cols
  split("male,female,other,prefer_not_to_say", g, ",")
  for (i = 1; i <= n; i++)
    printf "+9198%08d,user%d@example.com,\"User %d, Tést\",%s,19%02d-%02d-%02d,active,regular,%s,2025-%02d-%02dT10:00:00+05:30\n",
      i, i, i, g[i % 4 + 1], 50 + i % 50, i % 12 + 1, i % 28 + 1, (i % 2 ? "true" : "false"), i % 12 + 1, i % 28 + 1
}' > "$FILE"

fresh() {
  "$REZ" create --drop --yes --database-url "$BASE/$1" >/dev/null
  "$REZ" create --database-url "$BASE/$1" >/dev/null
  "$REZ" migrate --database-url "$BASE/$1" >/dev/null
}
drop() { [[ -n ${REZ_BENCH_KEEP:-} ]] || "$REZ" create --drop --yes --database-url "$BASE/$1" >/dev/null; }
now() { date +%s.%N; }
loaded() { psql -X -At -d "$BASE/$1" -c "SELECT count(*) FROM $2"; }

# rez_import DB FILE ENCODING: `rez-db import-csv` of FILE into users of a
# fresh DB (left for the caller to check and drop); prints "seconds
# peak-RSS-MiB rows-loaded".
rez_import() {
  local db=$1 file=$2 encoding=$3 t0 secs
  fresh "$db"
  t0=$(now)
  /usr/bin/time -f "%M %U %S" -o "$WORK/rss-$db" "$REZ" import-csv --database-url "$BASE/$db" \
    --table users "$file" --encoding "$encoding" --rejects "$WORK/rejects-$db.csv" >/dev/null || return
  secs=$(echo "$(now) - $t0" | bc)
  read -r kib user sys < <(tail -1 "$WORK/rss-$db")
  echo "$secs $(( kib / 1024 )) $(loaded "$db" users) $(echo "$user + $sys" | bc)"
}

load_before=$(uptime | sed 's/.*load average: //')

# 1. rez-db import-csv, with its peak RSS and its own CPU (user + sys).
# (a failed import fails the assignment, so `set -e` stops the script)
# (its backends' wait events sampled: where the server's time goes)
sample_waits bench_import_rez "$WORK/waits" &
sampler=$!
run=$(rez_import bench_import_rez "$FILE" utf-8)
touch "$WORK/waits.stop"; wait "$sampler"
read -r rez rss_mib rez_rows rez_cpu <<<"$run"
drop bench_import_rez

# 1b. The same rows in Windows-1252, decoded while read.
iconv -f UTF-8 -t WINDOWS-1252 "$FILE" > "$WORK/users-1252.csv"
run=$(rez_import bench_import_rez1252 "$WORK/users-1252.csv" windows-1252)
read -r rez1252 rss1252_mib rez1252_rows _ <<<"$run"
[[ $(psql -X -At -d "$BASE/bench_import_rez1252" -c "SELECT count(*) FROM users WHERE full_name LIKE '%, Tést'") == "$ROWS" ]] \
  || { echo "the windows-1252 run did not decode é" >&2; exit 1; }
drop bench_import_rez1252

# 2. \copy into the indexed table.
fresh bench_import_copy
t0=$(now)
psql -q -X -v ON_ERROR_STOP=1 -d "$BASE/bench_import_copy" \
  -c "\\copy users($COLUMNS) FROM '$FILE' WITH (FORMAT csv, HEADER true)"
copy=$(echo "$(now) - $t0" | bc)
copy_rows=$(loaded bench_import_copy users)
drop bench_import_copy

# 3. Bare COPY into a table without indexes, then the same indexes built.
fresh bench_import_bare
psql -q -X -v ON_ERROR_STOP=1 -d "$BASE/bench_import_bare" <<'SQL'
CREATE TABLE users_bare (LIKE users INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
SQL
INDEXES=$(psql -X -At -d "$BASE/bench_import_bare" -c \
  "SELECT replace(replace(pg_get_indexdef(indexrelid), ' ON public.users ', ' ON public.users_bare '), 'INDEX ', 'INDEX bare_') || ';'
     FROM pg_index WHERE indrelid = 'public.users'::regclass")
t0=$(now)
psql -q -X -v ON_ERROR_STOP=1 -d "$BASE/bench_import_bare" \
  -c "\\copy users_bare($COLUMNS) FROM '$FILE' WITH (FORMAT csv, HEADER true)" \
  -c "$INDEXES"
bare=$(echo "$(now) - $t0" | bc)
bare_rows=$(loaded bench_import_bare users_bare)
drop bench_import_bare

# 4. pgloader.
fresh bench_import_pgloader
cat > "$WORK/users.load" <<EOF
LOAD CSV
  FROM '$FILE' (${COLUMNS//,/, })
  INTO $BASE/bench_import_pgloader
  TARGET TABLE users
  TARGET COLUMNS (${COLUMNS//,/, })
  WITH skip header = 1, fields optionally enclosed by '"', fields terminated by ',';
EOF
t0=$(now)
pgloader --quiet "$WORK/users.load" >"$WORK/pgloader.log" 2>&1 || { cat "$WORK/pgloader.log" >&2; exit 1; }
pgl=$(echo "$(now) - $t0" | bc)
pgl_rows=$(loaded bench_import_pgloader users)
drop bench_import_pgloader

# 5. The limits, the table with rows, the partitioned orders.
limits_ingest
limits_indexes
limits_nonempty
limits_orders

for n in "$rez_rows" "$rez1252_rows" "$copy_rows" "$bare_rows" "$pgl_rows"; do
  [[ $n == "$ROWS" ]] || { echo "a side loaded $n rows, not $ROWS" >&2; exit 1; }
done
echo "load average before: $load_before; after: $(uptime | sed 's/.*load average: //')"
echo "| rows | import-csv (s) | \\copy (s) | bare COPY + indexes (s) | pgloader (s) | import-csv rows/s | throughput vs \\copy | vs bare COPY + indexes | vs pgloader | import-csv peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk -v n="$ROWS" -v rez="$rez" -v copy="$copy" -v bare="$bare" -v pgl="$pgl" -v rss="$rss_mib" 'BEGIN {
  printf "| %d | %.2f | %.2f | %.2f | %.2f | %.0f | %.2fx | %.2fx | %.2fx | %d |\n",
    n, rez, copy, bare, pgl, n / rez, copy / rez, bare / rez, pgl / rez, rss }'
echo
echo "| rows | import-csv utf-8 (s) | import-csv windows-1252 (s) | windows-1252 throughput vs utf-8 | windows-1252 peak RSS (MiB) |"
echo "|---|---|---|---|---|"
awk -v n="$ROWS" -v rez="$rez" -v w="$rez1252" -v rss="$rss1252_mib" 'BEGIN {
  printf "| %d | %.2f | %.2f | %.2fx | %d |\n", n, rez, w, rez / w, rss }'

echo
echo "Ingest limit (\\copy into a copy of users without indexes) and the $index_count index builds (maintenance_work_mem 512MB):"
echo "| rows | UNLOGGED 1 stream (s) | UNLOGGED 2 streams (s) | logged 1 stream (s) | logged 2 streams (s) | build, 0 workers (s) | build, 2 workers (s) | limit: best ingest + best build (s) | import-csv (s) | import-csv / limit | import-csv CPU user+sys (s) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
awk -v n="$ROWS" -v u1="$ingest_u1" -v u2="$ingest_u2" -v l1="$ingest_l1" -v l2="$ingest_l2" \
    -v b0="$build_w0" -v b2="$build_w2" -v rez="$rez" -v cpu="$rez_cpu" 'BEGIN {
  ingest = u1 < u2 ? u1 : u2; build = b0 < b2 ? b0 : b2; limit = ingest + build
  printf "| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2f |\n",
    n, u1, u2, l1, l2, b0, b2, limit, rez, rez / limit, cpu }'
echo
echo "Into users already holding $ROWS rows, and $ROWS orders over 24 monthly partitions ($ord_parts used by import-csv);"
echo "set-aside floor: \\copy in one transaction with the $aside_count indexes no foreign key needs dropped first and made again after:"
echo "| rows | non-empty: import-csv (s) | non-empty: \\copy (s) | throughput vs \\copy | set-aside floor (s) | floor vs \\copy | import-csv / floor | orders: import-csv (s) | orders: \\copy (s) | throughput vs \\copy |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk -v n="$ROWS" -v nr="$ne_rez" -v nc="$ne_copy" -v na="$ne_aside" -v orz="$ord_rez" -v oc="$ord_copy" 'BEGIN {
  printf "| %d | %.2f | %.2f | %.2fx | %.2f | %.2fx | %.2fx | %.2f | %.2f | %.2fx |\n", n, nr, nc, nc / nr, na, nc / na, nr / na, orz, oc, oc / orz }'
echo
echo "Where the server's time went in import-csv (its backends' statement and wait event, sampled every 0.1 s; CPU: no wait; Client:ClientRead in COPY: waiting for rez-db):"
echo "| statement, wait | share of samples |"
echo "|---|---|"
wait_profile "$WORK/waits"
