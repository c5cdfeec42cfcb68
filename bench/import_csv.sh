#!/usr/bin/env bash
# bench/import_csv.sh: `rez-db import-csv` of N users (every row checked) next to
# psql's `\copy` of the same file (no checks: the floor), each into a freshly
# migrated database, i.e. an empty `users` with the same indexes.
#
#   bench/import_csv.sh [ROWS]      (default 200000)
#
# Prints both wall times and the ratio (import-csv time / \copy time).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
ROWS=${1:-200000}
BASE=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
cargo build --release --locked -q
REZ="$ROOT/target/release/rez-db"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FILE="$WORK/users.csv"
COLUMNS="phone,email,full_name,gender,date_of_birth,status,account_type,email_verified,created_at"
awk -v n="$ROWS" -v cols="$COLUMNS" 'BEGIN {
  print cols
  split("male,female,other,prefer_not_to_say", g, ",")
  for (i = 1; i <= n; i++)
    printf "+9198%08d,user%d@example.com,\"User %d, Test\",%s,19%02d-%02d-%02d,active,regular,%s,2025-%02d-%02dT10:00:00+05:30\n",
      i, i, i, g[i % 4 + 1], 50 + i % 50, i % 12 + 1, i % 28 + 1, (i % 2 ? "true" : "false"), i % 12 + 1, i % 28 + 1
}' > "$FILE"

fresh() {
  "$REZ" create --drop --yes --database-url "$BASE/$1" >/dev/null
  "$REZ" create --database-url "$BASE/$1" >/dev/null
  "$REZ" migrate --database-url "$BASE/$1" >/dev/null
}
now() { date +%s.%N; }

fresh bench_import_rez
t0=$(now)
"$REZ" import-csv --database-url "$BASE/bench_import_rez" --table users "$FILE" --rejects "$WORK/rejects.csv"
t1=$(now)

fresh bench_import_copy
t2=$(now)
psql -q -X -v ON_ERROR_STOP=1 -d "$BASE/bench_import_copy" \
  -c "\\copy users($COLUMNS) FROM '$FILE' WITH (FORMAT csv, HEADER true)"
t3=$(now)

awk -v rez="$(echo "$t1 - $t0" | bc)" -v copy="$(echo "$t3 - $t2" | bc)" -v n="$ROWS" 'BEGIN {
  printf "%d users: import-csv %.2fs (%.0f rows/s), \\copy %.2fs (%.0f rows/s), ratio %.2fx\n",
    n, rez, n / rez, copy, n / copy, rez / copy }'
