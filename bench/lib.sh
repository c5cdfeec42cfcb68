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
