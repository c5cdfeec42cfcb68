fn main() {
    // The migrations and the reference seeds are embedded with include_dir!,
    // which cargo cannot see: rebuild when any file under them changes.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=seeds");
    // The store definitions are embedded the same way (src/definitions/mod.rs).
    println!("cargo:rerun-if-changed=mongo-indexes");
    println!("cargo:rerun-if-changed=es-mappings");
    println!("cargo:rerun-if-changed=redis-layout.toml");
}
