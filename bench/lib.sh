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
