#!/usr/bin/env bash
# bench/lint.sh: `rez-db lint` side by side with squawk (PyPI squawk-cli, a Rust
# binary in the wheel), the reference PostgreSQL migration linter.
#
#   bench/lint.sh [RUNS]     RUNS: timed runs of each tool on migrations/ [default: 20]
#
# 1. Every snippet of fixtures/lint/: the rules its header expects from rez-db
#    (`-- expect:`), what rez-db reports, what squawk reports (markdown table).
#    squawk gets --pg-version=15.0, and --assume-in-transaction for the files rez-db
#    runs in a transaction (all but `-- rez-db:no-transaction` ones), so both tools
#    judge the same run.
# 2. The whole migrations/ directory (versioned and repeatable files) linted RUNS times by each tool, process start
#    included: total milliseconds and the ratio rez-db / squawk.
#
# squawk is installed into .stack/venv (REZ_BENCH_VENV) if missing; rez-db is the
# release build (REZ_BIN to use another binary). Prints markdown for docs/benchmarks.md.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
RUNS=${1:-20}
[[ $RUNS =~ ^[0-9]+$ && $RUNS -gt 0 ]] || { echo "lint.sh: RUNS must be a positive number" >&2; exit 2; }
SQUAWK_SPEC="squawk-cli==2.70.0"
VENV=${REZ_BENCH_VENV:-$ROOT/.stack/venv}
if [[ ! -x $VENV/bin/squawk ]]; then
  [[ -x $VENV/bin/pip ]] || python3 -m venv "$VENV" || { echo "lint.sh: cannot create $VENV" >&2; exit 1; }
  "$VENV/bin/pip" install -q "$SQUAWK_SPEC" || { echo "lint.sh: cannot install $SQUAWK_SPEC" >&2; exit 1; }
fi
SQUAWK=$VENV/bin/squawk
source "$ROOT/bench/lib.sh"
REZ=$(rez_binary)

squawk_args() { # FILE: how the file runs under rez-db
  if [[ $(head -n1 "$1") == "-- rez-db:no-transaction" ]]; then
    echo --pg-version=15.0
  else
    echo --pg-version=15.0 --assume-in-transaction
  fi
}

# The distinct rule ids of a tool's report, comma-separated ("none" for none).
ids() { sort -u | paste -sd, - | sed 's/,/, /g; s/^$/none/'; }

echo "| snippet | expected from rez-db | rez-db reports | squawk reports |"
echo "|---|---|---|---|"
for f in fixtures/lint/*.sql; do
  expect=$(sed -n 's/^-- expect: //p' "$f" | head -n1)
  flags=()
  grep -q '^-- lint-options: outside-rez-db' "$f" && flags+=(--outside-rez-db)
  # Both tools exit 1 on findings: that is their answer, not a failure here.
  rez=$({ "$REZ" --json lint "${flags[@]}" "$f" || true; } | python3 -c '
import json, sys
for x in json.load(sys.stdin)["findings"]:
    print(x["rule"])' | ids)
  # shellcheck disable=SC2046 # the arguments are words
  squawk=$({ "$SQUAWK" $(squawk_args "$f") --reporter gcc "$f" 2>&1 || true; } | sed -n 's/^[^ ]*: \(warning\|error\): \([a-z-]*\) .*/\2/p' | ids)
  echo "| $(basename "$f" .sql) | $expect | $rez | $squawk |"
done

time_runs() { # COMMAND...: "wall user sys" seconds of RUNS runs
  local i
  TIMEFORMAT='%R %U %S'
  { time { for ((i = 0; i < RUNS; i++)); do "$@" >/dev/null 2>&1 || true; done; }; } 2>&1
}
# What a migrate run runs: the versioned files and the repeatable ones (not the down files).
mapfile -t files < <(ls migrations/*.sql | grep -v '\.down\.sql$'; ls migrations/repeatable/*.sql)
lint_squawk() {
  local f
  for f in "${files[@]}"; do
    # shellcheck disable=SC2046
    "$SQUAWK" $(squawk_args "$f") --reporter gcc "$f"
  done
}
# Both tools read the same files from disk; squawk once per file (the
# transaction flag differs per file), and once for the whole set as it is
# usually run; rez-db once for the whole set (it needs the earlier files).
rez=$(time_runs "$REZ" lint "${files[@]}")
squawk_all=$(time_runs "$SQUAWK" --pg-version=15.0 --reporter gcc "${files[@]}")
squawk_each=$(time_runs lint_squawk)
python3 - "$RUNS" "${#files[@]}" "$rez" "$squawk_all" "$squawk_each" <<'PY'
import sys
runs, n = int(sys.argv[1]), sys.argv[2]
rows = [("rez-db lint (one process)", sys.argv[3]),
        ("squawk, one process for all files", sys.argv[4]),
        ("squawk, one process per file (per-file transaction flag)", sys.argv[5])]
def ms(t):
    wall, user, system = map(float, t.split())
    return wall * 1000 / runs, (user + system) * 1000 / runs
print(f"\n| {n} files, {runs} runs each | wall ms per run | CPU ms per run (user + sys) |")
print("|---|---|---|")
for name, t in rows:
    w, c = ms(t)
    print(f"| {name} | {w:.1f} | {c:.1f} |")
(rw, rc), (sw, sc) = ms(sys.argv[3]), ms(sys.argv[4])
print(f"\nratio rez-db / squawk (one process): {rw / sw:.2f}x wall, {rc / sc:.2f}x CPU")
PY
