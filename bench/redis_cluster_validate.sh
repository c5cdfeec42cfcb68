#!/usr/bin/env bash
# bench/redis_cluster_validate.sh: `rez-db validate --only redis` on a Redis Cluster
# holding KEYS keys over its 3 masters, against the floor: a SCAN loop over every
# master with redis-cli (`redis-cli --scan`, what `redis-cli --cluster call` would
# run on each), over the same keys. Goal (issue 17): <= 1.5x.
#
#   bench/redis_cluster_validate.sh [KEYS] [ROUNDS]    (default 1,000,000 keys, 3 rounds)
#
# Needs the stack's cluster (`scripts/stack up --with-redis-cluster`, 127.0.0.1:7101-7106,
# REZ_STACK_REDIS_CLUSTER_PORT moves it) and python3 (to compute each key's slot and
# write the RESP files `redis-cli --pipe` loads into the slot's master). The keys are
# `rezbench17:tmp:<n>` (a pattern the layout does not declare: every key is read,
# TYPE and TTL, and reported as redis.unknown_prefix, a warning); they are removed at
# exit. rez-db runs with --redis-sample KEYS, so it reads every key.
# REZ_BIN: a binary built beforehand (default: target/release/rez-db, built here).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
KEYS=${1:-1000000}
ROUNDS=${2:-3}
BASE=${REZ_STACK_REDIS_CLUSTER_PORT:-7101}
PREFIX=rezbench17:
source "$ROOT/bench/lib.sh"
REZ=$(rez_binary)
command -v redis-cli >/dev/null || { echo "bench: redis-cli is required (scripts/stack up --with-redis-cluster)" >&2; exit 1; }
[[ $(redis-cli -p "$BASE" cluster info 2>/dev/null | tr -d '\r' | grep cluster_state) == cluster_state:ok ]] ||
  { echo "bench: no Redis Cluster on 127.0.0.1:$BASE (scripts/stack up --with-redis-cluster)" >&2; exit 1; }
WORK=$(mktemp -d)
# The masters serving slots, as host:port.
mapfile -t MASTERS < <(redis-cli -p "$BASE" cluster nodes | awk '$3 ~ /master/ && NF > 8 {split($2, a, "@"); print a[1]}')

cleanup() {
  local m
  for m in "${MASTERS[@]}"; do
    redis-cli -h "${m%:*}" -p "${m#*:}" --scan --pattern "$PREFIX*" |
      awk '{print "UNLINK " $1}' | redis-cli -h "${m%:*}" -p "${m#*:}" >/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Load: each key into its slot's master, one RESP file per master.
redis-cli -p "$BASE" cluster nodes >"$WORK/nodes"
python3 - "$WORK" "$KEYS" "$PREFIX" <<'EOF'
import sys
work, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
table = []
for i in range(256):
    crc = i << 8
    for _ in range(8):
        crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
    table.append(crc & 0xFFFF)
def slot(key):
    crc = 0
    for b in key:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ b) & 0xFF]
    return crc % 16384
owner = [None] * 16384
for line in open(f"{work}/nodes"):
    f = line.split()
    if "master" in f[2]:
        for r in f[8:]:
            if not r.startswith("["):
                a, _, b = r.partition("-")
                for s in range(int(a), int(b or a) + 1):
                    owner[s] = f[1].split("@")[0]
files = {}
for i in range(n):
    key = prefix + b"tmp:%d" % i
    node = owner[slot(key)]
    out = files.get(node) or files.setdefault(node, open(f"{work}/load-{node}.resp", "wb"))
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\n1\r\n" % (len(key), key))
for f in files.values():
    f.close()
EOF
for m in "${MASTERS[@]}"; do
  redis-cli -h "${m%:*}" -p "${m#*:}" --pipe <"$WORK/load-$m.resp" >/dev/null
done

floor() {
  local m
  for m in "${MASTERS[@]}"; do redis-cli -h "${m%:*}" -p "${m#*:}" --scan --pattern "$PREFIX*"; done | wc -l
}
rez() {
  REDIS_URL="redis+cluster://127.0.0.1:$BASE/" REZ_DB_STORES=redis "$REZ" --json validate \
    --only redis --redis-key-prefix "$PREFIX" --redis-sample "$KEYS" >"$WORK/validate.json"
}
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

f_all=() r_all=()
for _ in $(seq 1 "$ROUNDS"); do
  f_all+=("$(ms floor)")
  r_all+=("$(ms rez)")
done
found=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(next(c['violations'] for c in d['checks'] if c['id']=='redis.unknown_prefix'))" "$WORK/validate.json")
[[ $found == "$KEYS" ]] || { echo "bench: validate saw $found keys, not $KEYS" >&2; exit 1; }
f=$(printf '%s\n' "${f_all[@]}" | median)
r=$(printf '%s\n' "${r_all[@]}" | median)
echo "keys: $KEYS over ${#MASTERS[@]} masters; rounds: $ROUNDS"
echo "floor (redis-cli --scan on every master), median ms: $f   (${f_all[*]})"
echo "rez-db validate --only redis, median ms:             $r   (${r_all[*]})"
awk -v r="$r" -v f="$f" 'BEGIN {printf "ratio: %.2fx (goal <= 1.5x)\n", r / f}'
