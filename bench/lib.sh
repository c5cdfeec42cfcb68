# bench/lib.sh: what every benchmark script shares. Source it after setting ROOT.

# rez_binary: prints the rez-db binary to time. REZ_BENCH_BIN (or REZ_BIN, the
# older name some scripts documented) names a prebuilt one, so a tree that is
# mid-edit can still be measured; otherwise the release build is made here.
rez_binary() {
  local given=${REZ_BENCH_BIN:-${REZ_BIN:-}}
  if [[ -n $given ]]; then
    echo "$given"
  else
    (cd "$ROOT" && cargo build --release --locked -q) >&2
    echo "${CARGO_TARGET_DIR:-$ROOT/target}/release/rez-db"
  fi
}

# need WHAT PACKAGE: stops the benchmark (exit 2) unless WHAT is there: a
# command on PATH, or a file when WHAT is an absolute path. As root with apt-get
# it first installs Debian's PACKAGE. A benchmark that ran without what it
# measures would print ratios of nothing, so it installs it or stops.
need() {
  local what=$1 package=$2
  if ! present "$what" && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "bench: installing Debian's $package (for $what)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package"; } >/dev/null 2>&1 || true
  fi
  present "$what" || {
    echo "bench: $what is missing and could not be installed (Debian package $package): stopping" >&2
    exit 2
  }
}

present() {
  if [[ $1 == /* ]]; then [[ -e $1 ]]; else command -v "$1" >/dev/null; fi
}

# seed_source DB SCALE: the database DB on $SERVER made anew by $REZ with
# `seed --synthetic --scale SCALE` (rng seed 1), vacuumed and analysed, then
# prints its row count (the benchmarks that copy a whole database start here).
seed_source() {
  local db=$1 scale=$2
  "$REZ" create --drop --yes --database-url "$SERVER/$db" >/dev/null
  "$REZ" create --database-url "$SERVER/$db" >/dev/null
  "$REZ" migrate --database-url "$SERVER/$db" >/dev/null
  "$REZ" seed --synthetic --scale "$scale" --rng-seed 1 --database-url "$SERVER/$db" >/dev/null
  psql -q -X -d "$SERVER/$db" -c 'VACUUM ANALYZE' >/dev/null
  psql -At -X -d "$SERVER/$db" -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables WHERE schemaname = 'public'"
}
