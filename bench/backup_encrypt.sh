#!/usr/bin/env bash
# bench/backup_encrypt.sh: `rez-db backup --compress --encrypt-to A --encrypt-to B`
# against `rez-db backup --compress` of the same data (the target: <= 1.3x), and
# the matching restores (`--identity`), PostgreSQL only (its archive is nearly all
# of a backup's bytes).
#
#   bench/backup_encrypt.sh [SCALE] [RUNS]   (default 20000 users, 5 runs of each;
#                                             needs the local stack: scripts/stack up)
#
# The two backups alternate, RUNS times each, so a busy machine slows both alike;
# the table gives the median and the spread (min-max) of each and the ratio of
# the medians. Keys come from `age-keygen` (Debian package `age`, installed when
# missing), and one file of the encrypted backup is decrypted with `age -d`, to
# show that the files are plain age files that need no rez-db.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
source bench/lib.sh
SCALE=${1:-20000}
RUNS=${2:-5}
SERVER=${REZ_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
export REZ_DB_STORES=pg

if ! command -v age-keygen >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends age >&2
fi
REZ=$(rez_binary)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
drop_db() { "$REZ" create --drop --yes --database-url "$SERVER/$1" >/dev/null; }

age-keygen -o "$WORK/a.key" 2>/dev/null
age-keygen -o "$WORK/b.key" 2>/dev/null
A=$(age-keygen -y "$WORK/a.key")
B=$(age-keygen -y "$WORK/b.key")

for db in bench_enc_src bench_enc_plain bench_enc_age; do drop_db "$db"; done
ROWS=$(seed_source bench_enc_src "$SCALE")

plain=(); sealed=()
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/plain" "$WORK/age"
  t0=$(now_ms); "$REZ" backup --compress --to "$WORK/plain" --database-url "$SERVER/bench_enc_src" >/dev/null; t1=$(now_ms)
  plain+=($((t1 - t0)))
  t0=$(now_ms)
  "$REZ" backup --compress --to "$WORK/age" --encrypt-to "$A" --encrypt-to "$B" --database-url "$SERVER/bench_enc_src" >/dev/null
  t1=$(now_ms)
  sealed+=($((t1 - t0)))
done

# Any file decrypts with the age tool itself, with either key.
age -d -i "$WORK/b.key" "$WORK/age/postgres/toc.dat.age" | cmp -s - <(age -d -i "$WORK/a.key" "$WORK/age/postgres/toc.dat.age")

t0=$(now_ms); "$REZ" restore --from "$WORK/plain" --database-url "$SERVER/bench_enc_plain" >/dev/null; t1=$(now_ms)
restore_plain=$((t1 - t0))
t0=$(now_ms); "$REZ" restore --from "$WORK/age" --identity "$WORK/a.key" --database-url "$SERVER/bench_enc_age" >/dev/null; t1=$(now_ms)
restore_age=$((t1 - t0))

plain_bytes=$(du -sb "$WORK/plain" | cut -f1)
age_bytes=$(du -sb "$WORK/age" | cut -f1)
for db in bench_enc_src bench_enc_plain bench_enc_age; do drop_db "$db"; done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
spread() { printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
mp=$(median "${plain[@]}"); ms=$(median "${sealed[@]}")
echo "scale $SCALE users, $ROWS rows, $RUNS runs of each, alternating; bytes: plain $plain_bytes, encrypted $age_bytes"
echo
echo "| step | encrypted, median (spread) ms | plain, median (spread) ms | ratio |"
echo "|---|---|---|---|"
echo "| backup --compress | $ms ($(spread "${sealed[@]}")) | $mp ($(spread "${plain[@]}")) | $(ratio "$ms" "$mp") |"
echo "| restore (one run each, validate included) | $restore_age | $restore_plain | $(ratio "$restore_age" "$restore_plain") |"
